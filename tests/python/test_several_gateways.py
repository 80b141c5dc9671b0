"""Two gateways behind real nginx (deploy/nginx-several-gateways.conf), both on engine openai over the same two
Whisper sidecars (tiny.en): new streams spread over both gateways; a sidecar killed mid-stream costs no stream an
error or its words; SIGTERM to one gateway drains its stream (finals, server_shutting_down, 1001) while a new stream
goes to the other. (Resumes routed to the right gateway: test_miniprogram_resume.py.)"""
import asyncio
import signal

import pytest

from conftest import TOKEN, WhisperSidecar, wav_pcm
from gateway_client import stream
from several_gateways import TwoGateways
from wer import wer

SENTENCES = ["please turn off the lights in the kitchen", "what time does the train leave tomorrow",
             "the quick brown fox jumps over the lazy dog"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, speech):
    sidecars = [WhisperSidecar("--model", "tiny.en") for _ in range(2)]
    upstreams = [arg for sidecar in sidecars for arg in ("--openai-base-url", sidecar.base_url)]
    pair = TwoGateways(tmp_path_factory.mktemp("gateways"), "--engine", "openai", *upstreams, "--openai-probe-interval", "1",
                       "--drain-timeout", "20")
    silence = b"\0\0" * 16000
    paragraph = silence[:16000] + silence.join(wav_pcm(speech(s)) for s in SENTENCES) + silence
    yield pair, sidecars, paragraph, len(wav_pcm(speech(SENTENCES[0]))) / 32000
    pair.stop()
    for sidecar in sidecars:
        sidecar.stop()


def finals(events) -> str:
    return " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])


@pytest.mark.slow
@pytest.mark.nginx
def test_streams_spread_over_both_gateways_and_a_killed_sidecar_costs_them_nothing(setup):
    pair, sidecars, paragraph, first_seconds = setup
    url = f"ws://127.0.0.1:{pair.port}/api/realtime-voice/stream?token={TOKEN}&lang=en-US"

    async def run():
        streams = [asyncio.create_task(stream(url, paragraph)) for _ in range(4)]
        await asyncio.sleep(0.5 + first_seconds + 1.5)  # into the second sentence
        sidecars[0].process.kill()
        return await asyncio.gather(*streams)

    results = asyncio.run(run())
    assert sorted(events[0]["instance"] for events, _ in results) == ["gateway-a", "gateway-a", "gateway-b", "gateway-b"], results
    for events, code in results:
        assert code == 1000 and events[-1]["type"] == "completed" and not [e for e in events if e["type"] == "error"], events
        assert wer(" ".join(SENTENCES), finals(events)) <= 0.2, finals(events)


@pytest.mark.slow
@pytest.mark.nginx
def test_sigterm_to_one_gateway_drains_its_stream_while_new_streams_go_to_the_other(setup):
    pair, sidecars, paragraph, first_seconds = setup
    url = f"ws://127.0.0.1:{pair.port}/api/realtime-voice/stream?token={TOKEN}&lang=en-US"
    short = paragraph[: int((0.5 + first_seconds + 0.5) * 32000) // 2 * 2]

    async def run():
        streams = [asyncio.create_task(stream(url, paragraph)) for _ in range(2)]
        await asyncio.sleep(0.5 + first_seconds + 1.5)
        pair.gateways["gateway-a"].process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        during = await stream(url, short)  # opened while gateway-a drains
        return await asyncio.gather(*streams), during

    (results, (during, during_code)) = asyncio.run(run())
    by_instance = {events[0]["instance"]: (events, code) for events, code in results}
    assert set(by_instance) == {"gateway-a", "gateway-b"}, results
    drained, drained_code = by_instance["gateway-a"]
    assert drained_code == 1001 and drained[-1]["type"] == "error" and drained[-1]["code"] == "server_shutting_down", drained[-3:]
    # The finals of what it had heard came before the close: the first sentence at least.
    assert wer(SENTENCES[0], " ".join(finals(drained).split()[:len(SENTENCES[0].split())])) <= 0.2, finals(drained)
    kept, kept_code = by_instance["gateway-b"]
    assert kept_code == 1000 and kept[-1]["type"] == "completed" and wer(" ".join(SENTENCES), finals(kept)) <= 0.2, finals(kept)
    assert during[0]["instance"] == "gateway-b" and during_code == 1000 and during[-1]["type"] == "completed", during
    assert pair.gateways["gateway-a"].process.wait(timeout=30) == 0
