#!/usr/bin/env python3
"""Accuracy and capacity benchmark, called by wer.sh: PocketSphinx against `openai` with the local Whisper sidecar.

1. WER of each engine on generated (flite) and LibriVox speech, one-shot uploads and streams.
2. N concurrent real-time streams of a ~20 s clip, N ramped up (1 2 4 8 ..., then halving the gap): the gateway's
   and the sidecar's CPU per stream, and the largest N sustained.
3. A markdown block for README's engine table.

One gateway serves both engines for the whole run (sessions choose with `engine=`), next to one sidecar.
"""
import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
import wave
from contextlib import contextmanager
from pathlib import Path

import websockets

import gateway_process as gateway_module
from gateway_process import ROOT, cpu_seconds, free_port

sys.path.insert(0, str(ROOT / "tests" / "python"))
from wer import wer, words  # noqa: E402

ENGINES = ("pocketsphinx", "openai")
TOKEN = "bench"
FRAME_BYTES = 3200  # 100 ms at 16 kHz, 16-bit mono
RATE = 16000
# Written forms that differ between the engines and the references but are the same words.
SAME_WORD = {"mr": "mister", "mrs": "missus", "dr": "doctor", "ok": "okay"}
# The capacity clip: LibriVox recordings 0.7 s apart (20.8 s); quick mode uses the last two (8.9 s).
CLIP_RECORDINGS = ["0870", "0880", "0890", "0930"]
QUICK_CLIP_RECORDINGS = ["0880", "0890"]
GAP_SECONDS = 0.7
# A real-time step during which other processes used more CPU than this (% of one core) is run again once.
BUSY_PERCENT = 20
SPREAD_SECONDS = 2.0


def normalized(text: str) -> str:
    return " ".join(SAME_WORD.get(w, w) for w in words(text))


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Word errors (substitutions, deletions, insertions) and reference words."""
    ref, hyp = normalized(reference), normalized(hypothesis)
    n = len(ref.split())
    return round(wer(ref, hyp) * n), n


def machine_busy_seconds() -> float:
    """CPU seconds all processes used, all cores together, since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / 100


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def get_json(url: str, timeout: float = 2) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def pcm_of(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), f"{path}: not 16 kHz mono 16-bit"
        return w.readframes(w.getnframes())


# --- Processes -----------------------------------------------------------------------------------------------


@contextmanager
def sidecar_process(python: str, port: int, log: Path, max_concurrent: int, threads: int):
    server = subprocess.Popen(
        # tiny.en, as the README's figures of these benchmarks were measured (WHISPER_MODEL=base for the default's).
        [python, str(ROOT / "sidecars" / "whisper" / "server.py"), "--port", str(port), "--model", os.environ.get("WHISPER_MODEL", "tiny.en"),
         "--max-concurrent", str(max_concurrent), "--threads", str(threads)],
        stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                if get_json(f"http://127.0.0.1:{port}/health", 1)["status"] == "ok":
                    break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the sidecar exited at start; see {log}")
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def gateway(binary: Path, port: int, sidecar_port: int, log: Path, decoders: int, max_requests: int):
    gateway_module.BIN = binary.parent  # gateway_process starts BIN/realtime-voice
    assert binary.name == "realtime-voice", binary
    arguments = ["--engine", "openai", "--openai-base-url", f"http://127.0.0.1:{sidecar_port}/v1",
                 "--openai-max-requests", str(max_requests), "--decoders", str(decoders), "--queue-size", "0"]
    with gateway_module.gateway_process(port, log, *arguments) as server:
        if server.poll() is not None:
            raise SystemExit(f"the gateway exited at start; see {log}")
        health = get_json(f"http://127.0.0.1:{port}/health")
        assert health["status"] == "ok", health
        yield server


def settle(gateway_pid: int, sidecar_port: int, limit: float = 20) -> None:
    """Waits (at most `limit` s) until the sidecar has no request and the gateway is idle: work left over from one
    measurement must not be counted in the next."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        health = get_json(f"http://127.0.0.1:{sidecar_port}/health")
        before = cpu_seconds(gateway_pid)
        time.sleep(0.5)
        if health["running"] == 0 and health["waiting"] == 0 and cpu_seconds(gateway_pid) - before <= 0.02:
            return


# --- Recognition -------------------------------------------------------------------------------------------


def recognize(port: int, wav: bytes, engine: str) -> str:
    """One-shot: POST /api/realtime-voice/recognize, multipart `audio` and `engine`; the text."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="engine"\r\n\r\n{engine}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip.wav"\r\n'
            f"Content-Type: audio/wav\r\n\r\n").encode() + wav + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("POST", "/api/realtime-voice/recognize", body=body,
                       headers={"token": TOKEN, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200 and answer["data"]["engine"] == engine, answer
    return answer["data"]["text"]


async def stream(port: int, pcm: bytes, engine: str) -> str:
    """Streaming, as fast as the gateway takes the 100 ms frames: the finals' text."""
    url = f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token={TOKEN}&engine={engine}"
    finals = []
    async with websockets.connect(url, max_size=2**20, open_timeout=60) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready" and ready["engine"] == engine, ready
        for offset in range(0, len(pcm), FRAME_BYTES):
            await ws.send(pcm[offset:offset + FRAME_BYTES])
        await ws.send(json.dumps({"type": "end"}))
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "final":
                finals.append(event["text"])
            elif event["type"] == "error":
                raise RuntimeError(f"{engine} stream: {event}")
    return " ".join(t for t in finals if t)


def load_corpora(generated: Path, librivox: Path, quick: bool) -> dict[str, list[dict]]:
    """{corpus: [{id, path, reference}]}. Debian's `transcription` has lines `<s> words </s> (fileid)`."""
    corpora: dict[str, list[dict]] = {"generated": [], "librivox": []}
    for line in (generated / "references.tsv").read_text().splitlines():
        clip, text = line.split("\t")
        if quick and int(clip.split("-")[1]) > 5:
            continue
        corpora["generated"].append({"id": clip, "path": generated / f"{clip}.wav", "reference": text})
    for line in (librivox / "transcription").read_text().splitlines():
        match = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
        if not match:
            continue
        text = re.sub(r"</?s>", " ", match.group(1)).strip()
        corpora["librivox"].append({"id": match.group(2), "path": librivox / f"{match.group(2)}.wav", "reference": text})
    assert corpora["generated"] and corpora["librivox"], "empty corpus"
    return corpora


def streamed_subset(clip_id: str) -> bool:
    """The clips also streamed: the odd-numbered generated sentences in both voices, and every LibriVox recording."""
    return not re.fullmatch(r"(rms|slt)-\d+", clip_id) or int(clip_id.split("-")[1]) % 2 == 1


def accuracy(port: int, corpora: dict, streaming: bool, verbose: bool) -> dict:
    """Every clip through every engine one-shot, and the streamed subset streamed when `streaming`.
    {(corpus, engine, mode): [per clip: id, errors, words, text, reference]}."""
    results = {}
    for corpus, clips in corpora.items():
        for engine in ENGINES:
            for mode in ["upload", "stream"] if streaming else ["upload"]:
                started = time.monotonic()
                rows = []
                for clip in clips:
                    if mode == "upload":
                        text = recognize(port, clip["path"].read_bytes(), engine)
                    elif streamed_subset(clip["id"]):
                        text = asyncio.run(stream(port, pcm_of(clip["path"]), engine))
                    else:
                        continue
                    e, n = errors(clip["reference"], text)
                    rows.append({"id": clip["id"], "errors": e, "words": n, "text": text, "reference": clip["reference"]})
                    if verbose:
                        print(f"  {corpus:9} {engine:12} {mode:6} {clip['id']:42} WER {100 * e / n:5.1f} % ({e}/{n})  {text!r}", flush=True)
                results[(corpus, engine, mode)] = rows
                w, e, n = wer_of(rows)
                print(f"{corpus:9} {engine:12} {mode:6} WER {w:5.1f} % ({e}/{n} words, {len(rows)} clips, {time.monotonic() - started:.0f} s)", flush=True)
    return results


def wer_of(rows: list[dict]) -> tuple[float, int, int]:
    e, n = sum(r["errors"] for r in rows), sum(r["words"] for r in rows)
    return 100 * e / n, e, n


# --- Real-time streams -------------------------------------------------------------------------------------


def capacity_clips(librivox: Path, quick: bool, references: dict[str, str]) -> list[tuple[bytes, str]]:
    """The clip in each rotation (recording k first), so that concurrent streams pause and finish sentences at
    different moments, as independent speakers do; and each rotation's reference."""
    recordings = QUICK_CLIP_RECORDINGS if quick else CLIP_RECORDINGS
    paths = [next(librivox.glob(f"*-{r}.wav")) for r in recordings]
    pieces = [(pcm_of(p), references[p.stem]) for p in paths]
    gap = bytes(int(GAP_SECONDS * RATE) * 2)
    clips = []
    for k in range(len(pieces)):
        order = pieces[k:] + pieces[:k]
        clips.append((gap.join(p for p, _ in order), " ".join(r for _, r in order)))
    return clips


async def live_session(url: str, pcm: bytes, delay: float, timeout: float) -> dict:
    """One real-time stream: a 3200-byte frame every 100 ms, then `end`. Times are the event loop's."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    record: dict = {"finals": [], "error": None}

    async def run():
        async with websockets.connect(url, max_size=2**20, open_timeout=30) as ws:
            ready = json.loads(await ws.recv())
            if ready["type"] != "ready":
                record["error"] = ready.get("code", ready["type"])
                return
            start = record["start"] = loop.time()

            async def send():
                for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
                    wait = start + index * 0.1 - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    await ws.send(pcm[offset:offset + FRAME_BYTES])
                record["end_sent"] = loop.time()  # the end of the audio
                await ws.send(json.dumps({"type": "end"}))

            sender = asyncio.create_task(send())
            async for message in ws:
                event = json.loads(message)
                if event["type"] == "final":
                    record["finals"].append((loop.time(), event))
                elif event["type"] == "completed":
                    record["completed"] = loop.time()
                elif event["type"] == "error":
                    record["error"] = event["code"]
            await sender

    try:
        await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        record["error"] = "timeout"
    except Exception as error:  # a failed session is counted, not fatal
        record["error"] = record["error"] or f"{type(error).__name__}: {error}"[:100]
    return record


def realtime_step(port: int, engine: str, n: int, clips: list[tuple[bytes, str]], lag_limit: float,
                  gateway_pid: int, sidecar_pid: int, sidecar_port: int) -> dict:
    """N concurrent real-time streams, starts spread over 2 s; stream i sends rotation i of the clip."""
    settle(gateway_pid, sidecar_port)
    audio_seconds = len(clips[0][0]) / 2 / RATE
    url = f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token={TOKEN}&engine={engine}"
    timeout = audio_seconds + SPREAD_SECONDS + lag_limit + 15

    async def all_sessions():
        return await asyncio.gather(*(live_session(url, clips[i % len(clips)][0], i * SPREAD_SECONDS / n, timeout) for i in range(n)))

    own_before = resource.getrusage(resource.RUSAGE_SELF)
    machine_before = machine_busy_seconds()
    gateway_before, sidecar_before, wall_before = cpu_seconds(gateway_pid), cpu_seconds(sidecar_pid), time.monotonic()
    records = asyncio.run(all_sessions())
    wall = time.monotonic() - wall_before
    gateway_cpu, sidecar_cpu = cpu_seconds(gateway_pid) - gateway_before, cpu_seconds(sidecar_pid) - sidecar_before
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    own_cpu = own_after.ru_utime + own_after.ru_stime - own_before.ru_utime - own_before.ru_stime
    # Everything else on the machine (other users' builds and tests): the measurement is only good when ~0.
    others_cpu = max(0.0, machine_busy_seconds() - machine_before - gateway_cpu - sidecar_cpu - own_cpu)

    lags, final_lags, wers, slips, problems = [], [], [], [], []
    for i, record in enumerate(records):
        if record["error"]:
            problems.append(record["error"])
            continue
        if "completed" not in record or not record["finals"]:
            problems.append("no finals" if "completed" in record else "not completed")
            continue
        end = record["end_sent"]
        lags.append(max(at for at, _ in record["finals"]) - end)
        final_lags += [at - (record["start"] + final["end_ms"] / 1000) for at, final in record["finals"]]
        slips.append(end - (record["start"] + audio_seconds))
        e, words_n = errors(clips[i % len(clips)][1], " ".join(f["text"] for _, f in record["finals"]))
        wers.append(100 * e / words_n)
    sustained = not problems and max(lags) < lag_limit
    return {
        "engine": engine, "n": n, "audio_seconds": round(audio_seconds, 2), "wall_seconds": round(wall, 1),
        "completed": len(lags), "problems": sorted(set(problems)), "sustained": sustained,
        "last_final_lag_s": {"p50": round(statistics.median(lags), 2), "max": round(max(lags), 2)} if lags else None,
        "final_lag_max_s": round(max(final_lags), 2) if final_lags else None,
        "send_slip_max_s": round(max(slips), 2) if slips else None,
        "wer_percent_mean": round(statistics.mean(wers), 1) if wers else None,
        "gateway_cpu_seconds": round(gateway_cpu, 2), "sidecar_cpu_seconds": round(sidecar_cpu, 2),
        "gateway_core_per_stream": round(gateway_cpu / (n * audio_seconds), 4),
        "sidecar_core_per_stream": round(sidecar_cpu / (n * audio_seconds), 4),
        "total_cpu_percent": round(100 * (gateway_cpu + sidecar_cpu) / wall, 1),
        "loadgen_cpu_seconds": round(own_cpu, 2),
        "others_cpu_percent": round(100 * others_cpu / wall, 1),
    }


def ramp(run_step, max_n: int, deadline: float, step_estimate: float, exact: bool) -> tuple[list[dict], int, int | None, str]:
    """N = 1 2 4 8 ... up to `max_n` until one fails, then halves the gap between the largest sustained and the
    smallest failed N (down to 1 when `exact`, else 2), while steps fit before `deadline`. A step disturbed by
    other processes is run again once. Returns the steps, the largest N sustained, the smallest that was not, and
    why the ramp stopped early ("time", "max" or "")."""
    steps, passed, failed, n, bound = [], 0, None, 1, ""
    while True:
        if time.monotonic() + step_estimate > deadline:
            bound = "time"
            break
        step = run_step(n)
        print(step_line(step), flush=True)
        if step["others_cpu_percent"] > BUSY_PERCENT and time.monotonic() + step_estimate <= deadline:
            # Other processes took CPU during the step (the machine is shared): its figures are not this
            # gateway's. Measured again once; the repeat counts.
            print(f"  (other processes used {step['others_cpu_percent']} % CPU: N={n} again)", flush=True)
            step = run_step(n) | {"discarded": step}
            print(step_line(step), flush=True)
        steps.append(step)
        if step["sustained"]:
            passed = n
        else:
            failed = n
        if failed is None:
            if n >= max_n:
                bound = "max"
                break
            n = min(2 * n, max_n)
        else:
            if failed - passed <= (1 if exact else 2):
                break
            n = (passed + failed) // 2
    return steps, passed, failed, bound


def step_line(s: dict) -> str:
    lag = s["last_final_lag_s"]
    return (f"  {s['engine']:12} N={s['n']:<3} {s['completed']:>3}/{s['n']:<3} "
            f"last final lag p50/max {str(lag['p50']) + '/' + str(lag['max']) + ' s' if lag else '-':>14}  "
            f"any final lag max {str(s['final_lag_max_s']) + ' s' if s['final_lag_max_s'] is not None else '-':>7}  "
            f"CPU/stream gateway {100 * s['gateway_core_per_stream']:5.1f} % sidecar {100 * s['sidecar_core_per_stream']:5.1f} %  "
            f"total {s['total_cpu_percent']:5.1f} %  other processes {s['others_cpu_percent']:5.1f} %  WER {s['wer_percent_mean']} %  "
            f"{'sustained' if s['sustained'] else 'NOT sustained ' + ','.join(s['problems'])}")


# --- Main ----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--sidecar-python", required=True)
    parser.add_argument("--generated", type=Path, required=True)
    parser.add_argument("--librivox", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="~2 min: 10 generated clips, no streamed WER, a 9 s stream, fewer N")
    parser.add_argument("--verbose", action="store_true", help="one line per clip")
    parser.add_argument("--max-concurrent", type=int, default=1, help="sidecar: inferences at once")
    parser.add_argument("--threads", type=int, default=2, help="sidecar: CPU threads per inference")
    parser.add_argument("--openai-max-requests", type=int, default=1, help="gateway: upstream requests in flight")
    parser.add_argument("--max-streams", type=int, default=16, help="largest N tried (and PocketSphinx decoders)")
    parser.add_argument("--lag-limit", type=float, default=2.0, help="seconds: last final after the end of the audio")
    parser.add_argument("--budget", type=float, help="seconds for the whole run (default 600, quick 120)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--engines", default=" ".join(ENGINES), help="engines for the capacity ramp")
    args = parser.parse_args()
    started = time.monotonic()
    budget = args.budget or (120 if args.quick else 600)
    deadline = started + budget

    binary = args.binary.resolve()
    settings = {
        "binary": str(binary), "sidecar_max_concurrent": args.max_concurrent, "sidecar_threads": args.threads,
        "openai_max_requests": args.openai_max_requests, "decoders": args.max_streams, "lag_limit_s": args.lag_limit,
        "quick": args.quick, "cpus": len(os.sched_getaffinity(0)), "machine": cpu_model(),
    }
    print(f"gateway binary {binary} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(binary.stat().st_mtime))}), "
          f"--decoders {args.max_streams} --openai-max-requests {args.openai_max_requests}")
    print(f"Whisper sidecar: tiny.en int8 greedy, --max-concurrent {args.max_concurrent} --threads {args.threads}; "
          f"{settings['cpus']} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    report: dict = {"settings": settings}
    port, sidecar_port = free_port(), free_port()
    with sidecar_process(args.sidecar_python, sidecar_port, args.out.with_suffix(".sidecar.log"), args.max_concurrent, args.threads) as sidecar, \
            gateway(binary, port, sidecar_port, args.out.with_suffix(".server.log"), args.max_streams, args.openai_max_requests) as server:
        # Warm-up: first ffmpeg start, the sidecar's first inference. /health follows the default engine (openai):
        # PocketSphinx answers busy until its decoders are loaded.
        warm = args.librivox / "sense_and_sensibility_01_austen_64kb-0880.wav"
        for engine in ENGINES:
            for attempt in range(120):
                try:
                    recognize(port, warm.read_bytes(), engine)
                    break
                except AssertionError as refused:
                    if "busy" not in str(refused) or attempt == 119:
                        raise
                    time.sleep(0.5)
        print(f"gateway ready {time.monotonic() - started:.1f} s after start", flush=True)

        # 1. Accuracy.
        corpora = load_corpora(args.generated, args.librivox, args.quick)
        results = {}
        if not args.skip_accuracy:
            print()
            print("WER: one-shot uploads (WAV), then streams sent as fast as the gateway takes them (100 ms frames)")
            results = accuracy(port, corpora, streaming=not args.quick, verbose=args.verbose)
            report["accuracy"] = {"/".join(key): rows for key, rows in results.items()}
        accuracy_done = time.monotonic()

        # 2. Real-time streams.
        references = {c["id"]: c["reference"] for c in corpora["librivox"]}
        clips = capacity_clips(args.librivox, args.quick, references)
        audio_seconds = len(clips[0][0]) / 2 / RATE
        engines = args.engines.split()
        print()
        print(f"Real-time streams: {audio_seconds:.1f} s of LibriVox speech each ({len(clips)} rotations), 100 ms frames, "
              f"starts spread over {SPREAD_SECONDS:.0f} s; sustained: all complete, no error, last final < {args.lag_limit:g} s after the end of the audio")
        capacity = {}
        for index, engine in enumerate(engines):
            # The time left is shared between the engines still to ramp.
            engine_deadline = time.monotonic() + (deadline - time.monotonic() - 5) / (len(engines) - index)
            steps, sustained, failed, bound = ramp(
                lambda n: realtime_step(port, engine, n, clips, args.lag_limit, server.pid, sidecar.pid, sidecar_port),
                args.max_streams, engine_deadline, audio_seconds + SPREAD_SECONDS + args.lag_limit + 4, exact=not args.quick,
            )
            capacity[engine] = {"steps": steps, "sustained": sustained, "failed": failed, "bound": bound}
        report["capacity"] = capacity

    # 3. Tables.
    elapsed = time.monotonic() - started
    print()
    if results:
        subsets = [("generated, flite rms", "generated", "rms-"), ("generated, flite slt", "generated", "slt-"),
                   ("generated, both voices", "generated", ""), ("LibriVox (pocketsphinx-testdata)", "librivox", "")]

        def row(label: str, corpus: str, prefix: str, columns: list, only: set | None = None) -> str:
            cells, count, n = [], 0, 0
            for engine, mode in columns:
                rows = [r for r in results[(corpus, engine, mode)] if r["id"].startswith(prefix) and (only is None or r["id"] in only)]
                w, e, n = wer_of(rows)
                cells.append(f"{w:.1f} % ({e})")
                count = len(rows)
            return f"| {label} | {count} | {n} | " + " | ".join(cells) + " |"

        one_shot = [(e, "upload") for e in ENGINES]
        print("One-shot (POST /api/realtime-voice/recognize, WAV):")
        print("| corpus | clips | words | " + " | ".join(ENGINES) + " |")
        print("|---|---|---|" + "---|" * len(one_shot))
        for label, corpus, prefix in subsets:
            print(row(label, corpus, prefix, one_shot))
        if not args.quick:
            both = [(e, m) for e in ENGINES for m in ("upload", "stream")]
            print()
            print("Streamed (100 ms frames, as fast as the gateway takes them) against one-shot, on the streamed clips "
                  "(odd-numbered generated sentences, all LibriVox):")
            print("| corpus | clips | words | " + " | ".join(f"{e} {'one-shot' if m == 'upload' else 'streamed'}" for e, m in both) + " |")
            print("|---|---|---|" + "---|" * len(both))
            for label, corpus, prefix in subsets:
                ids = {r["id"] for r in results[(corpus, ENGINES[0], "stream")]}
                print(row(label, corpus, prefix, both, ids))
        print("WER in % of the reference words (word errors in brackets); case, punctuation and apostrophes ignored, "
              "Mr/Mrs/Dr = mister/missus/doctor.")
        print()

    print("Real-time streams:")
    print("| engine | N | completed | last final lag p50 / max s | any final lag max s | gateway CPU per stream | sidecar CPU per stream "
          "| CPU total (of 200 %) | other processes CPU | WER % | sustained |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for engine, c in capacity.items():
        for s in sorted(c["steps"], key=lambda s: s["n"]):
            lag = s["last_final_lag_s"]
            lags = f"{lag['p50']} / {lag['max']}" if lag else "-"
            print(f"| {engine} | {s['n']} | {s['completed']}/{s['n']} | {lags} | {s['final_lag_max_s']} "
                  f"| {100 * s['gateway_core_per_stream']:.1f} % | {100 * s['sidecar_core_per_stream']:.1f} % | {s['total_cpu_percent']} % | {s['others_cpu_percent']} % "
                  f"| {s['wer_percent_mean']} | {'yes' if s['sustained'] else 'no: ' + (', '.join(s['problems']) or 'lag')} |")
    print("CPU per stream: CPU seconds over the step (until every stream completed) / (N x audio seconds), in % of one core.")
    loadgen = max((s["loadgen_cpu_seconds"] for c in capacity.values() for s in c["steps"]), default=0)
    print(f"Load generator (this process): at most {loadgen} CPU s per step. Other processes: the rest of the machine's CPU over the step.")
    others = max((s["others_cpu_percent"] for c in capacity.values() for s in c["steps"]), default=0)
    if others > BUSY_PERCENT:
        print(f"WARNING: other processes used up to {others} % CPU during a step: the machine was not quiet, the CPU and capacity "
              "figures are pessimistic. Run again when it is idle.")
    print()

    print(f"Engine table (this machine: {settings['cpus']} cores, {settings['machine']}; {'QUICK run' if args.quick else 'full run'} {time.strftime('%Y-%m-%d')}, {elapsed / 60:.1f} min):")
    print()
    print("| engine | WER generated | WER LibriVox | CPU per real-time stream (gateway + sidecar) | concurrent real-time streams on this 2-core machine |")
    print("|---|---|---|---|---|")
    labels = {"pocketsphinx": "`pocketsphinx` (embedded)", "openai": "`openai` → local Whisper tiny.en sidecar"}
    table = {}
    for engine in ENGINES:
        cells = []
        for corpus in ("generated", "librivox"):
            if results:
                w, e, n = wer_of(results[(corpus, engine, "upload")])
                cells.append(f"{w:.1f} %")
            else:
                cells.append("-")
        c = capacity.get(engine)
        single = next((s for s in c["steps"] if s["n"] == 1), None) if c else None
        if single:
            g, sc = 100 * single["gateway_core_per_stream"], 100 * single["sidecar_core_per_stream"]
            cpu = f"{g:.0f} % of a core" if engine == "pocketsphinx" else f"{g:.0f} % + {sc:.0f} % of a core"
        else:
            cpu = "-"
        if c:
            at = next((s for s in c["steps"] if s["n"] == c["sustained"]), None)
            # "≥ N" when nothing failed (the ramp reached --max-streams or ran out of time); "N (< M)" when the
            # ramp stopped before the gap between the last sustained N and the first failed M was closed.
            streams = str(c["sustained"])
            if c["failed"] is None:
                streams = "≥ " + streams
            elif c["failed"] - c["sustained"] > 1:
                streams += f" (< {c['failed']})"
            if at and at["n"] > 1:
                per = 100 * (at["gateway_core_per_stream"] + at["sidecar_core_per_stream"])
                streams += f" ({per:.0f} % of a core each)"
        else:
            streams = "-"
        table[engine] = cells + [cpu, streams]
        print(f"| {labels[engine]} | " + " | ".join(table[engine]) + " |")
    report["table"] = table
    print()
    print(f"WER: one-shot uploads; generated = {len(corpora['generated'])} flite clips ({len(corpora['generated']) // 2} everyday sentences, voices rms and slt), "
          f"LibriVox = Debian's {len(corpora['librivox'])} pocketsphinx-testdata recordings. CPU: one real-time stream of {audio_seconds:.0f} s of LibriVox speech, "
          f"from /proc/PID/stat. Streams: largest N where all N real-time streams (started over {SPREAD_SECONDS:.0f} s) completed without error and "
          f"each last final came < {args.lag_limit:g} s after the end of its audio; sidecar --max-concurrent {args.max_concurrent} --threads {args.threads}, "
          f"gateway --openai-max-requests {args.openai_max_requests}.")
    print(f"whole run: {elapsed:.0f} s (accuracy {accuracy_done - started:.0f} s)")
    report["elapsed_seconds"] = round(elapsed, 1)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
