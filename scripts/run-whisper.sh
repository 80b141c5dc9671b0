#!/usr/bin/env bash
# make run-whisper: the local Whisper sidecar (tiny.en, offline) on loopback, and the gateway in front of it with
# engine openai as the default. Ctrl-C stops both. Extra gateway flags: make run-whisper ARGS="--port 9000".
#   WHISPER_PORT   the sidecar's port (default 8808)
#   WHISPER_MAX_CONCURRENT  inferences the sidecar runs at once (default 1); the gateway sends at most as many
#                  requests, so that waiting happens in its queue, where a final goes before other streams' partials
#   WHISPER_ARGS   more sidecar flags, e.g. "--model-dir /models/faster-whisper-small.en --threads 2"
set -euo pipefail
cd "$(dirname "$0")/.."
port=${WHISPER_PORT:-8808}
concurrent=${WHISPER_MAX_CONCURRENT:-1}

export HF_HUB_OFFLINE=1
# shellcheck disable=SC2086  # WHISPER_ARGS is a list of flags
sidecars/whisper/.venv/bin/python sidecars/whisper/server.py --host 127.0.0.1 --port "$port" --max-concurrent "$concurrent" ${WHISPER_ARGS:-} &
sidecar=$!
trap 'kill "$sidecar" 2>/dev/null; wait "$sidecar" 2>/dev/null || true' EXIT

for _ in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
    kill -0 "$sidecar" 2>/dev/null || { echo "run-whisper: the sidecar exited; see its output above" >&2; exit 1; }
    sleep 0.25
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "run-whisper: the sidecar did not answer /health within 60 s" >&2; exit 1; }

# shellcheck disable=SC2086  # ARGS is a list of flags
.build/release/realtime-voice serve --engine openai --openai-base-url "http://127.0.0.1:$port/v1" --openai-max-requests "$concurrent" ${ARGS:-}
