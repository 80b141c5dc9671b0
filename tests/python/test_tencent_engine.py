"""The gateway's `tencent` engine against the local stand-in of Tencent's wire protocol (tencent_standin.py):
signatures, pacing, result mapping, error mapping, retries, and secrets that never reach the client."""
import asyncio
import contextlib
import json
import os
import subprocess
import time

import pytest
import websockets

from conftest import BINARY, TOKEN, Server, wav_pcm
from tencent_standin import DEFAULT_APPID, DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, StandIn


@pytest.fixture(scope="module")
def standin():
    instance = StandIn().start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def gateway(standin):
    env = {
        "TENCENTCLOUD_SECRET_ID": DEFAULT_SECRET_ID, "TENCENTCLOUD_SECRET_KEY": DEFAULT_SECRET_KEY, "TENCENTCLOUD_APPID": DEFAULT_APPID,
        "TENCENT_ASR_WS_URL": f"{standin.ws_url}/asr/v2", "TENCENT_ASR_API_URL": standin.api_url,
    }
    server = Server("--token", TOKEN, "--idle-timeout", "40", "--decoders", "1", "--max-concurrent-uploads", "48", "--max-upload-seconds", "120", "--max-upload-bytes", str(8 << 20), env=env)
    yield server
    server.stop()


@pytest.fixture
def clean(standin):
    standin.reset()
    return standin


@pytest.fixture(scope="module")
def two_sentences(speech):
    """Two sentences 1.5 s apart, 16 kHz mono PCM."""
    first, second = speech("please turn off the lights in the kitchen"), speech("what is the weather like in boston today")
    return wav_pcm(first) + bytes(2 * 16000 * 3 // 2) + wav_pcm(second)


async def stream(url: str, pcm: bytes, frame_ms: int = 100, realtime: bool = True, pause: tuple[int, float] | None = None):
    """Streams PCM (optionally pausing `pause[1]` s after byte `pause[0]`), then end; returns (events, close code, headers)."""
    events = []
    async with websockets.connect(url, max_size=2**20) as ws:
        headers = dict(ws.response.headers)
        step = 16000 * 2 * frame_ms // 1000

        async def send():
            for start in range(0, len(pcm), step):
                if pause and start <= pause[0] < start + step:
                    await asyncio.sleep(pause[1])
                await ws.send(pcm[start:start + step])
                if realtime:
                    await asyncio.sleep(frame_ms / 1000)
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                events.append(json.loads(message))
        except websockets.ConnectionClosedError:
            pass  # an error close (1011, 1013) ends the iteration with an exception
        finally:
            sender.cancel()
        return events, ws.close_code, headers


def url(gateway, **query) -> str:
    return gateway.url("/api/realtime-voice/stream", token=TOKEN, engine="tencent", lang="zh-CN", **query)


@pytest.mark.slow
def test_live_stream_maps_results_and_is_signed_and_paced(gateway, clean, two_sentences):
    events, close_code, headers = asyncio.run(stream(url(gateway, hotwords="腾讯云,语音|5"), two_sentences))
    types = [e["type"] for e in events]
    assert types[0] == "ready" and events[0]["engine"] == "tencent", events
    assert types[-1] == "completed" and close_code == 1000, events
    finals = [e for e in events if e["type"] == "final"]
    assert [f["segment"] for f in finals] == [0, 1], finals
    assert types.index("partial") < types.index("final")
    # The stand-in's VAD found the two sentences where flite put them: the first ends before the 1.5 s gap does.
    assert finals[0]["start_ms"] < 500 and 2000 < finals[0]["end_ms"] < finals[1]["start_ms"] < finals[1]["end_ms"]
    assert finals[0]["text"].startswith("第1句") and finals[0]["words"], finals[0]
    session = clean.wait_for_sessions(1)[0]
    assert session["end"] == "final" and session["handshake_code"] == 0, session
    params = session["params"]
    assert params["voice_format"] == "1" and params["needvad"] == "1" and params["engine_model_type"] == "16k_zh"
    assert params["hotword_list"] == "腾讯云|10,语音|5"  # an entry without a weight gets 10
    assert session["frame_bytes_max"] == 1280 and session["max_rate"] <= 2.0, session
    # Nothing of the key pair reached the client.
    seen = json.dumps(events, ensure_ascii=False) + json.dumps(headers)
    assert DEFAULT_SECRET_ID not in seen and DEFAULT_SECRET_KEY not in seen


@pytest.mark.slow
def test_a_10_s_burst_is_paced_below_tencents_limit(gateway, clean, speech):
    pcm = b"".join(wav_pcm(speech(s)) for s in ["go forward ten meters", "turn left at the corner", "please close the window", "what time is it now"])
    pcm = (pcm * 2)[: 10 * 32000]
    started = time.monotonic()
    events, close_code, _ = asyncio.run(stream(url(gateway), pcm, realtime=False))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    session = clean.wait_for_sessions(1)[0]
    assert session["end"] == "final" and session["error_code"] is None
    assert session["max_rate"] <= 2.0 and session["audio_ms"] == 10_000, session
    assert time.monotonic() - started > 5  # paced, not sent at once


@pytest.mark.slow
def test_a_long_client_pause_never_reaches_tencents_idle_limit(gateway, clean, speech):
    first, second = wav_pcm(speech("go forward ten meters")), wav_pcm(speech("turn left at the corner"))
    events, close_code, _ = asyncio.run(stream(url(gateway), first + second, pause=(len(first), 17)))
    assert events[-1]["type"] == "completed", events[-3:]
    session = clean.wait_for_sessions(1)[0]
    assert session["end"] == "final" and session["max_gap_ms"] < 6000, session
    finals = [e for e in events if e["type"] == "final"]
    # Times are the client's: the silence sent upstream during the pause is taken out again.
    client_ms = (len(first) + len(second)) // 32
    assert finals[-1]["end_ms"] <= client_ms + 100, (finals, client_ms)


@pytest.mark.slow
def test_a_detached_session_keeps_its_upstream_alive_until_the_client_resumes(gateway, clean, speech):
    """The connection drops after the first sentence and the client is gone for 17 s, longer than Tencent's 15 s
    without audio: the gateway's keep-alive silence holds the upstream session, and the resume finishes it."""
    first = wav_pcm(speech("go forward ten meters")) + bytes(2 * 16000 * 3 // 2)  # a pause: the sentence's final
    second = wav_pcm(speech("turn left at the corner"))

    async def run():
        ws = await websockets.connect(url(gateway))
        ready = json.loads(await ws.recv())
        for i in range(0, len(first), 3200):
            await ws.send(first[i:i + 3200])
        await asyncio.sleep(3)
        seen = []
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
        ws.transport.abort()
        await asyncio.sleep(17)
        last_seq = max((m["seq"] for m in seen if "seq" in m), default=0)
        ws = await websockets.connect(url(gateway) + f"&resume_token={ready['resume_token']}&last_seq={last_seq}")
        resumed = json.loads(await ws.recv())
        assert resumed["type"] == "resumed" and resumed["received_ms"] == len(first) // 32, resumed
        for i in range(0, len(second), 3200):
            await ws.send(second[i:i + 3200])
        await ws.send(json.dumps({"type": "end"}))
        after = [json.loads(m) async for m in ws]
        return seen, after, ws.close_code

    seen, after, code = asyncio.run(run())
    assert code == 1000 and after[-1]["type"] == "completed", after
    finals = [m for m in seen + after if m["type"] == "final"]
    assert [f["segment"] for f in finals] == [0, 1], finals
    sessions = clean.wait_for_sessions(1)
    assert len(sessions) == 1 and sessions[0]["end"] == "final" and sessions[0]["max_gap_ms"] < 6000, sessions


TENCENT_ERRORS = [(code, "upstream_rejected", 1011) for code in (4001, 4002, 4003, 4004, 4005, 4007, 6001)] + [(4006, "busy", 1013)]


@pytest.mark.parametrize("when", ["handshake", "mid-stream"])
@pytest.mark.parametrize("code, error, close", TENCENT_ERRORS)
def test_tencent_errors_map(gateway, clean, speech, code, error, close, when):
    clean.inject({"handshake_error": code} if when == "handshake" else {"error": code, "after_ms": 400})
    events, close_code, _ = asyncio.run(stream(url(gateway), wav_pcm(speech("go forward ten meters"))))
    assert events[-1]["type"] == "error" and events[-1]["code"] == error, events
    assert close_code == close
    if error == "upstream_rejected":
        assert str(code) in events[-1]["message"]
    assert DEFAULT_SECRET_KEY not in json.dumps(events) and DEFAULT_SECRET_ID not in json.dumps(events)


@pytest.mark.slow
def test_overload_before_any_result_is_retried_with_a_new_voice_id(gateway, clean, two_sentences):
    clean.inject({"error": 5000, "after_ms": 200})
    events, close_code, _ = asyncio.run(stream(url(gateway), two_sentences))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    sessions = clean.wait_for_sessions(2)
    assert len(sessions) == 2 and sessions[0]["error_code"] == 5000 and sessions[1]["end"] == "final"
    assert sessions[0]["voice_id"] != sessions[1]["voice_id"]
    # The retry heard the whole stream again.
    assert sessions[1]["audio_ms"] == len(two_sentences) // 32


@pytest.mark.slow
@pytest.mark.parametrize("code", [5000, 5001, 5002])
def test_overload_after_a_result_is_an_error(gateway, clean, two_sentences, code):
    clean.inject({"error": code, "after_ms": 4500})
    events, close_code, _ = asyncio.run(stream(url(gateway), two_sentences))
    assert any(e["type"] == "final" for e in events)
    assert events[-1]["type"] == "error" and events[-1]["code"] == "upstream_failed" and close_code == 1011, events[-2:]


def test_upstream_dropping_mid_stream_ends_the_session_within_a_second(gateway, clean, two_sentences):
    clean.inject({"disconnect_after_ms": 1500})
    seen = []

    async def run():
        async with websockets.connect(url(gateway)) as ws:
            assert json.loads(await ws.recv())["type"] == "ready"
            error_at = None

            async def receive():
                # Every message as it arrives (partials come first), the error's arrival time recorded.
                nonlocal error_at
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        seen.append(message["type"])  # for the failure message
                        if message["type"] == "error" and error_at is None:
                            error_at = (time.time(), message)
                except websockets.ConnectionClosed:
                    pass

            receiver = asyncio.create_task(receive())
            try:
                for start in range(0, len(two_sentences), 3200):
                    if receiver.done():
                        break
                    await ws.send(two_sentences[start:start + 3200])
                    await asyncio.sleep(0.1)
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(receiver, 5)
            await asyncio.wait_for(ws.wait_closed(), 5)
            drop_at = clean.wait_for_sessions(1)[0]["ended_at"]
            return error_at, drop_at, ws

    error_at, drop_at, ws = asyncio.run(run())
    assert error_at is not None and error_at[1]["code"] == "upstream_failed", (error_at, ws.close_code, ws.close_reason, seen)
    assert error_at[0] - drop_at < 1.0
    assert ws.close_code == 1011


def test_serve_refuses_tencent_without_credentials_naming_the_variable():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env["TENCENTCLOUD_SECRET_ID"] = "x"
    result = subprocess.run([str(BINARY), "serve", "--engine", "tencent", "--port", "0"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "TENCENTCLOUD_SECRET_KEY" in result.stderr and "TENCENTCLOUD_APPID" in result.stderr
    assert "TENCENTCLOUD_SECRET_ID," not in result.stderr  # the one that is set is not named


def upload(gateway, audio: bytes, **fields) -> tuple[int, dict]:
    import urllib.error
    import urllib.request
    import uuid
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    body = b"".join(parts + [f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n\r\n'.encode(), audio, f"\r\n--{boundary}--\r\n".encode()])
    request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/api/realtime-voice/recognize", data=body, method="POST",
                                     headers={"token": TOKEN, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_upload_goes_to_sentence_recognition_signed_with_tc3(gateway, clean, speech):
    status, answer = upload(gateway, speech("go forward ten meters").read_bytes(), engine="tencent", lang="zh-CN", hotwords="腾讯云|10")
    assert status == 200 and answer["code"] == 0 and answer["data"]["engine"] == "tencent", answer
    assert answer["data"]["text"].startswith("第1句") and answer["data"]["segments"][0]["end_ms"] > 500
    requests = clean.api_requests()
    assert len(requests) == 1 and requests[0].get("error") is None, requests
    assert requests[0]["body"]["HotwordList"] == "腾讯云|10", requests[0]["body"]
    assert "hotwords_ignored" not in answer["data"]  # Tencent uses every hotword
    assert clean.wait_for_sessions(0) == []  # no real-time session was used
    seen = json.dumps(answer, ensure_ascii=False)
    assert DEFAULT_SECRET_ID not in seen and DEFAULT_SECRET_KEY not in seen


def test_a_recording_over_60_s_is_split_between_words(gateway, clean, speech):
    gateway_limit_pcm = b"".join(wav_pcm(speech(s)) + bytes(32000) for s in ["go forward ten meters", "turn left at the corner", "please close the window"])
    pcm = (gateway_limit_pcm * 20)[: 70 * 32000]
    wav = bytearray(b"RIFF") + (36 + len(pcm)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    wav += (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little") + (32000).to_bytes(4, "little")
    wav += (2).to_bytes(2, "little") + (16).to_bytes(2, "little") + b"data" + len(pcm).to_bytes(4, "little") + pcm
    status, answer = upload(gateway, bytes(wav), engine="tencent", lang="zh-CN")
    assert status == 200, answer
    requests = clean.api_requests()
    assert len(requests) == 2 and all(r.get("error") is None for r in requests), requests
    assert answer["data"]["duration_ms"] == 70_000
    ends = [s["end_ms"] for s in answer["data"]["segments"]]
    assert ends == sorted(ends) and ends[-1] > 60_000, answer["data"]["segments"]


def test_sentence_recognition_errors_map(gateway, clean, speech):
    audio = speech("go forward ten meters").read_bytes()
    clean.inject_api({"code": "AuthFailure.SecretIdNotFound", "message": "secret id not found"})
    status, answer = upload(gateway, audio, engine="tencent", lang="zh-CN")
    assert status == 502 and answer["error"] == "upstream_rejected" and "AuthFailure.SecretIdNotFound" in answer["message"], answer
    clean.inject_api({"code": "RequestLimitExceeded", "message": "too many"})
    status, answer = upload(gateway, audio, engine="tencent", lang="zh-CN")
    assert status == 503 and answer["error"] == "busy", answer
    clean.inject_api({"code": "InternalError", "message": "oops"})
    status, answer = upload(gateway, audio, engine="tencent", lang="zh-CN")
    assert status == 502 and answer["error"] == "upstream_failed", answer


def test_bursts_of_uploads_are_queued_under_tencents_rate_limit(gateway, clean, speech):
    from concurrent.futures import ThreadPoolExecutor
    audio = speech("go").read_bytes()
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda _: upload(gateway, audio, engine="tencent", lang="zh-CN"), range(40)))
    refused = [r for r in results if r[0] != 200]
    assert not refused, refused[:3]
    assert len(clean.api_requests()) == 40


def test_openai_sdk_with_model_tencent(gateway, clean, speech):
    import openai
    client = openai.OpenAI(api_key=TOKEN, base_url=f"http://127.0.0.1:{gateway.port}/v1", max_retries=0)
    with open(speech("go forward ten meters"), "rb") as f:
        result = client.audio.transcriptions.create(model="tencent", file=f, language="zh", response_format="verbose_json")
    assert result.text.startswith("第1句") and result.segments, result
    assert len(clean.api_requests()) == 1



@pytest.mark.slow
def test_realtime_api_with_model_tencent_gives_an_item_per_sentence(gateway, clean, two_sentences):
    """/v1/realtime on the tencent engine: the openai SDK, server VAD; the cloud's sentences become the items."""
    from realtime_client import convert, of_type, sdk_session, transcripts
    events = asyncio.run(sdk_session(gateway, convert(two_sentences, "pcm"), model="tencent", language="zh", realtime=True,
                                     keywords=["腾讯云", "语音"]))
    texts = transcripts(events)
    assert len(texts) == 2 and texts[0].startswith("第1句") and texts[1].startswith("第2句"), texts
    assert of_type(events, "input_audio_transcription.delta") and len(of_type(events, "speech_started")) == 2
    session = clean.wait_for_sessions(1)[0]
    # The client left without committing: the upstream session was closed (not ended with `end`), as a v1 client gone.
    assert session["params"]["engine_model_type"] == "16k_zh" and session["handshake_code"] == 0, session
    # The session's keywords are Tencent's hotwords.
    assert session["params"]["hotword_list"] == "腾讯云|10,语音|10", session["params"]


def test_several_accounts_are_used_in_turn_each_signed_with_its_own_key(speech):
    """TENCENTCLOUD_SECRET_ID / _SECRET_KEY / _APPID as comma lists: streams and uploads take the accounts in turn,
    and the stand-in checks each signature against the account its SecretId names."""
    second = ("AKIDSECONDACCOUNTEXAMPLE", "second-standin-key-9876543210", "1300000002")
    standin = StandIn(more_accounts=(second,)).start()
    env = {
        "TENCENTCLOUD_SECRET_ID": f"{DEFAULT_SECRET_ID},{second[0]}", "TENCENTCLOUD_SECRET_KEY": f"{DEFAULT_SECRET_KEY}, {second[1]}",
        "TENCENTCLOUD_APPID": f"{DEFAULT_APPID},{second[2]}",
        "TENCENT_ASR_WS_URL": f"{standin.ws_url}/asr/v2", "TENCENT_ASR_API_URL": standin.api_url,
    }
    server = Server("--token", TOKEN, "--engine", "tencent", env=env)
    try:
        pcm = wav_pcm(speech("please turn off the lights in the kitchen"))
        url = server.url("/api/realtime-voice/stream", token=TOKEN, lang="en-US")
        for _ in range(2):
            events, code, _ = asyncio.run(stream(url, pcm, realtime=False))
            assert code == 1000 and events[-1]["type"] == "completed", events
        for _ in range(2):
            status, body = upload(server, speech("please turn off the lights in the kitchen").read_bytes(), lang="en-US")
            assert status == 200, body
    finally:
        server.stop()
        standin.stop()
    streams = [r["params"]["secretid"] for r in standin.log if r["kind"] == "ws"]
    uploads = [r["secret_id"] for r in standin.api_log]
    assert sorted(streams) == sorted([DEFAULT_SECRET_ID, second[0]]), streams
    assert sorted(uploads) == sorted([DEFAULT_SECRET_ID, second[0]]), uploads
    assert all(r["error"] is None for r in standin.api_log), standin.api_log


def test_credential_lists_that_do_not_match_stop_serve():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env |= {"TENCENTCLOUD_SECRET_ID": "a,b", "TENCENTCLOUD_SECRET_KEY": "x", "TENCENTCLOUD_APPID": "1"}
    result = subprocess.run([str(BINARY), "serve", "--engine", "tencent"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "must list as many entries (2 and 1)" in result.stderr, result.stderr
