#!/usr/bin/env python3
"""How often Whisper invents text over noise, with and without the sidecar's guards: no gateway, no HTTP.

Generates N clips of sox pink noise (random each time, as sox does without -R), decodes each in this process as
the sidecar does for the gateway (bench/whisper_direct.py's model loading and decode options, with guards.py's
token cap and rule-6 retry), and counts the clips that answer any text before and after guards.apply().

    sidecars/whisper/.venv/bin/python bench/whisper_noise.py --clips 30 --language zh --seconds 2 --volume 0.05

Prints one line per clip that answered text, then `invented: A of N without guards, B of N with guards`.
"""
import argparse
import subprocess
import tempfile
from pathlib import Path

import whisper_direct  # bench/: puts the sidecar's modules on the path, as it runs them
from whisper_direct import SAMPLE_RATE, decode_audio, guards, model_store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=model_store.MODELS, default="base")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clips", type=int, default=30)
    p.add_argument("--language", default="zh", help="ISO-639-1 code, or 'auto' to let Whisper detect it")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--volume", type=float, default=0.05)
    args = p.parse_args()
    model, _, _ = whisper_direct.load(args.model, None, args.threads, "int8", 1)
    language = None if args.language == "auto" else args.language
    thresholds = guards.Thresholds()
    decode = whisper_direct.options(model, language, beam_size=1) | guards.decode_options(
        args.seconds, whisper_direct.PROMPT_TOKENS, thresholds)
    raw = guarded = 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "noise.wav"
        for i in range(args.clips):
            subprocess.run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(path),
                            "synth", str(args.seconds), "pinknoise", "vol", str(args.volume)], check=True)
            audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
            segments, info, _ = guards.decode(lambda options: model.transcribe(audio, **options), decode, thresholds)
            kept, _ = guards.apply(segments, thresholds, info.language)
            raw += any(s.text.strip() for s in segments)
            guarded += bool(kept)
            if any(s.text.strip() for s in segments):
                print(f"clip {i}: {[(s.text, round(s.no_speech_prob, 2), round(s.avg_logprob, 2), round(s.compression_ratio, 2)) for s in segments]}"
                      f" -> {'kept' if kept else 'dropped'}")
    print(f"invented: {raw} of {args.clips} without guards, {guarded} of {args.clips} with guards "
          f"(model {args.model}, language {args.language}, {args.seconds} s pink noise at vol {args.volume})")


if __name__ == "__main__":
    main()
