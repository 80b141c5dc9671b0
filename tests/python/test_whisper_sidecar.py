"""sidecars/whisper/server.py, the local OpenAI-compatible Whisper server, through the official `openai` SDK.

The session's sidecar runs with default flags: Whisper base (multilingual). One test starts a tiny.en sidecar."""
import json
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import openai
import pytest

from conftest import WhisperSidecar, wav_pcm
from mandarin_speech import cer, mandarin_clip
from wer import wer

SENTENCE = "please turn off the lights in the kitchen and close the window"
# About twenty seconds of flite speech: a request that keeps the single inference slot busy for a while.
LONG = (
    "the weather was cold and grey when the train left the station early in the morning. "
    "most of the passengers were reading newspapers or looking out of the windows at the fields. "
    "after two hours the train stopped in a small town, and a woman with a large red suitcase got on. "
    "she sat down near the door and began to write a long letter to her brother in the city."
)
KEY = "sidecar-test-key"


def seconds(path) -> float:
    return len(wav_pcm(path)) / 2 / 16000


@pytest.fixture(scope="module")
def client(whisper_sidecar):
    return openai.OpenAI(api_key="unused", base_url=whisper_sidecar.base_url, max_retries=0)


@pytest.fixture(scope="module")
def strict():
    """A sidecar with an API key, one inference at a time and no queue, and a 2 MB upload limit."""
    instance = WhisperSidecar("--api-key", KEY, "--max-concurrent", "1", "--queue", "0", "--max-upload-bytes", "2000000")
    yield instance
    instance.stop()


def transcribe(client, path, **options):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, **options)


def post(url: str, fields: dict, file: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    """A hand-made multipart POST (the SDK cannot leave out the file); returns status and JSON body."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    if file is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + file + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# Characters that exist only in Traditional writing (their Simplified forms differ): none may be in a Mandarin answer.
TRADITIONAL_ONLY = set("們個這時點氣會後對說現電話頭間東車買賣樂過還開關門問題")
# ~20 s each of pinyin espeak-ng speech, voice f2 (measured CER with base: 0.34-0.44 and 0.18-0.22 over five runs:
# CTranslate2's int8 on 2 threads is not bit-for-bit repeatable; the plain cmn-latn-pinyin voice reads the second
# clip worse, 0.53).
MANDARIN = [
    ("cmn-latn-pinyin+f2", "电话响了，快去接一下。周末我想在家看书。这家饭馆的菜非常好吃。请把门关上，外面太冷了。"
                           "我们的飞机晚上十点起飞。孩子们在学校里学习中文。"),
    ("cmn-latn-pinyin+f2", "请给我一杯热水，谢谢。我们一起唱首歌吧！这件衣服太贵了，便宜一点吧。会议室在三楼的东边。"
                        "妈妈在厨房里做晚饭。下雨了，别忘了带伞。"),
]
# Without guards, base loops on this clip (0.5 s of silence before and 2.5 s after the sentence) until the window's
# 448 tokens run out: "以分货的，以奥的，以奥的，..." (CER 14.9).
LOOPING = "医生说他需要多休息。"


def health(sidecar) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.port}/health") as response:
        return json.loads(response.read())


def test_health_models_and_load_time(whisper_sidecar, client):
    answer = health(whisper_sidecar)
    assert answer["status"] == "ok" and answer["model"] == "base" and answer["multilingual"] is True
    assert {"en", "zh", "fr", "ja"} <= set(answer["languages"]) and "yue" not in answer["languages"]
    assert answer["running"] == 0 and answer["waiting"] == 0
    assert whisper_sidecar.load_seconds < 30, whisper_sidecar.load_seconds
    print(f"whisper sidecar healthy {whisper_sidecar.load_seconds:.2f}s after start")
    ids = [m.id for m in client.models.list()]
    assert "whisper-1" in ids and "base" in ids


def test_tiny_en_is_english_only(speech):
    tiny = WhisperSidecar("--model", "tiny.en")
    try:
        answer = health(tiny)
        assert answer["model"] == "tiny.en" and answer["multilingual"] is False and answer["languages"] == ["en"]
        client = openai.OpenAI(api_key="unused", base_url=tiny.base_url, max_retries=0)
        assert "tiny.en" in [m.id for m in client.models.list()]
        path = speech(SENTENCE)
        result = transcribe(client, path, response_format="verbose_json")
        assert result.language == "english" and wer(SENTENCE, result.text) <= 0.25, result.text
        with pytest.raises(openai.BadRequestError) as raised:
            transcribe(client, path, language="zh")
        assert raised.value.body["code"] == "unsupported_language"
    finally:
        tiny.stop()


@pytest.mark.slow
def test_json_text_is_the_sentence(client, speech):
    path = speech(SENTENCE)
    result = transcribe(client, path)
    assert wer(SENTENCE, result.text) <= 0.25, result.text
    assert transcribe(client, path, response_format="text", language="en").strip() == result.text


@pytest.mark.slow
def test_verbose_json_segments_and_words(client, speech):
    path = speech(SENTENCE)
    result = transcribe(client, path, response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert result.task == "transcribe" and result.language == "english"
    assert abs(result.duration - seconds(path)) < 0.05
    assert wer(SENTENCE, result.text) <= 0.25, result.text
    assert result.segments and result.words
    assert wer(SENTENCE, " ".join(w.word for w in result.words)) <= 0.25
    for items in (result.segments, result.words):
        times = [t for item in items for t in (item.start, item.end)]
        assert times == sorted(times) and 0 <= times[0] and times[-1] <= result.duration, times
    segment = result.segments[0]
    assert segment.id == 0 and segment.tokens and segment.temperature == 0
    assert segment.avg_logprob < 0 and 0 <= segment.no_speech_prob <= 1
    plain = transcribe(client, path, response_format="verbose_json")
    assert plain.segments and not getattr(plain, "words", None)


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles(client, speech, fmt):
    path = speech(SENTENCE)
    separator = "," if fmt == "srt" else "."
    stamp = rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)"
    text = transcribe(client, path, response_format=fmt)
    lines = text.strip().splitlines()
    if fmt == "vtt":
        assert lines[:2] == ["WEBVTT", ""]
        cues = text.strip().split("\n\n")[1:]
    else:
        cues = text.strip().split("\n\n")
    spoken, previous_end = [], 0
    for number, cue in enumerate(cues, 1):
        cue_lines = cue.splitlines()
        if fmt == "srt":
            assert cue_lines.pop(0) == str(number)
        match = re.fullmatch(f"{stamp} --> {stamp}", cue_lines[0])
        assert match, cue_lines[0]
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start, end = h1 * 3600000 + m1 * 60000 + s1 * 1000 + ms1, h2 * 3600000 + m2 * 60000 + s2 * 1000 + ms2
        assert previous_end <= start < end <= seconds(path) * 1000 + 1
        previous_end = end
        spoken.extend(cue_lines[1:])
    assert wer(SENTENCE, " ".join(spoken)) <= 0.25, spoken


def test_request_errors_in_openai_shape(client, whisper_sidecar, speech, tmp_path):
    path = speech(SENTENCE)
    with pytest.raises(openai.BadRequestError) as raised:
        transcribe(client, path, timestamp_granularities=["word"])
    assert raised.value.body["param"] == "timestamp_granularities"
    with pytest.raises(openai.BadRequestError) as raised:
        transcribe(client, path, language="yue")  # a Whisper language that base has no token for (large-v3 has)
    assert raised.value.body["code"] == "unsupported_language"
    with pytest.raises(openai.BadRequestError) as raised:
        transcribe(client, path, language="xx")
    assert raised.value.body["code"] == "invalid_language"

    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"\x00\x01RIFF" + bytes(range(256)) * 40)
    with pytest.raises(openai.BadRequestError) as raised:
        transcribe(client, junk)
    assert raised.value.body["type"] == "invalid_request_error" and raised.value.body["message"]

    status, body = post(f"{whisper_sidecar.base_url}/audio/transcriptions", {"model": "whisper-1"})
    assert status == 400 and body["error"]["param"] == "file" and body["error"]["type"] == "invalid_request_error"


def test_api_key_and_upload_limit(strict, speech, tmp_path):
    path = speech(SENTENCE)
    with pytest.raises(openai.AuthenticationError) as raised:
        transcribe(openai.OpenAI(api_key="wrong", base_url=strict.base_url, max_retries=0), path)
    assert raised.value.body["code"] == "invalid_api_key"
    status, body = post(f"{strict.base_url}/audio/transcriptions", {"model": "whisper-1"}, path.read_bytes())
    assert status == 401 and body["error"]["type"] == "invalid_request_error"

    client = openai.OpenAI(api_key=KEY, base_url=strict.base_url, max_retries=0)
    assert wer(SENTENCE, transcribe(client, path).text) <= 0.25
    assert KEY not in strict.output()

    big = tmp_path / "big.wav"
    big.write_bytes(path.read_bytes() * (2_100_000 // path.stat().st_size + 1))
    with pytest.raises(openai.APIStatusError) as raised:
        transcribe(client, big)
    assert raised.value.status_code == 413 and raised.value.body["code"] == "file_too_large"


@pytest.mark.slow
def test_busy_when_the_only_slot_is_taken(strict, speech):
    client = openai.OpenAI(api_key=KEY, base_url=strict.base_url, max_retries=0)
    long, short = speech(LONG), speech(SENTENCE)
    assert seconds(long) > 15
    results = []
    worker = threading.Thread(target=lambda: results.append(transcribe(client, long)))
    worker.start()
    try:
        for _ in range(1000):  # until the long request holds the slot (it holds it for about a second or more)
            with urllib.request.urlopen(f"http://127.0.0.1:{strict.port}/health") as response:
                if json.loads(response.read())["running"] == 1:
                    break
            time.sleep(0.01)
        else:
            pytest.fail("the long request never started")
        with pytest.raises(openai.APIStatusError) as raised:
            transcribe(client, short)
        assert raised.value.status_code == 503 and raised.value.body["code"] == "busy"
    finally:
        worker.join(timeout=120)
    assert results and wer(LONG, results[0].text) <= 0.25, results
    assert wer(SENTENCE, transcribe(client, short).text) <= 0.25  # the slot is free again


# --- Mandarin, silence and noise ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mandarin(tmp_path_factory):
    """mandarin(text, voice, pad=False) -> a 16 kHz WAV of `text` read by espeak-ng from its pinyin (pypinyin).

    The clips of tests/python/mandarin_speech.py (the Mandarin corpus the benchmarks use too)."""
    directory = tmp_path_factory.mktemp("mandarin")

    def make(text: str, voice: str = "cmn-latn-pinyin", pad: bool = False) -> Path:
        path = mandarin_clip(text, voice=voice, directory=directory)
        if not pad:
            return path
        padded = path.with_name(path.stem + "-padded.wav")
        if not padded.exists():
            subprocess.run(["sox", str(path), str(padded), "pad", "0.5", "2.5"], check=True)
        return padded

    return make


def test_wrong_script_is_decoded_again_unless_marked_a_partial(whisper_sidecar):
    """Guard rule 6 on the clip that needs it: greedy base ends espeak-ng's 明天早上八点叫我起床 in English."""
    from mandarin_speech import SENTENCES
    clip = mandarin_clip(SENTENCES[1]).read_bytes()
    url = f"{whisper_sidecar.base_url}/audio/transcriptions"
    fields = {"model": "whisper-1", "language": "zh", "temperature": "0"}
    status, full = post(url, fields, clip)
    assert status == 200 and not re.search(r"[A-Za-z]", full["text"]), full
    assert cer(SENTENCES[1], full["text"]) <= 0.4, full["text"]  # the beam-search retry heard 叫我起床
    status, preview = post(url, fields | {"realtime_voice_partial": "true"}, clip)
    assert status == 200 and not re.search(r"[A-Za-z]", preview["text"]), preview  # dropped, not decoded again
    # Never better than the retried decode. Usually worse (the English tail dropped), but int8 base on 2 threads
    # does not decode the same clip the same way every time: now and then greedy gets it in Chinese at once
    # (seen once in a full run on 2026-12-07: both '明天早上拍天，叫我起床').
    assert cer(SENTENCES[1], preview["text"]) >= cer(SENTENCES[1], full["text"]), (preview["text"], full["text"])


@pytest.mark.slow
def test_mandarin_answers_in_simplified_characters(client, mandarin):
    errors = characters = 0
    for voice, text in MANDARIN:
        result = transcribe(client, mandarin(text, voice), language="zh", response_format="verbose_json",
                            timestamp_granularities=["word", "segment"])
        assert result.language == "chinese"
        pieces = [result.text] + [s.text for s in result.segments] + [w.word for w in result.words]
        found = {c for piece in pieces for c in piece if c in TRADITIONAL_ONLY}
        assert not found, (found, result.text)
        assert not re.search(r"[\u4e00-\u9fff][,?!:;]|[\u4e00-\u9fff] +[\u4e00-\u9fff]", result.text), result.text
        print(f"CER {cer(text, result.text):.2f}: {result.text}")
        errors += cer(text, result.text) * sum(c.isalnum() for c in text)
        characters += sum(c.isalnum() for c in text)
    # measured 0.26-0.33 on these two clips (synthetic speech: Whisper base hears it far worse than real speech)
    assert errors / characters <= 0.45, errors / characters


def test_mandarin_repetition_loop_is_cut(client, mandarin):
    path = mandarin(LOOPING, "cmn-latn-pinyin+f2", pad=True)
    started = time.monotonic()
    result = transcribe(client, path, language="zh", response_format="verbose_json")
    elapsed = time.monotonic() - started
    assert len(result.text) <= 3 * len(LOOPING), result.text
    assert not re.search(r"(.{1,20}?)\1{3,}", result.text), result.text
    print(f"{elapsed:.2f}s for {result.duration:.1f}s: {result.text}")


@pytest.mark.parametrize("kind", ["silence", "pink noise"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_silence_and_noise_transcribe_to_nothing(client, tmp_path, kind, language):
    path = tmp_path / "audio.wav"
    synth = ["trim", "0", "2"] if kind == "silence" else ["synth", "2", "pinknoise", "vol", "0.05"]
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), *synth], check=True)
    result = transcribe(client, path, language=language, response_format="verbose_json")
    assert result.text == "" and result.segments == [], result.text
