"""Engine openai over several transcription servers (`--openai-base-url` twice): two real Whisper sidecars. Requests
spread over both; a sidecar killed in the middle of a stream costs the client no error and no words (the segment is
retried on the other); the dead one shows as down in /health and /metrics and comes back once it answers again."""
import asyncio
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import TOKEN, Server, WhisperSidecar, wav_pcm
from gateway_client import metric, stream, stream_url, upload
from wer import wer

SENTENCES = ["please turn off the lights in the kitchen", "what time does the train leave tomorrow",
             "the quick brown fox jumps over the lazy dog"]


def health(server: Server) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
        return json.loads(response.read())


def states(server: Server) -> dict:
    return {u["url"]: u["state"] for u in health(server)["upstreams"]["openai"]}


@pytest.fixture(scope="module")
def backends():
    first, second = WhisperSidecar("--model", "tiny.en"), WhisperSidecar("--model", "tiny.en")
    gateway = Server("--token", TOKEN, "--engine", "openai", "--openai-base-url", first.base_url, "--openai-base-url", second.base_url,
                     "--openai-probe-interval", "0.5", "--openai-max-requests", "4")
    yield gateway, [first, second]
    gateway.stop()
    for sidecar in (first, second):
        sidecar.stop()


@pytest.mark.slow
def test_requests_spread_over_both_servers_and_a_killed_one_costs_a_stream_nothing(backends, speech):
    gateway, sidecars = backends
    files = [speech(s) for s in SENTENCES]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda path: upload(gateway, path, lang="en-US"), files + files[:1]))
    assert all(status == 200 for status, _ in answers), answers
    assert all(metric(gateway, "realtime_voice_upstream_requests", upstream=s.base_url, outcome="succeeded") >= 1 for s in sidecars)
    assert states(gateway) == {s.base_url: "up" for s in sidecars}

    # A stream of three sentences; the first sidecar is killed during the second.
    silence = b"\0\0" * 16000
    paragraph = silence.join(wav_pcm(path) for path in files) + silence

    async def run():
        task = asyncio.create_task(stream(stream_url(gateway, lang="en-US"), paragraph))
        await asyncio.sleep(len(wav_pcm(files[0])) / 32000 + 1.5)
        sidecars[0].process.kill()
        return await task

    events, code = asyncio.run(run())
    assert code == 1000 and not [e for e in events if e["type"] == "error"], events
    heard = " ".join(e["text"] for e in events if e["type"] == "final")
    assert wer(" ".join(SENTENCES), heard) <= 0.2, heard
    deadline = time.monotonic() + 10
    while states(gateway)[sidecars[0].base_url] != "down" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert states(gateway) == {sidecars[0].base_url: "down", sidecars[1].base_url: "up"}
    assert metric(gateway, "realtime_voice_upstream_up", engine="openai", upstream=sidecars[0].base_url) == 0

    # While it is down every request goes to the other, without an error.
    before = metric(gateway, "realtime_voice_upstream_requests", upstream=sidecars[1].base_url, outcome="succeeded")
    status, body = upload(gateway, files[2], lang="en-US")
    assert status == 200 and wer(SENTENCES[2], body["data"]["text"]) <= 0.2, body
    assert metric(gateway, "realtime_voice_upstream_requests", upstream=sidecars[1].base_url, outcome="succeeded") == before + 1

    # Back on the same port: the probe brings it back into the pool.
    sidecars[0].stop()
    sidecars[0] = WhisperSidecar("--model", "tiny.en", port=sidecars[0].port)
    deadline = time.monotonic() + 10
    while states(gateway)[sidecars[0].base_url] != "up" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert states(gateway)[sidecars[0].base_url] == "up"


def test_the_base_urls_are_checked_at_start():
    from conftest import BINARY
    import subprocess
    result = subprocess.run([str(BINARY), "serve", "--engine", "openai", "--openai-base-url", "http://127.0.0.1:9/v1",
                             "--openai-base-url", "http://127.0.0.1:9/v1"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "must differ" in result.stderr, result.stderr
