#!/usr/bin/env bash
# Accuracy and capacity of the engines: PocketSphinx against `openai` through the local Whisper tiny.en sidecar.
#
#   bench/wer.sh                 full run (~8-10 min): WER, CPU per real-time stream, concurrent streams sustained
#   bench/wer.sh --quick         ~2 min: fewer clips, a shorter stream, N = 1 2 4 at most
#   bench/wer.sh --verbose       also one line per clip (reference, hypothesis, WER)
#   MAX_CONCURRENT=2 THREADS=1 OPENAI_MAX_REQUESTS=2 bench/wer.sh
#
# 1. WER on ~20 everyday sentences spoken by flite's rms and slt voices, and on Debian's LibriVox test recordings
#    (pocketsphinx-testdata), through one-shot recognition (POST /api/realtime-voice/recognize) and streaming.
# 2. Real-time streams (100 ms frames) of a ~20 s LibriVox clip, N = 1 2 4 8 ... concurrent: gateway and sidecar
#    CPU per stream, and the largest N where every stream completes, without error, its last final < 2 s after
#    the end of its audio.
# 3. A markdown block for README's engine table.
#
# Does not build: uses $REALTIME_VOICE_BINARY, else .build/release/realtime-voice, else .build/debug/realtime-voice
# (the first that has the openai engine). The sidecar runs from sidecars/whisper/.venv (sidecars/whisper/setup.sh).
# Prints tables; raw numbers go to bench/out/wer-<date>.json, server logs next to it.
source "$(dirname "$0")/whisper_prelude.sh"

# Generated corpus: everyday sentences without digits or abbreviations (written forms both engines agree on),
# each in two flite voices, 16 kHz mono, 0.3 s of silence before and after.
GENERATED="$OUT/wer-generated"
SENTENCES=(
    "could you remind me to buy milk and bread on the way home"
    "the train to the city leaves from the second platform"
    "please turn down the music a little bit"
    "i think it is going to rain this afternoon"
    "my sister is coming over for dinner tonight"
    "where did you leave the keys to the car"
    "the coffee shop on the corner opens early in the morning"
    "can you send me the pictures from the weekend"
    "he forgot his umbrella at the office again"
    "let us meet in front of the library after class"
    "the children are playing football in the park"
    "i would like a cup of tea with lemon please"
    "do not forget to water the plants while we are away"
    "the doctor said i should get more sleep"
    "how long does it take to drive to the airport"
    "she painted the bedroom a light shade of green"
    "turn left at the next traffic light and park behind the bank"
    "the neighbors are having a party on saturday night"
    "we ran out of sugar so i went to the shop"
    "what time does the last bus leave tonight"
)
want=$(printf '%s\n' "${SENTENCES[@]}" | sha256sum | cut -c1-16)
if [ "$(cat "$GENERATED/.stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$GENERATED"
    mkdir -p "$GENERATED"
    speak_sentences "$GENERATED" "" "${SENTENCES[@]}" > "$GENERATED/references.tsv"
    echo "$want" > "$GENERATED/.stamp"
fi

exec "$PY" bench/wer_bench.py --binary "$BIN" --sidecar-python "$SIDECAR_PY" \
    --generated "$GENERATED" --librivox /usr/share/pocketsphinx/test/data/librivox \
    --max-concurrent "${MAX_CONCURRENT:-1}" --threads "${THREADS:-2}" --openai-max-requests "${OPENAI_MAX_REQUESTS:-1}" \
    --out "$OUT/wer-$(date +%Y%m%d-%H%M%S).json" "$@"
