"""The official `openai` Python SDK, unmodified, against POST /v1/audio/transcriptions."""
import re

import openai
import pytest

from conftest import TOKEN, direct_decode


@pytest.fixture
def client(server):
    return openai.OpenAI(api_key=TOKEN, base_url=f"http://127.0.0.1:{server.port}/v1", max_retries=0)


SENTENCE = "please turn off the lights in the kitchen"


def test_json_and_text(client, speech):
    path = speech(SENTENCE)
    with open(path, "rb") as f:
        result = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert result.text == direct_decode(path)
    with open(path, "rb") as f:
        text = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="text", language="en")
    assert text.strip() == result.text


def test_verbose_json_with_words(client, speech):
    path = speech(SENTENCE)
    with open(path, "rb") as f:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert result.text == direct_decode(path)
    assert result.language == "english"
    assert 2.0 < result.duration < 4.0
    assert result.segments and result.segments[0].start < result.segments[0].end
    assert [w.word for w in result.words] == result.text.split()
    assert all(a.start <= b.start for a, b in zip(result.words, result.words[1:]))


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_parse(client, speech, fmt):
    path = speech("go forward ten meters")
    with open(path, "rb") as f:
        subtitles = client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt)
    separator = "," if fmt == "srt" else "."
    cue = re.compile(rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d) --> (\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)")
    lines = subtitles.strip().splitlines()
    if fmt == "vtt":
        assert lines[0] == "WEBVTT" and lines[1] == ""
        lines = lines[2:]
    else:
        assert lines[0] == "1"
        lines = lines[1:]
    match = cue.fullmatch(lines[0])
    assert match, lines[0]
    start = sum(int(v) * m for v, m in zip(match.groups()[:4], (3600000, 60000, 1000, 1)))
    end = sum(int(v) * m for v, m in zip(match.groups()[4:], (3600000, 60000, 1000, 1)))
    assert 0 <= start < end
    assert lines[1] == direct_decode(path)


def test_errors_in_openai_shape(client, server, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01" + bytes(range(256)) * 10)
    with pytest.raises(openai.APIStatusError) as raised, open(junk, "rb") as f:
        client.audio.transcriptions.create(model="whisper-1", file=f)
    assert raised.value.status_code == 415
    assert raised.value.body["code"] == "unsupported_format" and raised.value.body["message"]
    wrong = openai.OpenAI(api_key="wrong", base_url=f"http://127.0.0.1:{server.port}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError), open(junk, "rb") as f:
        wrong.audio.transcriptions.create(model="whisper-1", file=f)
