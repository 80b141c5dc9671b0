"""Tests of the Tencent ASR stand-in itself (tencent_standin.py), with a client written here from
docs/tencent.md (Tencent's documented protocols), so the stand-in is known to be right before the gateway is
pointed at it. No gateway binary is needed."""
import asyncio
import base64
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

import tencent_standin as ts
from conftest import wav_pcm

HERE = Path(__file__).resolve().parent
RATE = 16000
BYTES_PER_MS = RATE * 2 // 1000
FRAME = 1280  # 40 ms, the documented packet size


# ----- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared():
    standin = ts.StandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def si(shared):
    shared.reset()
    return shared


@pytest.fixture(scope="module")
def two_sentences(speech, tmp_path_factory):
    """Two flite sentences joined by 1.5 s of silence with sox: (pcm, first_ms, gap_ms, second_ms)."""
    first = speech("please turn on the lights in the kitchen")
    second = speech("what will the weather be like tomorrow")
    directory = tmp_path_factory.mktemp("joined")
    silence, joined = directory / "silence.wav", directory / "two.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0", "1.5"], check=True)
    subprocess.run(["sox", str(first), str(silence), str(second), str(joined)], check=True)
    first_ms = len(wav_pcm(first)) // BYTES_PER_MS
    second_ms = len(wav_pcm(second)) // BYTES_PER_MS
    return wav_pcm(joined), first_ms, 1500, second_ms


@pytest.fixture(scope="module")
def one_sentence(speech):
    return wav_pcm(speech("turn off the radio"))


# ----- a real-time client written from the protocol ------------------------------------------------------

def params(**overrides):
    now = int(time.time())
    values = {"secretid": ts.DEFAULT_SECRET_ID, "timestamp": now, "expired": now + 86400, "nonce": now,
              "engine_model_type": "16k_zh", "voice_id": str(uuid.uuid4()), "voice_format": 1, "needvad": 1}
    values.update(overrides)
    return {k: str(v) for k, v in values.items() if v is not None}


def signed_url(standin, query: dict, secret_key: str = ts.DEFAULT_SECRET_KEY, appid: str | None = None) -> str:
    """Signs raw values for asr.cloud.tencent.com, sends strictly percent-encoded values (docs/tencent.md,
    "Signing a real-time URL")."""
    return ts.ws_signed_url(standin.ws_url, appid or standin.appid, query, secret_key)


async def session(url: str, pcm: bytes = b"", frame: int = FRAME, speed: float | None = 1.0,
                  pause_after_ms: int | None = None, pause_s: float = 0.0, end: str | None = '{"type":"end"}'):
    """Streams ``pcm`` in ``frame``-byte packets at ``speed`` x real time (None: as fast as possible),
    optionally pausing once, then sends ``end``. Returns (messages, close_code, seconds from connect)."""
    messages = []
    started = time.monotonic()
    async with websockets.connect(url, max_size=2**22, ping_interval=None, close_timeout=5) as ws:
        messages.append(json.loads(await ws.recv()))
        if messages[0]["code"] != 0:
            try:
                async for message in ws:
                    messages.append(json.loads(message))
            except ConnectionClosed:
                pass
            return messages, ws.close_code, time.monotonic() - started

        async def send():
            loop = asyncio.get_running_loop()
            t0, offset_s = loop.time(), 0.0
            try:
                for i, start in enumerate(range(0, len(pcm), frame)):
                    audio_ms = start // BYTES_PER_MS
                    if pause_after_ms is not None and audio_ms >= pause_after_ms and offset_s == 0.0 and pause_s:
                        offset_s = pause_s
                    if speed:
                        delay = t0 + offset_s + audio_ms / 1000 / speed - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await ws.send(pcm[start:start + frame])
                if pause_after_ms is not None and pause_after_ms * BYTES_PER_MS >= len(pcm):
                    await asyncio.sleep(pause_s)
                if end is not None:
                    await ws.send(end)
            except ConnectionClosed:
                pass

        sender = asyncio.create_task(send())
        try:
            async for message in ws:
                messages.append(json.loads(message))
        except ConnectionClosed:
            pass
        sender.cancel()
        try:
            await sender
        except asyncio.CancelledError:
            pass
        return messages, ws.close_code, time.monotonic() - started


def run(coro):
    return asyncio.run(coro)


def results(messages):
    return [m for m in messages if "result" in m]


def by_index(messages):
    groups = {}
    for m in results(messages):
        groups.setdefault(m["result"]["index"], []).append(m["result"])
    return groups


# ----- signatures ----------------------------------------------------------------------------------------

def test_realtime_signature_reference_vector():
    query = {"engine_model_type": "16k_zh", "expired": 1700086400, "needvad": 1, "nonce": 1700000000,
             "secretid": "AKIDEXAMPLE", "timestamp": 1700000000, "voice_format": 1,
             "voice_id": "c64385ee-3e5c-4fc5-bbfd-7c71addb35b0"}
    assert ts.ws_string_to_sign("1259228442", query) == (
        "asr.cloud.tencent.com/asr/v2/1259228442?engine_model_type=16k_zh&expired=1700086400&needvad=1"
        "&nonce=1700000000&secretid=AKIDEXAMPLE&timestamp=1700000000&voice_format=1"
        "&voice_id=c64385ee-3e5c-4fc5-bbfd-7c71addb35b0")
    signature = ts.ws_signature("SECRETKEYEXAMPLE", "1259228442", query)
    assert signature == "Ob/q9wbPeVQ/lTfc1kdYeq0eNTo="
    assert ts.strict_quote(signature) == "Ob%2Fq9wbPeVQ%2FlTfc1kdYeq0eNTo%3D"
    # Order of the input does not matter; `signature` itself is never signed.
    shuffled = dict(reversed(list(query.items())), signature="ignored")
    assert ts.ws_signature("SECRETKEYEXAMPLE", "1259228442", shuffled) == signature


def test_tc3_official_cvm_vector():
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"}
    canonical = ts.tc3_canonical_request("POST", "/", "", headers, ["content-type", "host"], body)
    assert canonical.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    string_to_sign = ts.tc3_string_to_sign(1551113065, ts.tc3_date(1551113065), "cvm", canonical)
    assert string_to_sign.split("\n") == ["TC3-HMAC-SHA256", "1551113065", "2019-02-25/cvm/tc3_request",
                                          "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"]
    assert ts.tc3_signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "2019-02-25", "cvm", string_to_sign) == \
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_tc3_asr_shaped_vector():
    body = b'{"EngSerViceType":"16k_zh","SourceType":1,"VoiceFormat":"pcm","Data":"AAAA","DataLen":3}'
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "asr.tencentcloudapi.com",
               "X-TC-Action": "SentenceRecognition"}  # the canonical value is lower-cased
    canonical = ts.tc3_canonical_request("POST", "/", "", headers, ["content-type", "host", "x-tc-action"], body)
    assert "x-tc-action:sentencerecognition\n" in canonical
    assert canonical.endswith("50701693b8af2dbabd46a139b399441409c785b130702ff8c2484bef8a0cd22b")
    string_to_sign = ts.tc3_string_to_sign(1700000000, ts.tc3_date(1700000000), "asr", canonical)
    assert string_to_sign.split("\n")[2:] == ["2023-11-14/asr/tc3_request",
                                              "84e869aa8e97294a38732faad11b264e82ce4bf84a2746b7d2dcff1a55109eaf"]
    assert ts.tc3_signature("SECRETKEYEXAMPLE", "2023-11-14", "asr", string_to_sign) == \
        "40e99efee7484e278f146cbf5c0806134d1e2cc00ffb4c79afe606fa21c32620"


# ----- real-time sessions ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_sentences_in_real_time(si, two_sentences):
    pcm, first_ms, gap_ms, second_ms = two_sentences
    query = params(word_info=1)
    messages, close_code, _ = run(session(signed_url(si, query), pcm))
    assert messages[0] == {"code": 0, "message": "success", "voice_id": query["voice_id"]}
    assert messages[-1]["final"] == 1 and messages[-1]["code"] == 0 and messages[-1]["voice_id"] == query["voice_id"]
    assert close_code == 1000
    body = messages[1:-1]
    assert all(m["code"] == 0 and m["message"] == "success" and m["final"] == 0 for m in body)
    assert [m["message_id"] for m in body] == [f"{query['voice_id']}_{n}" for n in range(len(body))]

    groups = by_index(messages)
    assert sorted(groups) == [0, 1]
    for index, slices in groups.items():
        kinds = [r["slice_type"] for r in slices]
        assert kinds[0] == 0 and kinds[-1] == 2 and set(kinds[1:-1]) == {1}, kinds
        final = slices[-1]
        duration = final["end_time"] - final["start_time"]
        assert final["voice_text_str"] == f"第{index + 1}句{duration}毫秒"
        assert all(final["voice_text_str"].startswith(r["voice_text_str"]) for r in slices)
        assert all(r["start_time"] == final["start_time"] for r in slices)
        ends = [r["end_time"] for r in slices[:-1]]
        assert ends == sorted(ends)
        assert all(r["word_size"] == len(r["word_list"]) > 0 for r in slices)
        assert all(w["stable_flag"] == 1 for w in final["word_list"])
        assert all(w["stable_flag"] == 0 for r in slices[:-1] for w in r["word_list"])
        assert final["word_list"][0]["start_time"] == final["start_time"]
        assert final["word_list"][-1]["end_time"] == final["end_time"]
        assert len(final["word_list"]) == -(-duration // 500)
    # Times: flite leaves a little silence around its speech.
    s0, s1 = groups[0][-1], groups[1][-1]
    assert 0 <= s0["start_time"] <= 300 and first_ms - 400 <= s0["end_time"] <= first_ms
    second_start = first_ms + gap_ms
    assert second_start <= s1["start_time"] <= second_start + 300
    assert second_start + second_ms - 400 <= s1["end_time"] <= second_start + second_ms
    # slice 1 roughly every 400 ms of speech
    partials = [r for r in groups[0] if r["slice_type"] == 1]
    assert len(partials) >= (s0["end_time"] - s0["start_time"]) // 400 - 1

    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "final" and record["handshake_code"] == 0 and record["sentences"] == 2
    assert record["audio_ms"] == len(pcm) // BYTES_PER_MS
    assert record["frame_bytes_max"] == FRAME and record["frame_bytes_min"] <= FRAME
    assert 0.8 <= record["max_rate"] <= 2.0  # real time is 1.0; a stalled client catches up a little
    assert record["max_gap_ms"] < 1000
    assert "signature" not in record["params"] and record["params"]["voice_id"] == query["voice_id"]


def test_burst_of_ten_seconds_gets_4000(si):
    messages, close_code, _ = run(session(signed_url(si, params()), bytes(10 * RATE * 2), speed=None))
    assert messages[0]["code"] == 0
    assert messages[-1]["code"] == 4000 and messages[-1]["voice_id"] == messages[0]["voice_id"]
    assert not any(m.get("final") == 1 for m in messages)
    assert close_code == 1000
    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "error" and record["error_code"] == 4000 and record["max_rate"] > 3


def test_initial_burst_then_faster_than_real_time_is_allowed(si, one_sentence):
    # 3 s at once (the initial burst), then 2x real time: under 3 s of audio per second.
    pcm = bytes(3 * RATE * 2)

    async def burst_then_paced():
        url = signed_url(si, params())
        async with websockets.connect(url) as ws:
            assert json.loads(await ws.recv())["code"] == 0
            for start in range(0, len(pcm), FRAME):
                await ws.send(pcm[start:start + FRAME])
            t0 = time.monotonic()
            for i, start in enumerate(range(0, len(one_sentence), FRAME)):
                await asyncio.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
                await ws.send(one_sentence[start:start + FRAME])
            await ws.send('{"type":"end"}')
            return [json.loads(m) async for m in ws]

    messages = run(burst_then_paced())
    assert messages[-1]["final"] == 1
    assert si.wait_for_sessions(1)[0]["end"] == "final"


def test_pause_longer_than_idle_timeout_gets_4008():
    # Tencent's limit is 15 s (a 16 s pause fails); the idle_timeout override scales it to 1 s vs a 1.6 s pause.
    with ts.StandIn(idle_timeout=1.0) as standin:
        audio = bytes(RATE * 2 // 2)
        messages, close_code, elapsed = run(session(signed_url(standin, params()), audio, pause_after_ms=500,
                                                    pause_s=1.6))
        assert messages[-1]["code"] == 4008 and "等待超时" in messages[-1]["message"]
        assert close_code == 1000 and 1.4 <= elapsed < 3.0
        record = standin.wait_for_sessions(1)[0]
        assert record["end"] == "error" and record["error_code"] == 4008 and record["audio_ms"] == 500
        # No audio at all is also idle.
        messages, _, _ = run(session(signed_url(standin, params()), b"", pause_after_ms=0, pause_s=1.6))
        assert messages[-1]["code"] == 4008


def test_end_with_whitespace_and_unknown_text_frame(si, one_sentence):
    messages, _, _ = run(session(signed_url(si, params()), one_sentence, speed=3, end='{ "type" :  "end" }\n'))
    assert messages[-1]["final"] == 1 and len(by_index(messages)) == 1
    messages, close_code, _ = run(session(signed_url(si, params()), one_sentence[:6400], speed=None,
                                          end='{"type":"stop"}'))
    assert messages[-1]["code"] == 4010 and close_code == 1000


def test_8k_engine_paces_at_8k(si, speech):
    pcm = wav_pcm(speech("turn off the radio", rate=8000))
    messages, _, _ = run(session(signed_url(si, params(engine_model_type="8k_zh")), pcm, frame=640, speed=2))
    assert messages[-1]["final"] == 1 and by_index(messages)
    record = si.wait_for_sessions(1)[0]
    assert record["audio_ms"] == len(pcm) * 1000 // 16000 and 1.5 <= record["max_rate"] <= 2.6


def _plus_signature_query():
    """A query whose Base64 signature contains '+', so leaving it unencoded puts a raw '+' in the URL."""
    for nonce in range(1, 10_000):
        query = params(nonce=nonce)
        signature = ts.ws_signature(ts.DEFAULT_SECRET_KEY, ts.DEFAULT_APPID, query)
        if "+" in signature:
            return query, signature
    raise AssertionError("no signature with '+'")


def _raw_url(standin, query, signature):
    return (f"{standin.ws_url}/asr/v2/{standin.appid}?" + "&".join(f"{k}={ts.strict_quote(v)}" for k, v in
                                                                   query.items()) + f"&signature={signature}")


@pytest.mark.parametrize("case, code, words", [
    ("bad_signature", 4002, "signature"),
    ("unencoded_plus_in_signature", 4002, "'+'"),
    ("unencoded_pipe_and_comma", 4002, "unencoded '|', ','"),
    ("stale_timestamp", 4002, "expired"),
    ("voice_format_absent", 4001, "voice_format"),
    ("voice_format_speex", 4001, "voice_format=4"),
    ("unknown_engine", 4001, "engine_model_type"),
    ("wrong_secretid", 4002, "secretid"),
    ("nonce_13_digits", 4001, "nonce"),
    ("missing_voice_id", 4001, "voice_id"),
    ("expired_over_90_days", 4001, "90 days"),
    ("vad_silence_time_out_of_range", 4001, "vad_silence_time"),
    ("wrong_appid", 4002, "appid"),
])
def test_handshake_rejections(si, case, code, words):
    now = int(time.time())
    if case == "bad_signature":
        url = signed_url(si, params(), secret_key="not-the-key")
    elif case == "unencoded_plus_in_signature":
        query, signature = _plus_signature_query()
        url = _raw_url(si, query, signature)
    elif case == "unencoded_pipe_and_comma":
        query = params(hotword_list="ASR|11,hello|5")
        signature = ts.ws_signature(ts.DEFAULT_SECRET_KEY, si.appid, query)
        url = (f"{si.ws_url}/asr/v2/{si.appid}?" + "&".join(f"{k}={v}" for k, v in query.items())
               + f"&signature={ts.strict_quote(signature)}")
    elif case == "stale_timestamp":
        url = signed_url(si, params(timestamp=now - 1000, expired=now + 86400))
    elif case == "voice_format_absent":
        url = signed_url(si, params(voice_format=None))
    elif case == "voice_format_speex":
        url = signed_url(si, params(voice_format=4))
    elif case == "unknown_engine":
        url = signed_url(si, params(engine_model_type="16k_klingon"))
    elif case == "wrong_secretid":
        url = signed_url(si, params(secretid="AKIDSOMEONEELSE"))
    elif case == "nonce_13_digits":
        url = signed_url(si, params(nonce=1700000000123))
    elif case == "missing_voice_id":
        url = signed_url(si, params(voice_id=None))
    elif case == "expired_over_90_days":
        url = signed_url(si, params(expired=now + 91 * 86400))
    elif case == "vad_silence_time_out_of_range":
        url = signed_url(si, params(vad_silence_time=100))
    else:
        url = signed_url(si, params(), appid="1259228442")
    messages, close_code, _ = run(session(url, bytes(6400)))
    assert len(messages) == 1, messages
    assert messages[0]["code"] == code and words in messages[0]["message"], messages[0]
    assert "voice_id" in messages[0]
    assert close_code == 1000
    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "handshake_error" and record["error_code"] == code and record["frames"] == 0


def test_encoded_special_characters_are_signed_raw(si, one_sentence):
    query = params(hotword_list="腾讯云|10,语音识别|5", word_info=2, filter_punc=1)
    messages, _, _ = run(session(signed_url(si, query), one_sentence, speed=4))
    assert messages[0]["code"] == 0 and messages[-1]["final"] == 1
    assert si.wait_for_sessions(1)[0]["params"]["hotword_list"] == "腾讯云|10,语音识别|5"


def test_voice_id_cannot_be_reused(si):
    query = params()
    first, _, _ = run(session(signed_url(si, query), bytes(3200), speed=None))
    assert first[-1]["final"] == 1
    second, _, _ = run(session(signed_url(si, dict(query, nonce="42")), bytes(3200), speed=None))
    assert second[0]["code"] == 4001 and "already used" in second[0]["message"]


# ----- injected faults -------------------------------------------------------------------------------------

def control(standin, command: dict | None = None):
    if command is None:
        with urllib.request.urlopen(standin.api_url + "_control", timeout=5) as response:
            return json.loads(response.read())
    request = urllib.request.Request(standin.api_url + "_control", data=json.dumps(command).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_injected_error_at_once(si):
    control(si, {"inject": {"error": 4006, "after_ms": 0}})
    messages, close_code, _ = run(session(signed_url(si, params()), bytes(6400)))
    assert [m["code"] for m in messages] == [0, 4006] and close_code == 1000
    assert si.wait_for_sessions(1)[0]["end"] == "injected_error"


def test_injected_error_after_audio(si, one_sentence):
    control(si, {"inject": {"error": 5000, "after_ms": 1000, "message": "overloaded"}})
    messages, _, _ = run(session(signed_url(si, params()), one_sentence + bytes(32000), speed=2))
    assert messages[-1] == {"code": 5000, "message": "overloaded", "voice_id": messages[0]["voice_id"]}
    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "injected_error" and 1000 <= record["audio_ms"] < 1000 + 40


def test_injected_disconnect_has_no_close_frame(si, one_sentence):
    control(si, {"inject": {"disconnect_after_ms": 1500}})

    async def go():
        async with websockets.connect(signed_url(si, params())) as ws:
            assert json.loads(await ws.recv())["code"] == 0
            received = []
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                audio = one_sentence + bytes(64000)
                for start in range(0, len(audio), FRAME):
                    await ws.send(audio[start:start + FRAME])
                    await asyncio.sleep(0.02)
                async for message in ws:
                    received.append(message)
            return closed.value, received

    closed, _ = run(go())
    assert closed.rcvd is None  # TCP dropped, no close frame
    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "injected_disconnect" and 1500 <= record["audio_ms"] < 1540


def test_injected_handshake_error_and_order_and_control_api(si):
    assert control(si, {"inject": [{"handshake_error": 4002}, {"handshake_error": 4006}]})["pending"] == 2
    codes = [run(session(signed_url(si, params()), bytes(3200), speed=None))[0][0]["code"] for _ in range(3)]
    assert codes == [4002, 4006, 0]
    log = control(si)
    assert [r["handshake_code"] for r in log] == [4002, 4006, 0]
    assert log[0]["fault"] == {"handshake_error": 4002} and log[2]["fault"] is None
    control(si, {"reset": True})
    assert control(si) == [] and si.log == []
    with pytest.raises(urllib.error.HTTPError) as bad:
        control(si, {"inject": {"eror": 4006}})
    assert bad.value.code == 400


def test_exception_in_one_session_does_not_kill_the_server(si, one_sentence):
    si.inject({"raise": "boom"})

    async def broken():
        async with websockets.connect(signed_url(si, params())) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(broken()) == 1011
    record = si.wait_for_sessions(1)[0]
    assert record["end"] == "exception" and "boom" in record["exception"]
    # Garbage on both ports.
    for port in (si.ws_port, si.http_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"\x00\xffnot http at all\r\n\r\n")
            raw.recv(100)
    messages, _, _ = run(session(signed_url(si, params()), one_sentence, speed=4))
    assert messages[-1]["final"] == 1


def test_concurrent_sessions(si, one_sentence):
    count = 40

    async def many():
        return await asyncio.gather(*(session(signed_url(si, params()), one_sentence, speed=1.5)
                                      for _ in range(count)))

    outcomes = run(many())
    assert all(m[-1].get("final") == 1 and len(by_index(m)) == 1 for m, _, _ in outcomes)
    log = si.wait_for_sessions(count)
    assert len(log) == count and all(r["end"] == "final" for r in log)
    with urllib.request.urlopen(si.api_url + "_control/stats", timeout=5) as response:
        stats = json.loads(response.read())
    assert stats["active_sessions"] == 0 and stats["sessions_logged"] == count and stats["max_loop_lag_ms"] >= 0


# ----- SentenceRecognition over TC3 (docs/tencent.md) -------------------------------------------------------

def api(standin, body, headers=None, secret_id=ts.DEFAULT_SECRET_ID, secret_key=ts.DEFAULT_SECRET_KEY,
        timestamp=None, extra=None, signed=("content-type", "host"), connection=None):
    """POSTs a SentenceRecognition request; returns (HTTP status, parsed JSON)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    host = f"127.0.0.1:{standin.http_port}"
    if headers is None:
        headers = ts.tc3_headers(secret_id, secret_key, host, payload, timestamp=timestamp, signed=signed)
    headers = {**headers, **(extra or {})}
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", standin.http_port, timeout=10)
    try:
        connection.request("POST", "/", body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        if own:
            connection.close()


def pcm_body(audio: bytes, fmt: str = "pcm", **fields):
    return {"EngSerViceType": "16k_zh", "SourceType": 1, "VoiceFormat": fmt,
            "Data": base64.b64encode(audio).decode(), "DataLen": len(audio), **fields}


def error_code(response):
    return response["Response"].get("Error", {}).get("Code")


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_sentence_recognition_pcm(si, two_sentences):
    pcm = two_sentences[0]
    status, response = api(si, pcm_body(pcm, WordInfo=1))
    assert status == 200
    result = response["Response"]
    assert "Error" not in result, result
    assert re.fullmatch(r"第1句\d+毫秒第2句\d+毫秒", result["Result"])
    assert result["AudioDuration"] == len(pcm) // BYTES_PER_MS
    assert result["WordSize"] == len(result["WordList"]) > 0
    assert set(result["WordList"][0]) == {"Word", "StartTime", "EndTime"}
    assert UUID.match(result["RequestId"])
    entry = si.api_requests()[0]
    assert entry["error"] is None and entry["body"]["DataLen"] == len(pcm)


def test_sentence_recognition_wav_and_other_formats(si, speech):
    wav = speech("turn off the radio").read_bytes()
    response = api(si, pcm_body(wav, "wav"))[1]["Response"]
    assert response["Result"].startswith("第1句") and response["WordSize"] == 0
    response = api(si, pcm_body(b"\xff\xfb" + bytes(998), "mp3"))[1]["Response"]
    assert response["Result"] == "收到1000字节"
    # Signing extra headers (value lower-cased in the canonical form) works too.
    response = api(si, pcm_body(bytes(3200)), signed=("content-type", "host", "x-tc-action"))[1]["Response"]
    assert response["Result"] == "" and "Error" not in response


@pytest.mark.parametrize("case, code", [
    ("bad_signature", "AuthFailure.SignatureFailure"),
    ("region_header", "InvalidParameter"),
    ("stale_timestamp", "AuthFailure.SignatureExpire"),
    ("wrong_secret_id", "AuthFailure.SecretIdNotFound"),
    ("local_date_in_credential", "AuthFailure.SignatureFailure"),
    ("content_type_differs_from_signed", "AuthFailure.SignatureFailure"),
    ("datalen_is_base64_length", "InvalidParameterValue"),
    ("line_breaks_in_data", "InvalidParameterValue.ErrorInvalidVoicedata"),
    ("over_60_seconds", "InvalidParameterValue.ErrorVoicedataTooLong"),
    ("over_3_mb", "InvalidParameter.ErrorContentlength"),
    ("unknown_engine", "InvalidParameterValue.ErrorInvalidEngservice"),
    ("bad_format", "InvalidParameterValue.ErrorInvalidVoiceFormat"),
    ("missing_engine", "MissingParameter"),
    ("unknown_field", "UnknownParameter"),
    ("wrong_action", "InvalidAction"),
])
def test_sentence_recognition_errors(si, case, code):
    audio = bytes(3200)
    body, extra, kwargs = pcm_body(audio), None, {}
    now = int(time.time())
    if case == "bad_signature":
        kwargs["secret_key"] = "wrong"
    elif case == "region_header":
        extra = {"X-TC-Region": "ap-guangzhou"}
    elif case == "stale_timestamp":
        kwargs["timestamp"] = now - 301 - 5
    elif case == "wrong_secret_id":
        kwargs["secret_id"] = "AKIDNOBODY"
    elif case == "local_date_in_credential":
        payload = json.dumps(body).encode()
        headers = ts.tc3_headers(ts.DEFAULT_SECRET_ID, ts.DEFAULT_SECRET_KEY, f"127.0.0.1:{si.http_port}", payload)
        wrong = time.strftime("%Y-%m-%d", time.gmtime(now + 86400))
        headers["Authorization"] = re.sub(r"/\d{4}-\d\d-\d\d/", f"/{wrong}/", headers["Authorization"])
        kwargs["headers"] = headers
    elif case == "content_type_differs_from_signed":
        payload = json.dumps(body).encode()
        headers = ts.tc3_headers(ts.DEFAULT_SECRET_ID, ts.DEFAULT_SECRET_KEY, f"127.0.0.1:{si.http_port}", payload,
                                 content_type="application/json")
        extra = {"Content-Type": "application/json; charset=utf-8"}
        kwargs["headers"] = headers
    elif case == "datalen_is_base64_length":
        body["DataLen"] = len(body["Data"])
    elif case == "line_breaks_in_data":
        body = pcm_body(bytes(6000))
        body["Data"] = base64.encodebytes(bytes(6000)).decode()
    elif case == "over_60_seconds":
        body = pcm_body(bytes(61 * RATE * 2))
    elif case == "over_3_mb":
        body = pcm_body(bytes(3 * 1024 * 1024 + 1), "mp3")
    elif case == "unknown_engine":
        body["EngSerViceType"] = "16k_klingon"
    elif case == "bad_format":
        body["VoiceFormat"] = "flac"
    elif case == "missing_engine":
        del body["EngSerViceType"]
    elif case == "unknown_field":
        body["Language"] = "zh"
    elif case == "wrong_action":
        payload = json.dumps(body).encode()
        kwargs["headers"] = ts.tc3_headers(ts.DEFAULT_SECRET_ID, ts.DEFAULT_SECRET_KEY, f"127.0.0.1:{si.http_port}",
                                           payload, action="DescribeInstances")
    status, response = api(si, body, extra=extra, **kwargs)
    assert status == 200  # Tencent answers errors with HTTP 200
    assert error_code(response) == code, response
    assert UUID.match(response["Response"]["RequestId"]) and response["Response"]["Error"]["Message"]
    assert "Result" not in response["Response"]


def test_injected_api_error(si):
    control(si, {"inject_api": {"code": "FailedOperation.ServiceIsolate", "message": "account in arrears"}})
    response = api(si, pcm_body(bytes(3200)))[1]
    assert response["Response"]["Error"] == {"Code": "FailedOperation.ServiceIsolate", "Message": "account in arrears"}
    assert "Error" not in api(si, pcm_body(bytes(3200)))[1]["Response"]


def test_rate_limit_30_per_second():
    with ts.StandIn() as standin:
        body = pcm_body(bytes(320))
        barrier = threading.Barrier(6)

        def worker(_):
            connection = http.client.HTTPConnection("127.0.0.1", standin.http_port, timeout=10)
            barrier.wait()
            try:
                return [error_code(api(standin, body, connection=connection)[1]) for _ in range(8)]
            finally:
                connection.close()

        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            codes = [c for batch in pool.map(worker, range(6)) for c in batch]
        took = time.monotonic() - started
        assert set(codes) <= {None, "RequestLimitExceeded"}
        assert "RequestLimitExceeded" in codes, (codes, took)
        if took < 1.0:
            assert codes.count(None) == 30
        time.sleep(1.05)
        assert error_code(api(standin, body)[1]) is None


def test_command_line_ready_line():
    process = subprocess.Popen([sys.executable, str(HERE / "tencent_standin.py"), "--ws-port", "0", "--http-port", "0",
                                "--idle-timeout", "2", "--appid", "1259228442"], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"ready ws=ws://127\.0\.0\.1:(\d+) http=http://127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(2)}/_control", timeout=5) as response:
            assert json.loads(response.read()) == []
        standin = ts.StandIn(appid="1259228442")
        standin.ws_url, standin.appid = f"ws://127.0.0.1:{match.group(1)}", "1259228442"
        messages, _, _ = run(session(signed_url(standin, params()), bytes(3200), speed=None))
        assert messages[0]["code"] == 0 and messages[-1]["final"] == 1
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
