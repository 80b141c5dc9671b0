"""Engine openai over one and over two Whisper sidecars on this machine, each sidecar pinned to a core of its own
(taskset, --threads 1): throughput of finished segments at saturation, and sessions through a backend kill.

    .venv/bin/python bench/backends_bench.py [--binary .build/release/realtime-voice] [--seconds 60]

- Throughput: `--concurrency` clients post one-sentence recordings (flite, 2-3 s, each one segment) to
  /api/realtime-voice/recognize for `--seconds`; finished segments per second, one backend against two in the same
  run (`--openai-max-requests` = backends, so that each sidecar decodes one at a time and the rest wait in the
  gateway's queue).
- Kill: `--sessions` streams (protocol v1, a sentence each, sent at 4x real time, `--concurrency` at once) over two
  backends; one sidecar is SIGKILLed when half of them have finished. Client errors are counted (an `error` event or
  a close other than 1000).
Prints JSON with the figures; bench/RESULTS.md, "Several backends", has a run."""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gateway_process import cpu_seconds, free_port  # noqa: E402

WHISPER_DIR = ROOT / "sidecars" / "whisper"
WHISPER_PYTHON = WHISPER_DIR / ".venv" / "bin" / "python"
SENTENCES = ["please turn off the lights in the kitchen", "what time does the train leave tomorrow",
             "the quick brown fox jumps over the lazy dog", "we will meet at the station at nine",
             "set an alarm for seven in the morning", "how far is it to the nearest pharmacy"]


def speech(directory: Path) -> list[bytes]:
    """One 16 kHz mono WAV per sentence (flite, then sox)."""
    clips = []
    for i, text in enumerate(SENTENCES):
        raw, wav = directory / f"{i}-raw.wav", directory / f"{i}.wav"
        subprocess.run(["flite", "-t", text, "-o", str(raw)], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
        clips.append(wav.read_bytes())
    return clips


def wait_healthy(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200")


def sidecar(core: int, model: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", str(core), str(WHISPER_PYTHON), str(WHISPER_DIR / "server.py"), "--port", str(port),
                                "--model", model, "--threads", "1"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}/health")
    return process, f"http://127.0.0.1:{port}/v1"


def gateway(binary: Path, backends: list[str], log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    upstreams = [arg for base in backends for arg in ("--openai-base-url", base)]
    process = subprocess.Popen([str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), "--token", "bench", "--log-level", "warning",
                                "--engine", "openai", *upstreams, "--openai-max-requests", str(len(backends)), "--openai-queue", "64",
                                "--max-concurrent-uploads", "32", "--openai-probe-interval", "1"],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT)
    wait_healthy(f"http://127.0.0.1:{port}/health")
    return process, port


def post(port: int, wav: bytes) -> bool:
    boundary = "bench-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="lang"\r\n\r\nen-US\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n').encode() + wav + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/realtime-voice/recognize", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "token": "bench"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read()).get("code") == 0
    except OSError:
        return False


def throughput(port: int, clips: list[bytes], seconds: float, concurrency: int) -> dict:
    done, failed = [0], [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int):
        i = offset
        while time.monotonic() < stop_at:
            ok = post(port, clips[i % len(clips)])
            with lock:
                (done if ok else failed)[0] += 1
            i += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"segments": done[0], "failed": failed[0], "seconds": round(elapsed, 1), "segments_per_s": round(done[0] / elapsed, 3)}


async def one_stream(port: int, pcm: bytes) -> bool:
    import websockets
    url = f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token=bench&lang=en-US"
    step = 3200
    try:
        async with websockets.connect(url, max_size=2**20) as ws:
            ready = json.loads(await ws.recv())
            if ready["type"] != "ready":
                return False

            async def send():
                for start in range(0, len(pcm), step):
                    await ws.send(pcm[start:start + step])
                    await asyncio.sleep(0.025)  # 4x real time
                await ws.send(json.dumps({"type": "end"}))

            sender = asyncio.create_task(send())
            errors = 0
            async for message in ws:
                if json.loads(message)["type"] == "error":
                    errors += 1
            sender.cancel()
            return errors == 0 and ws.close_code == 1000
    except Exception:
        return False


async def sessions_through_a_kill(port: int, clips: list[bytes], sessions: int, concurrency: int, kill) -> dict:
    pcms = [clip[44:] for clip in clips]
    queue = list(range(sessions))
    results: list[bool] = []
    killed_after = [None]

    async def worker():
        while queue:
            n = queue.pop(0)
            results.append(await one_stream(port, pcms[n % len(pcms)]))
            if len(results) >= sessions // 2 and killed_after[0] is None:
                killed_after[0] = len(results)
                kill()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"sessions": len(results), "client_errors": results.count(False), "killed_after": killed_after[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=str(ROOT / ".build" / "release" / "realtime-voice"))
    parser.add_argument("--model", default="base")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    out = {"binary": args.binary, "model": args.model, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = speech(tmp)
        backends = [sidecar(core, args.model, tmp / f"sidecar-{core}.log") for core in (0, 1)]
        try:
            for label, chosen in (("one backend", backends[:1]), ("two backends", backends)):
                process, port = gateway(Path(args.binary), [base for _, base in chosen], tmp / f"gateway-{len(chosen)}.log")
                try:
                    post(port, clips[0])  # warm up
                    before = [cpu_seconds(p.pid) for p, _ in backends] + [cpu_seconds(process.pid)]
                    result = throughput(port, clips, args.seconds, args.concurrency)
                    after = [cpu_seconds(p.pid) for p, _ in backends] + [cpu_seconds(process.pid)]
                    spent = [round((a - b) / result["seconds"], 2) for a, b in zip(after, before)]
                    result["cpu_cores"] = {"sidecar core 0": spent[0], "sidecar core 1": spent[1], "gateway": spent[2]}
                    out[label] = result
                    print(label, result, file=sys.stderr)
                finally:
                    process.terminate()
                    process.wait(timeout=30)
            out["ratio two / one"] = round(out["two backends"]["segments_per_s"] / out["one backend"]["segments_per_s"], 2)
            process, port = gateway(Path(args.binary), [base for _, base in backends], tmp / "gateway-kill.log")
            try:
                out["kill"] = asyncio.run(sessions_through_a_kill(port, clips, args.sessions, args.concurrency, lambda: backends[0][0].kill()))
            finally:
                process.terminate()
                process.wait(timeout=30)
        finally:
            for p, _ in backends:
                p.kill()
                p.wait()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
