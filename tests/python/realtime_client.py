"""Clients of the gateway's `/v1/realtime` (OpenAI's Realtime API, transcription mode): the official `openai` SDK
as a program written for OpenAI would use it, and a raw `websockets` client for malformed events. Shared by the
test modules and bench/realtime_latency.py."""
import asyncio
import base64
import contextlib
import json
import subprocess

import websockets
from openai import AsyncOpenAI

from conftest import TOKEN, Server

GA_FORMATS = {"pcm": {"type": "audio/pcm", "rate": 24000}, "pcmu": {"type": "audio/pcmu"}, "pcma": {"type": "audio/pcma"}}
BETA_FORMATS = {"pcm": "pcm16", "pcmu": "g711_ulaw", "pcma": "g711_alaw"}
BYTES_PER_MS = {"pcm": 48, "pcmu": 8, "pcma": 8}


def convert(pcm16k: bytes, fmt: str) -> bytes:
    """16 kHz PCM16 mono to the session format's bytes: 24 kHz PCM16, or 8 kHz G.711, by sox."""
    out = {"pcm": ["-r", "24000", "-e", "signed", "-b", "16"], "pcmu": ["-r", "8000", "-e", "mu-law", "-b", "8"],
           "pcma": ["-r", "8000", "-e", "a-law", "-b", "8"]}[fmt]
    return subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-", "-t", "raw", *out, "-c", "1", "-"],
                          input=pcm16k, capture_output=True, check=True).stdout


def session_update(fmt: str = "pcm", turn_detection="server_vad", language: str | None = "en", model: str = "gpt-4o-transcribe",
                   beta: bool = False, prompt: str | None = None, keywords: list[str] | None = None) -> dict:
    """The `session` of an update in GA or beta shape; `turn_detection=None` is manual commit."""
    detection = {"type": turn_detection} if isinstance(turn_detection, str) else turn_detection
    transcription = {"model": model, "language": language, **({"prompt": prompt} if prompt is not None else {}),
                     **({"keywords": keywords} if keywords else {})}
    if beta:
        return {"input_audio_format": BETA_FORMATS[fmt], "input_audio_transcription": transcription, "turn_detection": detection}
    return {"type": "transcription",
            "audio": {"input": {"format": GA_FORMATS[fmt], "transcription": transcription, "turn_detection": detection}}}


async def sdk_session(server: Server, audio: bytes, *, fmt: str = "pcm", turn_detection="server_vad", turns: list[int] | None = None,
                      beta: bool = False, language: str | None = "en", model: str = "gpt-4o-transcribe", chunk_ms: int = 100,
                      realtime: bool = True, tail_silence_ms: int = 1500, quiet_s: float = 2.0, timeout: float = 90,
                      token: str = TOKEN, keywords: list[str] | None = None) -> list[dict]:
    """Streams `audio` (in `fmt`) through the openai SDK, paced in real time unless `realtime=False`, and returns every
    server event as a dict with `_at` (seconds from the first append). With manual commit, `turns` are the byte
    offsets to commit after (the end is always committed) and it returns at the last `completed`; with server VAD,
    `tail_silence_ms` of silence follows the audio and it returns when every started item is completed and no event
    came for `quiet_s`."""
    client = AsyncOpenAI(api_key=token, base_url=f"http://127.0.0.1:{server.port}/v1",
                         websocket_base_url=f"ws://127.0.0.1:{server.port}/v1" if beta else None)
    loop = asyncio.get_running_loop()
    step = BYTES_PER_MS[fmt] * chunk_ms
    manual = turn_detection is None
    silence = (b"\xff" if fmt == "pcmu" else b"\xd5" if fmt == "pcma" else b"\x00") * BYTES_PER_MS[fmt] * tail_silence_ms
    body = audio if manual else audio + silence
    cuts = sorted(set((turns or []) + [len(audio)])) if manual else [len(body)]
    connect = client.beta.realtime.connect(model=model, extra_query={"intent": "transcription"}) if beta \
        else client.realtime.connect(extra_query={"intent": "transcription"})
    events: list[dict] = []
    async with connect as conn:
        update = session_update(fmt, turn_detection, language, model, beta, keywords=keywords)
        if beta:
            await conn.transcription_session.update(session=update)
        else:
            await conn.session.update(session=update)
        t0 = loop.time()

        async def send():
            sent = 0
            for begin, end in zip([0] + cuts[:-1], cuts):
                for start in range(begin, end, step):
                    if realtime:
                        await asyncio.sleep(max(0.0, t0 + sent * chunk_ms / 1000 - loop.time()))
                    sent += 1
                    await conn.input_audio_buffer.append(audio=base64.b64encode(body[start:min(start + step, end)]).decode())
                if manual:
                    await conn.input_audio_buffer.commit()

        sender = asyncio.create_task(send())
        last_event = loop.time()

        def finished() -> bool:
            done = {e["item_id"] for e in of_type(events, "input_audio_transcription.completed")}
            if manual:
                return len(done) >= len(cuts)
            started = {e["item_id"] for e in of_type(events, "speech_started")}
            return sender.done() and started <= done and loop.time() - last_event > quiet_s

        try:
            async with asyncio.timeout(timeout):
                while not finished():
                    try:  # websockets' recv may be cancelled safely
                        event = await asyncio.wait_for(conn.recv(), 0.25)
                    except asyncio.TimeoutError:
                        continue
                    except websockets.ConnectionClosedOK:
                        break
                    last_event = loop.time()
                    events.append({**event.model_dump(), "_at": loop.time() - t0})
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
    return events


def of_type(events: list[dict], suffix: str) -> list[dict]:
    return [e for e in events if e["type"] == suffix or e["type"].endswith("." + suffix)]


def transcripts(events: list[dict]) -> list[str]:
    return [e["transcript"] for e in of_type(events, "input_audio_transcription.completed")]


async def raw_session(server: Server, frames: list, *, wait_for: str | None = None, subprotocols=None, headers=None,
                      timeout: float = 10) -> tuple[list[dict], websockets.ClientConnection]:
    """Sends `frames` (dicts are JSON-encoded, str and bytes go as they are) on a raw socket, then a clear, and
    collects events until `input_audio_buffer.cleared` (or `wait_for`) arrives: the session survived."""
    url = f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription"
    events: list[dict] = []
    async with websockets.connect(url, additional_headers=headers if headers is not None else {"Authorization": f"Bearer {TOKEN}"},
                                  subprotocols=subprotocols, max_size=None, compression=None) as ws:
        events.append(json.loads(await ws.recv()))
        for frame in frames:
            await ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)
        await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": "probe"}))
        target = wait_for or "input_audio_buffer.cleared"
        # The probe's clear is answered after those of `frames`.
        count = 1 + sum(1 for f in frames if isinstance(f, dict) and f.get("type") == "input_audio_buffer.clear"
                        and set(f) <= {"type", "event_id"}) if wait_for is None else 1
        async with asyncio.timeout(timeout):
            async for message in ws:
                events.append(json.loads(message))
                count -= events[-1]["type"] == target
                if count == 0:
                    break
        return events, ws
