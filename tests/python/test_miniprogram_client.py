"""The mini-program module (clients/miniprogram) under Node's test runner, with a fake `wx` whose network is real:
against a live server, and behind a proxy that answers upgrades 404 (the fallback to upload)."""
import os
import subprocess

from conftest import ROOT, TOKEN, Server, direct_decode, wav_pcm
from fault_proxies import FaultProxy


def test_miniprogram_client_streams_and_falls_back(speech, tmp_path):
    path = speech("please turn off the lights in the kitchen")
    pcm = tmp_path / "speech.pcm"
    pcm.write_bytes(wav_pcm(path))
    server = Server("--token", TOKEN, "--decoders", "2")
    try:
        with FaultProxy("404-upgrade", server.port) as proxy:
            env = {
                **os.environ, "NODE_PATH": "/usr/share/nodejs", "SERVER_URL": f"http://127.0.0.1:{server.port}", "BROKEN_URL": proxy.url,
                "TOKEN": TOKEN, "SPEECH_PCM": str(pcm), "SPEECH_SECONDS": str(len(pcm.read_bytes()) / 32000),
                "EXPECTED_TEXT": direct_decode(path),
            }
            result = subprocess.run(["node", "--test", str(ROOT / "clients" / "miniprogram" / "test" / "realtime-voice.test.mjs")], env=env, capture_output=True, text=True, timeout=180)
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 5" in result.stdout, result.stdout
