#!/usr/bin/env python3
"""Mandarin benchmark of engine `whisper` (the gateway's own faster-whisper sidecar), called by mandarin.sh.

1. Accuracy. The Mandarin corpus (tests/python/mandarin_speech.py: espeak-ng reading pinyin, 26 sentences x 2
   voices; --quick: 7 sentences x 2), CER (mandarin_speech.cer) by three paths:
   a. direct: bench/whisper_direct.py decodes each file in-process with faster-whisper, same model folder, settings,
      decode options, Simplified conversion and guards as the sidecar (run before any gateway, alone on the machine);
   b. upload: POST /api/realtime-voice/recognize, lang=zh-CN, one file at a time;
   c. stream: the sentences of one voice joined into a few long clips (0.5 s lead, 1.2 s between sentences as
      the clips come, 1.5 s tail), streamed at real-time pace in 100 ms frames, one clip per voice at a time (two
      streams at once); each final belongs to the sentence nearest its middle (start_ms..end_ms), and the clip's
      finals joined are scored against its sentences joined too.
   English: mandarin_speech.ENGLISH_SENTENCES by flite rms (sox, 16 kHz, 0.3 s pads), WER (tests/python/wer.py):
   direct base, upload base, upload tiny.en, upload pocketsphinx.
2. Latency. N = 1 2 4 8 concurrent real-time streams (starts spread over 2 s), each a paragraph of 4 sentences
   (--quick: 3) in one voice, stream i its own paragraph: per sentence, its first partial after its speech starts
   and its final after its speech ends (speech = samples > 300), on the stream's clock (frame i sent at
   t0 + i x frame); p50/p95 per N. Whisper base, --whisper-max-concurrent 1, --whisper-threads 2.
3. Capacity. Real-time factor of uploads (wall seconds of the upload / seconds of audio, one at a time, warm):
   base on Mandarin (and English), tiny.en and pocketsphinx on English; the sidecar's own inference time (its log
   line per request) and the direct decode next to it. Streams: the largest N of 2. whose final p95 < 3 s with
   every sentence finalised and no error.
4. Memory. RSS of the gateway and of its sidecar (its child running server.py, found through /proc/*/stat's
   ppid), each and summed: right after the sidecar is ready, idle after the warm-up, peak while 4 streams run
   (sampled every 100 ms), and idle on tiny.en; the direct decoder's peak for comparison.

Does not build: --binary (mandarin.sh: $REALTIME_VOICE_BINARY, else the release build, else the debug one). A gateway is
started per model (base, then tiny.en), each starting its sidecar from sidecars/whisper. Prints Markdown tables; raw
numbers go to --out (bench/out/mandarin-<date>.json), the gateway logs and the direct decode's JSON next to it.
"""
import argparse
from collections import Counter
import asyncio
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import websockets

import gateway_process as gateway_module
from gateway_process import ROOT, cpu_seconds, free_port, rss_mib

sys.path.insert(0, str(ROOT / "tests" / "python"))
import mandarin_speech  # noqa: E402
from gateway_client import speech_bounds, stream  # noqa: E402
from mandarin_speech import cer, edit_distance, normalize_chinese  # noqa: E402
from wer import wer, words  # noqa: E402

TOKEN = "bench"  # gateway_process's --token
RATE = 16000
LEAD_S, GAP_S, TAIL_S = 0.5, 1.2, 1.5  # as tests/python/test_whisper_engine.py's sentence_clip()
SPREAD_SECONDS = 2.0  # concurrent streams start i x SPREAD / N apart, as bench/latency_bench.py's
FINAL_P95_TARGET_S = 3.0
QUICK_SENTENCES = list(range(0, 26, 4))  # 7 of the 26, spread over the list
SIDECAR_LINE = re.compile(r"whisper-sidecar POST /v1/audio/transcriptions (\d+) \S+ audio=([\d.]+)s elapsed=([\d.]+)s")


# --- Speech --------------------------------------------------------------------------------------------------


@dataclass
class Clip:
    """One file of the corpus: a sentence in a voice."""
    id: str
    path: Path
    reference: str
    voice: str
    language: str  # ISO-639-1, for the direct decode
    seconds: float = 0.0


@dataclass
class LongClip:
    """Sentences of one voice joined: what a stream sends."""
    id: str
    voice: str
    pcm: bytes
    sentences: list[tuple[str, float, float]] = field(default_factory=list)  # reference, speech start s, end s

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def pcm_of(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), f"{path}: not 16 kHz mono 16-bit"
        return w.readframes(w.getnframes())


def wav_bytes(pcm: bytes) -> bytes:
    import io
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return buffer.getvalue()


def mandarin_corpus(indices: list[int]) -> list[Clip]:
    """mandarin_speech.corpus()'s clips (voice by voice), the sentences at `indices` only."""
    clips = []
    for voice in mandarin_speech.VOICES:
        for i in indices:
            text = mandarin_speech.SENTENCES[i]
            path = mandarin_speech.mandarin_clip(text, voice)
            clips.append(Clip(f"{'f2' if '+f2' in voice else 'm'}-{i:02d}", path, text, voice, "zh", len(pcm_of(path)) / 2 / RATE))
    return clips


def english_corpus(directory: Path) -> list[Clip]:
    """ENGLISH_SENTENCES by flite rms, 16 kHz mono 16-bit, 0.3 s of silence before and after (bench/common.sh's)."""
    clips = []
    for i, text in enumerate(mandarin_speech.ENGLISH_SENTENCES):
        raw, out = directory / f"en-{i}-raw.wav", directory / f"en-{i}.wav"
        subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(raw)], check=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.3"], check=True)
        clips.append(Clip(f"rms-{i}", out, text, "rms", "en", len(pcm_of(out)) / 2 / RATE))
    return clips


def join(clips: list[Clip], clip_id: str) -> LongClip:
    """The clips one after another: LEAD_S, GAP_S between them, TAIL_S; each sentence's speech bounds in it."""
    silence = lambda s: bytes(2 * int(s * RATE))  # noqa: E731
    joined = LongClip(clip_id, clips[0].voice, silence(LEAD_S))
    for n, clip in enumerate(clips):
        if n:
            joined.pcm += silence(GAP_S)
        spoken = pcm_of(clip.path)
        first, last = speech_bounds(spoken)
        offset = len(joined.pcm) // 2
        joined.sentences.append((clip.reference, (offset + first) / RATE, (offset + last) / RATE))
        joined.pcm += spoken
    joined.pcm += silence(TAIL_S)
    return joined


def chunks(items: list, n: int) -> list[list]:
    """`items` in `n` runs of (nearly) equal length, in order."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (k < extra)
        out.append(items[start:end])
        start = end
    return out


# --- Processes -----------------------------------------------------------------------------------------------


def named_realtime_voice(binary: Path, directory: Path) -> Path:
    """gateway_process starts <folder>/realtime-voice: a binary under another name is linked under that one."""
    if binary.name == "realtime-voice":
        return binary
    link = directory / "realtime-voice"
    link.symlink_to(binary.resolve())
    return link


def get_json(url: str, timeout: float = 2) -> tuple[int, dict]:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


_SIDECARS: dict[int, int] = {}  # gateway pid -> sidecar pid, checked again on every use


def sidecar_pid(gateway_pid: int) -> int | None:
    """The gateway's child running server.py (scanning /proc/*/stat for its ppid; a restarted sidecar is found again)."""
    known = _SIDECARS.get(gateway_pid)
    if known:
        try:
            if int(Path(f"/proc/{known}/stat").read_text().rsplit(")", 1)[1].split()[1]) == gateway_pid:
                return known
        except (OSError, ValueError, IndexError):
            pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == gateway_pid \
                    and "server.py" in (entry / "cmdline").read_text():
                _SIDECARS[gateway_pid] = int(entry.name)
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def rss_pair(gateway_pid: int) -> tuple[float, float]:
    """RSS in MiB of the gateway and of its sidecar (0 when it has none right now)."""
    child = sidecar_pid(gateway_pid)
    try:
        side = rss_mib(child) if child else 0.0
    except OSError:
        side = 0.0
    return rss_mib(gateway_pid), side


def cpu_pair(gateway_pid: int) -> float:
    """CPU seconds of the gateway and its sidecar together."""
    child = sidecar_pid(gateway_pid)
    total = cpu_seconds(gateway_pid)
    try:
        total += cpu_seconds(child) if child else 0.0
    except OSError:
        pass
    return total


def settle(gateway_pid: int, limit: float = 30) -> None:
    """Waits (at most `limit` s) until gateway and sidecar are idle (< 6 % of a core over 0.5 s): work left over from
    one measurement (a backlog of finals) must not be counted in the next."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu_pair(gateway_pid)
        time.sleep(0.5)
        if cpu_pair(gateway_pid) - before <= 0.03:
            return


class MemorySampler:
    """RSS of gateway and sidecar every `interval` s in a thread, while in a `with`: peaks of each and of the sum."""

    def __init__(self, gateway_pid: int, interval: float = 0.1):
        self.gateway_pid, self.interval = gateway_pid, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(rss_pair(self.gateway_pid))
            except OSError:
                pass
            self._stop.wait(self.interval)

    def peaks(self) -> dict:
        if not self.samples:
            return {}
        return {"gateway_mib": round(max(g for g, _ in self.samples), 1), "sidecar_mib": round(max(s for _, s in self.samples), 1),
                "sum_mib": round(max(g + s for g, s in self.samples), 1), "samples": len(self.samples)}


def idle_memory(gateway_pid: int, seconds: float = 1.0) -> dict:
    """RSS of both, the median of samples over `seconds`."""
    samples = []
    for _ in range(max(1, int(seconds / 0.1))):
        samples.append(rss_pair(gateway_pid))
        time.sleep(0.1)
    g = sorted(x for x, _ in samples)[len(samples) // 2]
    s = sorted(x for _, x in samples)[len(samples) // 2]
    return {"gateway_mib": round(g, 1), "sidecar_mib": round(s, 1), "sum_mib": round(g + s, 1)}


@contextmanager
def whisper_gateway(binary: Path, log: Path, model: str, threads: int, max_concurrent: int):
    """`serve --engine whisper --whisper-model M` (pocketsphinx is served too), until /health says whisper ready."""
    gateway_module.BIN = binary.parent  # gateway_process starts BIN/realtime-voice
    port = free_port()
    started = time.monotonic()
    arguments = ["--engine", "whisper", "--whisper-model", model, "--whisper-threads", str(threads),
                 "--whisper-max-concurrent", str(max_concurrent), "--whisper-sidecar", str(ROOT / "sidecars" / "whisper")]
    with gateway_module.gateway_process(port, log, *arguments) as server:
        for _ in range(1800):
            if server.poll() is not None:
                raise SystemExit(f"the gateway exited at start; see {log}")
            try:
                status, health = get_json(f"http://127.0.0.1:{port}/health", 1)
                if status == 200 and health.get("engines", {}).get("whisper") == "ready":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"engine whisper never became ready; see {log}")
        server.port, server.ready_seconds = port, time.monotonic() - started
        yield server


def sidecar_requests(log: Path, offset: int) -> tuple[list[tuple[int, float, float]], int]:
    """The sidecar's request lines (status, audio s, elapsed s) written to the gateway log after byte `offset`."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
        end = f.tell()
    return [(int(m[1]), float(m[2]), float(m[3])) for m in SIDECAR_LINE.finditer(text)], end


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


# --- Recognition --------------------------------------------------------------------------------------------


def recognize(port: int, wav: bytes, lang: str, engine: str | None = None, **extra: str) -> tuple[float, dict]:
    """One-shot upload (multipart `audio`, `lang`, maybe `engine`, and the `extra` fields): wall seconds, first byte
    sent to answer read, and the answer's `data`."""
    boundary = uuid.uuid4().hex
    fields = {"lang": lang, **({"engine": engine} if engine else {}), **extra}
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
             f"Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.monotonic()
    connection.request("POST", "/api/realtime-voice/recognize", body=body,
                       headers={"token": TOKEN, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    elapsed = time.monotonic() - started
    connection.close()
    assert response.status == 200 and answer.get("code") == 0, answer
    return elapsed, answer["data"]


def uploads(port: int, clips: list[Clip], lang: str, engine: str | None, label: str) -> list[dict]:
    rows = []
    for clip in clips:
        elapsed, data = recognize(port, clip.path.read_bytes(), lang, engine)
        rows.append({"id": clip.id, "voice": clip.voice, "reference": clip.reference, "text": data["text"],
                     "language": data.get("language"), "audio_seconds": clip.seconds, "elapsed_seconds": round(elapsed, 4)})
    print(f"  {label}: {len(rows)} uploads, {sum(r['elapsed_seconds'] for r in rows):.1f} s for "
          f"{sum(c.seconds for c in clips):.1f} s of audio", flush=True)
    return rows


def stream_url(port: int, lang: str = "zh-CN") -> str:
    return f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token={TOKEN}&lang={lang}"


async def timed_stream(url: str, pcm: bytes, frame_ms: int, delay: float, timeout: float) -> tuple[list[dict], list[str]]:
    """One real-time stream after `delay` s: its events (with `_at`) and its problems (error events, close codes)."""
    await asyncio.sleep(delay)
    try:
        events, close_code = await asyncio.wait_for(stream(url, pcm, frame_ms), timeout)
    except (asyncio.TimeoutError, OSError, websockets.WebSocketException) as error:
        return [], [f"{type(error).__name__}: {error}"[:100]]
    problems = [e.get("code", "error") for e in events if e["type"] == "error"]
    if close_code != 1000:
        problems.append(f"close {close_code}")
    if not any(e["type"] == "completed" for e in events):
        problems.append("no completed")
    return events, problems


def measure(events: list[dict], problems: list[str], clip: LongClip) -> dict:
    """Per sentence: its finals (a final belongs to the sentence nearest its middle), their text's CER, the first
    partial's latency after speech start (partials belong to the sentence of their segment's final), and the last
    final's latency after speech end. Also the clip's finals joined, scored against its sentences joined."""
    finals = [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]

    def distance(final: dict, sentence: tuple[str, float, float]) -> float:
        middle = (final["start_ms"] + final["end_ms"]) / 2000
        return max(sentence[1] - middle, 0, middle - sentence[2])

    sentence_of_segment = {f["segment"]: min(range(len(clip.sentences)), key=lambda i: distance(f, clip.sentences[i])) for f in finals}
    rows = []
    for i, (reference, speech_start, speech_end) in enumerate(clip.sentences):
        own_finals = [f for f in finals if sentence_of_segment[f["segment"]] == i]
        own_partials = [p for p in partials if sentence_of_segment.get(p["segment"]) == i]
        hypothesis = "".join(f["text"] for f in own_finals)
        rows.append({
            "reference": reference, "text": hypothesis, "cer": round(cer(reference, hypothesis), 4), "finals": len(own_finals),
            "first_partial_s": round(own_partials[0]["_at"] - speech_start, 3) if own_partials else None,
            "final_s": round(own_finals[-1]["_at"] - speech_end, 3) if own_finals else None,
        })
    reference = "".join(s[0] for s in clip.sentences)
    joined = "".join(f["text"] for f in finals)
    return {
        "clip": clip.id, "voice": clip.voice, "seconds": round(clip.seconds, 2), "finals": len(finals), "partials": len(partials),
        "problems": problems, "sentences": rows,
        "joined": {"text": joined, "cer": round(cer(reference, joined), 4),
                   "edits": edit_distance(normalize_chinese(reference), normalize_chinese(joined, digits_to_hanzi=True)),
                   "characters": len(normalize_chinese(reference))},
        "final_events": [{k: f.get(k) for k in ("segment", "_at", "start_ms", "end_ms", "text", "language")} for f in finals],
    }


def streams_at_once(port: int, clips: list[LongClip], frame_ms: int) -> list[dict]:
    """The clips as concurrent real-time streams, starts spread over SPREAD_SECONDS."""
    async def all_streams():
        return await asyncio.gather(*(timed_stream(stream_url(port), c.pcm, frame_ms, i * SPREAD_SECONDS / len(clips), c.seconds + 180)
                                      for i, c in enumerate(clips)))

    return [measure(events, problems, c) for (events, problems), c in zip(asyncio.run(all_streams()), clips)]


# --- Numbers ------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def pooled_cer(pairs: list[tuple[str, str]]) -> float | None:
    """All edits / all reference characters (normalised as cer() does)."""
    edits = sum(edit_distance(normalize_chinese(r), normalize_chinese(h, digits_to_hanzi=True)) for r, h in pairs)
    characters = sum(len(normalize_chinese(r)) for r, _ in pairs)
    return edits / characters if characters else None


def same_text(a: str, b: str) -> bool:
    return normalize_chinese(a, digits_to_hanzi=True) == normalize_chinese(b, digits_to_hanzi=True)


def latency_summary(records: list[dict]) -> dict:
    sentences = [s for r in records for s in r["sentences"]]
    partials = [s["first_partial_s"] for s in sentences if s["first_partial_s"] is not None]
    finals = [s["final_s"] for s in sentences if s["final_s"] is not None]
    return {
        "streams": len(records), "sentences": len(sentences), "without_final": len(sentences) - len(finals),
        "without_partial": len(sentences) - len(partials),
        "first_partial_s": {"p50": percentile(partials, 0.5), "p95": percentile(partials, 0.95), "max": max(partials, default=None)},
        "final_s": {"p50": percentile(finals, 0.5), "p95": percentile(finals, 0.95), "max": max(finals, default=None)},
        "cer_mean": mean(s["cer"] for s in sentences),
        "problems": [p for r in records for p in r["problems"]],
        # Per stream, e.g. "4 streams busy, close 1013, no completed" (a stream refused at its start).
        "problem_summary": "; ".join(f"{n} stream{'s' if n > 1 else ''} {what}" for what, n in
                                     Counter(", ".join(r["problems"]) for r in records if r["problems"]).items()),
    }


def fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_facts() -> dict:
    model = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), 0)
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu": model,
            "memory_gib": round(memory / 1024 / 1024, 1), "kernel": platform.release(), "load_average_at_start": os.getloadavg()}


def binary_facts(binary: Path) -> dict:
    digest = hashlib.sha256()
    with open(binary, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    st = binary.stat()
    return {"path": str(binary), "resolved": str(binary.resolve()), "size_mib": round(st.st_size / 2**20, 1),
            "mtime": time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime)), "sha256": digest.hexdigest()[:12]}


# --- Tables -------------------------------------------------------------------------------------------------


def accuracy_tables(report: dict) -> None:
    mandarin = report["accuracy"]["mandarin"]
    direct = {r["id"]: r for r in mandarin["direct"]}
    upload = mandarin["upload"]
    streamed = [s | {"voice": r["voice"]} for r in mandarin["stream"] for s in r["sentences"]]
    direct_rows = list(direct.values())
    d_mean = mean(r["cer"] for r in direct_rows)
    print()
    print(f"Mandarin accuracy ({len(direct_rows)} clips: {len(direct_rows) // 2} sentences x 2 voices), CER (0 = perfect; "
          f"mean of per-sentence CER, and pooled = all edits / all characters):")
    print("| path | sentences | mean CER | pooled CER | mean CER / direct | same text as direct | RTF |")
    print("|---|---|---|---|---|---|---|")
    print(f"| a. direct (faster-whisper in-process) | {len(direct_rows)} | {fmt(d_mean, 3)} | "
          f"{fmt(pooled_cer([(r['reference'], r['text']) for r in direct_rows]), 3)} | 1.00 | - | {fmt(rtf(direct_rows), 3)} |")
    u_mean = mean(r["cer"] for r in upload)
    same = sum(1 for r in upload if same_text(r["text"], direct[r["id"]]["text"]))
    print(f"| b. gateway upload, lang=zh-CN | {len(upload)} | {fmt(u_mean, 3)} | {fmt(pooled_cer([(r['reference'], r['text']) for r in upload]), 3)} "
          f"| {ratio(u_mean, d_mean)} | {same}/{len(upload)} | {fmt(rtf(upload), 3)} |")
    s_mean = mean(s["cer"] for s in streamed)
    print(f"| c. gateway stream, finals aligned to sentences | {len(streamed)} | {fmt(s_mean, 3)} "
          f"| {fmt(pooled_cer([(s['reference'], s['text']) for s in streamed]), 3)} | {ratio(s_mean, d_mean)} | - | real time |")
    joined_edits = sum(r["joined"]["edits"] for r in mandarin["stream"])
    joined_chars = sum(r["joined"]["characters"] for r in mandarin["stream"])
    d_pooled = pooled_cer([(r["reference"], r["text"]) for r in direct_rows])
    j = joined_edits / joined_chars if joined_chars else None
    print(f"| c'. gateway stream, each clip's finals joined | {len(mandarin['stream'])} clips | {fmt(mean(r['joined']['cer'] for r in mandarin['stream']), 3)} "
          f"| {fmt(j, 3)} | {ratio(j, d_pooled)} (pooled / direct pooled) | - | real time |")
    print()
    print("Per voice, mean CER:")
    print("| voice | direct | upload | stream (aligned) | upload / direct | stream / direct |")
    print("|---|---|---|---|---|---|")
    for voice in mandarin_speech.VOICES:
        d = mean(r["cer"] for r in direct_rows if r["voice"] == voice)
        u = mean(r["cer"] for r in upload if r["voice"] == voice)
        s = mean(x["cer"] for x in streamed if x["voice"] == voice)
        print(f"| {voice} | {fmt(d, 3)} | {fmt(u, 3)} | {fmt(s, 3)} | {ratio(u, d)} | {ratio(s, d)} |")
    stream_records = mandarin["stream"]
    lengths = ", ".join(f"{r['seconds']:.0f}" for r in stream_records)
    print(f"Streams: {len(stream_records)} clips of {lengths} s, two at a time; "
          f"finals per clip {', '.join(str(r['finals']) for r in stream_records)} for "
          f"{', '.join(str(len(r['sentences'])) for r in stream_records)} sentences; sentences without a final "
          f"{sum(1 for s in streamed if s['finals'] == 0)}; errors {sum(len(r['problems']) for r in stream_records)}.")

    english = report["accuracy"]["english"]
    print()
    print(f"English ({len(english['direct'])} flite rms sentences), WER %:")
    print("| path | model | mean WER % | mean WER / direct | same text as direct |")
    print("|---|---|---|---|---|")
    e_direct = {r["id"]: r for r in english["direct"]}
    d_wer = mean(r["wer"] for r in english["direct"])
    print(f"| direct | base | {fmt(100 * d_wer, 1)} | 1.00 | - |")
    for key, label, model in (("upload_base", "upload en-US", "base"), ("upload_tiny_en", "upload en-US", "tiny.en"),
                              ("upload_pocketsphinx", "upload en-US", "pocketsphinx")):
        rows = english.get(key) or []
        if not rows:
            continue
        w = mean(r["wer"] for r in rows)
        same = sum(1 for r in rows if words(r["text"]) == words(e_direct[r["id"]]["text"])) if model == "base" else None
        print(f"| {label} | {model} | {fmt(100 * w, 1)} | {ratio(w, d_wer)} | {'-' if same is None else f'{same}/{len(rows)}'} |")


def rtf(rows: list[dict]) -> float | None:
    audio = sum(r["audio_seconds"] for r in rows)
    return sum(r["elapsed_seconds"] for r in rows) / audio if audio else None


def latency_table(report: dict, frame_ms: int) -> None:
    print()
    print(f"Stream latency, whisper base, --whisper-max-concurrent {report['settings']['max_concurrent']} "
          f"--whisper-threads {report['settings']['threads']}; N concurrent real-time streams ({frame_ms} ms frames), "
          f"latencies in s after the sentence's speech start (first partial) or end (final):")
    print("| N | runs | sentences | first partial p50 / p95 | final p50 / p95 / max | no partial | no final | mean CER | gateway+sidecar CPU % | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for step in report["latency"]:
        s = step["summary"]
        fp, fin = s["first_partial_s"], s["final_s"]
        print(f"| {step['n']} | {step['runs']} | {s['sentences']} | {fmt(fp['p50'])} / {fmt(fp['p95'])} | {fmt(fin['p50'])} / {fmt(fin['p95'])} / {fmt(fin['max'])} "
              f"| {s['without_partial']} | {s['without_final']} | {fmt(s['cer_mean'], 3)} | {step['cpu_percent']:.0f} | {s['problem_summary'] or 0} |")


def capacity_tables(report: dict) -> None:
    capacity = report["capacity"]
    print()
    print("Upload real-time factor (wall seconds / audio seconds, one upload at a time, after a warm-up; < 1 is faster than real time):")
    print("| engine | model | language | clips | audio s | RTF upload (client clock) | RTF sidecar inference (its log) | RTF direct decode |")
    print("|---|---|---|---|---|---|---|---|")
    for row in capacity["uploads"]:
        print(f"| {row['engine']} | {row['model']} | {row['language']} | {row['clips']} | {row['audio_seconds']:.1f} | {fmt(row['rtf'], 3)} "
              f"| {fmt(row.get('sidecar_rtf'), 3)} | {fmt(row.get('direct_rtf'), 3)} |")
    s = capacity["streams"]
    print()
    print(f"Real-time streams within final p95 < {FINAL_P95_TARGET_S:g} s (every sentence finalised, no error), whisper base: "
          f"**{s['answer']}** (tested N = {', '.join(map(str, s['tested']))}; p95 per N: "
          + ", ".join(f"{n}: {fmt(p)}" for n, p in s["p95_by_n"].items()) + ").")


def memory_table(report: dict) -> None:
    memory = report["memory"]
    print()
    print("Memory, RSS in MiB (gateway = realtime-voice serve; sidecar = its child running server.py):")
    print("| state | gateway | sidecar | sum |")
    print("|---|---|---|---|")
    for label, key in (("base: sidecar just ready", "base_ready"), ("base: idle after warm-up", "base_idle"),
                       ("base: peak while 4 streams run (each peak on its own; sum = peak of the sum)", "base_peak_4_streams"),
                       ("base: idle after all streams", "base_idle_after"), ("tiny.en: idle after warm-up", "tiny_en_idle")):
        m = memory.get(key)
        if m:
            print(f"| {label} | {fmt(m['gateway_mib'], 0)} | {fmt(m['sidecar_mib'], 0)} | {fmt(m['sum_mib'], 0)} |")
    if "direct_peak_mib" in memory:
        print(f"| direct decode, faster-whisper base in-process (peak, ru_maxrss) | - | - | {memory['direct_peak_mib']:.0f} |")


# --- Main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=Path(__file__).resolve().parents[1] / ".build" / "release" / "realtime-voice")
    parser.add_argument("--sidecar-python", default=str(ROOT / "sidecars" / "whisper" / ".venv" / "bin" / "python"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / f"mandarin-{time.strftime('%Y%m%d-%H%M%S')}.json")
    parser.add_argument("--quick", action="store_true", help="7 sentences x 2 voices, 3-sentence paragraphs, 1 run per N")
    parser.add_argument("--runs", type=int, help="latency runs per N (default 2, quick 1)")
    parser.add_argument("--concurrent", default="1 2 4 8", help="N for the latency streams")
    parser.add_argument("--frame-ms", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="--whisper-threads, and the direct decode's")
    parser.add_argument("--max-concurrent", type=int, default=1, help="--whisper-max-concurrent")
    parser.add_argument("--sentences", help="indices into mandarin_speech.SENTENCES to use (default all; quick: 0 4 8 ... 24)")
    parser.add_argument("--command", help="the command line to print (mandarin.sh passes its own)")
    args = parser.parse_args()
    if not args.binary.exists():
        raise SystemExit(f"no realtime-voice binary at {args.binary}: pass --binary or set REALTIME_VOICE_BINARY")
    runs = args.runs or (1 if args.quick else 2)
    concurrency = [int(n) for n in args.concurrent.split()]
    indices = ([int(i) for i in args.sentences.split()] if args.sentences else
               QUICK_SENTENCES if args.quick else list(range(len(mandarin_speech.SENTENCES))))
    per_paragraph = 3 if args.quick else 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        phases[name] = round(time.monotonic() - since, 1)
        print(f"  ({name}: {phases[name]:.0f} s; load average {load_average()})", flush=True)
        return time.monotonic()

    machine, binary = machine_facts(), binary_facts(args.binary)
    settings = {"quick": args.quick, "runs": runs, "concurrent": concurrency, "frame_ms": args.frame_ms, "threads": args.threads,
                "max_concurrent": args.max_concurrent, "sentences": indices, "sentences_per_paragraph": per_paragraph,
                "gap_s": GAP_S, "lead_s": LEAD_S, "tail_s": TAIL_S, "spread_s": SPREAD_SECONDS}
    command = (args.command or shlex.join([sys.executable, *sys.argv])).strip()
    print(f"command: `{command}`")
    print(f"python: `{shlex.join([sys.executable, *sys.argv])}`")
    print(f"machine: nproc {machine['nproc']} ({machine['cpu']}), {machine['memory_gib']} GiB, kernel {machine['kernel']}, "
          f"load average {load_average()}")
    print(f"gateway: {binary['path']} -> {binary['resolved']} ({binary['size_mib']} MiB, {binary['mtime']}, sha256 {binary['sha256']}); "
          f"whisper base --whisper-threads {args.threads} --whisper-max-concurrent {args.max_concurrent}", flush=True)
    report: dict = {"command": command, "settings": settings, "machine": machine, "binary": binary, "phases": phases}

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        t = time.monotonic()
        mandarin = mandarin_corpus(indices)
        english = english_corpus(scratch)
        # Streams for accuracy: per voice, its sentences in clips of 6-7 (quick: one clip per voice).
        by_voice = {v: [c for c in mandarin if c.voice == v] for v in mandarin_speech.VOICES}
        groups = min(1 if args.quick else 4, len(indices))
        long_clips = [join(part, f"{clips[0].id[:2].rstrip('-')}-clip{k}") for clips in by_voice.values() for k, part in enumerate(chunks(clips, groups))]
        # Paragraphs for latency: stream i of a step speaks paragraph i (voice i mod 2, its own sentences).
        all_sentences = list(range(len(mandarin_speech.SENTENCES)))
        paragraphs = []
        for k in range(max(concurrency) * runs):
            voice = mandarin_speech.VOICES[k % 2]
            chosen = [all_sentences[(k * per_paragraph + j) % len(all_sentences)] for j in range(per_paragraph)]
            clips = [Clip(f"p{k}-{i}", mandarin_speech.mandarin_clip(mandarin_speech.SENTENCES[i], voice), mandarin_speech.SENTENCES[i], voice, "zh")
                     for i in chosen]
            paragraphs.append(join(clips, f"paragraph{k}"))
        print(f"corpus: {len(mandarin)} Mandarin clips ({sum(c.seconds for c in mandarin):.0f} s), {len(english)} English clips "
              f"({sum(c.seconds for c in english):.0f} s); stream clips {', '.join(f'{c.seconds:.0f}' for c in long_clips)} s; "
              f"{len(paragraphs)} latency paragraphs of {per_paragraph} sentences, {mean(p.seconds for p in paragraphs):.0f} s each", flush=True)
        report["corpus"] = {"mandarin": [{"id": c.id, "path": str(c.path), "reference": c.reference, "voice": c.voice, "seconds": c.seconds} for c in mandarin],
                            "english": [{"id": c.id, "reference": c.reference, "seconds": c.seconds} for c in english],
                            "stream_clips": [{"id": c.id, "seconds": c.seconds, "sentences": c.sentences} for c in long_clips],
                            "paragraphs": [{"id": p.id, "voice": p.voice, "seconds": p.seconds, "sentences": p.sentences} for p in paragraphs]}
        t = phase("speech", t)

        # a. Direct decode first, with no gateway running.
        print()
        print("a. direct decode (bench/whisper_direct.py, base)", flush=True)
        manifest = scratch / "direct.json"
        manifest.write_text(json.dumps([{"path": str(c.path), "language": c.language} for c in mandarin + english]))
        direct_out = args.out.with_suffix(".direct.json")
        subprocess.run([args.sidecar_python, str(ROOT / "bench" / "whisper_direct.py"), "--model", "base", "--threads", str(args.threads),
                        "--max-concurrent", str(args.max_concurrent), "--manifest", str(manifest), "--out", str(direct_out)],
                       check=True, stdout=subprocess.DEVNULL)
        direct = json.loads(direct_out.read_text())
        by_path = {r["path"]: r for r in direct["results"]}
        direct_mandarin = [{"id": c.id, "voice": c.voice, "reference": c.reference, "text": by_path[str(c.path)]["text"],
                            "language": by_path[str(c.path)]["language"], "audio_seconds": by_path[str(c.path)]["audio_seconds"],
                            "elapsed_seconds": by_path[str(c.path)]["elapsed_seconds"],
                            "cer": round(cer(c.reference, by_path[str(c.path)]["text"]), 4)} for c in mandarin]
        direct_english = [{"id": c.id, "reference": c.reference, "text": by_path[str(c.path)]["text"],
                           "audio_seconds": by_path[str(c.path)]["audio_seconds"], "elapsed_seconds": by_path[str(c.path)]["elapsed_seconds"],
                           "wer": round(wer(c.reference, by_path[str(c.path)]["text"]), 4)} for c in english]
        print(f"  model {direct['model_dir']}, loaded in {direct['load_seconds']:.2f} s, decoded in {direct['decode_seconds']:.1f} s, "
              f"peak RSS {direct['peak_rss_mib']:.0f} MiB; mean CER {mean(r['cer'] for r in direct_mandarin):.3f}", flush=True)
        report["accuracy"] = {"mandarin": {"direct": direct_mandarin}, "english": {"direct": direct_english}}
        report["memory"] = {"direct_peak_mib": direct["peak_rss_mib"]}
        t = phase("direct decode", t)

        gateway_binary = named_realtime_voice(args.binary.absolute(), scratch)
        base_log = args.out.with_suffix(".base.log")
        print()
        print("b. gateway, whisper base", flush=True)
        with whisper_gateway(gateway_binary, base_log, "base", args.threads, args.max_concurrent) as server:
            port, pid = server.port, server.pid
            report["memory"]["base_ready"] = idle_memory(pid)
            print(f"  whisper ready {server.ready_seconds:.1f} s after start (gateway pid {pid}, sidecar pid {sidecar_pid(pid)}); "
                  f"RSS {report['memory']['base_ready']}", flush=True)
            report["startup_seconds"] = {"base": round(server.ready_seconds, 2)}
            recognize(port, mandarin[0].path.read_bytes(), "zh-CN")  # warm-up: the sidecar's first inference
            recognize(port, english[0].path.read_bytes(), "en-US")
            settle(pid)
            report["memory"]["base_idle"] = idle_memory(pid)

            offset = log_size(base_log)
            upload_mandarin = uploads(port, mandarin, "zh-CN", None, "Mandarin, lang=zh-CN")
            for row in upload_mandarin:
                row["cer"] = round(cer(row["reference"], row["text"]), 4)
            mandarin_sidecar, offset = sidecar_requests(base_log, offset)
            upload_english = uploads(port, english, "en-US", None, "English, lang=en-US, base")
            for row in upload_english:
                row["wer"] = round(wer(row["reference"], row["text"]), 4)
            english_sidecar, offset = sidecar_requests(base_log, offset)
            report["accuracy"]["mandarin"]["upload"] = upload_mandarin
            report["accuracy"]["english"]["upload_base"] = upload_english
            t = phase("uploads, base", t)

            print(f"  streaming {len(long_clips)} clips for accuracy, one per voice at a time", flush=True)
            stream_records = []
            for j in range(groups):
                pair = [long_clips[j], long_clips[j + groups]]  # clip j of each voice, at once
                settle(pid)
                for record in streams_at_once(port, pair, args.frame_ms):
                    stream_records.append(record)
                    print(f"    {record['clip']}: {record['seconds']:.0f} s, {record['finals']} finals for {len(record['sentences'])} sentences, "
                          f"joined CER {record['joined']['cer']:.2f}{'  ' + ', '.join(record['problems']) if record['problems'] else ''}", flush=True)
            report["accuracy"]["mandarin"]["stream"] = stream_records
            t = phase("streams for accuracy", t)

            print(f"  latency: N = {' '.join(map(str, concurrency))}, {runs} run(s) each", flush=True)
            steps, peak = [], None
            for n in concurrency:
                records, cpu_used, wall = [], 0.0, 0.0
                for run in range(runs):
                    settle(pid)
                    chosen = paragraphs[run * max(concurrency):run * max(concurrency) + n]
                    before_cpu, before = cpu_pair(pid), time.monotonic()
                    if n == 4:
                        with MemorySampler(pid) as sampler:
                            records += streams_at_once(port, chosen, args.frame_ms)
                        peaks = sampler.peaks()
                        if peak is None or peaks.get("sum_mib", 0) > peak.get("sum_mib", 0):
                            peak = peaks
                    else:
                        records += streams_at_once(port, chosen, args.frame_ms)
                    cpu_used += cpu_pair(pid) - before_cpu
                    wall += time.monotonic() - before
                summary = latency_summary(records)
                steps.append({"n": n, "runs": runs, "summary": summary, "cpu_percent": 100 * cpu_used / wall if wall else 0,
                              "streams": records})
                fin = summary["final_s"]
                print(f"    N={n}: final p50/p95/max {fmt(fin['p50'])}/{fmt(fin['p95'])}/{fmt(fin['max'])} s, first partial p50 "
                      f"{fmt(summary['first_partial_s']['p50'])} s{'  ' + summary['problem_summary'] if summary['problems'] else ''}", flush=True)
            report["latency"] = steps
            if peak:
                report["memory"]["base_peak_4_streams"] = peak
            settle(pid)
            report["memory"]["base_idle_after"] = idle_memory(pid)
            t = phase("latency streams", t)

        tiny_log = args.out.with_suffix(".tiny-en.log")
        print()
        print("c. gateway, whisper tiny.en (and pocketsphinx)", flush=True)
        with whisper_gateway(gateway_binary, tiny_log, "tiny.en", args.threads, args.max_concurrent) as server:
            port, pid = server.port, server.pid
            report["startup_seconds"]["tiny.en"] = round(server.ready_seconds, 2)
            recognize(port, english[0].path.read_bytes(), "en-US")
            recognize(port, english[0].path.read_bytes(), "en-US", "pocketsphinx")
            settle(pid)
            report["memory"]["tiny_en_idle"] = idle_memory(pid)
            offset = log_size(tiny_log)
            tiny = uploads(port, english, "en-US", None, "English, lang=en-US, tiny.en")
            tiny_sidecar, offset = sidecar_requests(tiny_log, offset)
            sphinx = uploads(port, english, "en-US", "pocketsphinx", "English, lang=en-US, pocketsphinx")
            for row in tiny + sphinx:
                row["wer"] = round(wer(row["reference"], row["text"]), 4)
            report["accuracy"]["english"]["upload_tiny_en"] = tiny
            report["accuracy"]["english"]["upload_pocketsphinx"] = sphinx
            t = phase("uploads, tiny.en and pocketsphinx", t)

    def sidecar_rtf(lines):
        ok = [(a, e) for status, a, e in lines if status == 200]
        return sum(e for _, e in ok) / sum(a for a, _ in ok) if ok else None

    tested = {step["n"]: step["summary"] for step in report["latency"]}
    within = [n for n, s in tested.items()
              if s["final_s"]["p95"] is not None and s["final_s"]["p95"] < FINAL_P95_TARGET_S and not s["without_final"] and not s["problems"]]
    # The largest N such that it and every smaller tested N are within the target.
    answer = 0
    for n in sorted(tested):
        if n not in within:
            break
        answer = n
    report["capacity"] = {
        "uploads": [
            {"engine": "whisper", "model": "base", "language": "zh-CN", "clips": len(upload_mandarin), "audio_seconds": sum(r["audio_seconds"] for r in upload_mandarin),
             "rtf": rtf(upload_mandarin), "sidecar_rtf": sidecar_rtf(mandarin_sidecar), "sidecar_requests": len(mandarin_sidecar), "direct_rtf": rtf(direct_mandarin)},
            {"engine": "whisper", "model": "base", "language": "en-US", "clips": len(upload_english), "audio_seconds": sum(r["audio_seconds"] for r in upload_english),
             "rtf": rtf(upload_english), "sidecar_rtf": sidecar_rtf(english_sidecar), "sidecar_requests": len(english_sidecar), "direct_rtf": rtf(direct_english)},
            {"engine": "whisper", "model": "tiny.en", "language": "en-US", "clips": len(tiny), "audio_seconds": sum(r["audio_seconds"] for r in tiny),
             "rtf": rtf(tiny), "sidecar_rtf": sidecar_rtf(tiny_sidecar), "sidecar_requests": len(tiny_sidecar)},
            {"engine": "pocketsphinx", "model": "en-us", "language": "en-US", "clips": len(sphinx), "audio_seconds": sum(r["audio_seconds"] for r in sphinx),
             "rtf": rtf(sphinx)},
        ],
        "streams": {"target_p95_s": FINAL_P95_TARGET_S, "tested": sorted(tested), "within": within,
                    "answer": (f"≥ {answer}" if answer == max(tested) else str(answer)) if tested else "-",
                    "p95_by_n": {n: s["final_s"]["p95"] for n, s in sorted(tested.items())}},
    }

    print()
    print("## Results")
    print()
    print(f"command: `{command}`; nproc {machine['nproc']}, load average at start {' '.join(f'{x:.2f}' for x in machine['load_average_at_start'])}, "
          f"at the end {load_average()}; gateway {binary['path']} (sha256 {binary['sha256']})")
    accuracy_tables(report)
    latency_table(report, args.frame_ms)
    capacity_tables(report)
    memory_table(report)
    elapsed = time.monotonic() - started
    report["elapsed_seconds"] = round(elapsed, 1)
    report["load_average_at_end"] = os.getloadavg()
    print()
    print(f"whole run: {elapsed:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + f"); load average at the end {load_average()}; "
          f"whisper ready after start: " + ", ".join(f"{k} {v:.1f} s" for k, v in report["startup_seconds"].items()))
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(f"raw: {args.out} (direct decode {direct_out}, gateway logs {base_log}, {tiny_log})")


if __name__ == "__main__":
    main()
