"""Engine `whisper`, the default: the gateway runs the Whisper sidecar (base, multilingual) itself.

Mandarin speech is espeak-ng reading pinyin (mandarin_speech.py): robotic, so the bounds below are regression bounds
measured on this corpus, not accuracy claims (bench/mandarin.sh reports the whole corpus against a direct decode).
The sentences used here are ones base recognises fairly well in both voices (measured CER 0-0.3 each, 2026-12-06);
the whole 52-clip corpus averages 0.62 through the gateway (upload, zh-CN)."""
import asyncio
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from opencc import OpenCC

from conftest import TOKEN, Server, wav_pcm
from gateway_client import check_results, cut_session, non_decreasing, stream, stream_url, upload
from mandarin_speech import SENTENCES, cer, mandarin_clip
from realtime_client import convert, of_type, sdk_session, transcripts
from wer import wer

# Indices into SENTENCES: 明天早上八点叫我起床 / 请给我来两碗牛肉面 / 明天会不会下雨 / 把空调调到二十六度 /
# 晚上七点提醒我给妈妈打电话 / 下个星期上海的气温会升高吗.
CLEAR = [1, 5, 8, 9, 20, 23]
# Streamed one after another: cut out by the VAD, each is decoded with less silence around it than in its own file,
# which base takes worse for some sentences (明天早上八点叫我起床 gains English words); these four it takes well.
STREAMED = [9, 5, 8, 23]
# Two that base detected as Mandarin with lang=auto in both voices and in five runs.
DETECTED = [8, 9]
# Measured mean CER of CLEAR: 0.17 (upload), 0.2 (stream); the bound leaves room for int8 decoding's run-to-run noise.
MAX_MEAN_CER = 0.45
# The four STREAMED sentences through the stream: measured joined CER 0.50 (three runs), the same file uploaded 0.2-0.3.
MAX_STREAM_CER = 0.65
ENGLISH = "please turn off the lights in the kitchen"
TO_SIMPLIFIED = OpenCC("t2s")
HAN = re.compile(r"[\u4e00-\u9fff]")


def health(server: Server) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def metrics(server: Server) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers={"token": TOKEN})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def sidecar_pid(server: Server) -> int:
    """The pid of the gateway's Python child (the sidecar)."""
    pythons = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == server.process.pid and "server.py" in (entry / "cmdline").read_text():
                pythons.append(int(entry.name))
        except (ValueError, OSError, IndexError):
            continue
    assert len(pythons) == 1, pythons
    return pythons[0]


def wait_for(predicate, seconds: float, step: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    return predicate()


def is_simplified(text: str) -> bool:
    return TO_SIMPLIFIED.convert(text) == text


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie is gone for our purposes


def sentence_clip(tmp_path: Path, indices: list[int], voice="cmn-latn-pinyin", gap_s=1.2, lead_s=0.5, tail_s=1.5):
    """The sentences spoken one after another with `gap_s` of silence between them, as one WAV; returns its path and
    each sentence's (start_ms, end_ms) in it."""
    silence = lambda s: bytes(int(s * 16000) * 2)  # noqa: E731
    pcm, windows = silence(lead_s), []
    for n, index in enumerate(indices):
        if n:
            pcm += silence(gap_s)
        spoken = wav_pcm(mandarin_clip(SENTENCES[index], voice))
        windows.append((len(pcm) // 32, (len(pcm) + len(spoken)) // 32))
        pcm += spoken
    pcm += silence(tail_s)
    path = tmp_path / f"mandarin-{'-'.join(map(str, indices))}.wav"
    subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-", str(path)], input=pcm, check=True)
    return path, windows


@pytest.fixture(scope="module")
def gateway():
    """`serve` with no --engine: the default engine, whisper, on base."""
    instance = Server("--token", TOKEN, engine=None)
    yield instance
    instance.stop()


# ---------------------------------------------------------------- default engine, health, metrics


def test_whisper_base_is_the_default_engine_and_health_reports_its_state(gateway):
    status, body = health(gateway)
    assert status == 200 and body["status"] == "ok" and body["engine"] == "whisper", body
    assert body["engines"]["whisper"] == "ready" and body["engines"]["pocketsphinx"] in ("loading", "ready"), body
    # /health follows the default engine only: PocketSphinx's decoders may still be loading on a busy machine.
    assert wait_for(lambda: health(gateway)[1]["engines"]["pocketsphinx"] == "ready", 60), health(gateway)
    text = metrics(gateway)
    assert 'realtime_voice_engine_state{engine="whisper",state="ready"} 1' in text
    assert 'realtime_voice_engine_state{engine="whisper",state="restarting"} 0' in text
    assert re.search(r'realtime_voice_engine_restarts\{engine="whisper"\} 0\b', text), text
    cmdline = Path(f"/proc/{sidecar_pid(gateway)}/cmdline").read_text().split("\0")
    assert cmdline[cmdline.index("--model") + 1] == "base" and "--parent-pid" in cmdline, cmdline


# ---------------------------------------------------------------- Mandarin: upload and stream


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh-CN", "zh", "cmn"])
def test_mandarin_upload_answers_in_simplified_characters(gateway, lang):
    rates = []
    for index in CLEAR:
        status, body = upload(gateway, mandarin_clip(SENTENCES[index]), lang=lang)
        assert status == 200 and body["code"] == 0, body
        data = body["data"]
        assert data["engine"] == "whisper" and data["language"] == "zh-CN", data
        assert HAN.search(data["text"]) and is_simplified(data["text"]), data["text"]
        rates.append(cer(SENTENCES[index], data["text"]))
    print(f"lang={lang}: CER per clip {[round(r, 2) for r in rates]}")
    assert sum(rates) / len(rates) <= MAX_MEAN_CER, rates


@pytest.mark.slow
def test_mandarin_stream_gives_partials_and_finals_without_repeats_at_joins(gateway, tmp_path):
    indices = STREAMED
    path, windows = sentence_clip(tmp_path, indices)
    pcm = wav_pcm(path)
    events, close_code = asyncio.run(stream(stream_url(gateway, lang="zh-CN"), pcm))
    assert events[0]["type"] == "ready" and events[0]["engine"] == "whisper", events[0]
    assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    finals = [e for e in events if e["type"] == "final"]
    partials = [e for e in events if e["type"] == "partial"]
    assert partials and any(HAN.search(p["text"]) for p in partials), partials
    # One final per sentence (none dropped, none sent twice at a join), each where its sentence is in the audio.
    assert len(finals) == len(indices) and [f["segment"] for f in finals] == list(range(len(indices))), finals
    assert non_decreasing(finals) and finals[-1]["end_ms"] <= len(pcm) // 32, finals
    for final, (start, end) in zip(finals, windows):
        assert start - 400 <= final["start_ms"] and final["end_ms"] <= end + 400, (final, start, end)
    assert all(f["language"] == "zh-CN" and is_simplified(f["text"]) and HAN.search(f["text"]) for f in finals), finals
    # Partials of a segment come before its final.
    for final in finals:
        assert all(p["_at"] <= final["_at"] for p in partials if p["segment"] == final["segment"])
    rates = [cer(SENTENCES[i], f["text"]) for i, f in zip(indices, finals)]
    joined = cer("".join(SENTENCES[i] for i in indices), "".join(f["text"] for f in finals))
    status, body = upload(gateway, path, lang="zh-CN")
    whole = cer("".join(SENTENCES[i] for i in indices), body["data"]["text"])
    print(f"stream CER per final {[round(r, 2) for r in rates]}, joined {joined:.2f}; the same file uploaded {whole:.2f};",
          [f["text"] for f in finals])
    assert joined <= MAX_STREAM_CER, (rates, finals)


@pytest.mark.slow
def test_a_mandarin_stream_resumed_after_a_drop_loses_and_repeats_nothing(gateway, tmp_path):
    """The connection is cut twice mid-sentence (the TCP connection aborted, as when a phone loses its network) and
    resumed: one final per sentence, numbered results without gaps or repeats, the words as without the cuts."""
    path, _ = sentence_clip(tmp_path, STREAMED)
    pcm = wav_pcm(path)
    received, resumes, code = asyncio.run(cut_session(stream_url(gateway, lang="zh-CN"), pcm, [0.3, 0.6], pace=2.0))
    assert code == 1000 and len(resumes) == 2 and received[-1]["type"] == "completed", received[-3:]
    check_results(received)
    finals = [m for m in received if m["type"] == "final"]
    assert len(finals) == len(STREAMED), finals
    joined = cer("".join(SENTENCES[i] for i in STREAMED), "".join(f["text"] for f in finals))
    assert joined <= MAX_STREAM_CER, finals


@pytest.mark.slow
def test_silence_and_noise_give_no_text(gateway, tmp_path):
    noise = tmp_path / "noise.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise), "synth", "6", "pinknoise", "vol", "0.05"], check=True)
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0", "6"], check=True)
    for path in (noise, silence):
        for lang in ("zh-CN", "en-US"):
            status, body = upload(gateway, path, lang=lang)
            assert status == 200 and body["data"]["text"] == "", (path.name, lang, body)
        events, _ = asyncio.run(stream(stream_url(gateway, lang="zh-CN"), wav_pcm(path), realtime=False))
        assert [e for e in events if e["type"] == "final" and e["text"]] == [], (path.name, events)


# ---------------------------------------------------------------- languages


@pytest.mark.slow
def test_auto_reports_the_detected_language_as_a_tag(gateway, speech):
    english = speech(ENGLISH)
    status, body = upload(gateway, english, lang="auto")
    assert status == 200 and body["data"]["language"] == "en-US" and wer(ENGLISH, body["data"]["text"]) <= 0.25, body
    for index in DETECTED:
        status, body = upload(gateway, mandarin_clip(SENTENCES[index]), lang="auto")
        assert status == 200 and body["data"]["language"] == "zh-CN" and is_simplified(body["data"]["text"]), body
    events, _ = asyncio.run(stream(stream_url(gateway, lang="auto"), wav_pcm(english) + bytes(32000), realtime=False))
    finals = [e for e in events if e["type"] == "final"]
    assert finals and all(f["language"] == "en-US" for f in finals), finals
    # No lang at all: engine whisper lets the model detect it, like OpenAI's API.
    status, body = upload(gateway, mandarin_clip(SENTENCES[DETECTED[0]]))
    assert status == 200 and body["data"]["language"] == "zh-CN", body


def test_english_is_recognised_when_named(gateway, speech):
    status, body = upload(gateway, speech(ENGLISH), lang="en")
    assert status == 200 and body["data"]["language"] == "en-US" and wer(ENGLISH, body["data"]["text"]) <= 0.25, body


# bench/hotwords_bench.py measured these in two runs (2026-12-07): unprompted, base writes "Caberniots" and "成熊晕"; with
# the term as a hotword, the term. English came out the same in both runs; Mandarin varies between runs (int8 on two
# threads), so only its "with" side is asserted.
def test_hotwords_reach_whisper_and_get_the_terms_right(gateway, speech):
    english = speech("We deploy the gateway on Kubernetes every Friday.", voice="slt")
    status, plain = upload(gateway, english, lang="en")
    assert status == 200 and "kubernetes" not in plain["data"]["text"].lower(), plain
    status, boosted = upload(gateway, english, lang="en", hotwords="Kubernetes")
    assert status == 200 and "Kubernetes" in boosted["data"]["text"] and "hotwords_ignored" not in boosted["data"], boosted
    events, code = asyncio.run(stream(stream_url(gateway, lang="en", hotwords="Kubernetes"), wav_pcm(english), realtime=False))
    assert code == 1000 and "notice" not in [e["type"] for e in events], events
    assert "Kubernetes" in " ".join(e["text"] for e in events if e["type"] == "final"), events

    mandarin = mandarin_clip("这个功能用了腾讯云的语音识别。", voice="cmn-latn-pinyin+f2")
    status, boosted = upload(gateway, mandarin, lang="zh-CN", hotwords="腾讯云")
    assert status == 200 and "腾讯云" in boosted["data"]["text"], boosted


def test_a_language_base_cannot_do_is_refused_before_any_audio(gateway, speech):
    status, body = upload(gateway, speech(ENGLISH), lang="yue")
    assert status == 400 and body["error"] == "unsupported_language" and "whisper" in body["message"], body
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(websockets.connect(stream_url(gateway, lang="yue")).__aenter__())
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["error"] == "unsupported_language"
    # PocketSphinx, English only, refuses Mandarin and says which engine here can do it.
    status, body = upload(gateway, mandarin_clip(SENTENCES[8]), lang="zh-CN", engine="pocketsphinx")
    assert status == 400 and body["error"] == "unsupported_language" and "whisper" in body["message"], body


# ---------------------------------------------------------------- /v1/realtime on the default engine


@pytest.mark.slow
def test_realtime_api_in_mandarin_gives_protocol_v1s_transcripts_with_live_deltas(gateway, tmp_path):
    """The openai SDK, GA shape, server VAD, language zh: one item per sentence, in Simplified characters, as close to
    protocol v1's finals for the same 24 kHz audio as v1 is to itself (Whisper decodes each segment whole)."""
    path, windows = sentence_clip(tmp_path, STREAMED)
    pcm24 = convert(wav_pcm(path), "pcm")
    events, close_code = asyncio.run(stream(stream_url(gateway, lang="zh-CN", sample_rate="24000"), pcm24, bytes_per_ms=48, realtime=False))
    v1 = [e["text"] for e in events if e["type"] == "final" and e["text"]]
    reference = "".join(SENTENCES[i] for i in STREAMED)
    realtime = asyncio.run(sdk_session(gateway, pcm24, language="zh", realtime=True, tail_silence_ms=0, quiet_s=3))
    texts = transcripts(realtime)
    print("v1", v1, round(cer(reference, "".join(v1)), 3), "realtime", texts, round(cer(reference, "".join(texts)), 3))
    # Base hears the first sentence as Latin letters at times (v1 too: "Pakong 跳跳跳20溜度").
    assert len(texts) == len(STREAMED) and all(is_simplified(t) for t in texts) and sum(bool(HAN.search(t)) for t in texts) >= 3, texts
    # v1 differs from itself by up to 0.12 CER on the same audio (bench/RESULTS.md, /v1/realtime): the bound is that
    # spread, not equality; a broken path would be near 1. One-sided: the Realtime path must not be worse than v1
    # (a fresh CI run failed the two-sided bound when v1 itself had the bad run: 0.21 better, 2026-12-07).
    assert cer(reference, "".join(texts)) - cer(reference, "".join(v1)) <= 0.2, (texts, v1)
    assert of_type(realtime, "input_audio_transcription.delta"), "no live deltas"


def test_realtime_manual_commit_in_mandarin_is_one_item(gateway):
    pcm24 = convert(wav_pcm(mandarin_clip(SENTENCES[9])), "pcm")
    events = asyncio.run(sdk_session(gateway, pcm24, language="zh", turn_detection=None, realtime=False))
    texts = transcripts(events)
    assert len(texts) == 1 and is_simplified(texts[0]) and cer(SENTENCES[9], texts[0]) <= 0.45, texts
    assert of_type(events, "committed")[0]["item_id"] == of_type(events, "input_audio_transcription.completed")[0]["item_id"]


# ---------------------------------------------------------------- supervision


@pytest.mark.slow
def test_a_killed_sidecar_fails_sessions_clearly_and_comes_back(tmp_path):
    server = Server("--token", TOKEN, "--engine", "whisper")
    try:
        first = sidecar_pid(server)
        clip, _ = sentence_clip(tmp_path, [1, 8, 9, 20, 23])

        async def killed_mid_stream():
            async def kill_soon():
                await asyncio.sleep(2.0)
                os.kill(first, signal.SIGKILL)
            killer = asyncio.create_task(kill_soon())
            result = await asyncio.wait_for(stream(stream_url(server, lang="zh-CN"), wav_pcm(clip)), timeout=60)
            await killer
            return result

        events, close_code = asyncio.run(killed_mid_stream())
        errors = [e for e in events if e["type"] == "error"]
        assert errors and errors[-1]["code"] == "engine_unavailable" and close_code == 1013, events[-3:]
        # Meanwhile: /health says so, and a new session or upload is refused at once with the same code.
        status, body = health(server)
        if body["engines"]["whisper"] != "ready":  # the restart may already be done
            assert status == 503 and body["engines"]["whisper"] == "restarting" and body["status"] == "restarting", body
        ready = wait_for(lambda: health(server)[1]["engines"]["whisper"] == "ready", 60)
        assert ready, health(server)
        assert sidecar_pid(server) != first
        assert re.search(r'realtime_voice_engine_restarts\{engine="whisper"\} 1\b', metrics(server))
        status, body = upload(server, mandarin_clip(SENTENCES[9]), lang="zh-CN")
        assert status == 200 and cer(SENTENCES[9], body["data"]["text"]) <= 0.5, body
        assert "starting it again" in server.output()
    finally:
        server.stop()


@pytest.mark.slow
def test_an_upload_while_the_sidecar_restarts_is_503_with_retry_after(tmp_path):
    server = Server("--token", TOKEN, "--engine", "whisper")
    try:
        os.kill(sidecar_pid(server), signal.SIGSTOP)  # hung: health checks fail, the gateway kills it
        assert wait_for(lambda: health(server)[1]["engines"]["whisper"] == "restarting", 30), health(server)
        body, content_type = None, None
        status, body = upload(server, mandarin_clip(SENTENCES[9]), lang="zh-CN")
        if status != 200:  # unless the restart finished first
            assert status == 503 and body["error"] == "engine_unavailable" and "restarting" in body["message"], body
        assert wait_for(lambda: health(server)[1]["engines"]["whisper"] == "ready", 60), health(server)
        assert "stopped answering /health" in server.output()
    finally:
        server.stop()


@pytest.mark.slow
def test_sigterm_stops_the_sidecar_and_sigkill_leaves_no_orphan():
    server = Server("--token", TOKEN, "--engine", "whisper")
    pid = sidecar_pid(server)
    assert upload(server, mandarin_clip(SENTENCES[9]), lang="zh-CN")[0] == 200  # a sidecar that has served requests
    stopping = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0, server.output()
    assert wait_for(lambda: not pid_alive(pid), 5), "the sidecar outlived the gateway's SIGTERM"
    # It stopped on SIGTERM (the gateway's threads block signals; the sidecar unblocks them), not on the SIGKILL after 5 s.
    assert "ignored SIGTERM" not in server.output() and time.monotonic() - stopping < 5, server.output()[-2000:]
    server.log.close()

    server = Server("--token", TOKEN, "--engine", "whisper")
    pid = sidecar_pid(server)
    server.process.kill()
    server.process.wait(timeout=10)
    assert wait_for(lambda: not pid_alive(pid), 5), "the sidecar outlived a gateway killed with SIGKILL"
    server.log.close()


def test_serve_explains_a_sidecar_that_is_not_set_up(tmp_path):
    from conftest import BINARY
    result = subprocess.run([str(BINARY), "serve", "--port", "0", "--whisper-sidecar", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "--engine pocketsphinx" in result.stderr + result.stdout, result
    (tmp_path / "server.py").write_text("")
    result = subprocess.run([str(BINARY), "serve", "--port", "0", "--whisper-sidecar", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "make whisper-sidecar" in result.stderr + result.stdout, result


@pytest.mark.slow
def test_a_stream_over_the_engines_capacity_is_busy_at_once_not_late():
    """--whisper-max-streams (default 2 per core, what base keeps real time with): the next stream is refused busy."""
    server = Server("--token", TOKEN, "--engine", "whisper", "--whisper-max-streams", "1")
    try:
        async def two_streams():
            async with websockets.connect(stream_url(server, lang="zh-CN")) as first:
                assert json.loads(await first.recv())["type"] == "ready"
                await first.send(bytes(3200))
                async with websockets.connect(stream_url(server, lang="zh-CN")) as second:
                    message = json.loads(await asyncio.wait_for(second.recv(), 10))
                    with pytest.raises(websockets.ConnectionClosed):
                        await asyncio.wait_for(second.recv(), 10)
                    return message, second.close_code
        message, code = asyncio.run(two_streams())
        assert message["type"] == "error" and message["code"] == "busy" and "1 live streams" in message["message"], message
        assert code == 1013
        # The first one's slot is free again once it ended: a new stream is served.
        events, close_code = asyncio.run(stream(stream_url(server, lang="zh-CN"), wav_pcm(mandarin_clip(SENTENCES[8])), realtime=False))
        assert events[-1]["type"] == "completed" and close_code == 1000, events[-3:]
    finally:
        server.stop()
