"""/health/live and /health/ready, the probes for orchestrators, on a real server: readiness fails while the only
decoder is taken and no session may queue, comes back when it is free, and fails at once on SIGTERM (the listener
closes) while a stream still drains; liveness answers throughout until then."""
import asyncio
import json
import signal
import time
import urllib.error
import urllib.request

import websockets

from conftest import TOKEN, Server, wav_pcm


def probe(server: Server, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_ready_follows_capacity_and_fails_at_once_on_sigterm(speech):
    server = Server("--token", TOKEN, "--decoders", "1", "--queue-size", "0", "--drain-timeout", "10")
    pcm = wav_pcm(speech("turn off the lights in the kitchen and close the window"))
    try:
        status, body = probe(server, "/health/live")
        assert status == 200 and body["status"] == "alive" and body["version"], body
        assert probe(server, "/health/ready")[0] == 200
        observed = {}

        async def run():
            async with websockets.connect(server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"  # it holds the only decoder now
                observed["busy"] = await asyncio.to_thread(probe, server, "/health/ready")
                for start in range(0, len(pcm) // 2 // 3200 * 3200, 3200):
                    await ws.send(pcm[start:start + 3200])
                    await asyncio.sleep(0.05)
                server.process.send_signal(signal.SIGTERM)
                observed["draining"] = await asyncio.to_thread(
                    wait_for, lambda: probe_fails(server, "/health/ready"), 5)
                async for _ in ws:
                    pass

        asyncio.run(run())
        status, body = observed["busy"]
        assert status == 503 and body["status"] == "not_ready", body
        assert body["reason"] == "engine pocketsphinx has no room for another stream", body
        assert observed["draining"], "readiness still answered after SIGTERM"
        assert server.process.wait(timeout=15) == 0
    finally:
        server.stop()


def probe_fails(server: Server, path: str) -> bool:
    try:
        probe(server, path)
        return False
    except OSError:
        return True


def test_ready_comes_back_when_the_decoder_is_free():
    server = Server("--token", TOKEN, "--decoders", "1", "--queue-size", "0")
    try:
        async def hold():
            async with websockets.connect(server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
                return await asyncio.to_thread(probe, server, "/health/ready")

        held = asyncio.run(hold())
        assert held[0] == 503, held
        assert wait_for(lambda: probe(server, "/health/ready")[0] == 200), probe(server, "/health/ready")
        status, body = probe(server, "/health/ready")
        assert body == {"status": "ready", "engines": {"pocketsphinx": "ready"}}, body
    finally:
        server.stop()
