#!/usr/bin/env bash
# Streaming benchmark: N concurrent real-time sessions through the gateway, against the PocketSphinx C API
# decoding the same audio directly in one process (the baseline, same run).
#
#   bench/stream.sh                 N = 1 2 4 8 12 16
#   SESSIONS="1 4" bench/stream.sh
#
# Prints a table; the raw numbers go to bench/out/stream-<date>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-"1 2 4 8 12 16"}
PORT=${PORT:-18080}
OUT=bench/out
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

swift build -c release >/dev/null
BIN=.build/release

# ~35 s of real speech: Debian's LibriVox recordings and flite sentences, 700 ms apart.
AUDIO="$OUT/speech.wav"
if [ ! -f "$AUDIO" ]; then
    tmp=$(mktemp -d)
    parts=()
    i=0
    for text in "turn off the lights in the kitchen" "what is the weather like in boston today" "please call stella and ask her to bring these things with her from the store"; do
        flite -voice rms -t "$text" -o "$tmp/f$i.wav"
        sox "$tmp/f$i.wav" -r 16000 -c 1 -b 16 "$tmp/s$i.wav"
        parts+=("$tmp/s$i.wav" "$tmp/gap.wav")
        i=$((i + 1))
    done
    sox -n -r 16000 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.7
    for f in /usr/share/pocketsphinx/test/data/librivox/*.wav; do parts+=("$f" "$tmp/gap.wav"); done
    sox "${parts[@]}" "$AUDIO"
    rm -rf "$tmp"
fi
PCM="$OUT/speech.pcm"
sox "$AUDIO" -t raw -e signed -b 16 -c 1 -r 16000 "$PCM"

echo "== Direct: PocketSphinx C API, one process, same audio, 100 ms chunks, partials and endpointing"
DIRECT=$("$BIN/pocketsphinx-direct" "$AUDIO")
direct_cpu=$(echo "$DIRECT" | awk -F'\t' '$1=="cpu_seconds"{print $2}')
audio_s=$(echo "$DIRECT" | awk -F'\t' '$1=="audio_seconds"{print $2}')
direct_rtf=$(echo "$DIRECT" | awk -F'\t' '$1=="rtf"{print $2}')
echo "audio ${audio_s}s  cpu ${direct_cpu}s  rtf ${direct_rtf}"

RESULTS="$OUT/stream-$(date +%Y%m%d-%H%M%S).json"
echo "[" > "$RESULTS"
first=1
printf '\n%-4s %-9s %-7s %-14s %-14s %-14s %-9s %-11s %-9s %-8s %s\n' N done rtf/str "1st-part p50/95" "end→final p50/95" "lag p50/max" "cpu%" "rss MB" "loadgen s" ratio errors
for n in $SESSIONS; do
    "$BIN/realtime-voice" serve --host 127.0.0.1 --port "$PORT" --token bench --decoders "$n" --queue-size 0 --log-level warning >"$OUT/server-$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
    json=$("$PY" bench/stream_load.py --url "ws://127.0.0.1:$PORT/api/realtime-voice/stream?token=bench" --pcm "$PCM" --sessions "$n" --server-pid "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    [ $first -eq 1 ] || echo "," >> "$RESULTS"; first=0
    echo "{\"n\": $n, \"direct_rtf\": $direct_rtf, \"result\": $json}" >> "$RESULTS"
    "$PY" - "$json" "$direct_rtf" "$n" <<'PYEOF'
import json, sys
r, direct, n = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
fp, fe, lag = r["first_partial_ms"] or {}, r["final_after_end_ms"] or {}, r["final_lag_ms"] or {}
print(f'{n:<4} {r["completed"]}/{r["sessions"]:<7} {r["rtf_per_stream"]:<7} {fp.get("p50")}/{fp.get("p95"):<10} {fe.get("p50")}/{fe.get("p95"):<10} '
      f'{lag.get("p50")}/{lag.get("max"):<10} {r["server_cpu_percent"]:<9} {r["server_rss_mb_peak"]:<11} {r["loadgen_cpu_seconds"]:<9} '
      f'{r["rtf_per_stream"] / direct:<8.3f} {",".join(r["errors"]) or "-"}')
PYEOF
done
echo "]" >> "$RESULTS"
echo
echo "rtf/str: server CPU seconds per second of audio per stream. ratio: rtf/str over the direct C-API rtf (gateway overhead)."
echo "1st-part: first partial after the first word's audio was sent. end→final: 'end' sent to 'completed' received."
echo "lag: a final's arrival after its audio was sent (grows without bound when the engine falls behind)."
echo "raw: $RESULTS"
