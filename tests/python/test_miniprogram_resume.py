"""The mini-program module (clients/miniprogram) keeps a session through dropped sockets: a relay between the app
and the server drops the connection mid-sentence (both sides at once, no close frame), once and three times; the
module reconnects with backoff, holds the microphone's audio meanwhile, resumes, and the app sees the same finals
as without the drops. On PocketSphinx directly, through real nginx in front of two gateways (the resume routed to
the gateway holding the session), and on the Whisper engine in Mandarin."""
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, TOKEN, Server, direct_decode, wav_pcm
from fault_proxies import FaultProxy
from gateway_client import metric
from several_gateways import TwoGateways
from mandarin_speech import SENTENCES, cer, mandarin_clip
from wer import wer

RUNNER = ROOT / "clients" / "miniprogram" / "test" / "run-session.mjs"
SENTENCE = "please turn off the lights in the kitchen and close the door"


def cut_on_schedule(proxy: FaultProxy, cuts: list[float]) -> threading.Thread:
    """Drops every relayed connection `cuts` seconds after the app's first connection, each time once the app is
    connected again."""
    def run():
        deadline = time.monotonic() + 30
        while proxy.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
        for at in cuts:
            time.sleep(max(0.0, start + at - time.monotonic()))
            while proxy.connections == 0 and time.monotonic() < deadline + 30:
                time.sleep(0.01)
            proxy.cut()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def press_the_button(url: str, pcm: Path, lang: str = "en-US", env: dict | None = None) -> dict:
    """One session of the module (clients/miniprogram/test/run-session.mjs): what the app saw."""
    seconds = len(pcm.read_bytes()) / 32000
    run_env = {**os.environ, "NODE_PATH": "/usr/share/nodejs", "SERVER_URL": url, "TOKEN": TOKEN, "SPEECH_PCM": str(pcm),
               "SPEECH_SECONDS": str(seconds), "LANG": lang, **(env or {})}
    result = subprocess.run(["node", str(RUNNER)], env=run_env, capture_output=True, text=True, timeout=seconds + 90)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def text(seen: dict) -> str:
    return " ".join(f["text"] for f in seen["finals"] if f["text"])


def check_resumed(seen: dict, cuts: int) -> None:
    assert seen["errors"] == [] and seen["fallbacks"] == [] and seen["uploads"] == 0, seen
    assert len(seen["resumed"]) == cuts, seen
    # One session: the first socket a new one, every other a resume of it.
    assert "resume_token" not in seen["sockets"][0] and all("resume_token=" in url and "last_seq=" in url for url in seen["sockets"][1:]), seen["sockets"]


@pytest.fixture(scope="module")
def sentence(speech, tmp_path_factory):
    path = speech(SENTENCE)
    pcm = tmp_path_factory.mktemp("resume") / "speech.pcm"
    pcm.write_bytes(wav_pcm(path))
    return path, pcm


@pytest.mark.slow
@pytest.mark.parametrize("cuts", [[1.0], [0.8, 1.7, 2.6]], ids=["one drop", "three drops"])
def test_the_module_resumes_a_dropped_stream_and_the_app_sees_every_word_once(sentence, cuts):
    path, pcm = sentence
    server = Server("--token", TOKEN, "--decoders", "1")
    try:
        with FaultProxy("pass", server.port) as proxy:
            cutter = cut_on_schedule(proxy, cuts)
            seen = press_the_button(proxy.url, pcm)
            cutter.join(timeout=5)
    finally:
        server.stop()
    check_resumed(seen, len(cuts))
    # Exactly the engine's own streaming decode of the recording: nothing lost, nothing twice.
    assert text(seen) == direct_decode(path), seen["finals"]
    assert all(r["receivedMs"] > 0 for r in seen["resumed"]), seen["resumed"]


@pytest.mark.slow
@pytest.mark.nginx
def test_behind_nginx_and_two_gateways_the_resume_reaches_the_gateway_holding_the_session(sentence, tmp_path):
    path, pcm = sentence
    pair = TwoGateways(tmp_path)
    try:
        with FaultProxy("pass", pair.port) as proxy:
            cutter = cut_on_schedule(proxy, [0.8, 1.7, 2.6])
            seen = press_the_button(proxy.url, pcm)
            cutter.join(timeout=5)
    finally:
        pair.stop()
    check_resumed(seen, 3)
    assert text(seen) == direct_decode(path), seen["finals"]
    # Every resume went to the gateway that said `ready`: it carried that instance, and that gateway answered.
    instance = re.search(r"[?&]instance=([^&]+)", seen["sockets"][1]).group(1)
    assert instance in ("gateway-a", "gateway-b") and all(f"instance={instance}" in url for url in seen["sockets"][1:]), seen["sockets"]
    assert {r["instance"] for r in seen["resumed"]} == {instance}, seen["resumed"]


@pytest.mark.slow
def test_the_module_resumes_a_mandarin_stream_on_the_whisper_engine(tmp_path):
    clip = mandarin_clip(SENTENCES[8])
    pcm = tmp_path / "mandarin.pcm"
    pcm.write_bytes(wav_pcm(clip))
    server = Server("--token", TOKEN, engine=None)
    try:
        with FaultProxy("pass", server.port) as proxy:
            cutter = cut_on_schedule(proxy, [0.9])
            seen = press_the_button(proxy.url, pcm, lang="zh-CN")
            cutter.join(timeout=5)
    finally:
        server.stop()
    check_resumed(seen, 1)
    heard = "".join(f["text"] for f in seen["finals"])
    # The bound of the uninterrupted module test (test_miniprogram_client.py) on the same sentence.
    assert cer(SENTENCES[8], heard) <= 0.5, heard


def active_streams(server: Server) -> float:
    try:
        return metric(server, "realtime_voice_active_sessions", endpoint="stream")
    except OSError:
        return 0


@pytest.mark.slow
@pytest.mark.nginx
def test_when_its_gateway_shuts_down_the_module_goes_on_with_a_new_session_on_the_other(sentence, tmp_path):
    """SIGTERM to the gateway holding the session (a redeploy): it sends its finals and server_shutting_down; the
    module opens a new session, which nginx sends to the other gateway, and goes on from the last final."""
    path, pcm = sentence
    pair = TwoGateways(tmp_path)
    stopped = {}

    def stop_the_gateway_in_use():
        time.sleep(2.0)  # into the sentence (node starts, connects, then speaks for ~3.5 s)
        for name, gateway in pair.gateways.items():
            if active_streams(gateway) > 0:
                stopped[name] = gateway
                gateway.process.send_signal(signal.SIGTERM)
                return

    try:
        stopper = threading.Thread(target=stop_the_gateway_in_use, daemon=True)
        stopper.start()
        seen = press_the_button(f"http://127.0.0.1:{pair.port}", pcm)
        stopper.join(timeout=5)
        [(name, gateway)] = stopped.items()
        assert gateway.process.wait(timeout=30) == 0
    finally:
        pair.stop()
    assert seen["errors"] == [] and seen["fallbacks"] == [] and seen["uploads"] == 0, seen
    assert len(seen["sockets"]) == 2 and all("resume_token" not in url for url in seen["sockets"]), seen["sockets"]
    assert [r.get("instance") for r in seen["resumed"]] == [next(n for n in pair.gateways if n != name)], seen["resumed"]
    # Every word once, in order, with times that go on (the new session's are shifted): what the drained gateway
    # heard after its last final is heard again by the other, so only the word at the cut may differ.
    assert wer(SENTENCE, text(seen)) <= 0.25, seen["finals"]
    ends = [f["endMs"] for f in seen["finals"]]
    assert ends == sorted(ends), seen["finals"]
