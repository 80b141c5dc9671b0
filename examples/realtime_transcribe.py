#!/usr/bin/env python3
"""Live transcription of a WAV file through realtime-voice's `/v1/realtime`, with the official openai SDK, as a
program written for OpenAI's Realtime API does it: only `base_url` and the key change.

    python3 examples/realtime_transcribe.py http://localhost:8080/v1 TOKEN speech.wav [language]

Needs `pip install "openai[realtime]>=3.63"` and sox (the file is converted to 24 kHz mono PCM16, the API's format).
Prints the deltas as they come and each item's transcript when it completes.
"""
import asyncio
import base64
import subprocess
import sys

from openai import AsyncOpenAI


async def main(base_url: str, token: str, path: str, language: str | None) -> None:
    pcm = subprocess.run(["sox", path, "-t", "raw", "-r", "24000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                         capture_output=True, check=True).stdout
    pcm += bytes(48 * 1500)  # 1.5 s of silence, so that the last sentence ends
    client = AsyncOpenAI(api_key=token, base_url=base_url)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(session={
            "type": "transcription",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                "transcription": {"model": "gpt-4o-transcribe", "language": language},
                                "turn_detection": {"type": "server_vad"}}},
        })

        async def send() -> None:
            for offset in range(0, len(pcm), 4800):  # 100 ms a piece, in real time
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[offset:offset + 4800]).decode())
                await asyncio.sleep(0.1)

        sender = asyncio.create_task(send())
        open_items: set[str] = set()
        quiet = 0.0
        while True:
            try:  # once all audio is sent, stop after 3 s without an event and with no item open
                event = await asyncio.wait_for(conn.recv(), 0.5)
                quiet = 0.0
            except asyncio.TimeoutError:
                quiet += 0.5
                if sender.done() and quiet >= 3 and not open_items:
                    break
                continue
            if event.type == "input_audio_buffer.speech_started":
                open_items.add(event.item_id)
            elif event.type == "conversation.item.input_audio_transcription.delta":
                print(event.delta, end="", flush=True)
            elif event.type == "conversation.item.input_audio_transcription.completed":
                open_items.discard(event.item_id)
                print(f"\n[{event.item_id}] {event.transcript}")
            elif event.type == "error":
                print(f"\nerror {event.error.code}: {event.error.message}")

if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
