#!/usr/bin/env python3
"""Upload benchmark, called by upload.sh: answer time of POST /api/realtime-voice/recognize for an MP3 against
the time the PocketSphinx C API alone takes to decode the same audio, run in turns so that drift hits both."""
import argparse
import http.client
import json
import socket
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from gateway_process import BIN, gateway_process


def engine_alone(decoded: Path) -> tuple[float, str]:
    """Wall milliseconds the C API takes to decode the file (model load excluded), and its text."""
    out = subprocess.run([str(BIN / "pocketsphinx-direct"), str(decoded)], check=True, capture_output=True, text=True).stdout
    values = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    text = next(line.split("\t", 2)[2] for line in out.splitlines() if line.startswith("text\t"))
    return float(values["wall_seconds"]) * 1000, text


def upload(port: int, mp3: bytes) -> tuple[float, dict]:
    """Milliseconds from the first byte sent to the last byte of the answer, and the answer."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="recording.mp3"\r\n'
            f"Content-Type: audio/mpeg\r\n\r\n").encode() + mp3 + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.connect()
    start = time.perf_counter()
    connection.request("POST", "/api/realtime-voice/recognize", body=body,
                       headers={"token": "bench", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    connection.close()
    assert response.status == 200, answer
    return elapsed, json.loads(answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mp3", type=Path, required=True)
    parser.add_argument("--decoded", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = args.out.with_suffix(".server.log")
    with gateway_process(port, log, "--decoders", "1"):
        mp3 = args.mp3.read_bytes()
        for _ in range(2):
            upload(port, mp3)  # warm-up: first ffmpeg start, first allocation of the decoder's buffers
            engine_alone(args.decoded)
        answers, engines = [], []
        for _ in range(args.repeat):
            engine_ms, engine_text = engine_alone(args.decoded)
            answer_ms, answer = upload(port, mp3)
            engines.append(engine_ms)
            answers.append(answer_ms)

    duration = answer["data"]["duration_ms"]
    overheads = [a - e for a, e in zip(answers, engines)]
    result = {
        "audio_ms": duration, "mp3_bytes": len(mp3), "repeat": args.repeat,
        "answer_ms": answers, "engine_ms": engines,
        "answer_ms_median": statistics.median(answers), "engine_ms_median": statistics.median(engines),
        "overhead_ms_median": statistics.median(overheads), "overhead_ms_p90": sorted(overheads)[int(0.9 * (len(overheads) - 1))],
        "ratio_median": statistics.median(a / e for a, e in zip(answers, engines)),
        "same_text": answer["data"]["text"] == engine_text,
        "text": answer["data"]["text"],
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"10 s MP3 ({len(mp3)} bytes, {duration} ms of audio) uploaded {args.repeat} times, each after the engine alone decoded it:")
    print(f"  engine alone (C API, decode only)  median {result['engine_ms_median']:.0f} ms")
    print(f"  upload answered                    median {result['answer_ms_median']:.0f} ms")
    print(f"  overhead                           median {result['overhead_ms_median']:.0f} ms, p90 {result['overhead_ms_p90']:.0f} ms (target <= 150 ms)")
    print(f"  ratio answer / engine              median {result['ratio_median']:.3f}")
    print(f"  same text as the engine alone: {result['same_text']} ({result['text']!r})")


if __name__ == "__main__":
    main()
