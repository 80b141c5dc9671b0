"""The gateway's `openai` engine against the real Whisper sidecar (the session's, base), with no mock of transcription.

Faults come from openai_fault_proxy.py, a small HTTP proxy in front of the same sidecar: delays, 500s, a server that
refuses verbose_json. Every gateway here is given an OpenAI API key; none of the keys may appear in a gateway log."""
import asyncio
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest

from conftest import TOKEN, Server, WhisperSidecar, free_port, wav_pcm
from gateway_client import multipart, non_decreasing, speech_bounds, stream, stream_url, upload
from openai_fault_proxy import OpenAIFaultProxy
from wer import wer

# Sent as OPENAI_API_KEY by every gateway of this module (the keyless sidecar ignores it).
GATEWAY_KEY = "sk-gateway-test-7f3a9c1e5b2d8a64"
SIDECAR_KEY = "sk-sidecar-test-4e8b2a6d9c0f1735"
WRONG_KEY = "sk-wrong-test-1a2b3c4d5e6f7a8b"
KEYS = (GATEWAY_KEY, SIDECAR_KEY, WRONG_KEY)

# Three espeak-ng sentences, no commas (an inner pause must not split one), joined with 1.5 s of silence.
SENTENCES = [
    "The train to the city leaves from platform four every morning at eight",
    "Please remember to bring your passport and a warm coat for the trip",
    "We will stop for lunch in a small village near the lake",
]
GAP_S, LEAD_S, TAIL_S = 1.5, 0.5, 1.5
# Measured: the finals' WER is 0.08-0.18 with tiny.en (the sidecar's own answers on the whole clips are the same).
MAX_WER = 0.35
FLITE_SENTENCE = "please turn off the lights in the kitchen"


# ---------------------------------------------------------------- helpers


def sidecar_answer(sidecar, path) -> dict:
    """The sidecar's own answer for a file, asked exactly as the gateway asks (verbose_json, words and segments)."""
    client = openai.OpenAI(api_key="unused", base_url=sidecar.base_url, max_retries=0)
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, language="en", temperature=0,
                                                  response_format="verbose_json", timestamp_granularities=["segment", "word"]).model_dump()


# ---------------------------------------------------------------- fixtures


def start_openai_gateway(base_url: str, *args: str, key: str = GATEWAY_KEY) -> Server:
    return Server("--token", TOKEN, "--engine", "openai", "--decoders", "1", "--openai-base-url", base_url, *args,
                  env={"OPENAI_API_KEY": key})


def assert_no_key_logged(servers) -> None:
    for server in servers:
        log = server.output()
        for key in KEYS:
            assert key not in log and key[:12] not in log, f"an API key is in the log of the gateway on port {server.port}"


@pytest.fixture(scope="module")
def gateway(whisper_sidecar):
    """A gateway whose default engine is openai, straight on the shared sidecar."""
    server = start_openai_gateway(whisper_sidecar.base_url)
    yield server
    assert_no_key_logged([server])
    server.stop()


@pytest.fixture
def start_gateway():
    """start_gateway(base_url, *args, key=...) -> a gateway for one test; its log is checked for keys at the end."""
    started = []

    def start(base_url: str, *args: str, key: str = GATEWAY_KEY) -> Server:
        started.append(start_openai_gateway(base_url, *args, key=key))
        return started[-1]

    yield start
    try:
        assert_no_key_logged(started)
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def proxy(whisper_sidecar):
    instance = OpenAIFaultProxy(whisper_sidecar.base_url)
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def paragraph(tmp_path_factory):
    """The three sentences spoken by espeak-ng, 16 kHz mono: (WAV path, PCM, [(text, speech start s, speech end s)])."""
    directory = tmp_path_factory.mktemp("espeak")
    pcm, sentences = bytes(int(LEAD_S * 32000)), []
    for i, text in enumerate(SENTENCES):
        raw, wav = directory / f"raw{i}.wav", directory / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)], check=True)
        clip = wav_pcm(wav)
        first, last = speech_bounds(clip)
        offset = len(pcm) // 2
        sentences.append((text, (offset + first) / 16000, (offset + last) / 16000))
        pcm += clip + bytes(int((GAP_S if i < len(SENTENCES) - 1 else TAIL_S) * 32000))
    path = directory / "paragraph.wav"
    subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-", str(path)], input=pcm, check=True)
    return path, pcm, sentences


# ---------------------------------------------------------------- 1. one-shot


@pytest.mark.slow
def test_upload_and_openai_api_give_the_sidecars_own_answer(gateway, whisper_sidecar, paragraph):
    path, _, _ = paragraph
    direct = sidecar_answer(whisper_sidecar, path)
    assert direct["text"] and len(direct["segments"]) >= 1

    status, body = upload(gateway, path)
    assert status == 200 and body["code"] == 0, body
    data = body["data"]
    assert data["engine"] == "openai" and data["text"] == direct["text"], (data["text"], direct["text"])
    assert abs(data["duration_ms"] - len(paragraph[1]) // 32) <= 1
    assert [s["text"] for s in data["segments"]] == [s["text"].strip() for s in direct["segments"]]
    assert non_decreasing(data["segments"]), data["segments"]
    words = [w for s in data["segments"] for w in s["words"]]
    assert words and non_decreasing(words), words
    for segment in data["segments"]:
        assert all(segment["start_ms"] <= w["start_ms"] for w in segment["words"]), segment
    assert words[-1]["end_ms"] <= data["duration_ms"]

    client = openai.OpenAI(api_key=TOKEN, base_url=f"http://127.0.0.1:{gateway.port}/v1", max_retries=0)
    with open(path, "rb") as f:
        assert client.audio.transcriptions.create(model="openai", file=f).text == direct["text"]
    with open(path, "rb") as f:
        verbose = client.audio.transcriptions.create(model="openai", file=f, response_format="verbose_json",
                                                     timestamp_granularities=["word", "segment"])
    assert verbose.text == direct["text"]
    assert non_decreasing([s.model_dump() for s in verbose.segments], "start", "end")
    assert verbose.words and non_decreasing([w.model_dump() for w in verbose.words], "start", "end")


# ---------------------------------------------------------------- 2. streaming


@pytest.mark.slow
def test_stream_of_a_paragraph_gives_partials_and_one_final_per_sentence(gateway, paragraph):
    _, pcm, sentences = paragraph
    events, close_code = asyncio.run(stream(stream_url(gateway), pcm))
    assert events[0]["type"] == "ready" and events[0]["engine"] == "openai", events[0]
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    assert events[-1]["duration_ms"] == len(pcm) // 32 and events[-1]["session_id"] == events[0]["session_id"]
    finals = [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]
    assert [f["segment"] for f in finals] == list(range(len(SENTENCES))), [(f["segment"], f["text"]) for f in finals]

    lines = ["openai engine, espeak paragraph at real-time pace (latency = arrival - moment that audio was sent):"]
    previous_end = -1
    for index, (final, (text, speech_start, speech_end)) in enumerate(zip(finals, sentences)):
        own = [p for p in partials if p["segment"] == index]
        assert own and own[0]["_at"] < final["_at"], f"no partial before final {index}"
        assert final["start_ms"] > previous_end and final["start_ms"] <= final["end_ms"], finals
        previous_end = final["end_ms"]
        # Stream times: the final lies over its own sentence, well inside the 1.5 s silences around it. Measured:
        # it starts 0.3 s early (the segmenter's 0.3 s pre-roll; tiny.en puts the first word at the clip's start)
        # and ends up to 0.3 s late (the last word's end runs into the silence).
        assert speech_start * 1000 - 700 <= final["start_ms"] < speech_end * 1000, (final, speech_start, speech_end)
        assert speech_start * 1000 < final["end_ms"] <= speech_end * 1000 + 700, (final, speech_start, speech_end)
        assert final["words"] and non_decreasing(final["words"])
        assert final["start_ms"] <= final["words"][0]["start_ms"] and final["words"][-1]["end_ms"] <= final["end_ms"]
        error_rate = wer(text, final["text"])
        lines.append(f"  sentence {index}: speech {speech_start:.2f}-{speech_end:.2f} s, final {final['start_ms'] / 1000:.2f}-{final['end_ms'] / 1000:.2f} s, first partial +{own[0]['_at'] - speech_start:.2f} s "
                     f"after speech start ({len(own)} partials), final +{final['_at'] - speech_end:.2f} s after speech end, "
                     f"WER {error_rate:.2f}: {final['text']!r}")
        assert error_rate <= MAX_WER, (text, final["text"])
    print("\n" + "\n".join(lines))


@pytest.mark.slow
def test_partials_are_sent_when_the_answer_comes_not_at_the_next_chunk(gateway, paragraph):
    """A client may send audio in large chunks: a partial must not wait for the next one to be sent."""
    _, pcm, _ = paragraph
    chunk_s = 1.5
    events, close_code = asyncio.run(stream(stream_url(gateway), pcm, frame_ms=int(chunk_s * 1000)))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    partials = [e for e in events if e["type"] == "partial"]
    assert partials
    # Seconds from the last chunk sent to each partial: a request starts when a chunk arrives and takes ~0.4 s with
    # tiny.en, so answers land between chunks. Were partials sent only when audio arrives, all would be ~0.
    after_chunk = [p["_at"] % chunk_s for p in partials]
    assert max(after_chunk) >= 0.2, after_chunk


# ---------------------------------------------------------------- 3. upstream down


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["closed port", "no answer"])
def test_upstream_down_fails_the_session_and_the_gateway_lives_on(start_gateway, proxy, paragraph, speech, failure):
    if failure == "closed port":
        base_url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    else:
        base_url = proxy.configure(delay=30).base_url  # accepts, never answers within the timeout
    server = start_gateway(base_url, "--openai-timeout", "2")
    _, pcm, sentences = paragraph

    async def stream_and_upload():  # at the same time, to keep the test short
        uploaded = asyncio.create_task(asyncio.to_thread(upload, server, speech(FLITE_SENTENCE)))
        return await stream(stream_url(server), pcm), await uploaded

    (events, close_code), (status, body) = asyncio.run(stream_and_upload())
    assert status == 502 and body["error"] == "upstream_failed", body
    error = events[-1]
    assert error["type"] == "error" and error["code"] == "upstream_failed" and close_code == 1011, events[-3:]
    assert not any(e["type"] == "final" for e in events)
    # The first request starts 1 s (the partial interval) into the speech; 2 attempts of at most 2 s, 0.5 s apart.
    assert error["_at"] < sentences[0][1] + 1.2 + 2 * 2 + 0.5 + 1.0, error
    reason = "could not be reached" if failure == "closed port" else "no answer within"
    assert reason in error["message"] and reason in body["message"], (error, body)

    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
        assert response.status == 200
    events, close_code = asyncio.run(stream(stream_url(server, engine="pocketsphinx"), wav_pcm(speech(FLITE_SENTENCE)), realtime=False))
    assert events[0]["engine"] == "pocketsphinx" and events[-1]["type"] == "completed" and close_code == 1000, events
    assert wer(FLITE_SENTENCE, " ".join(e["text"] for e in events if e["type"] == "final")) <= 0.5, events


# ---------------------------------------------------------------- 4. slow upstream


@pytest.mark.slow
def test_a_slow_upstream_sees_one_request_at_a_time_from_a_session(start_gateway, proxy, paragraph):
    proxy.configure(delay=2)
    server = start_gateway(proxy.base_url, "--openai-partial-interval", "0.3")
    _, pcm, sentences = paragraph
    one_sentence = pcm[: int((sentences[0][2] + GAP_S) * 16000) * 2]
    events, close_code = asyncio.run(stream(stream_url(server), one_sentence))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 1 and wer(SENTENCES[0], finals[0]["text"]) <= MAX_WER, finals
    assert len(proxy.requests) >= 2, proxy.requests
    assert proxy.max_in_flight == 1, proxy.requests
    spans = sorted((r["started"], r["ended"]) for r in proxy.requests)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


# ---------------------------------------------------------------- 5. 5xx retry


def test_a_500_is_retried_once(start_gateway, proxy, speech):
    server = start_gateway(proxy.base_url)
    path = speech(FLITE_SENTENCE)

    proxy.configure(fail_first=1)
    status, body = upload(server, path)
    assert status == 200 and wer(FLITE_SENTENCE, body["data"]["text"]) <= 0.25, body
    assert [r["status"] for r in proxy.requests] == [500, 200]
    assert proxy.requests[1]["started"] - proxy.requests[0]["ended"] >= 0.4  # the 0.5 s back-off

    proxy.reset()
    proxy.configure(fail_first=2)
    status, body = upload(server, path)
    assert status == 502 and body["error"] == "upstream_failed" and "500" in body["message"], body
    assert [r["status"] for r in proxy.requests] == [500, 500]


# ---------------------------------------------------------------- 6. verbose_json refused


@pytest.mark.slow
def test_a_server_refusing_verbose_json_is_asked_for_json_from_then_on(start_gateway, proxy, whisper_sidecar, speech, paragraph):
    proxy.configure(refuse_verbose=True)
    server = start_gateway(proxy.base_url)
    path = speech(FLITE_SENTENCE)
    status, body = upload(server, path)
    assert status == 200 and wer(FLITE_SENTENCE, body["data"]["text"]) <= 0.25, body
    assert all(not s["words"] for s in body["data"]["segments"]), body
    first, second = proxy.requests
    assert first["status"] == 400 and first["fields"]["response_format"] == ["verbose_json"]
    assert first["fields"]["timestamp_granularities[]"] == ["segment", "word"]
    assert second["status"] == 200 and second["fields"]["response_format"] == ["json"] and "timestamp_granularities[]" not in second["fields"]

    proxy.reset()  # verbose_json would work again; the gateway must not ask for it
    status, body = upload(server, path)
    assert status == 200 and body["data"]["text"], body
    _, pcm, sentences = paragraph
    events, close_code = asyncio.run(stream(stream_url(server), pcm[: int((sentences[0][2] + GAP_S) * 16000) * 2]))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) == 1 and wer(SENTENCES[0], finals[0]["text"]) <= MAX_WER and finals[0]["words"] == [], finals
    assert len(proxy.requests) >= 2
    assert all(r["fields"]["response_format"] == ["json"] and r["status"] == 200 for r in proxy.requests), proxy.requests


@pytest.mark.slow
def test_lang_is_sent_as_its_iso_code_and_auto_lets_the_upstream_detect_it(start_gateway, proxy, speech):
    server = start_gateway(proxy.base_url)
    path = speech(FLITE_SENTENCE)
    for lang, sent in (("en-GB", ["en"]), ("auto", None)):
        proxy.reset()
        status, body = upload(server, path, lang=lang)
        assert status == 200 and wer(FLITE_SENTENCE, body["data"]["text"]) <= 0.25, body
        assert [r["fields"].get("language") for r in proxy.requests] == [sent], (lang, proxy.requests)
    proxy.reset()
    events, close_code = asyncio.run(stream(stream_url(server, lang="auto"), wav_pcm(path) + bytes(32000), realtime=False))
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    assert proxy.requests and all("language" not in r["fields"] for r in proxy.requests), proxy.requests


# ---------------------------------------------------------------- 7. API key


@pytest.mark.slow
def test_api_key_is_sent_and_never_shown(start_gateway, speech):
    keyed = WhisperSidecar("--api-key", SIDECAR_KEY)
    try:
        path = speech(FLITE_SENTENCE)
        good = start_gateway(keyed.base_url, key=SIDECAR_KEY)
        status, body = upload(good, path)
        assert status == 200 and wer(FLITE_SENTENCE, body["data"]["text"]) <= 0.25, body

        bad = start_gateway(keyed.base_url, key=WRONG_KEY)
        status, body = upload(bad, path)
        assert status == 502 and body["error"] == "upstream_rejected" and "401" in body["message"], body
        events, close_code = asyncio.run(stream(stream_url(bad), wav_pcm(path) + bytes(32000)))
        assert events[-1]["type"] == "error" and events[-1]["code"] == "upstream_rejected" and close_code == 1011, events[-3:]
        seen = json.dumps(body) + json.dumps(events)
        for key in KEYS:
            assert key not in seen and key[:12] not in seen
        assert_no_key_logged([good, bad])
        assert SIDECAR_KEY not in keyed.output() and WRONG_KEY not in keyed.output()
    finally:
        keyed.stop()


# ---------------------------------------------------------------- 8. busy


@pytest.mark.slow
def test_a_second_upload_is_busy_when_the_only_request_slot_is_taken(start_gateway, proxy, speech):
    proxy.configure(delay=3)
    server = start_gateway(proxy.base_url, "--openai-max-requests", "1", "--openai-queue", "0")
    path = speech(FLITE_SENTENCE)
    results = []
    worker = threading.Thread(target=lambda: results.append(upload(server, path)))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while proxy.in_flight == 0 and time.monotonic() < deadline:  # until the first upload holds the slot
            time.sleep(0.01)
        assert proxy.in_flight == 1
        status, body = upload(server, path)
        assert status == 503 and body["error"] == "busy", body
    finally:
        worker.join(timeout=60)
    assert results and results[0][0] == 200 and wer(FLITE_SENTENCE, results[0][1]["data"]["text"]) <= 0.25, results
    assert len(proxy.requests) == 1  # the busy upload never went upstream


@pytest.mark.slow
def test_a_queued_upload_is_busy_after_the_queue_timeout(start_gateway, proxy, speech):
    proxy.configure(delay=4)
    server = start_gateway(proxy.base_url, "--openai-max-requests", "1", "--openai-queue", "1", "--queue-timeout", "0.5")
    path = speech(FLITE_SENTENCE)
    worker = threading.Thread(target=upload, args=(server, path))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while proxy.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        status, body = upload(server, path)
        waited = time.monotonic() - started
        assert status == 503 and body["error"] == "busy" and "0.5" in body["message"], body
        assert 0.4 <= waited < 2.5, waited  # the configured wait, not the 10 s default nor the upstream's 4 s
    finally:
        worker.join(timeout=60)

