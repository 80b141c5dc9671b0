#!/usr/bin/env python3
"""Load and soak, called by soak.sh: sessions opened and closed in waves against one release server, with real audio.

Kinds of session (exact shares, shuffled with a fixed seed):
- stream   (60 %): a clip (one in five: two clips 0.7 s apart) at real-time pace in 100 ms frames, then
                   {"type":"end"}; expected `completed`;
- abandon  (10 %): 30-70 % of a clip at real-time pace, then the client closes TCP without `end` or a close frame
                   (every other one by abort); classified `client_abandoned` (the server counts `client_gone`);
- idle     (10 %): a clip (one in four: nothing) and then silence, until the server ends it with `idle_timeout`;
- echo     (10 %): /api/realtime-voice/echo with header auth: 5 binary frames of audio, a text, a ping; closed 1000;
- upload   (10 %): POST /api/realtime-voice/recognize, multipart field `audio`, a clip as WAV or MP3 in turns.

Waves start every --wave-interval seconds; their sizes follow a sine over 10 waves (one minute at 6 s) between 0.4 and
1.6 times the mean, so that concurrency peaks around the server's capacity once a minute; the sessions of a wave start
spread over 2 s, as independent users. Before the waves a warm-up wave uses every decoder at once and every kind of
session; the baseline RSS is read after it and a settle, the end RSS after the last session and the same settle.

Every session ends in an outcome: `completed`, a documented error code (README's tables; for streams also the close
code the table gives), `client_abandoned`, or something else, which is counted as undocumented. GET /metrics is read
after the warm-up and at the end: the increase of realtime_voice_sessions_total by endpoint and outcome must equal what
the clients saw, and realtime_voice_active_sessions must be back to 0.
"""
import argparse
import asyncio
import concurrent.futures
import ctypes
import http.client
import json
import math
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import wave
from datetime import datetime, timezone
from pathlib import Path

import websockets

from gateway_process import CLOCK_TICKS, cpu_seconds, free_port, rss_mib

TOKEN = "bench"
RATE = 16000
FRAME_MS = 100
FRAME_BYTES = RATE * 2 * FRAME_MS // 1000
GAP_SECONDS = 0.7
SPREAD_SECONDS = 2.0
RSS_TARGET = 0.10  # end RSS within ±10 % of the baseline
KINDS = {"stream": 0.6, "abandon": 0.1, "idle": 0.1, "echo": 0.1, "upload": 0.1}

# README, "Streaming protocol v1": error code -> close code.
STREAM_ERRORS = {
    "invalid_message": 1008, "invalid_audio": 1003, "frame_too_large": 1009, "busy": 1013, "overloaded": 1013,
    "idle_timeout": 1000, "max_duration": 1000, "engine_failed": 1011, "upstream_rejected": 1011, "upstream_failed": 1011,
    "server_shutting_down": 1001,
}
# README, "One-shot recognition": error code -> HTTP status.
UPLOAD_ERRORS = {
    "missing_audio": 400, "audio_too_large": 413, "audio_too_long": 413, "unsupported_format": 415,
    "undecodable_audio": 422, "busy": 503, "unknown_engine": 400, "unsupported_language": 400,
    "invalid_parameter": 400, "invalid_multipart": 400,
}
DOCUMENTED = {
    "stream": {"completed", *STREAM_ERRORS},
    "abandon": {"client_abandoned", "completed", *STREAM_ERRORS},
    "idle": {"completed", *STREAM_ERRORS},
    "echo": {"completed"},
    "upload": {"completed", *UPLOAD_ERRORS},
}
# What each kind is meant to end in; a documented outcome other than these (busy aside) is shown, not failed.
EXPECTED = {"stream": "completed", "abandon": "client_abandoned", "idle": "idle_timeout", "echo": "completed", "upload": "completed"}

PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """The server gets SIGTERM if this script dies, however it dies."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# MARK: /proc


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# MARK: audio


class Clip:
    def __init__(self, path: Path):
        with wave.open(str(path)) as w:
            assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
            self.pcm = w.readframes(w.getnframes())
        self.name = path.stem
        self.wav = path.read_bytes()
        mp3 = path.with_suffix(".mp3")
        self.mp3 = mp3.read_bytes() if mp3.exists() else None

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[offset:offset + FRAME_BYTES] for offset in range(0, len(pcm), FRAME_BYTES)]


# MARK: sessions


def ws_url(port: int, path: str, query_token: bool = True) -> str:
    return f"ws://127.0.0.1:{port}{path}" + (f"?token={TOKEN}" if query_token else "")


async def ws_connect(url: str, headers: dict | None = None):
    # proxy=None: every byte goes to 127.0.0.1, whatever the environment says.
    return await websockets.connect(url, additional_headers=headers, proxy=None, compression=None, open_timeout=20,
                                    max_size=2**20)


def close_code(ws) -> int | None:
    return ws.close_code if ws.close_code is not None else None


async def paced_send(ws, chunks: list[bytes], record: dict) -> None:
    """Sends `chunks` at real-time pace (100 ms frames); stops quietly if the server closed."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        for index, chunk in enumerate(chunks):
            delay = start + index * FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(chunk)
            record["frames_sent"] = index + 1
    except websockets.ConnectionClosed:
        record["send_stopped"] = True


def stream_outcome(record: dict, code: int | None) -> str:
    """completed / a documented error with its documented close code / something undocumented."""
    if "error" in record:
        error = record["error"]
        expected = STREAM_ERRORS.get(error)
        if expected is not None and code is not None and code != expected:
            return f"{error} (close {code}, documented {expected})"
        return error
    if record.get("completed"):
        return "completed" if code in (1000, None) else f"completed (close {code})"
    return f"closed {code} without completed or error"


async def read_events(ws, record: dict) -> None:
    """Reads server messages until the server closes; notes finals, completed and error."""
    try:
        async for message in ws:
            if isinstance(message, bytes):
                record["unexpected"] = "binary message"
                continue
            event = json.loads(message)
            kind = event.get("type")
            if kind == "final":
                record.setdefault("finals", []).append(event.get("text", ""))
            elif kind == "completed":
                record["completed"] = True
            elif kind == "error":
                record["error"] = event.get("code")
                record["message"] = event.get("message", "")[:200]
    except websockets.ConnectionClosedError:
        pass


async def wait_ready(ws, record: dict, timeout: float) -> bool:
    """The first message: `ready`, else an error (busy) and the close."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    except websockets.ConnectionClosed:
        return False
    record["ready_wait_s"] = round(loop.time() - started, 3)
    if first.get("type") == "ready":
        return True
    if first.get("type") == "error":
        record["error"] = first.get("code")
        record["message"] = first.get("message", "")[:200]
        try:
            await asyncio.wait_for(ws.wait_closed(), 10)
        except asyncio.TimeoutError:
            record["unexpected"] = "no close after the error"
    else:
        record["unexpected"] = f"first message {first.get('type')!r}"
    return False


async def sent_stream(ws, record: dict, chunks: list[bytes], queue_timeout: float) -> asyncio.Task | None:
    """Waits for `ready`, then sends the audio at real-time pace while a task reads the session's events; returns
    that task, or None when the session ended before `ready` (busy, refused)."""
    if not await wait_ready(ws, record, queue_timeout + 20):
        return None
    reader = asyncio.create_task(read_events(ws, record))
    await paced_send(ws, chunks, record)
    return reader


async def stream_session(port: int, record: dict, chunks: list[bytes], queue_timeout: float) -> str:
    ws = await ws_connect(ws_url(port, "/api/realtime-voice/stream"))
    try:
        reader = await sent_stream(ws, record, chunks, queue_timeout)
        if reader is None:
            return stream_outcome(record, close_code(ws))
        try:
            await ws.send(json.dumps({"type": "end"}))
        except websockets.ConnectionClosed:
            pass
        await reader
        return stream_outcome(record, close_code(ws))
    finally:
        await ws.close()


async def abandon_session(port: int, record: dict, chunks: list[bytes], queue_timeout: float, index: int) -> str:
    ws = await ws_connect(ws_url(port, "/api/realtime-voice/stream"))
    try:
        reader = await sent_stream(ws, record, chunks, queue_timeout)
        if reader is None:
            return stream_outcome(record, close_code(ws))
        if reader.done() or "error" in record:
            await reader
            return stream_outcome(record, close_code(ws))
        reader.cancel()
        # TCP close without `end` and without a WebSocket close frame.
        if index % 2:
            ws.transport.abort()
            record["cut"] = "abort"
        else:
            ws.transport.close()
            record["cut"] = "close"
        return "client_abandoned"
    finally:
        if record.get("cut") is None:
            await ws.close()


async def idle_session(port: int, record: dict, chunks: list[bytes], queue_timeout: float) -> str:
    ws = await ws_connect(ws_url(port, "/api/realtime-voice/stream"))
    try:
        reader = await sent_stream(ws, record, chunks, queue_timeout)
        if reader is None:
            return stream_outcome(record, close_code(ws))
        await reader  # the server ends the session: finals, then idle_timeout
        return stream_outcome(record, close_code(ws))
    finally:
        await ws.close()


async def echo_session(port: int, record: dict, pcm: bytes) -> str:
    # Header auth here (what wx.connectSocket sends); the streams use the query.
    ws = await ws_connect(ws_url(port, "/api/realtime-voice/echo", query_token=False), headers={"token": TOKEN})
    try:
        sent = frames(pcm)[:5]
        ok = True
        for chunk in sent:
            await ws.send(chunk)
            ok &= await asyncio.wait_for(ws.recv(), 10) == chunk
            await asyncio.sleep(FRAME_MS / 1000)
        text = f"soak {uuid.uuid4().hex}"
        await ws.send(text)
        ok &= await asyncio.wait_for(ws.recv(), 10) == text
        await ws.send(json.dumps({"type": "ping"}))
        ok &= json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") == "pong"
        await ws.close()
        code = close_code(ws)
        if not ok:
            return "echo mismatch"
        return "completed" if code == 1000 else f"echo closed {code}"
    except websockets.ConnectionClosed as error:
        return f"echo closed by server {error.rcvd.code if error.rcvd else None}"
    finally:
        await ws.close()


def post_upload(port: int, audio: bytes, filename: str, content_type: str) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode() + audio + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    try:
        connection.request("POST", "/api/realtime-voice/recognize", body=body,
                           headers={"token": TOKEN, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, {"unparsed": raw[:200].decode(errors="replace")}


async def upload_session(port: int, record: dict, clip: Clip, as_mp3: bool) -> str:
    audio, name, content_type = (clip.mp3, "recording.mp3", "audio/mpeg") if as_mp3 and clip.mp3 else (clip.wav, "recording.wav", "audio/wav")
    record["format"] = "mp3" if name.endswith("mp3") else "wav"
    status, answer = await asyncio.to_thread(post_upload, port, audio, name, content_type)
    record["status"] = status
    if status == 200 and answer.get("code") == 0:
        record["finals"] = [answer.get("data", {}).get("text", "")]
        return "completed"
    code = answer.get("error")
    record["error"] = code
    record["message"] = str(answer.get("message", answer))[:200]
    if code in UPLOAD_ERRORS and UPLOAD_ERRORS[code] == status:
        if code == "busy" and "recordings are being recognised" in record["message"]:
            record["at_upload_gate"] = True  # refused at --max-concurrent-uploads (counted as a busy session)
        return code
    return f"{code} (HTTP {status})"


class Soak:
    def __init__(self, options, port: int, server: subprocess.Popen, clips: list[Clip]):
        self.options, self.port, self.server, self.clips = options, port, server, clips
        self.records: list[dict] = []
        self.samples: list[dict] = []  # every 0.5 s: time, RSS, server CPU, machine CPU, own CPU
        self.server_dead_at = None
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    # The session plan: kinds in exact shares, clips and details drawn with the seed.
    def plan_session(self, rng: random.Random, kind: str, index: int) -> dict:
        clip = rng.choice(self.clips)
        plan = {"kind": kind, "index": index, "clips": [clip.name], "audio_s": round(clip.seconds, 2)}
        if kind == "stream" and rng.random() < 0.2:
            other = rng.choice(self.clips)
            plan["clips"].append(other.name)
            plan["audio_s"] = round(clip.seconds + GAP_SECONDS + other.seconds, 2)
        elif kind == "abandon":
            plan["fraction"] = round(rng.uniform(0.3, 0.7), 2)
        elif kind == "idle" and rng.random() < 0.25:
            plan["clips"], plan["audio_s"] = [], 0.0
        elif kind == "upload":
            plan["mp3"] = index % 2 == 1
        return plan

    def pcm_of(self, plan: dict) -> bytes:
        by_name = {c.name: c for c in self.clips}
        gap = b"\x00\x00" * int(RATE * GAP_SECONDS)
        return gap.join(by_name[name].pcm for name in plan["clips"])

    def budget(self, plan: dict) -> float:
        """Longest a session may take before the client gives up on it (then an undocumented client_timeout)."""
        o = self.options
        return plan["audio_s"] + o.queue_timeout + o.idle_timeout + 60

    async def run_session(self, plan: dict, delay: float, phase: str) -> dict:
        await asyncio.sleep(delay)
        record = dict(plan, phase=phase, start_s=round(self.now(), 3))
        o = self.options
        kind = plan["kind"]
        try:
            pcm = self.pcm_of(plan)
            if kind == "stream":
                work = stream_session(self.port, record, frames(pcm), o.queue_timeout)
            elif kind == "abandon":
                chunks = frames(pcm)
                work = abandon_session(self.port, record, chunks[:max(1, int(len(chunks) * plan["fraction"]))], o.queue_timeout, plan["index"])
            elif kind == "idle":
                work = idle_session(self.port, record, frames(pcm), o.queue_timeout)
            elif kind == "echo":
                work = echo_session(self.port, record, pcm or b"\x00" * FRAME_BYTES * 5)
            else:
                clip = next(c for c in self.clips if c.name == plan["clips"][0])
                work = upload_session(self.port, record, clip, plan.get("mp3", False))
            record["outcome"] = await asyncio.wait_for(work, self.budget(plan))
        except asyncio.TimeoutError:
            record["outcome"] = "client_timeout"
        except asyncio.CancelledError:  # the run's backstop deadline (or the run is being stopped)
            record["outcome"] = "client_timeout (backstop)"
        except websockets.InvalidStatus as error:
            record["outcome"] = f"handshake refused {error.response.status_code}"
        except (OSError, websockets.WebSocketException, http.client.HTTPException) as error:
            record["outcome"] = f"{type(error).__name__}: {error}"[:120]
        record["wall_s"] = round(self.now() - record["start_s"], 3)
        record["end_s"] = round(self.now(), 3)
        self.records.append(record)
        return record

    async def monitor(self) -> None:
        pid = self.server.pid
        while True:
            if self.server.poll() is not None:
                if self.server_dead_at is None:
                    self.server_dead_at = round(self.now(), 1)
                    print(f"!! the server exited ({self.server.returncode}) at {self.server_dead_at} s", flush=True)
                return
            try:
                busy, total = machine_cpu_seconds()
                self.samples.append({"t": round(self.now(), 2), "rss": round(rss_mib(pid), 1), "cpu": cpu_seconds(pid),
                                     "machine_busy": busy, "machine_total": total, "own": round(own_cpu_seconds(), 3)})
            except (OSError, ValueError, IndexError):
                pass
            await asyncio.sleep(0.5)

    def rss_now(self, readings: int = 3) -> float:
        values = []
        for index in range(readings):
            values.append(rss_mib(self.server.pid))
            if index + 1 < readings:
                time.sleep(1)
        return statistics.median(values)

    def metrics(self) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/metrics", headers={"token": TOKEN})
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            return parse_metrics(response.read().decode())

    def health(self) -> int | None:
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"http://127.0.0.1:{self.port}/health", timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None


def parse_metrics(text: str) -> dict:
    """{(name, frozenset(labels)): value} of the samples in a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not match:
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        samples[(match.group(1), labels)] = float(match.group(4))
    return samples


def sessions_by_endpoint_outcome(samples: dict) -> dict:
    counts = {}
    for (name, labels), value in samples.items():
        if name == "realtime_voice_sessions_total":
            labels = dict(labels)
            key = (labels.get("endpoint"), labels.get("outcome"))
            counts[key] = counts.get(key, 0) + value
    return counts


def audio_seconds(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items() if name == "realtime_voice_audio_seconds_total")


def active_sessions(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items() if name == "realtime_voice_active_sessions")


def server_view(record: dict) -> tuple[str, str] | None:
    """The (endpoint, outcome) the server's metrics should count for a session, None if it counts none."""
    outcome, kind = record["outcome"], record["kind"]
    if kind == "echo":
        # The client closes with a close frame: the echo counts that as completed.
        return ("echo", "completed") if outcome == "completed" else None
    if kind == "upload":
        if outcome not in DOCUMENTED["upload"]:
            return None
        return ("recognize", outcome)
    if outcome == "client_abandoned":
        return ("stream", "client_gone")
    return ("stream", outcome) if outcome in DOCUMENTED[kind] else None


def wave_sizes(total: int, waves: int) -> list[int]:
    mean = total / waves
    sizes = [max(1, round(mean * (1 + 0.6 * math.sin(2 * math.pi * i / 10)))) for i in range(waves)]
    # Make the sum exact, taking from or giving to the largest / smallest waves.
    while sum(sizes) > total:
        sizes[sizes.index(max(sizes))] -= 1
    while sum(sizes) < total:
        sizes[sizes.index(min(sizes))] += 1
    return sizes


def kinds_in_shares(total: int, rng: random.Random) -> list[str]:
    counts = {kind: int(total * share) for kind, share in KINDS.items()}
    counts["stream"] += total - sum(counts.values())
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    return kinds


def percent(part: float, whole: float) -> float:
    return 100 * part / whole if whole else 0.0


def window_stats(samples: list[dict], start: float, end: float) -> dict:
    window = [s for s in samples if start <= s["t"] <= end]
    if len(window) < 2:
        return {}
    first, last = window[0], window[-1]
    wall = last["t"] - first["t"]
    server = last["cpu"] - first["cpu"]
    machine = last["machine_busy"] - first["machine_busy"]
    own = last["own"] - first["own"]
    # The highest server CPU over any 10 s.
    peak = 0.0
    j = 0
    for i, s in enumerate(window):
        while window[j]["t"] < s["t"] - 10:
            j += 1
        if s["t"] - window[j]["t"] >= 9.5:
            peak = max(peak, percent(s["cpu"] - window[j]["cpu"], s["t"] - window[j]["t"]))
    return {
        "wall_s": round(wall, 1),
        "server_cpu_s": round(server, 1),
        "server_cpu_pct": round(percent(server, wall), 1),
        "server_cpu_pct_max_10s": round(peak, 1),
        "loadgen_cpu_pct": round(percent(own, wall), 1),
        "others_cpu_pct": round(max(0.0, percent(machine - server - own, wall)), 1),
        "machine_cores": os.cpu_count(),
    }


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))) for row in rows)


async def soak(options, soak_state: Soak) -> dict:
    o = options
    rng = random.Random(o.seed)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=32))
    monitor = asyncio.create_task(soak_state.monitor())
    result = {}

    # Warm-up: every decoder at once (the pool lends the last one returned, so the others would first be used, and
    # allocate their buffers, only at a later peak), and every kind of session once.
    warm_kinds = ["stream"] * o.decoders + ["abandon", "idle", "echo", "upload", "upload"]
    warm = [soak_state.plan_session(rng, kind, -(i + 1)) for i, kind in enumerate(warm_kinds)]
    for i, plan in enumerate(warm):
        if plan["kind"] == "upload":
            plan["mp3"] = i % 2 == 0
        if plan["kind"] == "idle" and not plan["clips"]:
            plan["clips"], plan["audio_s"] = [soak_state.clips[0].name], round(soak_state.clips[0].seconds, 2)
    print(f"warm-up: {len(warm)} sessions ({o.decoders} streams at once, one of each other kind), then {o.settle:.0f} s settle", flush=True)
    warm_records = await asyncio.gather(*(soak_state.run_session(plan, 0.05 * i, "warm-up") for i, plan in enumerate(warm)))
    await asyncio.sleep(o.settle)
    baseline_rss = await asyncio.to_thread(soak_state.rss_now)
    metrics_before = await asyncio.to_thread(soak_state.metrics)
    warm_outcomes = {}
    for r in warm_records:
        warm_outcomes[f"{r['kind']} {r['outcome']}"] = warm_outcomes.get(f"{r['kind']} {r['outcome']}", 0) + 1
    print(f"  warm-up outcomes: {', '.join(f'{k} {v}' for k, v in sorted(warm_outcomes.items()))}", flush=True)
    print(f"  baseline RSS {baseline_rss:.1f} MiB", flush=True)

    # The waves.
    waves = max(1, math.ceil(o.duration / o.wave_interval))
    sizes = wave_sizes(o.sessions, waves)
    kinds = kinds_in_shares(o.sessions, rng)
    print(f"soak: {o.sessions} sessions in {waves} waves {o.wave_interval:g} s apart ({min(sizes)}-{max(sizes)} per wave), "
          f"mix {', '.join(f'{k} {kinds.count(k)}' for k in KINDS)}", flush=True)
    soak_start = soak_state.now()
    tasks = []
    index = 0
    deadline = soak_start + waves * o.wave_interval + soak_state.budget({"audio_s": 20}) + 30
    next_progress = soak_start + 60
    for wave in range(waves):
        at = soak_start + wave * o.wave_interval
        await asyncio.sleep(max(0.0, at - soak_state.now()))
        if soak_state.server_dead_at is not None:
            print("!! stopping the waves: the server is gone", flush=True)
            break
        offsets = sorted(rng.uniform(0, SPREAD_SECONDS) for _ in range(sizes[wave]))
        for offset in offsets:
            plan = soak_state.plan_session(rng, kinds[index], index)
            plan["wave"] = wave
            tasks.append(asyncio.create_task(soak_state.run_session(plan, offset, "soak")))
            index += 1
        if soak_state.now() >= next_progress or wave == waves - 1:
            next_progress += 60
            done = sum(t.done() for t in tasks)
            sample = soak_state.samples[-1] if soak_state.samples else {"rss": 0}
            try:
                active = active_sessions(await asyncio.to_thread(soak_state.metrics))
            except OSError:
                active = float("nan")
            recent = window_stats(soak_state.samples, soak_state.now() - 60, soak_state.now())
            print(f"  {soak_state.now() - soak_start:5.0f} s  wave {wave + 1}/{waves}  started {index}  ended {done}  "
                  f"server active {active:.0f}  RSS {sample['rss']:.0f} MiB  CPU (last 60 s) {recent.get('server_cpu_pct', 0):.0f} % "
                  f"(others on the machine {recent.get('others_cpu_pct', 0):.0f} %)", flush=True)
    if tasks:
        remaining = max(1.0, deadline - soak_state.now())
        done, pending = await asyncio.wait(tasks, timeout=remaining)
        for task in pending:  # bounded: budget() already gives each session up; this is the backstop
            task.cancel()
    soak_end = soak_state.now()
    records = [r for r in soak_state.records if r["phase"] == "soak"]
    print(f"  all {len(records)} sessions ended at {soak_end - soak_start:.0f} s; settle {o.settle:.0f} s", flush=True)

    await asyncio.sleep(o.settle)
    alive = soak_state.server.poll() is None
    end_rss, metrics_after, health = None, {}, None
    if alive:
        health = await asyncio.to_thread(soak_state.health)
        try:
            end_rss = await asyncio.to_thread(soak_state.rss_now)
            metrics_after = await asyncio.to_thread(soak_state.metrics)
        except OSError as error:
            print(f"!! reading the server's RSS or /metrics at the end failed: {error}", flush=True)
        alive = soak_state.server.poll() is None
    monitor.cancel()

    result.update({
        "warmup": {"sessions": warm_records, "baseline_rss_mib": round(baseline_rss, 1)},
        "records": records,
        "soak_wall_s": round(soak_end - soak_start, 1),
        "waves": waves,
        "wave_sizes": sizes,
        "alive_at_end": alive,
        "health_at_end": health,
        "end_rss_mib": round(end_rss, 1) if end_rss is not None else None,
        "cpu": window_stats(soak_state.samples, soak_start, soak_end),
        "metrics_before": {f"{k[0]}/{k[1]}": v for k, v in sessions_by_endpoint_outcome(metrics_before).items()},
        "metrics_after": {f"{k[0]}/{k[1]}": v for k, v in sessions_by_endpoint_outcome(metrics_after).items()},
        "active_sessions_at_end": active_sessions(metrics_after) if metrics_after else None,
        "audio_seconds": round(audio_seconds(metrics_after) - audio_seconds(metrics_before), 1) if metrics_after else None,
        "soak_start_s": round(soak_start, 1),
    })
    result["_metrics_delta"] = {
        key: sessions_by_endpoint_outcome(metrics_after).get(key, 0) - sessions_by_endpoint_outcome(metrics_before).get(key, 0)
        for key in set(sessions_by_endpoint_outcome(metrics_after)) | set(sessions_by_endpoint_outcome(metrics_before))
    }
    return result


def report(options, result: dict, samples: list[dict], exit_status, log_hits: list[str], elapsed: float) -> tuple[str, list[str]]:
    o = options
    lines, missed = [], []
    records = result["records"]

    # Sessions by kind and outcome.
    outcomes = sorted({r["outcome"] for r in records}, key=lambda x: (x not in ("completed", "client_abandoned"), x))
    rows = [["kind", "sessions", *outcomes]]
    for kind in KINDS:
        mine = [r for r in records if r["kind"] == kind]
        rows.append([kind, str(len(mine)), *[str(sum(r["outcome"] == x for r in mine) or "·") for x in outcomes]])
    rows.append(["all", str(len(records)), *[str(sum(r["outcome"] == x for r in records)) for x in outcomes]])
    lines.append(f"Sessions by kind and outcome ({len(records)} sessions, {result['waves']} waves):")
    lines.append(format_table(rows))
    undocumented = [r for r in records if r["outcome"] not in DOCUMENTED[r["kind"]]]
    unexpected = [r for r in records if r["outcome"] in DOCUMENTED[r["kind"]] and r["outcome"] not in (EXPECTED[r["kind"]], "busy")]
    lines.append(f"undocumented outcomes: {len(undocumented)} (target 0)")
    for r in undocumented[:10]:
        lines.append(f"  - {r['kind']} #{r['index']} at {r['start_s']:.1f} s: {r['outcome']} {r.get('message', '')}")
    if undocumented:
        missed.append(f"{len(undocumented)} undocumented outcomes")
    if unexpected:
        lines.append(f"documented but not what the kind aims at (shown, not a failure): {len(unexpected)}")
        for r in unexpected[:10]:
            lines.append(f"  - {r['kind']} #{r['index']} at {r['start_s']:.1f} s: {r['outcome']} {r.get('message', '')}")
    busy = [r for r in records if r["outcome"] == "busy"]
    if busy:
        gate = sum(1 for r in busy if r.get("at_upload_gate"))
        lines.append(f"busy: {len(busy)} ({percent(len(busy), len(records)):.1f} %)" + (f", {gate} of them uploads refused at --max-concurrent-uploads" if gate else ""))
    completed_streams = [r for r in records if r["kind"] == "stream" and r["outcome"] == "completed"]
    with_text = sum(1 for r in completed_streams if any(t.strip() for t in r.get("finals", [])))
    waits = sorted(r["ready_wait_s"] for r in records if "ready_wait_s" in r)
    lines.append(f"completed streams with a transcript: {with_text}/{len(completed_streams)}; "
                 f"wait for `ready` p50/p95/max {statistics.median(waits) if waits else 0:.2f}/"
                 f"{waits[int(0.95 * (len(waits) - 1))] if waits else 0:.2f}/{waits[-1] if waits else 0:.2f} s")

    # /metrics cross-check.
    expected = {}
    for r in records:
        view = server_view(r)
        if view:
            expected[view] = expected.get(view, 0) + 1
    delta = {k: v for k, v in result["_metrics_delta"].items() if v}
    mismatches = {f"{k[0]}/{k[1]}": (delta.get(k, 0), expected.get(k, 0)) for k in set(delta) | set(expected) if delta.get(k, 0) != expected.get(k, 0)}
    not_counted = sum(1 for r in records if server_view(r) is None)
    lines.append("")
    lines.append(f"/metrics realtime_voice_sessions_total, increase over the soak: {sum(delta.values()):.0f}; "
                 f"sessions the server should have seen: {sum(expected.values())} (+ {not_counted} it does not count)")
    lines.append("  " + ", ".join(f"{k[0]}/{k[1]} {v:.0f}" for k, v in sorted(delta.items())))
    active = result["active_sessions_at_end"]
    lines.append(f"  by endpoint and outcome: {'all equal' if not mismatches else 'MISMATCH ' + json.dumps(mismatches)}; "
                 f"realtime_voice_active_sessions at the end: {active if active is None else f'{active:.0f}'}")
    if mismatches or sum(delta.values()) != sum(expected.values()):
        missed.append("/metrics disagrees with the clients")
    if active != 0:
        missed.append(f"{active} sessions still active on the server at the end")

    # Memory.
    base, end = result["warmup"]["baseline_rss_mib"], result["end_rss_mib"]
    soak_samples = [s for s in samples if s["t"] >= result["soak_start_s"]]
    rss_max = max((s["rss"] for s in samples), default=0)
    lines.append("")
    if end is not None:
        ratio = end / base
        lines.append(f"RSS: baseline {base:.1f} MiB (after warm-up + {o.settle:.0f} s), end {end:.1f} MiB (after + {o.settle:.0f} s), "
                     f"max {rss_max:.1f} MiB; end/baseline {ratio:.3f} (target {1 - RSS_TARGET:.2f}–{1 + RSS_TARGET:.2f})")
        result["rss_ratio"] = round(ratio, 4)
        if abs(ratio - 1) > RSS_TARGET:
            missed.append(f"RSS end/baseline {ratio:.3f}")
    else:
        lines.append(f"RSS: baseline {base:.1f} MiB, end — (server gone), max {rss_max:.1f} MiB")
    result["rss_max_mib"] = rss_max
    per_minute = []
    start = result["soak_start_s"]
    minute = 0
    while True:
        window = [s["rss"] for s in soak_samples if start + 60 * minute <= s["t"] < start + 60 * (minute + 1)]
        if not window:
            break
        per_minute.append((minute, min(window), max(window)))
        minute += 1
    result["rss_per_minute"] = [{"minute": m, "min": lo, "max": hi} for m, lo, hi in per_minute]
    lines.append("  RSS per minute of soak, min/max MiB: " + "  ".join(f"{m}: {lo:.0f}/{hi:.0f}" for m, lo, hi in per_minute))

    # CPU.
    cpu = result["cpu"]
    if cpu:
        audio = result.get("audio_seconds")
        per_audio = f", {cpu['server_cpu_s'] / audio:.3f} CPU s per second of audio ({audio:.0f} s recognised)" if audio else ""
        lines.append(f"CPU over the soak ({cpu['wall_s']:.0f} s): server {cpu['server_cpu_s']:.0f} CPU s, {cpu['server_cpu_pct']:.0f} % of a core "
                     f"(max 10 s {cpu['server_cpu_pct_max_10s']:.0f} %){per_audio}; load generator {cpu['loadgen_cpu_pct']:.0f} %; "
                     f"other processes on the {cpu['machine_cores']}-core machine {cpu['others_cpu_pct']:.0f} % of a core")

    # Crashes.
    crashes = []
    if not result["alive_at_end"]:
        crashes.append("server not alive at the end")
    if result["health_at_end"] != 200:
        crashes.append(f"/health answered {result['health_at_end']}")
    if exit_status not in (0,):
        crashes.append(f"exit status {exit_status} on SIGTERM")
    if log_hits:
        crashes.append(f"{len(log_hits)} fatal/crash lines in the log")
    lines.append(f"crashes: {len(crashes)} (target 0): alive {result['alive_at_end']}, /health {result['health_at_end']}, "
                 f"exit status on SIGTERM {exit_status}, fatal/crash lines in the log {len(log_hits)}")
    for line in log_hits[:5]:
        lines.append(f"  | {line[:200]}")
    if crashes:
        missed.append("crash: " + "; ".join(crashes))
    result["crashes"] = crashes
    lines.append(f"duration: soak {result['soak_wall_s']:.0f} s, whole run {elapsed:.0f} s")
    return "\n".join(lines), missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--corpus", required=True, type=Path, help="folder of 16 kHz mono WAV clips (and .mp3 next to them)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--quick", action="store_true", help="~1 min: 100 sessions in 10 waves")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=600, help="seconds over which the waves start")
    parser.add_argument("--wave-interval", type=float, default=6)
    parser.add_argument("--settle", type=float, default=10, help="seconds of quiet before each RSS reading")
    parser.add_argument("--decoders", type=int, default=8)
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--queue-timeout", type=float, default=10)
    parser.add_argument("--idle-timeout", type=float, default=3)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    if options.quick:
        options.sessions, options.duration = 100, 60

    def on_signal(number, _frame):
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    clips = [Clip(p) for p in sorted(options.corpus.glob("*.wav"))]
    if not clips:
        print(f"no clips in {options.corpus}", file=sys.stderr)
        return 1
    binary = Path(options.binary).resolve()
    port = free_port()
    log = options.out.with_suffix(".server.log")
    server_args = ["--engine", "pocketsphinx", "--decoders", str(options.decoders), "--queue-size", str(options.queue_size),
                   "--queue-timeout", f"{options.queue_timeout:g}", "--idle-timeout", f"{options.idle_timeout:g}"]
    argv = [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), "--token", TOKEN, *server_args, "--log-level", "info"]
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).astimezone()
    print(f"server: {binary.name} serve {' '.join(server_args)} on 127.0.0.1:{port}; {len(clips)} clips "
          f"({min(c.seconds for c in clips):.1f}-{max(c.seconds for c in clips):.1f} s); load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
          flush=True)
    server = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    exit_status = None
    result = None
    try:
        deadline = time.monotonic() + 60
        state = Soak(options, port, server, clips)
        while state.health() != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                print(f"the server did not come up (exit {server.poll()}): see {log}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        state.t0 = time.monotonic()
        result = asyncio.run(soak(options, state))
        samples = state.samples
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                exit_status = server.wait(timeout=45)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                exit_status = "killed after 45 s"
        elif exit_status is None:
            exit_status = server.returncode
    log_hits = [line.strip() for line in log.read_text(errors="replace").splitlines() if re.search(r"fatal|crash|segmentation fault|illegal instruction", line, re.I)]
    elapsed = time.monotonic() - started
    text, missed = report(options, result, samples, exit_status, log_hits, elapsed)
    print()
    print(text)
    print()
    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    result.pop("_metrics_delta", None)
    result.update({"started": started_at.isoformat(), "server_argv": argv[1:], "options": vars(options) | {"corpus": str(options.corpus), "out": str(options.out)},
                   "exit_status": exit_status, "log_hits": log_hits[:20], "missed": missed, "samples": samples})
    options.out.write_text(json.dumps(result, indent=1, default=str))
    print(f"raw numbers: {options.out}; server log: {log}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
