"""`realtime-voice transcribe FILE…`: local engine and --server, output formats, exit codes, progress bar."""
import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BINARY, TOKEN, direct_decode

SENTENCE = "please turn off the lights in the kitchen"


def transcribe(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), "transcribe", "--no-progress", *map(str, args)], capture_output=True, text=True, timeout=120, **kwargs)


def encode(wav: Path, suffix: str, *codec: str) -> Path:
    out = wav.with_name(f"{wav.stem}-cli.{suffix}")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), *codec, str(out)], check=True)
    return out


def cue_times(subtitles: str, separator: str) -> list[tuple[int, int]]:
    cue = re.compile(rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d) --> (\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)")
    times = []
    for match in cue.finditer(subtitles):
        values = [int(v) for v in match.groups()]
        times.append((sum(v * m for v, m in zip(values[:4], (3600000, 60000, 1000, 1))), sum(v * m for v, m in zip(values[4:], (3600000, 60000, 1000, 1)))))
    return times


@pytest.mark.slow
def test_local_file_gives_the_engine_text_in_every_format(speech):
    wav = speech(SENTENCE)
    mp3 = encode(wav, "mp3", "-b:a", "64k")
    text = transcribe(wav)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == direct_decode(wav)
    assert transcribe(mp3).stdout.strip() == text.stdout.strip()

    result = transcribe("--format", "json", mp3)
    line = json.loads(result.stdout)
    assert line["file"] == str(mp3) and line["text"] == text.stdout.strip() and line["engine"] == "pocketsphinx"
    assert 2000 < line["duration_ms"] < 4000
    assert [w["text"] for s in line["segments"] for w in s["words"]] == line["text"].split()

    srt = transcribe("--format", "srt", wav).stdout
    assert srt.splitlines()[0] == "1"
    vtt = transcribe("--format", "vtt", wav).stdout
    assert vtt.startswith("WEBVTT\n\n")
    for subtitles, separator in [(srt, ","), (vtt, ".")]:
        times = cue_times(subtitles, separator)
        assert times and all(0 <= start < end <= 4000 for start, end in times), subtitles
        assert text.stdout.split()[0] in subtitles


@pytest.mark.slow
def test_server_mode_uses_the_upload_endpoint_and_agrees_with_local(server, speech):
    wav = speech(SENTENCE)
    m4a = encode(wav, "m4a", "-c:a", "aac", "-b:a", "64k")
    local = transcribe("--format", "json", m4a)
    remote = transcribe("--server", f"http://127.0.0.1:{server.port}", "--token", TOKEN, "--format", "json", m4a)
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(local.stdout)
    assert "http.method=POST http.path=/api/realtime-voice/recognize http.status=200" in server.output()
    # The token may come from the environment instead; a wrong one is a usage error.
    env = {**os.environ, "REALTIME_VOICE_SERVER": f"http://127.0.0.1:{server.port}", "REALTIME_VOICE_TOKEN": TOKEN}
    assert transcribe(m4a, env=env).stdout == transcribe(m4a).stdout
    refused = transcribe("--server", f"http://127.0.0.1:{server.port}", "--token", "wrong", m4a)
    assert refused.returncode == 2 and "unauthorized" in refused.stderr and refused.stdout == ""


def test_exit_codes(speech, tmp_path):
    wav = speech("go forward ten meters")
    mp3 = encode(wav, "mp3", "-b:a", "64k").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3[: len(mp3) // 2])
    noise = tmp_path / "noise.bin"
    noise.write_bytes(os.urandom(4096))

    missing = transcribe(wav, tmp_path / "absent.wav")
    assert missing.returncode == 2 and "absent.wav" in missing.stderr and missing.stdout == ""  # nothing recognised
    assert transcribe().returncode == 2
    assert transcribe("--format", "srt", wav, wav).returncode == 2  # subtitles of two files need --output-dir
    assert transcribe("--format", "yaml", wav).returncode == 2
    assert transcribe("--engine", "tencent", wav).returncode == 2

    failed = transcribe(cut, wav, noise)
    assert failed.returncode == 1
    assert "cut short" in failed.stderr and "undecodable_audio" in failed.stderr and "unsupported_format" in failed.stderr
    assert failed.stdout.strip() == f"{wav}: {direct_decode(wav)}"  # the good file is still done


def test_output_dir_writes_one_file_each(speech, tmp_path):
    first, second = speech("go forward ten meters"), speech("turn left at the corner")
    result = transcribe("--format", "vtt", "--output-dir", tmp_path / "out", first, second)
    assert result.returncode == 0 and result.stdout == ""
    for path in (first, second):
        written = (tmp_path / "out" / f"{path.stem}.vtt").read_text()
        assert written.startswith("WEBVTT") and cue_times(written, ".")


@pytest.mark.slow
def test_progress_bar_only_on_a_terminal(speech, tmp_path):
    parts = [speech(s) for s in ["go forward ten meters", "turn left at the corner", "please turn off the lights in the kitchen"]]
    long_wav = tmp_path / "long.wav"
    subprocess.run(["sox", *map(str, parts), str(long_wav)], check=True)  # ~8 s

    controller, terminal = pty.openpty()
    process = subprocess.Popen([str(BINARY), "transcribe", str(long_wav)], stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    assert b"100%" in drawn and b"[###" in drawn, drawn
    assert b"%" not in stdout  # the transcript stays clean

    piped = subprocess.run([str(BINARY), "transcribe", str(long_wav)], capture_output=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == b""
