#!/usr/bin/env bash
# Streaming benchmark: the gateway against the PocketSphinx C API decoding the same audio directly, in one run.
#
#   bench/stream.sh                        N = 1 2 4 8 12 16, baselines repeated twice
#   SESSIONS="2 4" REPEAT=3 bench/stream.sh
#
# Prints tables; the raw numbers go to bench/out/stream-<date>.json.
source "$(dirname "$0")/prelude.sh"

# ~40 s of real speech: flite sentences and Debian's LibriVox recordings, 700 ms apart. The last recording runs
# up to the end of the stream, so 'end' arrives with a segment open.
AUDIO="$OUT/speech.wav"
if [ ! -f "$AUDIO" ]; then
    tmp=$(mktemp -d)
    sox -n -r 16000 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.7
    parts=()
    i=0
    for text in "turn off the lights in the kitchen" "what is the weather like in boston today" "please call stella and ask her to bring these things with her from the store"; do
        flite -voice rms -t "$text" -o "$tmp/f$i.wav"
        sox "$tmp/f$i.wav" -r 16000 -c 1 -b 16 "$tmp/s$i.wav"
        parts+=("$tmp/s$i.wav" "$tmp/gap.wav")
        i=$((i + 1))
    done
    for f in /usr/share/pocketsphinx/test/data/librivox/*.wav; do parts+=("$f" "$tmp/gap.wav"); done
    unset 'parts[${#parts[@]}-1]'
    # Trim the recording's own trailing silence too.
    sox "${parts[@]}" "$tmp/joined.wav"
    sox "$tmp/joined.wav" "$AUDIO" reverse silence 1 0.05 0.5% reverse
    rm -rf "$tmp"
fi
PCM="$OUT/speech.pcm"
sox "$AUDIO" -t raw -e signed -b 16 -c 1 -r 16000 "$PCM"

exec "$PY" bench/stream_bench.py --audio "$AUDIO" --pcm "$PCM" --sessions "${SESSIONS:-2 4 8 12 16}" --repeat "${REPEAT:-2}" \
    --out "$OUT/stream-$(date +%Y%m%d-%H%M%S).json"
