"""`GET /metrics` (Prometheus text format, parsed with prometheus_client's own parser) and `--log-format json`."""
import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from conftest import TOKEN, Server, wav_pcm


def scrape(server: Server, token: str | None = TOKEN) -> dict:
    """{(metric sample name, frozenset(labels)): value} of one scrape."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers={"token": token} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def upload(server: Server, path, token=TOKEN) -> int:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\n".encode()
        + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/realtime-voice/recognize", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "token": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def stream(server: Server, pcm: bytes) -> list[dict]:
    messages = []
    async with websockets.connect(server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
        for start in range(0, len(pcm), 3200):
            await ws.send(pcm[start:start + 3200])
            await asyncio.sleep(0.02)
        await ws.send(json.dumps({"type": "end"}))
        async for message in ws:
            messages.append(json.loads(message))
    return messages


@pytest.fixture(scope="module")
def metrics_server():
    server = Server("--token", TOKEN, "--log-format", "json")
    yield server
    server.stop()


def test_metrics_need_a_token_unless_public(metrics_server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(metrics_server, token=None)
    assert refused.value.code == 401
    public = Server("--token", TOKEN, "--public-metrics")
    try:
        assert value(scrape(public, token=None), "realtime_voice_http_requests_total", route="/metrics", method="GET", status="200") == 0
    finally:
        public.stop()


def test_sessions_audio_latencies_uploads_and_requests_are_counted(metrics_server, speech):
    recording = speech("turn off the lights in the kitchen")
    before = scrape(metrics_server)
    messages = asyncio.run(stream(metrics_server, wav_pcm(recording)))
    assert messages[-1]["type"] == "completed"
    assert upload(metrics_server, recording) == 200
    assert upload(metrics_server, recording, token="wrong") == 401
    after = scrape(metrics_server)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("realtime_voice_sessions_total", endpoint="stream", engine="pocketsphinx", outcome="completed") == 1
    assert grew("realtime_voice_sessions_total", endpoint="recognize", engine="pocketsphinx", outcome="completed") == 1
    assert value(after, "realtime_voice_active_sessions", endpoint="stream", engine="pocketsphinx") == 0
    duration = messages[-1]["duration_ms"] / 1000
    assert grew("realtime_voice_audio_seconds_total", engine="pocketsphinx") == pytest.approx(2 * duration, abs=0.2)
    assert grew("realtime_voice_first_partial_latency_seconds_count", engine="pocketsphinx") == 1
    finals = sum(1 for m in messages if m["type"] == "final")
    assert grew("realtime_voice_final_latency_seconds_count", engine="pocketsphinx") == finals
    assert 0 < grew("realtime_voice_final_latency_seconds_sum", engine="pocketsphinx") < 5 * finals
    assert grew("realtime_voice_real_time_factor_count", engine="pocketsphinx") == 1
    assert grew("realtime_voice_upload_bytes_count") == 1
    assert grew("realtime_voice_upload_bytes_sum") == recording.stat().st_size
    assert grew("realtime_voice_http_requests_total", route="/api/realtime-voice/recognize", method="POST", status="200") == 1
    assert grew("realtime_voice_http_requests_total", route="/api/realtime-voice/recognize", method="POST", status="401") == 1
    assert ("realtime_voice_engine_in_use", frozenset({("engine", "pocketsphinx")})) in after
    # Histogram buckets are cumulative and end with +Inf equal to the count.
    buckets = sorted(
        (float(dict(labels)["le"]), v) for (name, labels), v in after.items()
        if name == "realtime_voice_final_latency_seconds_bucket" and dict(labels)["engine"] == "pocketsphinx"
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    assert buckets[-1] == (float("inf"), value(after, "realtime_voice_final_latency_seconds_count", engine="pocketsphinx"))


def test_errors_are_counted_by_code(metrics_server):
    async def refused_audio():
        async with websockets.connect(metrics_server.url("/api/realtime-voice/stream", token=TOKEN)) as ws:
            await ws.send('{"type":"dance"}')
            with pytest.raises(websockets.ConnectionClosedError):
                async for _ in ws:
                    pass

    before = scrape(metrics_server)
    asyncio.run(refused_audio())
    after = scrape(metrics_server)
    labels = dict(endpoint="stream", engine="pocketsphinx", outcome="invalid_message")
    assert value(after, "realtime_voice_sessions_total", **labels) - value(before, "realtime_voice_sessions_total", **labels) == 1


def test_json_logs_have_one_object_per_line_with_the_session_end(metrics_server, speech):
    messages = asyncio.run(stream(metrics_server, wav_pcm(speech("open the door"))))
    session = messages[0]["session_id"]
    # The session's last line is written as its tasks wind down, which may be just after the client saw the close.
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in metrics_server.output().splitlines() if line.startswith("{")]
        events = [json.loads(line) for line in lines]
        ended = [e for e in events if e["message"] == "Stream session ended" and e.get("session.id") == session]
        if ended or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert events and all({"time", "level", "message", "label"} <= e.keys() for e in events)
    assert ended and {"session.id", "session.engine", "session.wall_ms", "session.audio_ms", "session.outcome"} <= ended[-1].keys()
    assert ended[-1]["session.outcome"] == "completed"
    # Nothing but JSON objects, apart from the start-up banner printed to stdout for people.
    others = [line for line in metrics_server.output().splitlines() if line and not line.startswith("{")]
    assert all(line.startswith("realtime-voice ") or line.startswith("  ") for line in others), others
