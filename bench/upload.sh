#!/usr/bin/env bash
# Upload benchmark: POST /api/realtime-voice/recognize with a 10 s MP3, against the PocketSphinx C API decoding the
# same audio alone, interleaved in one run.
#
#   bench/upload.sh               REPEAT=15 runs of each
#   REPEAT=30 bench/upload.sh
#
# Prints the answer time, the engine's decode time, the overhead in ms and as a ratio; raw numbers go to
# bench/out/upload-<date>.json.
source "$(dirname "$0")/prelude.sh"

# 10.0 s of flite speech at 16 kHz mono (two sentences and a pause), encoded as a mini-program records MP3:
# 16 kHz mono, 48 kbit/s. The baseline decodes what the MP3 decodes to (the same audio, lossy coding included).
MP3="$OUT/upload-10s.mp3"
DECODED="$OUT/upload-10s-decoded.wav"
if [ ! -f "$MP3" ]; then
    tmp=$(mktemp -d)
    flite -voice rms -t "please turn off the lights in the kitchen and close the window in the bedroom" -o "$tmp/a.wav"
    flite -voice rms -t "what is the weather like in boston today and will it rain tomorrow" -o "$tmp/b.wav"
    sox "$tmp/a.wav" "$tmp/a16.wav" rate 16000 pad 0 0.6
    sox "$tmp/b.wav" "$tmp/b16.wav" rate 16000
    sox "$tmp/a16.wav" "$tmp/b16.wav" "$tmp/joined.wav"
    sox -V1 "$tmp/joined.wav" "$tmp/ten.wav" pad 0 10 trim 0 10
    ffmpeg -nostdin -loglevel error -y -i "$tmp/ten.wav" -c:a libmp3lame -b:a 48k -ar 16000 -ac 1 "$MP3"
    rm -rf "$tmp"
fi
ffmpeg -nostdin -loglevel error -y -i "$MP3" -ar 16000 -ac 1 -c:a pcm_s16le "$DECODED"

exec "$PY" bench/upload_bench.py --mp3 "$MP3" --decoded "$DECODED" --repeat "${REPEAT:-15}" \
    --out "$OUT/upload-$(date +%Y%m%d-%H%M%S).json"
