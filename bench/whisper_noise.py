#!/usr/bin/env python3
"""How often Whisper invents text over noise, with and without the sidecar's guards: no gateway, no HTTP.

Generates N clips of sox pink noise (random each time, as sox does without -R), decodes each in this process with
the sidecar's model, settings and decode options (as bench/whisper_direct.py), and counts the clips that answer any
text before and after guards.apply().

    sidecars/whisper/.venv/bin/python bench/whisper_noise.py --clips 30 --language zh --seconds 2 --volume 0.05

Prints one line per clip that answered text, then `invented: A of N without guards, B of N with guards`.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sidecars" / "whisper"))

from faster_whisper import WhisperModel  # noqa: E402
from faster_whisper.audio import decode_audio  # noqa: E402

import guards  # noqa: E402
import model_store  # noqa: E402

SAMPLE_RATE = 16000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=model_store.MODELS, default="base")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clips", type=int, default=30)
    p.add_argument("--language", default="zh", help="ISO-639-1 code, or 'auto' to let Whisper detect it")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--volume", type=float, default=0.05)
    args = p.parse_args()
    model = WhisperModel(str(model_store.model_dir(args.model, None)), device="cpu", compute_type="int8",
                         cpu_threads=args.threads, local_files_only=True)
    language = None if args.language == "auto" else args.language
    raw = guarded = 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "noise.wav"
        for i in range(args.clips):
            subprocess.run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(path),
                            "synth", str(args.seconds), "pinknoise", "vol", str(args.volume)], check=True)
            audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
            segments, info = model.transcribe(audio, language=language, beam_size=1, temperature=[0],
                                              vad_filter=False, **guards.decode_options(args.seconds, 4))
            segments = list(segments)
            kept, _ = guards.apply(segments, language=info.language)
            raw += any(s.text.strip() for s in segments)
            guarded += bool(kept)
            if any(s.text.strip() for s in segments):
                print(f"clip {i}: {[(s.text, round(s.no_speech_prob, 2), round(s.avg_logprob, 2), round(s.compression_ratio, 2)) for s in segments]}"
                      f" -> {'kept' if kept else 'dropped'}")
    print(f"invented: {raw} of {args.clips} without guards, {guarded} of {args.clips} with guards "
          f"(model {args.model}, language {args.language}, {args.seconds} s pink noise at vol {args.volume})")


if __name__ == "__main__":
    main()
