"""Hotwords on the stream and upload endpoints: what PocketSphinx does with them (words it lacks are added, the rest
reported), how bad lists are refused, the server's --hotwords-file, and that one session's words never reach the next.
Tencent's hotword_list is checked in test_tencent_engine.py, Whisper's in test_whisper_engine.py; the effect on
recognition per engine is measured by bench/hotwords_bench.py."""
import asyncio
import json
import subprocess
import urllib.parse

import pytest
import websockets

from conftest import BINARY, TOKEN, Server, wav_pcm
from gateway_client import stream, stream_url, upload

ZORBLAX = "zorblax|10|Z AO R B L AE K S"  # not in CMUdict: the pronunciation is given


@pytest.fixture(scope="module")
def gateway():
    """One decoder, so that consecutive sessions share (and would leak into) the same decoder slot."""
    instance = Server("--token", TOKEN, "--decoders", "1")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def zorblax(speech):
    return speech("I met zorblax at the station", voice="slt")


@pytest.fixture(scope="module")
def powerbank(speech):
    return speech("I charged my phone with a powerbank yesterday")


def text_of(answer: dict) -> str:
    return answer["data"]["text"]


def test_pocketsphinx_adds_a_word_it_lacks_from_the_given_pronunciation(gateway, zorblax):
    status, plain = upload(gateway, zorblax)
    assert status == 200 and "zorblax" not in text_of(plain), plain
    status, boosted = upload(gateway, zorblax, hotwords=ZORBLAX)
    assert status == 200 and "zorblax" in text_of(boosted).split(), boosted
    assert "hotwords_ignored" not in boosted["data"], boosted


def test_pocketsphinx_derives_a_pronunciation_from_dictionary_words(gateway, powerbank):
    status, plain = upload(gateway, powerbank)
    assert status == 200 and "powerbank" not in text_of(plain).split(), plain
    status, boosted = upload(gateway, powerbank, hotwords="powerbank")  # power + bank
    assert status == 200 and "powerbank" in text_of(boosted).split(), boosted


def test_one_sessions_words_never_reach_the_next(gateway, zorblax):
    """The decoder a hotword session used is replaced by a fresh one, not lent again with the word in it."""
    for _ in range(2):
        status, boosted = upload(gateway, zorblax, hotwords=ZORBLAX)
        assert status == 200 and "zorblax" in text_of(boosted), boosted
        status, plain = upload(gateway, zorblax)
        assert status == 200 and "zorblax" not in text_of(plain), plain
    pcm = wav_pcm(zorblax)
    events, code = asyncio.run(stream(stream_url(gateway), pcm, realtime=False))
    assert code == 1000 and "zorblax" not in " ".join(e["text"] for e in events if e["type"] == "final"), events


def test_what_pocketsphinx_ignores_is_named_on_the_upload_and_in_a_stream_notice(gateway, zorblax):
    hotwords = f"{ZORBLAX},station,the gateway,xyzzyq,腾讯云"
    status, answer = upload(gateway, zorblax, hotwords=hotwords)
    assert status == 200 and "zorblax" in text_of(answer), answer
    ignored = {entry["phrase"]: entry["reason"] for entry in answer["data"]["hotwords_ignored"]}
    assert list(ignored) == ["station", "the gateway", "xyzzyq", "腾讯云"], ignored
    assert "already knows" in ignored["station"] and "pronunciation" in ignored["xyzzyq"] and "English" in ignored["腾讯云"]

    url = stream_url(gateway, hotwords=urllib.parse.quote(hotwords, safe=""))
    events, code = asyncio.run(stream(url, wav_pcm(zorblax), realtime=False))
    assert code == 1000 and [e["type"] for e in events[:2]] == ["ready", "notice"], events
    notice = events[1]
    assert notice["code"] == "hotwords_ignored" and "4 of the 5" in notice["message"], notice
    assert {entry["phrase"]: entry["reason"] for entry in notice["hotwords"]} == ignored
    assert "zorblax" in " ".join(e["text"] for e in events if e["type"] == "final"), events


BAD_LISTS = [
    ("zorblax|12", "weight"),
    ("zorblax|10|K QQ|x", "phrase|weight|pronunciation"),
    ("a" * 31, "1 to 30 characters"),
    (",".join(f"w{i}" for i in range(129)), "At most 128"),
]


@pytest.mark.parametrize("hotwords, says", BAD_LISTS)
def test_a_bad_list_is_refused_before_any_audio(gateway, zorblax, hotwords, says):
    status, answer = upload(gateway, zorblax, hotwords=hotwords)
    assert status == 400 and answer["error"] == "invalid_hotwords" and says in answer["message"], answer

    async def connect():
        url = stream_url(gateway, hotwords=urllib.parse.quote(hotwords, safe=""))
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        return refused.value.response

    response = asyncio.run(connect())
    body = json.loads(response.body)
    assert response.status_code == 400 and body["error"] == "invalid_hotwords" and says in body["message"], body


def test_the_servers_hotwords_file_applies_to_every_session_and_merges(tmp_path, zorblax, powerbank):
    listing = tmp_path / "hotwords.txt"
    listing.write_text(f"# product names\n{ZORBLAX}\n\n腾讯云|5\n")
    server = Server("--token", TOKEN, "--hotwords-file", str(listing), "--max-hotwords", "3")
    try:
        status, answer = upload(server, zorblax)
        assert status == 200 and "zorblax" in text_of(answer), answer
        assert [entry["phrase"] for entry in answer["data"]["hotwords_ignored"]] == ["腾讯云"], answer
        status, answer = upload(server, powerbank, hotwords="powerbank")
        assert status == 200 and "powerbank" in text_of(answer).split(), answer
        status, answer = upload(server, powerbank, hotwords="powerbank,battery")  # 2 + 2 > 3
        assert status == 400 and answer["error"] == "invalid_hotwords" and "2 of them from the server's list" in answer["message"]
    finally:
        server.stop()


def test_serve_refuses_a_bad_hotwords_file_naming_the_entry(tmp_path):
    listing = tmp_path / "hotwords.txt"
    listing.write_text("fine\nbroken|0\n")
    result = subprocess.run([str(BINARY), "serve", "--engine", "pocketsphinx", "--port", "0", "--hotwords-file", str(listing)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and str(listing) in result.stderr and "broken|0" in result.stderr, result.stderr


def test_on_an_engine_without_prompts_an_openai_prompt_is_read_as_the_hotword_list(gateway, zorblax):
    """OpenAI-shaped requests carry hotwords in `prompt`: PocketSphinx (and Tencent) have no use for a prompt, so a
    prompt that is a hotword list is taken as one; one that is not (a sentence over the length limit) changes nothing."""
    import urllib.request
    from gateway_client import multipart

    def transcribe(prompt: str) -> str:
        body, content_type = multipart({"model": "whisper-1", "prompt": prompt}, {"file": zorblax.read_bytes()})
        request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/v1/audio/transcriptions", data=body,
                                         headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["text"]

    assert "zorblax" in transcribe(ZORBLAX).split()
    assert "zorblax" not in transcribe("This is a long recording of people meeting friends at the station.").split()
    status, answer = upload(gateway, zorblax, prompt=ZORBLAX)  # the recognize endpoint's form too
    assert status == 200 and "zorblax" in text_of(answer).split(), answer
