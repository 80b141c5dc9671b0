#!/usr/bin/env bash
# Mandarin benchmark of engine whisper (the default; the gateway runs the faster-whisper sidecar itself): accuracy of
# the gateway against a direct in-process decode, stream latency with N concurrent streams, capacity, memory.
#
#   bench/mandarin.sh                full run (~9 min on 2 cores, estimated): 26 sentences x 2 voices, 2 runs per N
#   bench/mandarin.sh --quick        ~3 min: 7 sentences x 2 voices, 3-sentence paragraphs, 1 run per N
#   bench/mandarin.sh --binary .build/release/realtime-voice --out bench/out/mandarin-release.json
#   bench/mandarin.sh --concurrent "1 2 4" --runs 3 --threads 2 --max-concurrent 1
#
# 1. Accuracy: CER of the Mandarin corpus (tests/python/mandarin_speech.py) by (a) bench/whisper_direct.py, the
#    sidecar's model, settings and clean-up in-process, with no gateway, (b) the gateway's upload, lang=zh-CN,
#    (c) the gateway's stream at real-time pace (sentences joined into long clips, 1.2 s apart); ratios to (a).
#    English: WER of flite rms sentences, direct against upload (base), and upload with tiny.en and pocketsphinx.
# 2. Latency: first partial after speech start, final after speech end, p50/p95, N = 1 2 4 8 real-time streams
#    (100 ms frames), whisper base, --whisper-max-concurrent 1.
# 3. Capacity: upload real-time factor of base (Mandarin), tiny.en and pocketsphinx (English); the streams that
#    keep final p95 under 3 s (from 2.).
# 4. Memory: RSS of the gateway and of its sidecar (its child running server.py), idle and peak under 4 streams.
#
# Does not build: --binary, else $REALTIME_VOICE_BINARY, else .build/release/realtime-voice, else .build/debug/. Needs .venv
# (websockets, pypinyin), sidecars/whisper/.venv (sidecars/whisper/setup.sh), espeak-ng, flite and sox.
# Prints Markdown tables; raw numbers go to bench/out/mandarin-<date>.json (or --out), the direct decode's JSON and
# the gateway logs next to it.
source "$(dirname "$0")/common.sh"
SIDECAR_PY=${SIDECAR_PYTHON:-sidecars/whisper/.venv/bin/python}
[ -x "$SIDECAR_PY" ] || { echo "no sidecar venv at $SIDECAR_PY: run sidecars/whisper/setup.sh" >&2; exit 1; }
BIN=${REALTIME_VOICE_BINARY:-}
if [ -z "$BIN" ]; then
    for candidate in .build/release/realtime-voice .build/debug/realtime-voice; do
        if [ -x "$candidate" ] && "$candidate" serve --help 2>/dev/null | grep -q -- --whisper-model; then BIN=$candidate; break; fi
    done
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || { echo "no realtime-voice binary with engine whisper: run make build-release, or set REALTIME_VOICE_BINARY" >&2; exit 1; }

# --binary and --out in "$@" come after these defaults, and argparse keeps the last.
exec "$PY" bench/mandarin_bench.py --binary "$BIN" --sidecar-python "$SIDECAR_PY" \
    --out "$OUT/mandarin-$(date +%Y%m%d-%H%M%S).json" --command "$(printf '%q ' "$0" "$@")" "$@"
