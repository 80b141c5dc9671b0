#!/usr/bin/env python3
"""Real English speech on engine whisper: Debian's pocketsphinx-testdata LibriVox recordings (5 clips with their
transcription), WER of Whisper base and tiny.en decoded directly (bench/whisper_direct.py: the sidecar's model,
settings and guards in-process) against the gateway's upload of the same files (lang=en-US), in one run.

    .venv/bin/python bench/english_real_speech.py [--binary .build/release/realtime-voice]

Prints a Markdown table; accuracy only (not timed), so a busy machine does not change the figures.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(ROOT / "bench"))

import mandarin_bench  # noqa: E402  (whisper_gateway() and recognize(): the same clients as bench/mandarin.sh)
from wer import wer  # noqa: E402

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
SIDECAR_PYTHON = ROOT / "sidecars" / "whisper" / ".venv" / "bin" / "python"


def clips() -> list[tuple[Path, str]]:
    result = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.fullmatch(r"\s*(.*?)\s*\((\S+)\)\s*", line)
        if match:
            result.append((LIBRIVOX / f"{match.group(2)}.wav", re.sub(r"</?s>", " ", match.group(1)).strip()))
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", type=Path, default=ROOT / ".build" / "release" / "realtime-voice")
    options = parser.parse_args()
    corpus = clips()
    print("| model | clips | direct WER | gateway upload WER | upload − direct |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for model in ("base", "tiny.en"):
            out = Path(scratch) / f"{model}.json"
            subprocess.run([str(SIDECAR_PYTHON), str(ROOT / "bench" / "whisper_direct.py"), "--model", model, "--language", "en",
                            "--out", str(out), *[str(p) for p, _ in corpus]], check=True, stdout=subprocess.DEVNULL)
            direct = [r["text"] for r in json.loads(out.read_text())["results"]]  # in the order of the files
            direct_wer = sum(wer(ref, text) for (_, ref), text in zip(corpus, direct)) / len(corpus)
            with mandarin_bench.whisper_gateway(options.binary.resolve(), Path(scratch) / f"gateway-{model}.log", model, 2, 1) as server:
                upload_wer = sum(wer(ref, mandarin_bench.recognize(server.port, p.read_bytes(), "en-US")[1]["text"]) for p, ref in corpus) / len(corpus)
            print(f"| {model} | {len(corpus)} | {direct_wer:.3f} | {upload_wer:.3f} | {upload_wer - direct_wer:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
