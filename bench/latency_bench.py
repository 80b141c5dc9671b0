#!/usr/bin/env python3
"""Streaming latency benchmark, called by latency.sh: `openai` with the local Whisper sidecar against PocketSphinx
(the baseline, same run, same gateway), on two three-sentence paragraphs streamed at real-time pace.

1. Each paragraph (espeak-ng, flite slt) R times per engine, one stream at a time, the engines taking turns: per
   sentence, first partial - speech start, final - speech end, and the final's WER.
2. N concurrent real-time streams per engine: final latency p50/p95/max.

Times are on the stream's clock: frame i is sent at t0 + i x frame, so audio at second t of the paragraph counts as
sent at t0 + t (tests/python/test_openai_engine.py's stream()). A final belongs to the sentence nearest its middle
(start_ms..end_ms), a partial to the sentence of the final with its segment number.
"""
import argparse
import asyncio
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import websockets

import wer_bench
from wer_bench import ROOT, RATE, SPREAD_SECONDS, TOKEN, cpu_model, errors, free_port, gateway, pcm_of, recognize, settle, sidecar_process

sys.path.insert(0, str(ROOT / "tests" / "python"))
from test_openai_engine import GAP_S, LEAD_S, SENTENCES, TAIL_S, speech_bounds, stream  # noqa: E402

ENGINES = wer_bench.ENGINES  # pocketsphinx first: the baseline
VOICES = {
    "espeak": lambda text, wav: ["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav, text],
    "flite": lambda text, wav: ["flite", "-voice", "slt", "-t", text, "-o", wav],
}
ON_TIME_S = 1.0  # the target: a final at most this long after its sentence ends


@dataclass
class Paragraph:
    voice: str
    pcm: bytes
    sentences: list[tuple[str, float, float]]  # text, speech start s, speech end s (in the paragraph)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


def speak(voice: str, directory: Path) -> Paragraph:
    """The three sentences in `voice`, 16 kHz mono: LEAD_S of silence, GAP_S between sentences, TAIL_S after."""
    silence = lambda seconds: bytes(2 * int(seconds * RATE))  # noqa: E731
    pcm, sentences = silence(LEAD_S), []
    for i, text in enumerate(SENTENCES):
        raw, wav = directory / f"{voice}-raw{i}.wav", directory / f"{voice}-{i}.wav"
        subprocess.run(VOICES[voice](text, str(raw)), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(wav)], check=True)
        clip = pcm_of(wav)
        first, last = speech_bounds(clip)
        offset = len(pcm) // 2
        sentences.append((text, (offset + first) / RATE, (offset + last) / RATE))
        pcm += clip + silence(GAP_S if i < len(SENTENCES) - 1 else TAIL_S)
    return Paragraph(voice, pcm, sentences)


def wav_bytes(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return buffer.getvalue()


def named_realtime_voice(binary: Path, directory: Path) -> Path:
    """gateway_process starts <folder>/realtime-voice: a binary under another name is linked under that one."""
    if binary.name == "realtime-voice":
        return binary
    link = directory / "realtime-voice"
    link.symlink_to(binary.resolve())
    return link


# --- Streams ------------------------------------------------------------------------------------------------


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
    return events, problems


def measure(events: list[dict], problems: list[str], paragraph: Paragraph) -> dict:
    """Per sentence: first partial latency, final latency (its last final when split), WER of its finals' text."""
    finals = [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]

    def distance(final: dict, sentence: tuple[str, float, float]) -> float:
        middle = (final["start_ms"] + final["end_ms"]) / 2000
        return max(sentence[1] - middle, 0, middle - sentence[2])

    sentence_of_segment = {f["segment"]: min(range(len(paragraph.sentences)), key=lambda i: distance(f, paragraph.sentences[i]))
                           for f in finals}
    rows = []
    for i, (text, speech_start, speech_end) in enumerate(paragraph.sentences):
        own_finals = [f for f in finals if sentence_of_segment[f["segment"]] == i]
        own_partials = [p for p in partials if sentence_of_segment.get(p["segment"]) == i]
        hypothesis = " ".join(f["text"] for f in own_finals if f["text"])
        word_errors, words = errors(text, hypothesis)
        rows.append({
            "first_partial_s": round(own_partials[0]["_at"] - speech_start, 3) if own_partials else None,
            "final_s": round(own_finals[-1]["_at"] - speech_end, 3) if own_finals else None,
            "wer": round(word_errors / words, 3), "text": hypothesis,
        })
    return {"voice": paragraph.voice, "finals": len(finals), "problems": problems, "sentences": rows,
            "final_events": [{k: f[k] for k in ("segment", "_at", "start_ms", "end_ms", "text")} for f in finals]}


def stream_url(port: int, engine: str) -> str:
    return f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token={TOKEN}&engine={engine}"


def one_at_a_time(port: int, paragraphs: list[Paragraph], runs: int, frame_ms: int, gateway_pid: int, sidecar_port: int) -> dict:
    """Every paragraph `runs` times per engine, one stream at a time; run by run, the engines take turns."""
    records: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
    for run in range(runs):
        for paragraph in paragraphs:
            for engine in ENGINES:
                settle(gateway_pid, sidecar_port)
                events, problems = asyncio.run(timed_stream(stream_url(port, engine), paragraph.pcm, frame_ms, 0, paragraph.seconds + 60))
                record = measure(events, problems, paragraph) | {"run": run}
                records[engine].append(record)
                cells = "  ".join(f"+{seconds(s['first_partial_s'])}/+{seconds(s['final_s'])} s WER {s['wer']:.2f}" for s in record["sentences"])
                print(f"  run {run + 1} {paragraph.voice:6} {engine:12} finals {record['finals']}  {cells}"
                      f"{'  ' + ', '.join(problems) if problems else ''}", flush=True)
    return records


def concurrent_step(port: int, engine: str, n: int, paragraphs: list[Paragraph], frame_ms: int, gateway_pid: int, sidecar_port: int) -> dict:
    """N concurrent real-time streams, starts spread over SPREAD_SECONDS; stream i speaks paragraph i mod 2."""
    settle(gateway_pid, sidecar_port)
    chosen = [paragraphs[i % len(paragraphs)] for i in range(n)]

    async def all_streams():
        return await asyncio.gather(*(timed_stream(stream_url(port, engine), p.pcm, frame_ms, i * SPREAD_SECONDS / n, p.seconds + 60)
                                      for i, p in enumerate(chosen)))

    records = [measure(events, problems, p) for (events, problems), p in zip(asyncio.run(all_streams()), chosen)]
    return {"engine": engine, "n": n, "streams": records, "summary": summary(records)}


# --- Numbers ------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(records: list[dict]) -> dict:
    sentences = [s for r in records for s in r["sentences"]]
    first_partials = [s["first_partial_s"] for s in sentences if s["first_partial_s"] is not None]
    finals = [s["final_s"] for s in sentences if s["final_s"] is not None]
    return {
        "streams": len(records), "finals_per_stream": sorted({r["finals"] for r in records}),
        "sentences": len(sentences), "sentences_without_final": len(sentences) - len(finals),
        "first_partial_s": {"p50": percentile(first_partials, 0.5), "max": max(first_partials, default=None)},
        "final_s": {"p50": percentile(finals, 0.5), "p95": percentile(finals, 0.95), "max": max(finals, default=None)},
        "finals_on_time": sum(1 for f in finals if f <= ON_TIME_S),
        "wer_percent_mean": round(100 * sum(s["wer"] for s in sentences) / len(sentences), 1) if sentences else None,
        "problems": [p for r in records for p in r["problems"]],
    }


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def on_time(s: dict) -> str:
    return f"{s['finals_on_time']}/{s['sentences']} ({100 * s['finals_on_time'] / s['sentences']:.0f} %)" if s["sentences"] else "-"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def print_single_stream_tables(summaries: dict, runs: int, frame_ms: int) -> None:
    print()
    print(f"One stream at a time ({runs} runs per paragraph, {frame_ms} ms frames at real-time pace); latencies in s:")
    for engine in ENGINES:
        print()
        print(f"{engine}:")
        print(f"| voice | streams | finals per stream | first partial p50 / max | final p50 / p95 / max | finals ≤ {ON_TIME_S:g} s | mean WER % | errors |")
        print("|---|---|---|---|---|---|---|---|")
        for voice, s in summaries[engine].items():
            fp, fin = s["first_partial_s"], s["final_s"]
            print(f"| {voice} | {s['streams']} | {', '.join(map(str, s['finals_per_stream']))} | {seconds(fp['p50'])} / {seconds(fp['max'])} "
                  f"| {seconds(fin['p50'])} / {seconds(fin['p95'])} / {seconds(fin['max'])} | {on_time(s)} | {s['wer_percent_mean']} | {len(s['problems'])} |")
    print()
    print("openai / pocketsphinx, final latency:")
    print("| voice | p50 pocketsphinx | p50 openai | p50 ratio | p95 pocketsphinx | p95 openai | p95 ratio |")
    print("|---|---|---|---|---|---|---|")
    for voice in summaries["openai"]:
        base, other = summaries["pocketsphinx"][voice]["final_s"], summaries["openai"][voice]["final_s"]
        print(f"| {voice} | {seconds(base['p50'])} | {seconds(other['p50'])} | {ratio(other['p50'], base['p50'])} "
              f"| {seconds(base['p95'])} | {seconds(other['p95'])} | {ratio(other['p95'], base['p95'])} |")
    print(f"finals ≤ {ON_TIME_S:g} s after their sentence's speech end: " + ", ".join(f"{e} {on_time(summaries[e]['both'])}" for e in ENGINES))


def print_concurrent_table(steps: list[dict], frame_ms: int, summaries: dict) -> None:
    print()
    print(f"Concurrent real-time streams (starts spread over {SPREAD_SECONDS:.0f} s); final latency in s:")
    print(f"| engine | N | finals per stream | final p50 / p95 / max | finals ≤ {ON_TIME_S:g} s | mean WER % | errors |")
    print("|---|---|---|---|---|---|---|")
    for step in steps:
        s, fin = step["summary"], step["summary"]["final_s"]
        print(f"| {step['engine']} | {step['n']} | {', '.join(map(str, s['finals_per_stream']))} | {seconds(fin['p50'])} / {seconds(fin['p95'])} / {seconds(fin['max'])} "
              f"| {on_time(s)} | {s['wer_percent_mean']} | {', '.join(s['problems']) or 0} |")
    print()
    print(f"Latency: arrival of the event - the sentence's speech start (first partial) or end (final), speech = samples > 300, "
          f"on the stream's clock (frame i sent at t0 + i x {frame_ms} ms). Sentences without a final: "
          + ", ".join(f"{e} {summaries[e]['both']['sentences_without_final']}" for e in ENGINES) + ".")


# --- Main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", type=Path, required=True)
    parser.add_argument("--sidecar-python", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, help="streams of each paragraph per engine, one at a time (default 5, quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 runs")
    parser.add_argument("--frame-ms", type=int, default=100, help="audio per WebSocket message, sent every frame-ms")
    parser.add_argument("--concurrent", default="1 2 4", help="N for the concurrent real-time streams")
    parser.add_argument("--max-concurrent", type=int, default=1, help="sidecar: inferences at once")
    parser.add_argument("--threads", type=int, default=2, help="sidecar: CPU threads per inference")
    parser.add_argument("--openai-max-requests", type=int, default=1, help="gateway: upstream requests in flight")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    concurrency = [int(n) for n in args.concurrent.split()]
    started = time.monotonic()

    settings = {
        "binary": str(args.binary), "runs": runs, "frame_ms": args.frame_ms, "concurrent": concurrency,
        "sidecar_max_concurrent": args.max_concurrent, "sidecar_threads": args.threads,
        "openai_max_requests": args.openai_max_requests, "decoders": max(concurrency),
        "cpus": len(os.sched_getaffinity(0)), "machine": cpu_model(), "load_average_at_start": os.getloadavg(),
    }
    print(f"gateway binary {args.binary} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(args.binary.stat().st_mtime))}), "
          f"--decoders {settings['decoders']} --openai-max-requests {args.openai_max_requests}; Whisper sidecar tiny.en, "
          f"--max-concurrent {args.max_concurrent} --threads {args.threads}; {settings['cpus']} CPUs ({settings['machine']}), "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    report: dict = {"settings": settings}
    with tempfile.TemporaryDirectory() as scratch:
        paragraphs = [speak(voice, Path(scratch)) for voice in VOICES]
        report["paragraphs"] = [{"voice": p.voice, "seconds": p.seconds, "sentences": p.sentences} for p in paragraphs]
        for p in paragraphs:
            print(f"{p.voice:6} paragraph {p.seconds:.1f} s, speech " + ", ".join(f"{s:.2f}-{e:.2f}" for _, s, e in p.sentences) + " s", flush=True)
        binary = named_realtime_voice(args.binary.absolute(), Path(scratch))
        port, sidecar_port = free_port(), free_port()
        with sidecar_process(args.sidecar_python, sidecar_port, args.out.with_suffix(".sidecar.log"), args.max_concurrent, args.threads), \
                gateway(binary, port, sidecar_port, args.out.with_suffix(".server.log"), max(concurrency), args.openai_max_requests) as server:
            # Warm-up (the sidecar's first inference); PocketSphinx answers busy until its decoders are loaded.
            for engine in ENGINES:
                for attempt in range(120):
                    try:
                        recognize(port, wav_bytes(paragraphs[0].pcm), engine)
                        break
                    except AssertionError as refused:
                        if "busy" not in str(refused) or attempt == 119:
                            raise
                        time.sleep(0.5)

            print()
            print(f"One stream at a time, {runs} runs; per sentence: +first partial/+final s after speech start/end, WER of the final")
            streams = one_at_a_time(port, paragraphs, runs, args.frame_ms, server.pid, sidecar_port)
            report["streams"] = streams

            print()
            print(f"Concurrent real-time streams, starts spread over {SPREAD_SECONDS:.0f} s, alternating the paragraphs")
            steps = []
            for engine in ENGINES:
                for n in concurrency:
                    step = concurrent_step(port, engine, n, paragraphs, args.frame_ms, server.pid, sidecar_port)
                    steps.append(step)
                    s = step["summary"]
                    print(f"  {engine:12} N={n}  final p50/p95/max {seconds(s['final_s']['p50'])}/{seconds(s['final_s']['p95'])}/{seconds(s['final_s']['max'])} s"
                          f"{'  ' + ', '.join(s['problems']) if s['problems'] else ''}", flush=True)
            report["concurrent"] = steps

    summaries = {engine: {p.voice: summary([r for r in streams[engine] if r["voice"] == p.voice]) for p in paragraphs} | {"both": summary(streams[engine])}
                 for engine in ENGINES}
    report["summary"] = summaries
    print_single_stream_tables(summaries, runs, args.frame_ms)
    print_concurrent_table(steps, args.frame_ms, summaries)
    elapsed = time.monotonic() - started
    print(f"whole run: {elapsed:.0f} s; load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    settings["load_average_at_end"] = os.getloadavg()
    report["elapsed_seconds"] = round(elapsed, 1)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"raw: {args.out}")


if __name__ == "__main__":
    main()
