#!/usr/bin/env bash
# Streaming latency of the engines: `openai` through the local Whisper tiny.en sidecar against PocketSphinx (the
# baseline, measured in the same run by the same gateway).
#
#   bench/latency.sh                 full run (~9 min): 5 runs per paragraph and engine, then N = 1 2 4 concurrent
#   bench/latency.sh --quick         ~4 min: 2 runs
#   bench/latency.sh --runs 10 --frame-ms 20 --concurrent "1 2 4 8"
#   MAX_CONCURRENT=2 THREADS=1 OPENAI_MAX_REQUESTS=2 bench/latency.sh
#
# 1. Two paragraphs of three sentences (tests/python/test_openai_engine.py's), one spoken by espeak-ng, one by flite
#    slt, 16 kHz mono, 1.5 s between sentences, streamed at real-time pace (100 ms frames), one stream at a time: per
#    sentence, its first partial after its speech starts, its final after its speech ends, the final's WER.
# 2. N concurrent real-time streams: final latency p50/p95/max per N.
# 3. Tables per engine, the openai / pocketsphinx ratio of final latency p50 and p95, the finals within 1 s.
#
# Does not build: uses $REALTIME_VOICE_BINARY, else .build/release/realtime-voice, else .build/debug/realtime-voice
# (the first that has the openai engine). The sidecar runs from sidecars/whisper/.venv (sidecars/whisper/setup.sh).
# Prints tables; raw numbers go to bench/out/latency-<date>.json, server logs next to it.
source "$(dirname "$0")/whisper_prelude.sh"

exec "$PY" bench/latency_bench.py --binary "$BIN" --sidecar-python "$SIDECAR_PY" \
    --max-concurrent "${MAX_CONCURRENT:-1}" --threads "${THREADS:-2}" --openai-max-requests "${OPENAI_MAX_REQUESTS:-1}" \
    --out "$OUT/latency-$(date +%Y%m%d-%H%M%S).json" "$@"
