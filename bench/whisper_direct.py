#!/usr/bin/env python3
"""Direct faster-whisper decode, no gateway and no HTTP: the baseline of bench/mandarin.sh.

Decodes WAV files in this process with the model folder, the CTranslate2 settings and the decode options that
sidecars/whisper/server.py uses for what the gateway sends it (TranscriptionClient.swift: temperature 0, the
ISO-639-1 `language`, response_format verbose_json with segment and word timestamps), then cleans the answer as
the sidecar does: Traditional → Simplified with Chinese punctuation (chinese_text.py) when the language is zh, and
the guards against invented text (guards.py). So a difference between this and the gateway is the gateway's (and
the sidecar's HTTP layer's), not the model's or the settings'.

    sidecars/whisper/.venv/bin/python bench/whisper_direct.py --model base --threads 2 --language zh a.wav b.wav
    sidecars/whisper/.venv/bin/python bench/whisper_direct.py --manifest clips.json --out answers.json

A manifest is a JSON list of {"path", "language"} ("language" an ISO-639-1 code, or null to detect it). Prints one
line per file (elapsed s, audio s, text); --out gets the raw JSON: per file the text, the detected language, the
audio and decode seconds, and for the whole run the model folder, the load time, the peak RSS and the settings.
The first file is decoded once more before timing starts (--no-warm-up to skip), as the sidecar's first request
pays for CTranslate2's first-call set-up too. Runs with the sidecar's venv (faster-whisper, opencc).
"""
import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # as server.py: before faster_whisper imports huggingface_hub

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sidecars" / "whisper"))

from faster_whisper import WhisperModel  # noqa: E402
from faster_whisper.audio import decode_audio  # noqa: E402

import guards  # noqa: E402
import model_store  # noqa: E402
from chinese_text import to_simplified_chinese  # noqa: E402

SAMPLE_RATE = 16000
# server.py's Sidecar.options(): <|startoftranscript|> <|language|> <|transcribe|> and a timestamp token, no prompt.
PROMPT_TOKENS = 4


def load(model: str, model_dir: Path | None, threads: int, compute_type: str, workers: int) -> tuple[WhisperModel, Path, float]:
    """The model as server.py's Sidecar.__init__ loads it: same folder (model_store.model_dir or --model-dir)."""
    started = time.monotonic()
    folder = model_dir.resolve() if model_dir else model_store.model_dir(model)
    whisper = WhisperModel(str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads,
                           num_workers=workers, local_files_only=True)
    return whisper, folder, time.monotonic() - started


def options(whisper: WhisperModel, language: str | None, beam_size: int) -> dict:
    """server.py's Sidecar.options() for the gateway's form: temperature 0, word granularity, no prompt."""
    return dict(
        language=language or ("en" if not whisper.model.is_multilingual else None),
        initial_prompt=None,
        temperature=[0.0],
        beam_size=beam_size,
        word_timestamps=True,  # the gateway asks for timestamp_granularities[] = segment and word
        vad_filter=False,
        condition_on_previous_text=False,
    )


def transcribe(whisper: WhisperModel, path: Path, language: str | None, beam_size: int, thresholds: guards.Thresholds,
               use_guards: bool) -> dict:
    """server.py's Sidecar.transcribe() and render() (verbose_json's `text`) for one file."""
    started = time.monotonic()
    audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    seconds = len(audio) / SAMPLE_RATE
    decode = options(whisper, language, beam_size)
    if use_guards:
        decode.update(guards.decode_options(seconds, PROMPT_TOKENS, thresholds))
    if use_guards:  # rule 6 as server.py does it: once more with beam search for a wrong-script segment
        segments, info, first = guards.decode(lambda options: whisper.transcribe(audio, **options), decode, thresholds)
    else:
        segments, info = whisper.transcribe(audio, **decode)
        segments, first = list(segments), None
    for s in segments:
        s.end = min(s.end, seconds)
    if info.language == "zh":
        for s in segments:
            s.text = to_simplified_chinese(s.text)
            for w in s.words or []:
                w.word = to_simplified_chinese(w.word)
    dropped = []
    if use_guards:
        segments, dropped = guards.apply(segments, thresholds, info.language)
    text = "".join(s.text for s in segments).strip()
    if info.language == "zh":
        text = to_simplified_chinese(text)
        if use_guards:
            text = guards.collapse_repeats(text, thresholds.min_repeats, thresholds.max_unit)
    return {
        "path": str(path), "language_asked": language, "language": info.language, "text": text,
        "segments": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in segments],
        "dropped": [list(d) for d in dropped], "retried_with_beam_search": first is not None,
        "audio_seconds": round(seconds, 3), "elapsed_seconds": round(time.monotonic() - started, 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--manifest", type=Path, help="JSON list of {path, language}; instead of or next to the files")
    p.add_argument("--language", help="ISO-639-1 code for the files given as arguments (default: detect)")
    p.add_argument("--model", choices=model_store.MODELS, default="base")
    p.add_argument("--model-dir", type=Path, help="a CTranslate2 Whisper folder (wins over --model)")
    # The sidecar's defaults (server.py parse_args), which the gateway does not change except --threads and
    # --max-concurrent (WhisperSidecar.swift launch()).
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-concurrent", type=int, default=1, help="CTranslate2 num_workers, as the sidecar passes it")
    p.add_argument("--compute-type", default="int8")
    p.add_argument("--beam-size", type=int, default=1)
    p.add_argument("--no-guards", action="store_true")
    p.add_argument("--no-warm-up", action="store_true")
    p.add_argument("--out", type=Path, help="raw JSON")
    args = p.parse_args()

    jobs = [{"path": str(f), "language": args.language} for f in args.files]
    if args.manifest:
        jobs += json.loads(args.manifest.read_text())
    if not jobs:
        p.error("no files")

    whisper, folder, load_seconds = load(args.model, args.model_dir, args.threads, args.compute_type, args.max_concurrent)
    print(f"loaded {folder} ({args.compute_type}, {args.threads} threads) in {load_seconds:.2f} s", file=sys.stderr, flush=True)
    thresholds = guards.Thresholds()
    use_guards = not args.no_guards
    if not args.no_warm_up:
        transcribe(whisper, Path(jobs[0]["path"]), jobs[0]["language"], args.beam_size, thresholds, use_guards)
    results = []
    started = time.monotonic()
    for job in jobs:
        result = transcribe(whisper, Path(job["path"]), job["language"], args.beam_size, thresholds, use_guards)
        results.append(result)
        print(f"{result['elapsed_seconds']:.3f}\t{result['audio_seconds']:.2f}\t{result['language']}\t{result['text']}", flush=True)
    report = {
        "model": args.model_dir and str(args.model_dir) or args.model, "model_dir": str(folder),
        "settings": {"threads": args.threads, "num_workers": args.max_concurrent, "compute_type": args.compute_type,
                     "beam_size": args.beam_size, "guards": use_guards, "warm_up": not args.no_warm_up},
        "load_seconds": round(load_seconds, 3), "decode_seconds": round(time.monotonic() - started, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
