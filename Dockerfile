# realtime-voice: multi-stage build. The runtime image holds the binary, the runtime libraries, the PocketSphinx
# model and ffmpeg, and runs as a non-root user on $PORT (8080 by default).
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

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpocketsphinx3 pocketsphinx-en-us libsoxr0 libwebrtc-audio-processing1 ffmpeg ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin realtime-voice
COPY --from=build /usr/local/bin/realtime-voice /usr/local/bin/realtime-voice
USER realtime-voice
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["/usr/local/bin/realtime-voice"]
CMD ["serve"]
