"""`GET /v1/realtime`: OpenAI's Realtime API in transcription mode, driven by the official `openai` SDK (GA and beta
classes) and by a raw socket for what the SDK would never send.

Transcripts are compared with protocol v1's for the same audio on the same engine (PocketSphinx here; Whisper in
test_whisper_engine.py): server VAD runs one engine call over the stream as v1 does, manual commit one call per turn,
as a v1 session per turn would. The comparison allows MAX_WER_TO_V1: PocketSphinx itself varies between two v1
sessions on the same audio (a pooled decoder keeps adaptive state; measured "he was" / "it was" on the same clip),
so equality is measured over a corpus by bench/realtime.py, not asserted per clip."""
import asyncio
import base64
import json
import subprocess

import pytest
import websockets

from conftest import LIBRIVOX, TOKEN, Server, wav_pcm
from wer import wer
from gateway_client import stream, stream_url
from realtime_client import BYTES_PER_MS, convert, of_type, raw_session, sdk_session, transcripts

CLIPS = [LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{n}.wav" for n in ("0880", "0870")]
SILENCE_16K = bytes(16000 * 2)  # 1 s
# Word error rate of a /v1/realtime transcript against protocol v1's of the same audio: v1 against itself measured
# 0-0.08 on these clips (one word of ~25 changed, or "but" inserted). A fresh CI run (2026-12-08) measured 0.2 on
# the second clip under manual commit ("dashwood and then" / "guess would have been"). Three local runs did not
# repeat it, and its cause was not found: every session starts from the same cepstral mean (docs/pocketsphinx.md),
# so it is not the decoder's history. A wrong turn boundary or lost audio gives far more.
MAX_WER_TO_V1 = 0.25
# At 8 kHz PocketSphinx varies more (a fresh CI run: "hm odd and old card" / "not that old card" on one clip), so the
# G.711 cases run both sentences and allow more; a wrong decoding of G.711 gives a WER near 1.
MAX_WER_TO_V1_8K = 0.4


@pytest.fixture(scope="module")
def gateway():
    instance = Server("--token", TOKEN)
    yield instance
    instance.stop()


def two_sentences() -> bytes:
    """Two librivox sentences with 1.5 s of silence between them, 16 kHz PCM16."""
    return wav_pcm(CLIPS[0]) + SILENCE_16K + SILENCE_16K[: 16000] + wav_pcm(CLIPS[1])


def v1_finals(server: Server, pcm: bytes, rate: int) -> list[str]:
    """Protocol v1's finals for `pcm` at `rate`, sent in 100 ms frames as sdk_session sends its appends (PocketSphinx's
    endpoints fall on chunk boundaries, so the same audio in other chunks may be cut a little differently)."""
    events, close_code = asyncio.run(stream(stream_url(server, sample_rate=str(rate)), pcm, bytes_per_ms=rate * 2 // 1000, realtime=False))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    return [e["text"] for e in events if e["type"] == "final" and e["text"]]


def sox_decode(data: bytes, encoding: str) -> bytes:
    """G.711 bytes back to 8 kHz PCM16, by sox (what protocol v1 is sent for the comparison)."""
    return subprocess.run(["sox", "-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1", "-", "-t", "raw", "-e", "signed",
                           "-b", "16", "-"], input=data, capture_output=True, check=True).stdout


def check_items(events: list[dict], audio_ms: int, shape: str = "ga"):
    """Every event has a unique event_id; each item goes committed → item added/created → completed, once, with
    previous_item_id naming the item before; deltas name a known item; VAD times lie within the audio."""
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids), ids
    committed = of_type(events, "committed")
    items = [e["item_id"] for e in committed]
    assert len(set(items)) == len(items) and [e["previous_item_id"] for e in committed] == [None] + items[:-1], committed
    added = of_type(events, "conversation.item.added" if shape == "ga" else "conversation.item.created")
    assert [e["item"]["id"] for e in added] == items, added
    completed = of_type(events, "input_audio_transcription.completed")
    assert [e["item_id"] for e in completed] == items, completed
    for e in completed:
        assert e["content_index"] == 0 and e["usage"]["type"] == "duration" and 0 < e["usage"]["seconds"] <= audio_ms / 1000 + 0.01, e
    assert {e["item_id"] for e in of_type(events, "input_audio_transcription.delta")} <= set(items)
    for item in items:
        order = [e["type"].rsplit(".", 1)[-1] for e in events if e.get("item_id") == item or e.get("item", {}).get("id") == item]
        assert order.index("committed") < order.index("completed") and order.count("completed") == 1, order
    for started, stopped in zip(of_type(events, "speech_started"), of_type(events, "speech_stopped")):
        assert started["item_id"] == stopped["item_id"] and 0 <= started["audio_start_ms"] < stopped["audio_end_ms"] <= audio_ms + 1600


# ---------------------------------------------------------------- the SDK, GA and beta, against protocol v1


def test_ga_server_vad_gives_protocol_v1s_transcripts_with_live_deltas(gateway):
    pcm16 = two_sentences()
    pcm24 = convert(pcm16, "pcm")
    expected = v1_finals(gateway, pcm24 + bytes(48 * 1500), 24000)
    assert len(expected) >= 2, expected
    events = asyncio.run(sdk_session(gateway, pcm24, realtime=True))
    assert events[0]["type"] == "session.created" and events[0]["session"]["type"] == "transcription", events[0]
    assert events[1]["type"] == "session.updated" and events[1]["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert len(transcripts(events)) == len(expected) and wer(" ".join(expected), " ".join(transcripts(events))) <= MAX_WER_TO_V1, (
        transcripts(events), expected)
    check_items(events, len(pcm24) // 48)
    deltas = of_type(events, "input_audio_transcription.delta")
    completed = of_type(events, "input_audio_transcription.completed")
    # Live: the first item's first delta comes before that item's speech has ended.
    first = completed[0]["item_id"]
    stopped = next(e for e in of_type(events, "speech_stopped") if e["item_id"] == first)
    assert any(d["item_id"] == first and d["_at"] < stopped["_at"] for d in deltas), (deltas, stopped)


def test_manual_commit_makes_one_item_a_turn_as_one_v1_session_a_turn(gateway):
    first, second = (convert(wav_pcm(clip), "pcm") for clip in CLIPS)
    expected = [" ".join(v1_finals(gateway, piece, 24000)) for piece in (first, second)]
    events = asyncio.run(sdk_session(gateway, first + second, turn_detection=None, turns=[len(first)], realtime=False))
    assert events[1]["session"]["audio"]["input"]["turn_detection"] is None
    assert len(transcripts(events)) == 2, transcripts(events)
    assert all(wer(e, t) <= MAX_WER_TO_V1 for e, t in zip(expected, transcripts(events))), (transcripts(events), expected)
    assert not of_type(events, "speech_started"), "no VAD events under manual commit"
    check_items(events, (len(first) + len(second)) // 48)
    usage = [e["usage"]["seconds"] for e in of_type(events, "input_audio_transcription.completed")]
    assert [round(u, 1) for u in usage] == [round(len(first) / 48000, 1), round(len(second) / 48000, 1)], usage


@pytest.mark.parametrize("beta", [True, False], ids=["beta", "ga"])
@pytest.mark.parametrize("fmt,encoding", [("pcmu", "mu-law"), ("pcma", "a-law")])
def test_g711_audio_is_transcribed_as_8khz_pcm_is_on_protocol_v1(gateway, beta, fmt, encoding):
    audio = convert(two_sentences(), fmt)
    expected = " ".join(v1_finals(gateway, sox_decode(audio, encoding), 8000))
    events = asyncio.run(sdk_session(gateway, audio, fmt=fmt, turn_detection=None, beta=beta, realtime=False))
    created, updated = events[0], events[1]
    if beta:
        assert created["type"] == "transcription_session.created" and updated["type"] == "transcription_session.updated", events[:2]
        assert updated["session"]["input_audio_format"] == {"pcmu": "g711_ulaw", "pcma": "g711_alaw"}[fmt]
    else:
        assert updated["type"] == "session.updated" and updated["session"]["audio"]["input"]["format"] == {"type": f"audio/{fmt}"}
    assert expected and len(transcripts(events)) == 1 and wer(expected, transcripts(events)[0]) <= MAX_WER_TO_V1_8K, (
        transcripts(events), expected)
    check_items(events, len(audio) // 8, "beta" if beta else "ga")


def test_a_model_that_names_an_engine_selects_it_and_others_mean_the_default(gateway):
    async def created(query: str) -> dict:
        url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?{query}"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            return json.loads(await ws.recv())

    for query in ("intent=transcription", "model=gpt-4o-transcribe&intent=transcription", "model=pocketsphinx"):
        session = asyncio.run(created(query))["session"]
        assert session["audio"]["input"]["transcription"]["model"] in ("pocketsphinx", "gpt-4o-transcribe"), session


# ---------------------------------------------------------------- authentication


def test_browser_subprotocol_auth_is_accepted_and_realtime_is_echoed(gateway):
    async def connect(subprotocols):
        url = f"ws://127.0.0.1:{gateway.port}/v1/realtime?intent=transcription"
        async with websockets.connect(url, subprotocols=subprotocols) as ws:
            return ws.subprotocol, json.loads(await ws.recv())["type"]

    assert asyncio.run(connect(["realtime", f"openai-insecure-api-key.{TOKEN}"])) == ("realtime", "session.created")
    assert asyncio.run(connect(["realtime", f"openai-insecure-api-key.{TOKEN}", "openai-beta.realtime-v1"])) == (
        "realtime", "transcription_session.created")
    for subprotocols in (["realtime", "openai-insecure-api-key.wrong"], ["realtime"]):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(connect(subprotocols))
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"


def test_the_sdk_with_a_wrong_key_is_refused_before_the_upgrade(gateway):
    from openai import AsyncOpenAI

    async def connect():
        client = AsyncOpenAI(api_key="wrong", base_url=f"http://127.0.0.1:{gateway.port}/v1")
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            await conn.recv()

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(connect())
    assert refused.value.response.status_code == 401


# ---------------------------------------------------------------- bad events: an error each, and the session goes on


def b64_ms(ms: int, fmt: str = "pcm") -> str:
    return base64.b64encode(bytes(BYTES_PER_MS[fmt] * ms)).decode()


MANUAL = {"type": "session.update", "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}}}


def update(**input_fields) -> dict:
    return {"type": "session.update", "session": {"type": "transcription", "audio": {"input": input_fields}}}


def transcription(**fields) -> dict:
    return update(transcription=fields)


def vad(**fields) -> dict:
    return update(turn_detection={"type": "server_vad", **fields})


# (id, frames, expected error code or None, expected param or None)
BAD_EVENTS = [
    ("not-json", ["hello"], "invalid_event", None),
    ("json-array", ["[]"], "invalid_event", None),
    ("json-string", ['"input_audio_buffer.clear"'], "invalid_event", None),
    ("json-number", ["42"], "invalid_event", None),
    ("json-null", ["null"], "invalid_event", None),
    ("truncated-json", ['{"type":"input_audio_buffer.append","audio":"AAAA"'], "invalid_event", None),
    ("nested-5000-deep", ["[" * 5000 + "]" * 5000], "invalid_event", None),
    ("no-type", [{"event_id": "e1"}], "invalid_event", "type"),
    ("type-number", [{"type": 5}], "invalid_type", "type"),
    ("type-null", [{"type": None}], "invalid_type", "type"),
    ("type-unknown", [{"type": "input_audio_buffer.flush"}], "invalid_event", "type"),
    ("type-empty", [{"type": ""}], "invalid_event", "type"),
    ("response-create", [{"type": "response.create"}], "unsupported_event", "type"),
    ("conversation-item-create", [{"type": "conversation.item.create", "item": {}}], "unsupported_event", "type"),
    ("response-cancel", [{"type": "response.cancel"}], "unsupported_event", "type"),
    ("event-id-number", [{"type": "input_audio_buffer.commit", "event_id": 7}], "invalid_type", "event_id"),
    ("event-id-513-chars", [{"type": "input_audio_buffer.commit", "event_id": "e" * 513}], "invalid_value", "event_id"),
    ("append-no-audio", [{"type": "input_audio_buffer.append"}], "missing_required_parameter", "audio"),
    ("append-audio-null", [{"type": "input_audio_buffer.append", "audio": None}], "missing_required_parameter", "audio"),
    ("append-audio-number", [{"type": "input_audio_buffer.append", "audio": 12}], "invalid_type", "audio"),
    ("append-audio-array", [{"type": "input_audio_buffer.append", "audio": [1, 2]}], "invalid_type", "audio"),
    ("append-not-base64", [{"type": "input_audio_buffer.append", "audio": "!!!not base64!!!"}], "invalid_value", "audio"),
    ("append-bad-padding", [{"type": "input_audio_buffer.append", "audio": "abc"}], "invalid_value", "audio"),
    ("append-extra-field", [{"type": "input_audio_buffer.append", "audio": b64_ms(10), "rate": 16000}], "unknown_parameter", "rate"),
    ("commit-before-audio", [{"type": "input_audio_buffer.commit"}], "input_audio_buffer_commit_empty", None),
    ("commit-after-50ms", [{"type": "input_audio_buffer.append", "audio": b64_ms(50)}, {"type": "input_audio_buffer.commit"}],
     "input_audio_buffer_commit_empty", None),
    ("manual-commit-twice", [MANUAL, {"type": "input_audio_buffer.append", "audio": b64_ms(200)}, {"type": "input_audio_buffer.commit"},
                             {"type": "input_audio_buffer.commit"}], "input_audio_buffer_commit_empty", None),
    ("commit-after-clear", [MANUAL, {"type": "input_audio_buffer.append", "audio": b64_ms(300)}, {"type": "input_audio_buffer.clear"},
                            {"type": "input_audio_buffer.commit"}], "input_audio_buffer_commit_empty", None),
    ("commit-extra-field", [{"type": "input_audio_buffer.commit", "item_id": "x"}], "unknown_parameter", "item_id"),
    ("clear-extra-field", [{"type": "input_audio_buffer.clear", "all": True}], "unknown_parameter", "all"),
    ("update-no-session", [{"type": "session.update"}], "missing_required_parameter", "session"),
    ("update-session-string", [{"type": "session.update", "session": "transcription"}], "invalid_type", "session"),
    ("update-session-realtime", [{"type": "session.update", "session": {"type": "realtime"}}], "invalid_value", "session.type"),
    ("update-session-type-number", [{"type": "session.update", "session": {"type": 1}}], "invalid_type", "session.type"),
    ("update-unknown-field", [{"type": "session.update", "session": {"type": "transcription", "voice": "alloy"}}],
     "unknown_parameter", "session.voice"),
    ("update-audio-output", [{"type": "session.update", "session": {"type": "transcription", "audio": {"output": {}}}}],
     "unknown_parameter", "session.audio.output"),
    ("update-input-unknown", [update(speed=1)], "unknown_parameter", "session.audio.input.speed"),
    ("format-wav", [update(format={"type": "audio/wav"})], "invalid_value", "session.audio.input.format.type"),
    ("format-no-type", [update(format={"rate": 24000})], "missing_required_parameter", "session.audio.input.format.type"),
    ("format-pcm-16k", [update(format={"type": "audio/pcm", "rate": 16000})], "invalid_value", "session.audio.input.format.rate"),
    ("format-as-string", [update(format="pcm16")], "invalid_type", "session.audio.input.format"),
    ("language-number", [transcription(language=5)], "invalid_type", "session.audio.input.transcription.language"),
    ("language-klingon", [transcription(language="tlh")], "unsupported_language", "session.audio.input.transcription.language"),
    ("language-zh-on-pocketsphinx", [transcription(language="zh")], "unsupported_language",
     "session.audio.input.transcription.language"),
    ("prompt-number", [transcription(prompt=3)], "invalid_type", "session.audio.input.transcription.prompt"),
    ("prompt-too-long", [transcription(prompt="x" * 5000)], "invalid_value", "session.audio.input.transcription.prompt"),
    ("transcription-unknown", [transcription(temperature=0.2)], "unknown_parameter", "session.audio.input.transcription.temperature"),
    ("model-array", [transcription(model=["whisper-1"])], "invalid_type", "session.audio.input.transcription.model"),
    ("keywords-string", [transcription(keywords="a,b")], "invalid_type", "session.audio.input.transcription.keywords"),
    ("keyword-with-comma", [transcription(keywords=["a,b"])], "invalid_value", "session.audio.input.transcription.keywords"),
    ("turn-detection-magic", [update(turn_detection={"type": "magic_vad"})], "invalid_value", "session.audio.input.turn_detection.type"),
    ("turn-detection-no-type", [update(turn_detection={})], "missing_required_parameter", "session.audio.input.turn_detection.type"),
    ("vad-threshold-2", [vad(threshold=2)], "invalid_value", "session.audio.input.turn_detection.threshold"),
    ("vad-threshold-string", [vad(threshold="high")], "invalid_type", "session.audio.input.turn_detection.threshold"),
    ("vad-silence-negative", [vad(silence_duration_ms=-1)], "invalid_value", "session.audio.input.turn_detection.silence_duration_ms"),
    ("vad-padding-fraction", [vad(prefix_padding_ms=1.5)], "invalid_type", "session.audio.input.turn_detection.prefix_padding_ms"),
    ("vad-create-response-string", [vad(create_response="yes")], "invalid_type", "session.audio.input.turn_detection.create_response"),
    ("semantic-eagerness-very", [update(turn_detection={"type": "semantic_vad", "eagerness": "very"})], "invalid_value",
     "session.audio.input.turn_detection.eagerness"),
    ("noise-reduction-studio", [update(noise_reduction={"type": "studio"})], "invalid_value", "session.audio.input.noise_reduction.type"),
    ("include-unknown", [{"type": "session.update", "session": {"type": "transcription", "include": ["item.audio"]}}], "invalid_value",
     "session.include"),
    ("include-string", [{"type": "session.update", "session": {"type": "transcription", "include": "logprobs"}}], "invalid_type",
     "session.include"),
    ("beta-format-wav", [{"type": "transcription_session.update", "session": {"input_audio_format": "wav"}}], "invalid_value",
     "session.input_audio_format"),
    ("beta-transcription-number", [{"type": "transcription_session.update", "session": {"input_audio_transcription": 5}}],
     "invalid_type", "session.input_audio_transcription"),
    ("beta-unknown-field", [{"type": "transcription_session.update", "session": {"voice": "alloy"}}], "unknown_parameter",
     "session.voice"),
    ("update-mid-turn-manual", [MANUAL, {"type": "input_audio_buffer.append", "audio": b64_ms(200)}, update(format={"type": "audio/pcmu"})],
     "session_update_during_turn", "session"),
    ("binary-frame", [bytes(4800)], "invalid_event", None),
    ("event-over-4MiB", [json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (4 << 20)})], "event_too_large", None),
    # Legal, for contrast: no error.
    ("append-3MiB-ok", [{"type": "input_audio_buffer.append", "audio": b64_ms(30_000)}], None, None),
    ("append-odd-byte-ok", [{"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01").decode()}], None, None),
    ("update-flat-in-session-update-ok", [{"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}], None, None),
    ("update-between-turns-ok", [MANUAL, {"type": "input_audio_buffer.append", "audio": b64_ms(200)}, {"type": "input_audio_buffer.commit"},
                                 update(format={"type": "audio/pcma"})], None, None),
]


@pytest.mark.parametrize("frames,code,param", [case[1:] for case in BAD_EVENTS], ids=[case[0] for case in BAD_EVENTS])
def test_a_bad_event_gets_a_documented_error_and_the_session_goes_on(gateway, frames, code, param):
    frames = [{**f, "event_id": f.get("event_id", f"c{i}")} if isinstance(f, dict) and "event_id" not in f else f
              for i, f in enumerate(frames)]
    events, ws = asyncio.run(raw_session(gateway, frames))
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert events[-1]["type"] == "input_audio_buffer.cleared", events[-3:]
    if code is None:
        assert not errors, errors
        return
    assert [e["code"] for e in errors] == [code], errors
    error = errors[0]
    assert error["type"] == "invalid_request_error" and error["message"], error
    assert error["param"] == param, error
    last = frames[-1]
    if isinstance(last, dict) and isinstance(last.get("event_id"), str) and len(last["event_id"]) <= 512:
        assert error["event_id"] == last["event_id"], error


def test_bad_events_leave_the_server_serving(gateway):
    assert len(BAD_EVENTS) >= 50
    assert asyncio.run(sdk_session(gateway, convert(wav_pcm(CLIPS[0]), "pcm"), turn_detection=None, realtime=False))


# ---------------------------------------------------------------- README's examples


@pytest.mark.slow
def test_the_readme_examples_transcribe_a_recording(gateway, speech):
    """examples/realtime_transcribe.py (the openai SDK) and examples/stream_wav.py (protocol v1), as README runs them."""
    import sys
    from conftest import ROOT
    recording = speech("please turn off the lights in the kitchen")
    realtime = subprocess.run([sys.executable, str(ROOT / "examples" / "realtime_transcribe.py"), f"http://127.0.0.1:{gateway.port}/v1",
                               TOKEN, str(recording), "en"], capture_output=True, text=True, timeout=60)
    assert realtime.returncode == 0 and "[item_" in realtime.stdout, realtime.stdout + realtime.stderr
    assert wer("please turn off the lights in the kitchen", realtime.stdout.split("] ")[-1].strip()) <= 0.25, realtime.stdout
    v1 = subprocess.run([sys.executable, str(ROOT / "examples" / "stream_wav.py"), stream_url(gateway), str(recording)],
                        capture_output=True, text=True, timeout=60)
    assert v1.returncode == 0 and "completed" in v1.stdout, v1.stdout + v1.stderr
