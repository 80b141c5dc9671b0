"""A client written only from the protocol (README, "Streaming protocol v1"), with the `websockets` library."""
import asyncio
import json

import pytest
import websockets

from conftest import LIBRIVOX, TOKEN, direct_decode, wav_pcm


async def stream_file(url: str, pcm: bytes, rate: int = 16000, frame_ms: int = 100, realtime: bool = True):
    """Streams PCM in frames at real-time pace, then {"type":"end"}; returns (events, close code)."""
    events = []
    async with websockets.connect(url, max_size=2**20) as ws:
        events.append(json.loads(await ws.recv()))
        step = rate * 2 * frame_ms // 1000

        async def send():
            for start in range(0, len(pcm), step):
                await ws.send(pcm[start:start + step])
                if realtime:
                    await asyncio.sleep(frame_ms / 1000)
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in ws:
            events.append(json.loads(message))
        await sender
        return events, ws.close_code


def finals_text(events) -> str:
    return " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])


@pytest.mark.slow
@pytest.mark.parametrize("source", ["flite", "librivox"])
def test_stream_matches_direct_decode(server, speech, source):
    path = speech("please turn off the lights in the kitchen") if source == "flite" else LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"
    events, close_code = asyncio.run(stream_file(server.url("/api/realtime-voice/stream", token=TOKEN), wav_pcm(path)))

    assert events[0]["type"] == "ready"
    assert events[0]["engine"] == "pocketsphinx" and events[0]["sample_rate"] == 16000 and events[0]["session_id"]
    types = [e["type"] for e in events]
    assert "partial" in types
    assert types.index("partial") < types.index("final")
    assert types[-1] == "completed" and events[-1]["session_id"] == events[0]["session_id"]
    assert close_code == 1000
    for final in (e for e in events if e["type"] == "final"):
        assert final["start_ms"] <= final["end_ms"]
        for word in final["words"]:
            assert word["text"] and not word["text"].startswith(("<", "[")) and "(" not in word["text"]
            assert 0 <= word["confidence"] <= 1
    # Word for word what the PocketSphinx C API gives on the same file, with no gateway in between.
    assert finals_text(events) == direct_decode(path)


@pytest.mark.slow
def test_partials_arrive_while_speaking(server, speech):
    """Live: the first partial comes long before the client has sent the whole recording."""
    path = speech("the quick brown fox jumps over the lazy dog and runs into the forest")
    pcm = wav_pcm(path)

    async def run():
        loop = asyncio.get_running_loop()
        async with websockets.connect(server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            start = loop.time()
            first_partial = None

            async def send():
                for offset in range(0, len(pcm), 3200):
                    await ws.send(pcm[offset:offset + 3200])
                    await asyncio.sleep(0.1)
                await ws.send(json.dumps({"type": "end"}))

            sender = asyncio.create_task(send())
            async for message in ws:
                if json.loads(message)["type"] == "partial" and first_partial is None:
                    first_partial = loop.time() - start
            await sender
            return first_partial, len(pcm) / 32000

    first_partial, duration = asyncio.run(run())
    assert first_partial is not None and first_partial < duration / 2


def test_wrong_token_is_refused_with_401_before_upgrade(server):
    async def run():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(server.url("/api/realtime-voice/stream", token="wrong")):
                pass
        return refused.value.response

    response = asyncio.run(run())
    assert response.status_code == 401
    body = json.loads(response.body)
    assert body["error"] == "unauthorized" and body["code"] == 401
    assert response.headers["X-Realtime-Voice-Instance"]


def test_token_header_as_the_mini_program_sends_it(server):
    async def run():
        async with websockets.connect(server.url("/api/realtime-voice/echo"), additional_headers={"token": TOKEN}) as ws:
            await ws.send("hello")
            return await ws.recv()

    assert asyncio.run(run()) == "hello"
