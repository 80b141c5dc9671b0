"""The mini-program module (clients/miniprogram) under Node's test runner, with a fake `wx` whose network is real:
against a live server, and behind a proxy that answers upgrades 404 (the fallback to upload)."""
import pytest
import json
import os
import subprocess

from conftest import ROOT, TOKEN, Server, direct_decode, wav_pcm
from fault_proxies import FaultProxy
from mandarin_speech import SENTENCES, cer, mandarin_clip

# 明天会不会下雨: a sentence base recognises well from espeak-ng's pinyin voice, streamed too (measured CER 0-0.2).
MANDARIN = SENTENCES[8]


@pytest.mark.slow
def test_miniprogram_client_streams_and_falls_back(speech, tmp_path):
    path = speech("please turn off the lights in the kitchen")
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(wav_pcm(path))
    mandarin = tmp_path / "mandarin.pcm"
    mandarin.write_bytes(wav_pcm(mandarin_clip(MANDARIN)))
    out = tmp_path / "mandarin-finals.json"
    server = Server("--token", TOKEN, "--decoders", "2")
    whisper = Server("--token", TOKEN, engine=None)
    try:
        with FaultProxy("404-upgrade", server.port) as proxy:
            env = {
                **os.environ, "NODE_PATH": "/usr/share/nodejs", "SERVER_URL": f"http://127.0.0.1:{server.port}", "BROKEN_URL": proxy.url,
                "TOKEN": TOKEN, "SPEECH_PCM": str(pcm), "SPEECH_SECONDS": str(len(pcm.read_bytes()) / 32000),
                "EXPECTED_TEXT": direct_decode(path),
                "MANDARIN_URL": f"http://127.0.0.1:{whisper.port}", "MANDARIN_PCM": str(mandarin),
                "MANDARIN_SECONDS": str(len(mandarin.read_bytes()) / 32000), "MANDARIN_OUT": str(out),
            }
            result = subprocess.run(["node", "--test", str(ROOT / "clients" / "miniprogram" / "test" / "realtime-voice.test.mjs")], env=env, capture_output=True, text=True, timeout=180)
    finally:
        server.stop()
        whisper.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 6" in result.stdout, result.stdout
    heard = "".join(json.loads(out.read_text()))
    assert cer(MANDARIN, heard) <= 0.5, heard
