# Sourced by bench/wer.sh and bench/latency.sh: bench/common.sh, then the Whisper sidecar's Python ($SIDECAR_PY)
# and a realtime-voice binary ($BIN) with the openai engine (no build: $REALTIME_VOICE_BINARY, else release, else debug).
source "$(dirname "$0")/common.sh"
SIDECAR_PY=${SIDECAR_PYTHON:-sidecars/whisper/.venv/bin/python}
[ -x "$SIDECAR_PY" ] || { echo "no sidecar venv at $SIDECAR_PY: run sidecars/whisper/setup.sh" >&2; exit 1; }

BIN=${REALTIME_VOICE_BINARY:-}
if [ -z "$BIN" ]; then
    for candidate in .build/release/realtime-voice .build/debug/realtime-voice; do
        if [ -x "$candidate" ] && "$candidate" serve --help 2>/dev/null | grep -q -- --openai-base-url; then
            BIN=$candidate
            break
        fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "no realtime-voice binary with the openai engine: set REALTIME_VOICE_BINARY or build" >&2; exit 1; }
