"""Engine whisper with two sidecar workers (`--whisper-workers 2`): both in /health, requests spread over them, and
one killed in the middle of a stream costs the stream no error and no words; the gateway starts it again."""
import asyncio
import json
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import TOKEN, Server, wav_pcm
from gateway_client import stream, stream_url
from wer import wer

SENTENCES = ["please turn off the lights in the kitchen", "what time does the train leave tomorrow",
             "the quick brown fox jumps over the lazy dog"]


def upstreams(server: Server) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
        return json.loads(response.read())["upstreams"]["whisper"]


def workers(server: Server) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "server.py"], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


@pytest.mark.slow
def test_two_workers_share_the_load_and_one_killed_mid_stream_costs_nothing(speech):
    server = Server("--token", TOKEN, "--whisper-workers", "2", "--whisper-model", "tiny.en", engine=None)
    try:
        # The engine is ready with one worker ready; the other may still be loading its model.
        deadline = time.monotonic() + 60
        while [u["state"] for u in upstreams(server)] != ["up", "up"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [u["state"] for u in upstreams(server)] == ["up", "up"] and len({u["url"] for u in upstreams(server)}) == 2
        assert len(workers(server)) == 2
        files = [speech(s) for s in SENTENCES]
        silence = b"\0\0" * 16000
        paragraph = silence.join(wav_pcm(path) for path in files) + silence

        async def run():
            task = asyncio.create_task(stream(stream_url(server, lang="en-US"), paragraph))
            await asyncio.sleep(len(wav_pcm(files[0])) / 32000 + 1.5)
            subprocess.run(["kill", "-KILL", str(workers(server)[0])], check=True)
            return await task

        events, code = asyncio.run(run())
        assert code == 1000 and not [e for e in events if e["type"] == "error"], events
        heard = " ".join(e["text"] for e in events if e["type"] == "final")
        assert wer(" ".join(SENTENCES), heard) <= 0.2, heard
        assert sum(u["succeeded"] for u in upstreams(server)) >= 2 and all(u["succeeded"] >= 1 for u in upstreams(server)), upstreams(server)
        # The dead worker is started again (on its port) and comes back into the pool.
        deadline = time.monotonic() + 60
        while not (len(workers(server)) == 2 and [u["state"] for u in upstreams(server)] == ["up", "up"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(workers(server)) == 2 and [u["state"] for u in upstreams(server)] == ["up", "up"], upstreams(server)
    finally:
        server.stop()
