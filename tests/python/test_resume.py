"""Resumable streams on protocol v1: a connection that drops (no close frame) leaves its session waiting, engine state
kept, for --resume-window; the client reconnects with resume_token and last_seq, gets `resumed` and the results it
missed, and sends its audio on from `received_ms`. Real flite speech on PocketSphinx; the cuts are made by aborting
the client's TCP connection, as a phone that loses its network does."""
import asyncio
import json
import secrets
import signal
import time

import pytest
import websockets

from conftest import TOKEN, Server, wav_pcm
from fault_proxies import FaultProxy
from gateway_client import check_results, cut_session, metric, stream, stream_url
from wer import wer

BYTES_PER_MS = 32
SENTENCES = ["the quick brown fox jumps over the lazy dog", "please turn off the lights in the kitchen",
             "we will meet at the station at nine tomorrow"]


@pytest.fixture(scope="module")
def paragraph(speech, tmp_path_factory):
    """Three sentences with 1 s pauses: 16 kHz PCM."""
    silence = b"\0\0" * 16000
    return silence[: len(silence) // 2] + silence.join(wav_pcm(speech(s)) for s in SENTENCES) + silence


@pytest.fixture(scope="module")
def gateway():
    instance = Server("--token", TOKEN, "--token", "other-caller-token")
    yield instance
    instance.stop()


def finals_text(events) -> str:
    return " ".join(e["text"] for e in sorted((e for e in events if e["type"] == "final"), key=lambda e: e["segment"]) if e["text"])


def test_ready_carries_a_resume_token_and_the_instance_and_results_are_numbered(gateway, paragraph):
    events, code = asyncio.run(stream(stream_url(gateway), paragraph, realtime=False))
    ready = events[0]
    assert code == 1000 and ready["type"] == "ready" and len(ready["resume_token"]) >= 40 and ready["instance"], ready
    results = [e for e in events if e["type"] in ("partial", "final")]
    assert [e["seq"] for e in results] == list(range(1, len(results) + 1)), results
    check_results(events)


@pytest.mark.parametrize("cuts", [[0.4], [0.25, 0.5, 0.75]], ids=["one cut", "three cuts"])
def test_a_dropped_connection_resumes_with_nothing_lost_or_repeated(gateway, paragraph, cuts):
    whole, code = asyncio.run(stream(stream_url(gateway), paragraph, realtime=False))
    assert code == 1000
    received, resumes, code = asyncio.run(cut_session(stream_url(gateway), paragraph, cuts))
    assert code == 1000 and len(resumes) == len(cuts), resumes
    assert received[-1]["type"] == "completed" and received[-1]["duration_ms"] == len(paragraph) // BYTES_PER_MS, received[-1]
    check_results(received)
    # The same words as the uninterrupted session (PocketSphinx's pooled decoders differ slightly between sessions).
    assert wer(finals_text(whole), finals_text(received)) <= 0.15, (finals_text(whole), finals_text(received))
    assert wer(" ".join(SENTENCES), finals_text(received)) <= 0.35, finals_text(received)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_a_proxy_that_drops_the_connection_three_times_loses_nothing(gateway, paragraph, reset):
    """A relay between client and server drops both sides mid-sentence, with no close frame either way."""
    with FaultProxy("pass", upstream_port=gateway.port) as proxy:
        url = proxy.ws_url("/api/realtime-voice/stream", token=TOKEN)
        received, resumes, code = asyncio.run(cut_session(url, paragraph, [0.25, 0.5, 0.75], cut=lambda: proxy.cut(reset=reset)))
    assert code == 1000 and len(resumes) == 3 and received[-1]["type"] == "completed", received[-3:]
    check_results(received)
    assert wer(" ".join(SENTENCES), finals_text(received)) <= 0.35, finals_text(received)


async def drop_after(url: str, audio: bytes) -> dict:
    """Starts a session, sends `audio`, and aborts the TCP connection (no close frame); returns its `ready`."""
    ws = await websockets.connect(url)
    ready = json.loads(await ws.recv())
    await ws.send(audio)
    await asyncio.sleep(0.3)
    ws.transport.abort()
    return ready


async def refused(url: str) -> tuple[dict, int]:
    async with websockets.connect(url) as ws:
        message = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        return message, ws.close_code


def test_a_wrong_or_foreign_token_is_refused_and_a_new_session_starts_at_once(gateway, paragraph):
    message, code = asyncio.run(refused(stream_url(gateway) + f"&resume_token={secrets.token_urlsafe(32)}&last_seq=0"))
    assert message["code"] == "resume_failed" and message["reason"] == "unknown" and code == 1008, message

    async def foreign():
        ready = await drop_after(stream_url(gateway), paragraph[:32000])
        other = gateway.url("/api/realtime-voice/stream", token="other-caller-token", resume_token=ready["resume_token"])
        return await refused(other)

    message, code = asyncio.run(foreign())
    assert message["code"] == "resume_failed" and message["reason"] == "foreign" and code == 1008, message
    events, code = asyncio.run(stream(stream_url(gateway), paragraph[:64000], realtime=False))
    assert code == 1000 and events[0]["type"] == "ready" and events[-1]["type"] == "completed"


def test_a_client_that_closes_normally_ends_its_session(gateway, paragraph):
    async def run():
        async with websockets.connect(stream_url(gateway)) as ws:
            ready = json.loads(await ws.recv())
            await ws.send(paragraph[:32000])
        await asyncio.sleep(0.3)  # the close handshake is done before the server has let the session go
        return await refused(stream_url(gateway) + f"&resume_token={ready['resume_token']}")

    message, code = asyncio.run(run())
    assert message["reason"] in ("unknown", "ended") and code == 1008, message


def test_an_unresumed_session_ends_with_its_window_and_detached_ones_are_counted(paragraph):
    server = Server("--token", TOKEN, "--resume-window", "1.5", "--decoders", "1")
    try:
        ready = asyncio.run(drop_after(stream_url(server), paragraph[:32000]))
        time.sleep(0.3)
        assert metric(server, "realtime_voice_detached_sessions") == 1
        time.sleep(2)
        assert metric(server, "realtime_voice_detached_sessions") == 0
        message, code = asyncio.run(refused(stream_url(server) + f"&resume_token={ready['resume_token']}"))
        assert message["reason"] == "unknown" and code == 1008, message
        assert metric(server, "realtime_voice_resumes_total") >= 1
    finally:
        server.stop()


def test_a_new_session_takes_the_decoder_of_a_detached_one(paragraph):
    """One decoder, held by a detached session: a new client gets it at once instead of waiting for the window."""
    server = Server("--token", TOKEN, "--resume-window", "60", "--decoders", "1", "--queue-timeout", "20")
    try:
        async def run():
            dropped = await drop_after(stream_url(server), paragraph[:32000])
            await asyncio.sleep(0.3)
            started = time.monotonic()
            events, code = await stream(stream_url(server), paragraph[:64000], realtime=False)
            return dropped, events, code, time.monotonic() - started

        dropped, events, code, seconds = asyncio.run(run())
        assert code == 1000 and events[0]["type"] == "ready" and seconds < 5, (events, seconds)
        message, code = asyncio.run(refused(stream_url(server) + f"&resume_token={dropped['resume_token']}"))
        assert message["reason"] == "unknown" and code == 1008, message
    finally:
        server.stop()


def test_sigterm_ends_a_detached_session_and_the_server_exits(paragraph):
    server = Server("--token", TOKEN, "--resume-window", "60")
    try:
        asyncio.run(drop_after(stream_url(server), paragraph[:64000]))
        time.sleep(0.3)
        assert metric(server, "realtime_voice_detached_sessions") == 1
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=20)
        assert time.monotonic() - started < 10, server.output()
        assert "Stream session ended" in server.output() and "server_shutting_down" in server.output(), server.output()
    finally:
        server.stop()
