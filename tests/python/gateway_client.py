"""Clients of a test gateway: an upload to /api/realtime-voice/recognize and a stream on /api/realtime-voice/stream,
as a mini-program would make them, plus small checks on their answers. Shared by the test modules."""
import array
import asyncio
import contextlib
import json
import re
import urllib.error
import urllib.request
import uuid

import websockets

from conftest import TOKEN, Server


def metric(server: Server, name: str, **labels: str) -> float:
    """The sum of `/metrics`' samples of `name` whose labels include `labels` (all of them without)."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers={"token": TOKEN})
    text = urllib.request.urlopen(request, timeout=5).read().decode()
    total = 0.0
    for found, value in re.findall(rf"^{name}(?:{{([^}}]*)}})? (\S+)$", text, re.M):
        if labels.items() <= dict(re.findall(r'(\w+)="([^"]*)"', found)).items():
            total += float(value)
    return total


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for name, data in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="audio.wav"\r\n'
                     f"Content-Type: audio/wav\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(server: Server, path, **fields) -> tuple[int, dict]:
    """POST /api/realtime-voice/recognize with the file in `audio`; returns the HTTP status and the JSON body."""
    body, content_type = multipart(fields, {"audio": path.read_bytes()})
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/realtime-voice/recognize", data=body,
                                     headers={"Content-Type": content_type, "token": TOKEN})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def stream_url(server: Server, **query) -> str:
    return server.url("/api/realtime-voice/stream", token=TOKEN, **query)


async def stream(url: str, pcm: bytes, frame_ms: int = 100, realtime: bool = True, bytes_per_ms: int = 32):
    """Waits for `ready`, then sends PCM frame i at t0 + i * frame_ms (real-time pace, no drift), then `end`;
    `bytes_per_ms` is the PCM's (32 at 16 kHz, 48 at 24 kHz).

    Returns (events, close code); every event after `ready` has `_at`, its arrival in seconds after t0."""
    loop = asyncio.get_running_loop()
    async with websockets.connect(url, max_size=2**20) as ws:
        events = [json.loads(await ws.recv())]
        t0 = loop.time()
        step = bytes_per_ms * frame_ms

        async def send():
            for i, start in enumerate(range(0, len(pcm), step)):
                if realtime:
                    await asyncio.sleep(max(0.0, t0 + i * frame_ms / 1000 - loop.time()))
                await ws.send(pcm[start:start + step])
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                events.append({**json.loads(message), "_at": loop.time() - t0})
        except websockets.ConnectionClosedError:
            pass  # an error close (1011, 1013) ends the iteration with an exception
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
        return events, ws.close_code


def non_decreasing(items, start="start_ms", end="end_ms") -> bool:
    times = [t for item in items for t in (item[start], item[end])]
    return times == sorted(times)


def speech_bounds(pcm: bytes, threshold: int = 300) -> tuple[int, int]:
    """First and last sample of a clip louder than `threshold`, as sample indices (espeak pads its clips with silence)."""
    samples = array.array("h", pcm)
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    return loud[0], loud[-1] + 1


async def cut_session(url: str, pcm: bytes, cuts: list[float], pace: float = 4.0, bytes_per_ms: int = 32,
                      cut=None) -> tuple[list, list, int]:
    """Streams `pcm` at `pace` × real time in 100 ms frames, cutting the connection after each fraction in `cuts`
    of the audio is sent and resuming at once: `cut()` (a proxy dropping it), else the client aborts its TCP
    connection. Returns (every message received, the resumed messages, the final close code)."""
    step = bytes_per_ms * 100
    received: list[dict] = []
    resumes: list[dict] = []
    cut_at = [int(len(pcm) * c) // step * step for c in cuts]
    ws = await websockets.connect(url)
    ready = json.loads(await ws.recv())
    assert ready["type"] == "ready" and ready["resume_token"], ready
    received.append(ready)

    async def drain(connection):
        try:
            async for message in connection:
                received.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.create_task(drain(ws))
    offset = 0
    while True:
        limit = cut_at.pop(0) if cut_at else len(pcm)
        while offset < limit:
            await ws.send(pcm[offset:offset + step])
            offset += step
            await asyncio.sleep(0.1 / pace)
        if offset >= len(pcm) and not cut_at and limit == len(pcm):
            break
        await asyncio.sleep(0.3)  # some results arrive, some may still be on their way when the line goes
        if cut is None:
            ws.transport.abort()  # no close frame: the network went away
        else:
            cut()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(reader), 5)  # the client sees its connection drop
        reader.cancel()
        last_seq = max((m["seq"] for m in received if "seq" in m), default=0)
        resume = url + f"&resume_token={ready['resume_token']}&last_seq={last_seq}"
        ws = await websockets.connect(resume)
        resumed = json.loads(await ws.recv())
        assert resumed["type"] == "resumed" and resumed["session_id"] == ready["session_id"], resumed
        resumes.append(resumed)
        assert 0 < resumed["received_ms"] * bytes_per_ms <= offset, (resumed, offset)
        offset = resumed["received_ms"] * bytes_per_ms  # what the server has; the rest is sent again
        reader = asyncio.create_task(drain(ws))
    await ws.send(json.dumps({"type": "end"}))
    await asyncio.wait_for(reader, 60)
    return received, resumes, ws.close_code


def check_results(received: list[dict]):
    """Results are numbered without gaps or repeats, and each segment's final comes once."""
    seqs = [m["seq"] for m in received if m["type"] in ("partial", "final")]
    assert seqs == sorted(set(seqs)), seqs
    finals = [m["segment"] for m in received if m["type"] == "final"]
    assert finals == list(range(len(finals))), finals
