#!/usr/bin/env python3
"""`/v1/realtime` against protocol v1 (issue 16): the same audio, the same engine, one gateway, in one run.

Paragraphs of 4 sentences (0.5 s lead, 1.2 s between sentences, 1.5 s tail), 24 kHz PCM16 (what /v1/realtime takes;
v1 is told sample_rate=24000, so both paths resample alike), streamed at real-time pace in 100 ms pieces:
- v1: `/api/realtime-voice/stream` (gateway_client.stream), partials and finals;
- realtime: the openai SDK (GA shape, server VAD; realtime_client.sdk_session), deltas and completed items.
The paths alternate paragraph by paragraph (v1, realtime, v1 again; then realtime, v1, v1 again), so that drift
of the machine's speed falls on all alike. "v1 again" is the noise floor: how far v1 is from itself on the same audio
(Whisper's partial requests race the segment's end, and a late answer may stand in for the final's decode).

Corpora: Mandarin (tests/python/mandarin_speech.py, espeak-ng, voices alternating) on engine whisper with lang zh,
scored by pooled CER; English (mandarin_speech.ENGLISH_SENTENCES by flite rms) on pocketsphinx, scored by WER.
Per sentence (each final or item belongs to the sentence nearest its end): the first partial / delta after the
sentence's speech start, and the final / completed after its speech end, on the stream's clock. Prints a Markdown
table with realtime / v1 ratios; raw numbers to --out.

    .venv/bin/python bench/realtime_bench.py --paragraphs 6 --out bench/out/realtime-2026-12-07.json
"""
import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mandarin_bench as bench  # noqa: E402  (it puts tests/python on the path)
import mandarin_speech  # noqa: E402
from gateway_client import stream  # noqa: E402
from realtime_client import convert, of_type, sdk_session  # noqa: E402
from wer import wer  # noqa: E402

RATE24 = 24000


class Port:
    """What realtime_client takes for a server: its port."""

    def __init__(self, port: int):
        self.port = port


def paragraphs(clips: list, count: int) -> list:
    return [bench.join([clips[(k * 4 + j) % len(clips)] for j in range(4)], f"p{k}") for k in range(count)]


def nearest(sentences: list, end_s: float) -> int:
    return min(range(len(sentences)), key=lambda i: abs(sentences[i][2] - end_s))


def per_sentence(clip, items: list[tuple[float, str, float | None, float]]) -> list[dict]:
    """`items`: (end in the audio s, text, first partial or delta at s or None, final at s), in order."""
    rows = [{"reference": r, "text": "", "first_s": None, "final_s": None} for r, _, _ in clip.sentences]
    for end_s, text, first_at, final_at in items:
        i = nearest(clip.sentences, end_s)
        row, (_, start, end) = rows[i], clip.sentences[i]
        row["text"] = (row["text"] + " " + text).strip() if text else row["text"]
        if first_at is not None and row["first_s"] is None:
            row["first_s"] = round(first_at - start, 3)
        row["final_s"] = round(final_at - end, 3)
    return rows


def v1_run(port: int, clip, engine: str, lang: str) -> list[dict]:
    pcm = convert(clip.pcm, "pcm")
    url = f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token={bench.TOKEN}&lang={lang}&engine={engine}&sample_rate={RATE24}"
    events, close_code = asyncio.run(stream(url, pcm, frame_ms=100, bytes_per_ms=48))
    assert close_code == 1000, events[-2:]
    finals = [e for e in events if e["type"] == "final"]
    items = []
    for f in finals:
        partials = [p["_at"] for p in events if p["type"] == "partial" and p["segment"] == f["segment"]]
        items.append((f["end_ms"] / 1000, f["text"], min(partials, default=f["_at"]), f["_at"]))
    return per_sentence(clip, items)


def realtime_run(port: int, clip, engine: str, language: str) -> list[dict]:
    pcm = convert(clip.pcm, "pcm")
    events = asyncio.run(sdk_session(Port(port), pcm, language=language, model=engine, realtime=True, tail_silence_ms=0, quiet_s=3,
                                       token=bench.TOKEN))
    items = []
    for done in of_type(events, "input_audio_transcription.completed"):
        item = done["item_id"]
        stopped = next(e for e in of_type(events, "speech_stopped") if e["item_id"] == item)
        deltas = [d["_at"] for d in of_type(events, "input_audio_transcription.delta") if d["item_id"] == item]
        items.append((stopped["audio_end_ms"] / 1000, done["transcript"], min(deltas, default=done["_at"]), done["_at"]))
    return per_sentence(clip, items)


def summary(rows: list[dict], score) -> dict:
    firsts = [r["first_s"] for r in rows if r["first_s"] is not None]
    finals = [r["final_s"] for r in rows if r["final_s"] is not None]
    return {"error_rate": round(score([(r["reference"], r["text"]) for r in rows]), 4), "sentences": len(rows),
            "first_p50": bench.percentile(firsts, 0.5), "first_p95": bench.percentile(firsts, 0.95),
            "final_p50": bench.percentile(finals, 0.5), "final_p95": bench.percentile(finals, 0.95),
            "without_text": sum(1 for r in rows if not r["text"])}


def pooled_wer(pairs) -> float:
    words = sum(len(r.split()) for r, _ in pairs)
    return sum(wer(r, h) * len(r.split()) for r, h in pairs) / words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=bench.ROOT / ".build" / "release" / "realtime-voice")
    parser.add_argument("--paragraphs", type=int, default=6, help="paragraphs of 4 sentences per corpus and path")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = {"machine": bench.machine_facts(), "binary": bench.binary_facts(args.binary), "paragraphs": args.paragraphs, "corpora": {}}
    with tempfile.TemporaryDirectory() as scratch:
        mandarin = paragraphs(bench.mandarin_corpus(list(range(len(mandarin_speech.SENTENCES)))), args.paragraphs)
        english = paragraphs(bench.english_corpus(Path(scratch)), args.paragraphs)
        binary = bench.named_realtime_voice(args.binary.absolute(), Path(scratch))
        with bench.whisper_gateway(binary, Path(scratch) / "gateway.log", "base", 2, 1) as server:
            bench.recognize(server.port, mandarin_speech.mandarin_clip(mandarin_speech.SENTENCES[0]).read_bytes(), "zh-CN")  # warm-up
            for name, clips, engine, lang, language, score in (
                ("Mandarin, whisper base", mandarin, "whisper", "zh-CN", "zh", bench.pooled_cer),
                ("English, pocketsphinx", english, "pocketsphinx", "en-US", "en", pooled_wer),
            ):
                rows = {"v1": [], "realtime": [], "v1 again": []}
                started = time.monotonic()
                for k, clip in enumerate(clips):
                    order = ("v1", "realtime", "v1 again") if k % 2 == 0 else ("realtime", "v1", "v1 again")
                    for path in order:
                        bench.settle(server.pid)
                        run = realtime_run if path == "realtime" else v1_run
                        rows[path] += run(server.port, clip, engine, language if path == "realtime" else lang)
                report["corpora"][name] = {
                    "seconds": round(time.monotonic() - started, 1),
                    **{path: {"summary": summary(r, score), "sentences": r} for path, r in rows.items()},
                }
    print(f"/v1/realtime against protocol v1: {args.paragraphs} paragraphs of 4 sentences per corpus, real time, 24 kHz; "
          f"{report['machine']}")
    print("| corpus | path | error rate | first partial / delta p50 (p95) s | final / completed p50 (p95) s | sentences without text |")
    print("|---|---|---|---|---|---|")
    for name, corpus in report["corpora"].items():
        for path in ("v1", "realtime", "v1 again"):
            s = corpus[path]["summary"]
            print(f"| {name} | {path} | {s['error_rate']:.3f} | {bench.fmt(s['first_p50'])} ({bench.fmt(s['first_p95'])}) | "
                  f"{bench.fmt(s['final_p50'])} ({bench.fmt(s['final_p95'])}) | {s['without_text']} |")
        v1, rt, again = corpus["v1"]["summary"], corpus["realtime"]["summary"], corpus["v1 again"]["summary"]
        for label, other in (("realtime - v1", rt), ("v1 again - v1", again)):
            print(f"| {name} | {label} | {other['error_rate'] - v1['error_rate']:+.3f} | "
                  f"{bench.fmt(other['first_p50'] - v1['first_p50'])} | {bench.fmt(other['final_p50'] - v1['final_p50'])} | |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
