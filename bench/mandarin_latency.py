"""Stream latency of engine whisper alone, with more sentences than bench/mandarin.sh's latency step (whose N = 1
median rests on 8 sentences): N real-time streams of 4-sentence Mandarin paragraphs, `--runs` times, through one
gateway, optionally with extra `serve` arguments to compare settings.

    .venv/bin/python bench/mandarin_latency.py --binary .build/release/realtime-voice --runs 8
    .venv/bin/python bench/mandarin_latency.py --runs 8 -- --openai-partial-interval 1.5

Latency as in bench/mandarin_bench.py: first partial after the sentence's speech start, final after its speech end.
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mandarin_bench as bench  # noqa: E402  (it puts tests/python on the path for mandarin_speech)
import mandarin_speech  # noqa: E402


def paragraphs(count: int) -> list:
    """Paragraph k: four sentences in turn from the corpus, voice k mod 2 (as bench/mandarin_bench.py's)."""
    result = []
    for k in range(count):
        voice = mandarin_speech.VOICES[k % 2]
        chosen = [(k * 4 + j) % len(mandarin_speech.SENTENCES) for j in range(4)]
        clips = [bench.Clip(f"p{k}-{i}", mandarin_speech.mandarin_clip(mandarin_speech.SENTENCES[i], voice), mandarin_speech.SENTENCES[i],
                            voice, "zh") for i in chosen]
        result.append(bench.join(clips, f"paragraph{k}"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=bench.ROOT / ".build" / "release" / "realtime-voice")
    parser.add_argument("--runs", type=int, default=8, help="paragraphs per N, one step of N streams at a time")
    parser.add_argument("--concurrent", type=int, default=1, help="N streams at once")
    parser.add_argument("serve_args", nargs="*", help="after --: extra arguments for serve")
    args = parser.parse_args()
    serve = bench.gateway_module.gateway_process
    bench.gateway_module.gateway_process = lambda port, log, *a: serve(port, log, *a, *args.serve_args)
    texts = paragraphs(args.runs * args.concurrent)
    with tempfile.TemporaryDirectory() as scratch:
        binary = bench.named_realtime_voice(args.binary.absolute(), Path(scratch))
        with bench.whisper_gateway(binary, Path(scratch) / "gateway.log", "base", 2, 1) as server:
            bench.recognize(server.port, mandarin_speech.mandarin_clip(mandarin_speech.SENTENCES[0]).read_bytes(), "zh-CN")  # warm-up
            records = []
            for run in range(args.runs):
                bench.settle(server.pid)
                records += bench.streams_at_once(server.port, texts[run * args.concurrent:(run + 1) * args.concurrent], 100)
    s = bench.latency_summary(records)
    print(f"serve {' '.join(args.serve_args) or '(defaults)'}; N = {args.concurrent}, {s['sentences']} sentences: first partial p50 / p95 "
          f"{bench.fmt(s['first_partial_s']['p50'])} / {bench.fmt(s['first_partial_s']['p95'])} s, final p50 / p95 "
          f"{bench.fmt(s['final_s']['p50'])} / {bench.fmt(s['final_s']['p95'])} s, without a partial {s['without_partial']}, "
          f"without a final {s['without_final']}, {s['problem_summary'] or 'no errors'}", flush=True)


if __name__ == "__main__":
    main()
