"""Graceful shutdown (SIGTERM): streams get their finals, then `server_shutting_down` and close 1001; uploads in
flight finish; new connections are refused; the process exits 0 within the drain time."""
import asyncio
import json
import signal
import socket
import threading
import time
import urllib.request
import uuid

import pytest
import websockets

from conftest import LIBRIVOX, TOKEN, Server, wav_pcm


def exit_within(server: Server, seconds: float) -> tuple[int, float]:
    started = time.monotonic()
    code = server.process.wait(timeout=seconds)
    return code, time.monotonic() - started


@pytest.mark.slow
def test_stream_gets_its_finals_then_shutting_down_and_1001(speech):
    server = Server("--token", TOKEN, "--drain-timeout", "10")
    pcm = wav_pcm(speech("turn off the lights in the kitchen and close the window"))
    messages = []

    async def run():
        async with websockets.connect(server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            # Two thirds of the sentence at real-time pace, no end: the segment is still open at SIGTERM.
            for start in range(0, len(pcm) * 2 // 3 // 3200 * 3200, 3200):
                await ws.send(pcm[start:start + 3200])
                await asyncio.sleep(0.1)
            server.process.send_signal(signal.SIGTERM)
            try:
                async for message in ws:
                    messages.append(json.loads(message))
            except websockets.ConnectionClosed:
                pass
            return ws.close_code, ws.close_reason

    close_code, reason = asyncio.run(run())
    code, took = exit_within(server, 15)
    output = server.output()
    server.stop()
    types = [m["type"] for m in messages]
    assert "final" in types, messages
    assert types[-1] == "error" and messages[-1]["code"] == "server_shutting_down", messages
    assert types.index("final") < len(types) - 1
    assert messages[[i for i, t in enumerate(types) if t == "final"][-1]]["text"], "the open segment's final was flushed"
    assert (close_code, reason) == (1001, "server_shutting_down")
    assert code == 0, output
    assert took < 10
    assert "session.outcome=server_shutting_down" in output


@pytest.mark.parametrize("turn_detection", [{"type": "server_vad"}, None], ids=["server-vad", "manual"])
@pytest.mark.slow
def test_a_realtime_session_completes_its_open_turn_then_shutting_down_and_1001(speech, turn_detection):
    """/v1/realtime on SIGTERM: the open turn is committed and its item completes, then `error` and close 1001."""
    import base64
    import subprocess
    server = Server("--token", TOKEN, "--drain-timeout", "10")
    pcm16 = wav_pcm(speech("turn off the lights in the kitchen and close the window"))
    pcm = subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-", "-t", "raw", "-r", "24000", "-"],
                         input=pcm16, capture_output=True, check=True).stdout
    events = []

    async def run():
        url = f"ws://127.0.0.1:{server.port}/v1/realtime?intent=transcription"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "transcription", "audio": {"input": {
                "turn_detection": turn_detection}}}}))
            for start in range(0, len(pcm) * 2 // 3 // 4800 * 4800, 4800):
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[start:start + 4800]).decode()}))
                await asyncio.sleep(0.1)
            server.process.send_signal(signal.SIGTERM)
            try:
                async for message in ws:
                    events.append(json.loads(message))
            except websockets.ConnectionClosed:
                pass
            return ws.close_code, ws.close_reason

    close_code, reason = asyncio.run(run())
    code, took = exit_within(server, 15)
    output = server.output()
    server.stop()
    types = [e["type"] for e in events]
    completed = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert completed and completed[-1]["transcript"], events
    assert types[-1] == "error" and events[-1]["error"]["code"] == "server_shutting_down", events
    assert (close_code, reason) == (1001, "server_shutting_down") and code == 0 and took < 10, output
    assert "Realtime session ended" in output and "session.outcome=server_shutting_down" in output


@pytest.mark.slow
def test_upload_in_flight_finishes_and_new_connections_are_refused():
    server = Server("--token", TOKEN, "--drain-timeout", "20")
    recording = sorted(LIBRIVOX.glob("*.wav"))[0].read_bytes()
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n"
        f"Content-Type: audio/wav\r\n\r\n".encode() + recording + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = {}

    def upload():
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/realtime-voice/recognize", data=body, method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "token": TOKEN},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer["status"] = response.status
            answer["body"] = json.loads(response.read())

    thread = threading.Thread(target=upload)
    thread.start()
    time.sleep(0.3)  # the upload is in recognition (a ~5 s recording takes about a second)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    thread.join(30)
    code, _ = exit_within(server, 20)
    server.stop()
    assert answer.get("status") == 200, answer
    assert answer["body"]["data"]["text"], answer
    assert code == 0


def test_echo_closes_1001_at_once():
    server = Server("--token", TOKEN)

    async def run():
        async with websockets.connect(server.url("/api/realtime-voice/echo", token=TOKEN)) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code

    assert asyncio.run(run()) == 1001
    code, took = exit_within(server, 10)
    server.stop()
    assert code == 0 and took < 3


@pytest.mark.slow
def test_a_session_that_cannot_finish_is_closed_when_the_drain_time_is_up(speech):
    # An upstream that accepts connections and never answers: the final of the open segment never comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    upstream = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    server = Server("--token", TOKEN, "--drain-timeout", "2", "--openai-base-url", upstream, "--openai-timeout", "60")
    pcm = wav_pcm(speech("please call me back when you arrive at the station"))

    async def run():
        url = server.url("/api/realtime-voice/stream", token=TOKEN, engine="openai")
        async with websockets.connect(url) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            for start in range(0, len(pcm), 3200):
                await ws.send(pcm[start:start + 3200])
                await asyncio.sleep(0.02)
            server.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            messages = []
            try:
                async for message in ws:
                    messages.append(json.loads(message))
            except websockets.ConnectionClosed:
                pass
            return messages, ws.close_code, time.monotonic() - signalled

    try:
        messages, close_code, closed_after = asyncio.run(run())
        code, took = exit_within(server, 10)
    finally:
        server.stop()
        silent.close()
    assert messages and messages[-1]["code"] == "server_shutting_down", messages
    assert close_code == 1001
    assert 1.5 < closed_after < 4, closed_after
    assert code == 0
