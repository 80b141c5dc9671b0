#!/usr/bin/env bash
# Load and soak: 1000 sessions opened and closed in waves over 10 minutes against one release server, with real
# audio (flite sentences and Debian's LibriVox recordings, 16 kHz mono). The mix: streams at real-time pace that end
# with {"type":"end"} (most), streams the client abandons mid-way (TCP close, no end), streams that go idle until
# idle_timeout, echo sessions and uploads (POST /api/realtime-voice/recognize, WAV and MP3).
#
#   bench/soak.sh                100 waves 6 s apart, 4-16 sessions each (1000 in all), ~11 min with warm-up
#   bench/soak.sh --quick        ~1 min development run: 10 waves, 100 sessions
#   bench/soak.sh --sessions 300 --duration 180 --decoders 4 --queue-size 8 (see bench/soak_bench.py --help)
#
# Server: serve --decoders 8 --queue-size 8 --queue-timeout 10 --idle-timeout 3 unless told otherwise. Eight decoders
# are about what the 2 cores decode in real time (bench/RESULTS.md: 8-10 streams); the waves average ~5 streams at once
# and peak above 8 once a minute, so `busy` (decoders and queue full, or no decoder within 10 s) is expected at the
# peaks: a documented outcome, counted like the others.
# Measures the server's RSS after a warm-up wave and a settle (baseline) and after the last wave and a settle (end),
# its maximum, CPU, crashes (alive and answering /health at the end, exit status on SIGTERM, "fatal"/"crash" in its
# log), every session's outcome (completed, a documented error code, or client_abandoned for the streams we cut), and
# cross-checks them with GET /metrics (realtime_voice_sessions_total, realtime_voice_active_sessions).
# Exits non-zero if a target is missed: 0 undocumented outcomes, end RSS within ±10 % of the baseline, 0 crashes,
# /metrics agreeing with the clients.
#
# Does not build: uses $REALTIME_VOICE_BINARY, else .build/release/realtime-voice (make bench-soak builds it).
# Prints tables; raw numbers go to bench/out/soak-<date>.json, the server log next to it (.server.log).
source "$(dirname "$0")/common.sh"
"$PY" -c "import websockets" 2>/dev/null || { echo "$PY has no websockets module: run 'make test-deps'" >&2; exit 1; }

BIN=${REALTIME_VOICE_BINARY:-.build/release/realtime-voice}
[ -x "$BIN" ] || { echo "no realtime-voice binary at $BIN: run 'make build-release' or set REALTIME_VOICE_BINARY" >&2; exit 1; }
LIBRIVOX=/usr/share/pocketsphinx/test/data/librivox
ls "$LIBRIVOX"/*.wav >/dev/null 2>&1 || { echo "no LibriVox clips in $LIBRIVOX: install pocketsphinx-testdata (make test-deps)" >&2; exit 1; }
for tool in flite sox ffmpeg; do
    command -v "$tool" >/dev/null || { echo "$tool is needed: make test-deps" >&2; exit 1; }
done

# Corpus: everyday sentences in two flite voices and the LibriVox recordings, 16 kHz mono 16-bit WAV, plus an MP3 of
# each (16 kHz mono 48 kbit/s, as a mini-program records) for uploads. Rebuilt when the sentence list changes.
CORPUS="$OUT/soak-audio"
SENTENCES=(
    "turn off the lights in the kitchen"
    "what is the weather like in boston today"
    "please call stella and ask her to bring these things with her from the store"
    "could you remind me to buy milk and bread on the way home"
    "the train to the city leaves from the second platform"
    "i would like a cup of tea with lemon please"
    "how long does it take to drive to the airport"
    "do not forget to water the plants while we are away"
)
want=$( (printf '%s\n' "${SENTENCES[@]}"; ls "$LIBRIVOX"/*.wav) | sha256sum | cut -c1-16)
if [ "$(cat "$CORPUS/.stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    speak_sentences "$CORPUS" flite- "${SENTENCES[@]}" > /dev/null
    for f in "$LIBRIVOX"/*.wav; do
        sox "$f" -r 16000 -c 1 -b 16 "$CORPUS/librivox-$(basename "$f" .wav | sed 's/.*-//').wav"
    done
    for f in "$CORPUS"/*.wav; do
        ffmpeg -nostdin -loglevel error -y -i "$f" -c:a libmp3lame -b:a 48k -ar 16000 -ac 1 "${f%.wav}.mp3"
    done
    echo "$want" > "$CORPUS/.stamp"
fi

# The Python driver starts the server and stops it when it ends (the server also gets SIGTERM if the driver dies:
# PR_SET_PDEATHSIG). It runs in the background so that this trap runs at once on Ctrl-C or kill.
stamp=$(date +%Y%m%d-%H%M%S)
driver=""
cleanup() { [ -n "$driver" ] && kill -TERM "$driver" 2>/dev/null && wait "$driver" 2>/dev/null; exit 130; }
trap cleanup INT TERM HUP
"$PY" bench/soak_bench.py --binary "$BIN" --corpus "$CORPUS" --out "$OUT/soak-$stamp.json" "$@" &
driver=$!
wait "$driver"
