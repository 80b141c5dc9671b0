#!/usr/bin/env python3
"""Streams a WAV file to a realtime-voice server at real-time pace and prints what comes back.

    python3 examples/stream_wav.py "ws://localhost:8080/api/realtime-voice/stream?token=TOKEN" speech.wav

Needs `pip install websockets`. Any sample rate works: the WAV header is read and the rate sent as ?sample_rate=.
"""
import asyncio
import json
import sys
import wave

import websockets


async def main(url: str, path: str) -> None:
    with wave.open(path) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            sys.exit("send mono 16-bit PCM WAV (convert with: sox in.wav -r 16000 -c 1 -b 16 out.wav)")
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    url += ("&" if "?" in url else "?") + f"sample_rate={rate}"
    async with websockets.connect(url) as ws:
        step = rate // 10 * 2  # 100 ms frames

        async def send() -> None:
            for offset in range(0, len(pcm), step):
                await ws.send(pcm[offset:offset + step])
                await asyncio.sleep(0.1)
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "partial":
                print(f"  … {event['text']}")
            elif event["type"] == "final":
                print(f"[{event['start_ms']}-{event['end_ms']} ms] {event['text']}")
            else:
                print(message)
        await sender


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
