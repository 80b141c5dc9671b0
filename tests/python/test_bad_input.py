"""Malformed input of every kind against the real server (inputs generated in `bad_inputs.py`).

Groups, each served by one server shared by its cases:

- stream-messages:   text, binary and WAV-header garbage on `/api/realtime-voice/stream`;
- stream-handshake:  bad query parameters and broken handshakes, refused before any upgrade;
- stream-disconnects: clients that vanish mid-handshake, mid-frame or mid-recognition (FIN and RST);
- http-malformed:    requests an HTTP/1.1 parser must refuse (sent concurrently, then judged one by one);
- upload-multipart, upload-content-type, upload-formats, upload-lies-and-bombs, upload-raw-pcm-rates:
                     `POST /api/realtime-voice/recognize` and `POST /v1/audio/transcriptions`;
- upload-decoder-stall: recordings that make ffmpeg write more than a pipe holds on stderr;
- auth-static, auth-jwt: credentials that must be refused, on the stream, upload and OpenAI endpoints.

For every case: the answer must be the documented one (README's tables; where the README says nothing, what a
careful server does, said at the case), then the server must still answer `/health`, and every
`RECOGNITION_EVERY` cases recognise real speech exactly as it did before the group. At the end of each group the
server's resident memory, after a short settle, must be back within RSS_TOLERANCE_MIB or RSS_TOLERANCE_FRACTION
(whichever is larger) of its baseline, measured after a warm-up that went through the same paths once.

A case that kills or hangs the server fails with the server's log, and the server is restarted for the next case.
`BAD_INPUT_REPORT=path.json` writes every case's outcome to `path.json`.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import select
import signal
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import bad_inputs as bi
from conftest import TOKEN, Server, rss_kib, wav_pcm
from ws_frames import BINARY, CLOSE, PING, PONG, TEXT, Closed, Connection, close_frame, frame

STREAM = "/api/realtime-voice/stream"
RECOGNIZE = "/api/realtime-voice/recognize"
OPENAI = "/v1/audio/transcriptions"
UPLOAD_PATHS = {"recognize": (RECOGNIZE, "audio"), "openai": (OPENAI, "file")}
SENTENCE = "turn off the lights in the kitchen"
RECOGNITION_EVERY = 10
RSS_TOLERANCE_MIB, RSS_TOLERANCE_FRACTION = 15, 0.10  # whichever is larger
JWT_SECRET = b"bad-input-suite-hs256-secret-0123456789"  # >= 32 bytes
DECODE_TIMEOUT = 1  # --decode-timeout of the decoder-stall server (s)
LINGER = 5.0  # seconds a request's writer has, after the answer, to finish or fail
RESULTS: list[dict] = []


# ============================================================================================== server and groups

def settled_rss_kib(pid: int) -> int:
    """Resident memory after a short settle: the least of five samples over half a second."""
    time.sleep(0.3)
    samples = []
    for _ in range(5):
        samples.append(rss_kib(pid))
        time.sleep(0.1)
    return min(samples)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def kill_decoders(pids: list[int]) -> None:
    """SIGKILL the server's ffmpeg children by pid (they may ignore SIGTERM, see the decoder-stall group)."""
    for pid in pids:
        if command_of(pid).startswith("ffmpeg"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def log_excerpt(text: str, limit: int = 2500) -> str:
    """The interesting end of a server log: from a crash marker if there is one."""
    for marker in ("Fatal error", "Precondition failed", "Assertion failed", "Crashed", "*** Signal", "Backtrac"):
        at = text.find(marker)
        if at >= 0:
            start = text.rfind("\n", 0, max(0, at - 300)) + 1
            return text[start:start + limit]
    return text[-limit:]


class Target:
    """A `realtime-voice serve` for a group of cases; restarted when a case kills or hangs it."""

    def __init__(self, name: str, *args: str, env: dict | None = None):
        self.name, self.args, self.env = name, args, env
        self.crashes: list[str] = []
        self.server = Server(*args, env=env)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def health(self, timeout: float = 3.0) -> str | None:
        """None when `/health` answers 200 `ok`; else what went wrong."""
        if self.server.process.poll() is not None:
            return f"the server exited with status {self.server.process.returncode}"
        result = http_request(self.port, "GET", "/health", timeout=timeout)
        if result.status != 200:
            return f"/health: {result.describe()}"
        try:
            if json.loads(result.body)["status"] != "ok":
                return f"/health: {result.body[:200]!r}"
        except ValueError:
            return f"/health answered no JSON: {result.body[:200]!r}"
        return None

    def check(self, case_id: str) -> str | None:
        """After a case: None when the server is healthy; else the evidence, and the server is restarted."""
        problem = self.health()
        if problem is None:
            return None
        process = self.server.process
        try:  # a crashing Swift process prints its backtrace before it exits: let it finish
            process.wait(timeout=20)
        except Exception:
            pass
        evidence = f"after case {case_id}: {problem}; server log ({self.server.log_path}):\n{log_excerpt(self.server.output())}"
        self.crashes.append(evidence)
        self.restart()
        return evidence

    def restart(self) -> None:
        self.stop()
        self.server = Server(*self.args, env=self.env)

    def stop(self) -> None:
        leftovers = children(self.pid) if self.server.process.poll() is None else []
        if self.server.process.poll() is None:
            self.server.process.kill()
            self.server.process.wait(timeout=10)
        kill_decoders(leftovers)
        self.server.log.close()


class Group:
    """Cases that share a server: the health and recognition checks after each case, and the memory baseline."""

    def __init__(self, name: str, target: Target, warmup, recognize, speech: "Speech"):
        self.name, self.target, self.warmup, self.recognize, self.speech = name, target, warmup, recognize, speech
        self.cases = 0
        self.reference: str | None = None
        self.started = time.monotonic()
        self.prepare()

    def prepare(self) -> None:
        self.warmup(self)
        text = self.recognize(self.target.port, self.speech)
        assert text, f"{self.name}: the warm-up recognition gave no text"
        self.reference = text
        self.pid = self.target.pid
        self.baseline_kib = settled_rss_kib(self.pid)

    def after(self, case_id: str, problems: list[str], outcome: str, seconds: float) -> None:
        """The server must still serve (and, every RECOGNITION_EVERY cases, recognise); then fail on problems."""
        crashed = self.target.check(case_id)
        if crashed:
            problems.append(crashed)
            self.prepare()
        else:
            self.cases += 1
            if self.cases % RECOGNITION_EVERY == 0:
                try:
                    text = self.recognize(self.target.port, self.speech)
                except Exception as error:  # noqa: BLE001 - any failure to recognise is the finding
                    text = f"<{error!r}>"
                if text != self.reference:
                    problems.append(f"after this case the server recognises the speech as {text!r}, before: {self.reference!r}")
        RESULTS.append({"group": self.name, "case": case_id, "outcome": outcome, "problems": problems, "seconds": round(seconds, 3)})
        assert not problems, f"{self.name} / {case_id}\n  outcome: {outcome}\n  problems:\n    " + "\n    ".join(problems)

    def finish(self) -> list[str]:
        """End of the group: healthy, still recognising, memory back near the baseline (that of the last restart, if a
        case crashed the server: that case has failed already)."""
        problems = []
        health = self.target.health()
        if health:
            return problems + [health]
        text = self.recognize(self.target.port, self.speech)
        if text != self.reference:
            problems.append(f"at the end of the group the speech is recognised as {text!r}, before: {self.reference!r}")
        after = settled_rss_kib(self.target.pid)
        allowed = max(RSS_TOLERANCE_MIB * 1024, self.baseline_kib * RSS_TOLERANCE_FRACTION)
        growth = after - self.baseline_kib
        RESULTS.append({"group": self.name, "case": "<memory>", "baseline_kib": self.baseline_kib, "after_kib": after,
                        "seconds": round(time.monotonic() - self.started, 1)})
        if growth > allowed:
            problems.append(f"resident memory grew by {growth / 1024:.1f} MiB over the group "
                            f"({self.baseline_kib / 1024:.1f} → {after / 1024:.1f} MiB; allowed {allowed / 1024:.1f} MiB)")
        return problems


@dataclass
class Speech:
    path: Path
    wav: bytes
    pcm: bytes
    directory: Path
    _recordings: dict | None = None

    @property
    def recordings(self) -> dict[str, bytes]:
        if self._recordings is None:
            self._recordings = bi.make_recordings(self.path, self.directory)
        return self._recordings


# ============================================================================================== raw HTTP client

@dataclass
class HTTPResult:
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False  # the server closed the connection (EOF or reset)
    timed_out: bool = False
    send_stuck: bool = False  # after the answer, the request could neither be sent in full nor failed
    refused: str | None = None  # the connection could not be opened
    seconds: float = 0.0

    def json(self):
        return json.loads(self.body)

    def describe(self) -> str:
        if self.refused:
            return f"no connection: {self.refused}"
        if self.status is None:
            return f"no answer ({'connection closed' if self.closed else 'nothing within'} {self.seconds:.1f} s)"
        return f"{self.status} {self.body[:300]!r}"


def parse_response(data: bytes) -> tuple[int, dict, bytes] | None:
    """The first complete HTTP response in `data`, or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if len(data) < end + 4 + length:
        return None
    return status, headers, data[end + 4:end + 4 + length]


def http_request(port: int, method: str, path: str, headers: list[tuple[str, str | bytes]] | None = None, body: bytes = b"",
                 *, content_length: int | str | None = "auto", half_close: bool = False, timeout: float = 20.0,
                 raw: bytes | None = None) -> HTTPResult:
    """One request on a fresh connection (`Connection: close`); `raw` replaces the whole request.

    Like curl, it reads while it writes: an answer that comes before the body is all sent (a 413 from
    Content-Length) is read at once. It then gives the writer LINGER seconds to finish (the server reads the rest)
    or fail (the server closed): a writer still blocked then is `send_stuck`."""
    if raw is None:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
        for name, value in headers or []:
            lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
        if content_length == "auto":
            content_length = len(body) if (body or method == "POST") else None
        if content_length is not None:
            lines.append(f"Content-Length: {content_length}".encode())
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    result = HTTPResult()
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as error:
        result.closed, result.refused, result.seconds = True, repr(error), time.monotonic() - started
        return result
    sock.settimeout(None)

    def write():
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed: its answer (if any) is read by the reader

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        data = b""
        deadline = started + timeout
        while True:
            parsed = parse_response(data)
            if parsed:
                result.status, result.headers, result.body = parsed
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                break
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                result.timed_out = True
                break
            try:
                chunk = sock.recv(1 << 16)
            except OSError:
                result.closed = True
                break
            if not chunk:
                result.closed = True
                break
            data += chunk
        writer.join(LINGER if result.status is not None else 0.5)
        result.send_stuck = writer.is_alive()
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a writer blocked in sendall
        except OSError:
            pass
        writer.join(2)
        sock.close()
    result.seconds = time.monotonic() - started
    return result


def multipart_upload(port: int, path: str, field_name: str, data: bytes, fields: dict | None = None,
                     headers: list | None = None, timeout: float = 30.0) -> HTTPResult:
    boundary = uuid.uuid4().hex.encode()
    parts = [bi.text_part(k, v) for k, v in (fields or {}).items()] + [bi.file_part(field_name, data)]
    body = bi.multipart(boundary, parts)
    return http_request(port, "POST", path, [("token", TOKEN), ("Content-Type", b"multipart/form-data; boundary=" + boundary)] + (headers or []),
                        body, timeout=timeout)


def upload_text(port: int, speech: Speech) -> str:
    result = multipart_upload(port, RECOGNIZE, "audio", speech.wav)
    assert result.status == 200, result.describe()
    return result.json()["data"]["text"]


def upload_outcome(result: HTTPResult, path: str) -> tuple[int | None, str | None, str | None]:
    """(status, error code or "ok", transcript) from an answer of either upload endpoint; checks its shape."""
    if result.status is None:
        return None, None, None
    assert result.headers.get("x-realtime-voice-instance"), f"no X-Realtime-Voice-Instance on {result.describe()}"
    if result.status == 200:
        body = result.json()
        if path == OPENAI:
            return 200, "ok", body["text"]
        assert body["code"] == 0 and body["message"] == "ok", body
        return 200, "ok", body["data"]["text"]
    try:
        body = result.json()
    except ValueError:
        return result.status, None, None
    if path == OPENAI:
        error = body["error"]
        assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), body
        return result.status, error["code"], None
    assert body["code"] == result.status and isinstance(body["message"], str) and body["message"], body
    return result.status, body["error"], None


def judge_upload(result: HTTPResult, path: str, allowed: tuple, reference: str | None) -> list[str]:
    """Problems with an upload's answer: `allowed` (status, error) pairs; None matches anything."""
    try:
        status, error, text = upload_outcome(result, path)
    except (AssertionError, KeyError, TypeError, ValueError) as problem:
        return [f"malformed answer {result.describe()}: {problem!r}"]
    if status is None:
        if any(s is None for s, _ in allowed) and result.closed and not result.refused:
            return []
        return [f"{result.describe()}; expected one of {allowed}"]
    if not any((s is None or s == status) and (e is None or e == error) for s, e in allowed if s is not None):
        return [f"answered {status} {error!r} ({result.body[:200]!r}); expected one of {allowed}"]
    if status >= 500:
        return [f"a server error for a client's mistake: {result.describe()}"]
    if result.send_stuck:
        # RFC 9112 §9.6: a server that answers before the body is in and closes must keep reading (and discard)
        # until the client is done, or close; a server that does neither leaves the client blocked in its write.
        return [f"answered {status} {error!r} before the body was all sent, then neither read the rest nor closed "
                f"the connection: the client is still blocked writing {LINGER:.0f} s later"]
    if status == 200 and reference is not None and text != reference:
        return [f"200 with transcript {text!r}; the speech is {reference!r}"]
    return []


# ============================================================================================ raw WebSocket client

@dataclass
class StreamOutcome:
    ready: dict | None = None
    messages: list = field(default_factory=list)  # parsed text messages after ready
    close_code: int | None = None
    dropped: bool = False  # TCP closed without a close frame
    timed_out: bool = False
    eof_after_close: bool = True
    send_failed: bool = False

    def describe(self) -> str:
        shown = [m if not isinstance(m, dict) else {k: (v if k != "words" else "…") for k, v in m.items()} for m in self.messages
                 if not (isinstance(m, dict) and m.get("type") == "partial")]
        end = f"close {self.close_code}" if self.close_code else ("TCP drop" if self.dropped else ("timeout" if self.timed_out else "?"))
        return f"{json.dumps(shown)[:600]} then {end}"

    def errors(self) -> list[dict]:
        return [m for m in self.messages if isinstance(m, dict) and m.get("type") == "error"]

    def finals_text(self) -> str:
        return " ".join(m["text"] for m in self.messages if isinstance(m, dict) and m.get("type") == "final" and m["text"])


def play_stream(port: int, frames: tuple[bytes, ...], query: str = "", seconds: float = 20.0) -> StreamOutcome:
    """Opens a stream, waits for `ready`, sends `frames` (wire bytes), reads until the server closes."""
    outcome = StreamOutcome()
    conn = Connection(port, f"{STREAM}?token={TOKEN}{query}", timeout=10)
    deadline = time.monotonic() + seconds
    try:
        ready = conn.read_frame(deadline)
        outcome.ready = json.loads(ready.data)
        for data in frames:
            try:
                conn.sock.sendall(data)
            except OSError:
                outcome.send_failed = True
                break
        while True:
            try:
                received = conn.read_frame(deadline)
            except TimeoutError:
                outcome.timed_out = True
                break
            except (Closed, OSError):
                outcome.dropped = True
                break
            opcode = received.opcode.value
            if opcode == TEXT:
                try:
                    outcome.messages.append(json.loads(received.data))
                except ValueError:
                    outcome.messages.append(received.data.decode(errors="replace"))
            elif opcode == BINARY:
                outcome.messages.append({"type": "<binary>", "bytes": len(received.data)})
            elif opcode == PING:
                try:
                    conn.sock.sendall(frame(PONG, received.data))
                except OSError:
                    pass
            elif opcode == CLOSE:
                outcome.close_code = struct.unpack("!H", received.data[:2])[0] if len(received.data) >= 2 else 1005
                try:
                    conn.sock.sendall(close_frame(outcome.close_code if outcome.close_code not in (1005, 1006) else 1000))
                except OSError:
                    pass
                outcome.eof_after_close = conn.wait_for_eof(3)
                break
    finally:
        conn.close()
    return outcome


def stream_text(port: int, speech: Speech) -> str:
    outcome = play_stream(port, bi.chunked(speech.pcm) + (bi.END,))
    assert outcome.close_code == 1000 and outcome.messages and outcome.messages[-1].get("type") == "completed", outcome.describe()
    return outcome.finals_text()


def judge_stream(case: bi.StreamCase, outcome: StreamOutcome, reference: str) -> list[str]:
    problems = []
    if not outcome.ready or outcome.ready.get("type") != "ready":
        return [f"the first message is not ready: {outcome.ready}"]
    kind = case.expect[0]
    errors = outcome.errors()
    if kind == "end-race":
        completed = any(isinstance(m, dict) and m.get("type") == "completed" for m in outcome.messages)
        if completed and not errors:
            kind, case = "completed", bi.StreamCase(case.id, case.frames, ("completed", None))
        else:
            kind, case = "error", bi.StreamCase(case.id, case.frames, ("error",) + case.expect[1:])
    if kind == "error":
        _, code, close = case.expect
        if not errors or errors[-1].get("code") != code or not errors[-1].get("message"):
            problems.append(f"expected an error message with code {code!r}")
        if len(errors) > 1:
            problems.append("more than one error message")
        if outcome.close_code != close:
            problems.append(f"expected close {close}, got {outcome.close_code or ('a TCP drop' if outcome.dropped else 'nothing')}")
        if any(m.get("type") == "completed" for m in outcome.messages if isinstance(m, dict)):
            problems.append("both completed and an error: the session's outcome is ambiguous")
    elif kind == "close":
        codes = case.expect[1]
        if outcome.close_code not in codes and not outcome.dropped:
            problems.append(f"expected close {sorted(codes)} (or a TCP drop), got {outcome.close_code or 'nothing'}")
        if any(isinstance(m, dict) and m.get("type") in ("pong", "completed") for m in outcome.messages):
            problems.append("the offending message was acted upon")
    elif kind == "completed":
        check = case.expect[1]
        if errors:
            problems.append(f"unexpected error {errors[-1]}")
        last = outcome.messages[-1] if outcome.messages else {}
        if not isinstance(last, dict) or last.get("type") != "completed" or last.get("session_id") != outcome.ready.get("session_id"):
            problems.append("the session did not end with completed")
        if outcome.close_code != 1000:
            problems.append(f"expected close 1000, got {outcome.close_code or ('a TCP drop' if outcome.dropped else 'nothing')}")
        if check == "pong" and not any(isinstance(m, dict) and m.get("type") == "pong" for m in outcome.messages):
            problems.append("no pong")
        if check == "duration" and isinstance(last, dict) and last.get("type") == "completed":
            expected = (case.pcm_bytes // 2) * 1000 // bi.RATE
            if last.get("duration_ms") != expected:
                problems.append(f"duration_ms {last.get('duration_ms')} for {case.pcm_bytes} bytes of PCM (expected {expected})")
        if check == "transcript" and outcome.finals_text() != reference:
            problems.append(f"transcript {outcome.finals_text()!r}, the speech is {reference!r}")
    if outcome.timed_out:
        problems.append("the server neither answered nor closed in time")
    if outcome.close_code and not outcome.eof_after_close:
        problems.append("the server did not close TCP after the closing handshake")
    return problems


# ============================================================================================================ fixtures

@pytest.fixture(scope="module")
def speech_data(speech, tmp_path_factory) -> Speech:
    path = speech(SENTENCE)
    return Speech(path, path.read_bytes(), wav_pcm(path), tmp_path_factory.mktemp("bad-input"))


@pytest.fixture(scope="module")
def stream_target():
    # A vanished client's session waits --resume-window for a resume before it ends (and frees its decoder, unless a
    # new session needs it first): 2 s here, so that the group-end balance below sees every session ended.
    target = Target("stream", "--token", TOKEN, "--resume-window", "2")
    yield target
    target.stop()


@pytest.fixture(scope="module")
def upload_target():
    target = Target("upload", "--token", TOKEN)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def auth_target():
    target = Target("auth", "--token", TOKEN, env={"REALTIME_VOICE_JWT_SECRET": JWT_SECRET.decode()})
    yield target
    target.stop()


def group_fixture(name: str, target_fixture: str, warmup, recognize):
    @pytest.fixture(scope="module")
    def fixture(request, speech_data):
        return Group(name, request.getfixturevalue(target_fixture), warmup, recognize, speech_data)
    return fixture


COUNTS: dict[str, int] = {}


def cases_of(group: str, items: list):
    COUNTS[group] = COUNTS.get(group, 0) + len(items)
    return items


@pytest.fixture(scope="module", autouse=True)
def print_counts(request):
    yield
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is None:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(f"bad-input cases per group (total {sum(COUNTS.values())}):")
        for group, count in COUNTS.items():
            reporter.write_line(f"  {group:24} {count:4}")
    report = os.environ.get("BAD_INPUT_REPORT")
    if report:
        with open(report, "w") as out:
            json.dump({"counts": COUNTS, "results": RESULTS}, out, indent=1)


# ================================================================================================== stream-messages

def warm_stream_messages(group: Group) -> None:
    port, pcm = group.target.port, group.speech.pcm
    play_stream(port, (bi.PING_MSG,) + bi.chunked(pcm) + (bi.END,))
    play_stream(port, (frame(TEXT, "not json"),))
    play_stream(port, (frame(BINARY, b"\x00" * (bi.MAX_FRAME + 1)),))
    play_stream(port, (frame(TEXT, b"\xff"),))
    play_stream(port, bi.chunked(bi.wav_header(bits=8, pcm_len=len(pcm)) + pcm))


stream_messages = group_fixture("stream-messages", "stream_target", warm_stream_messages, stream_text)
STREAM_CASE_IDS = cases_of("stream-messages", [c.id for c in bi.stream_cases(b"\x00" * 80000)])


@pytest.fixture(scope="module")
def stream_case_map(speech_data):
    return {c.id: c for c in bi.stream_cases(speech_data.pcm)}


@pytest.mark.parametrize("case_id", STREAM_CASE_IDS)
def test_stream_message(stream_messages, stream_case_map, case_id):
    case = stream_case_map[case_id]
    started = time.monotonic()
    try:
        # A session that goes on when it should have ended is cut short: 6 s is ample for an error and its close.
        seconds = 20.0 if case.expect[0] in ("completed", "end-race") else 6.0
        outcomes = {}
        problems = []
        for attempt in range(case.repeat):
            outcome = play_stream(stream_messages.target.port, case.frames, case.query, seconds=seconds)
            found = judge_stream(case, outcome, stream_messages.reference)
            key = outcome.describe() if case.repeat == 1 else _shape(outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
            if found and not problems:
                problems = [f"session {attempt + 1} of {case.repeat}: {p}" if case.repeat > 1 else p for p in found]
        described = "; ".join(f"{n}x {k}" if case.repeat > 1 else k for k, n in outcomes.items())
    except (OSError, ConnectionError, TimeoutError, Closed) as error:
        problems, described = [f"the stream could not be played: {error!r}"], repr(error)
    stream_messages.after(case_id, problems, described, time.monotonic() - started)


def _shape(outcome: StreamOutcome) -> str:
    """The kinds of message of a session and its close, e.g. `completed>1000` or `completed,invalid_message>1008`."""
    kinds = [m.get("code", "error") if m.get("type") == "error" else m.get("type") for m in outcome.messages
             if isinstance(m, dict) and m.get("type") not in ("partial", "final")]
    return ",".join(kinds) + f">{outcome.close_code or ('drop' if outcome.dropped else 'timeout')}"


def sessions_balance(target: Target) -> str | None:
    """Every stream session that was upgraded has ended (the log has as many ends as upgrades), within the target's
    resume window and a second."""
    for _ in range(30 + 20):
        log = target.server.output()
        upgrades = log.count("ws.endpoint=stream")
        ended = log.count("Stream session ended")
        if upgrades == ended:
            return None
        time.sleep(0.1)
    return f"{upgrades} stream sessions started, {ended} ended: sessions (and their decoders) leak"


def test_stream_messages_group_end(stream_messages):
    problems = stream_messages.finish()
    leak = sessions_balance(stream_messages.target)
    assert not problems and not leak, problems + [leak]


# ================================================================================================= stream-handshake

def upgrade_result(port: int, raw: bytes) -> HTTPResult:
    return http_request(port, "GET", "", raw=raw, timeout=5)


def upgrade_request(query: str, headers: list[str] = ()) -> bytes:
    lines = [f"GET {STREAM}?{query} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def warm_handshake(group: Group) -> None:
    upgrade_result(group.target.port, upgrade_request(f"token={TOKEN}&sample_rate=0"))
    upgrade_result(group.target.port, upgrade_request(f"token={TOKEN}&lang=fr"))


stream_handshake = group_fixture("stream-handshake", "stream_target", warm_handshake, stream_text)
QUERY_CASES = cases_of("stream-handshake", bi.query_cases())
HANDSHAKE_CASES = cases_of("stream-handshake", bi.handshake_cases())


def judge_refusal(result: HTTPResult, statuses: tuple[int, ...], error: str | None) -> list[str]:
    problems = []
    if result.status not in statuses:
        problems.append(f"expected {statuses}, got {result.describe()}")
        return problems
    if not result.headers.get("x-realtime-voice-instance"):
        problems.append("no X-Realtime-Voice-Instance header")
    try:
        body = result.json()
    except ValueError:
        return problems + [f"the refusal is not JSON: {result.body[:200]!r}"]
    if body.get("code") != result.status or not body.get("message"):
        problems.append(f"body {body}")
    if error is not None and body.get("error") != error:
        problems.append(f"error {body.get('error')!r}, expected {error!r}")
    return problems


@pytest.mark.parametrize("case_id,query,error", QUERY_CASES, ids=[c[0] for c in QUERY_CASES])
def test_stream_query_refused(stream_handshake, case_id, query, error):
    started = time.monotonic()
    result = upgrade_result(stream_handshake.target.port, upgrade_request(f"token={TOKEN}&{query}"))
    problems = judge_refusal(result, (400,), error)
    stream_handshake.after(case_id, problems, result.describe(), time.monotonic() - started)


@pytest.mark.parametrize("case_id,raw,statuses,error", HANDSHAKE_CASES, ids=[c[0] for c in HANDSHAKE_CASES])
def test_stream_handshake_refused(stream_handshake, case_id, raw, statuses, error):
    started = time.monotonic()
    result = upgrade_result(stream_handshake.target.port, raw.replace(b"{token}", TOKEN.encode()))
    problems = judge_refusal(result, statuses, error)
    stream_handshake.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_stream_handshake_group_end(stream_handshake):
    problems = stream_handshake.finish()
    assert not problems, problems


# =============================================================================================== stream-disconnects

def vanish(port: int, when: str, data: bytes, rst: bool) -> None:
    """Plays one disconnect: `data` at the moment `when`, then FIN (close) or RST (SO_LINGER 0)."""
    if when == "handshake":
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(data.replace(b"{token}", TOKEN.encode()))
    else:
        conn = Connection(port, f"{STREAM}?token={TOKEN}", timeout=5)
        sock = conn.sock
        if when == "session":
            conn.read_frame(time.monotonic() + 5)  # ready
            sock.sendall(data)
    if rst:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def warm_disconnects(group: Group) -> None:
    vanish(group.target.port, "session", frame(BINARY, group.speech.pcm[:3200]), rst=False)


stream_disconnects = group_fixture("stream-disconnects", "stream_target", warm_disconnects, stream_text)
DISCONNECT_CASES = cases_of("stream-disconnects", [(f"{c[0]}-{how}", c[0], how) for c in bi.disconnect_cases(b"\x00" * 80000) for how in ("fin", "rst")])


@pytest.mark.parametrize("case_id,kind,how", DISCONNECT_CASES, ids=[c[0] for c in DISCONNECT_CASES])
def test_stream_disconnect(stream_disconnects, speech_data, case_id, kind, how):
    """The client vanishes; the server must free the session: a new session gets `ready` at once and completes."""
    _, when, data = next(c for c in bi.disconnect_cases(speech_data.pcm) if c[0] == kind)
    started = time.monotonic()
    problems = []
    try:
        vanish(stream_disconnects.target.port, when, data, rst=how == "rst")
    except OSError as error:
        problems.append(f"could not play the disconnect: {error!r}")
    probe_started = time.monotonic()
    try:
        probe = play_stream(stream_disconnects.target.port, (frame(BINARY, b"\x00" * 3200), bi.END), seconds=8)
        if probe.ready is None or probe.close_code != 1000 or not probe.messages or probe.messages[-1].get("type") != "completed":
            problems.append(f"a new session after the disconnect: {probe.describe()}")
        described = f"next session completed in {time.monotonic() - probe_started:.2f} s"
    except (OSError, ConnectionError, TimeoutError, Closed) as error:
        problems.append(f"a new session after the disconnect failed: {error!r}")
        described = repr(error)
    stream_disconnects.after(case_id, problems, described, time.monotonic() - started)


def test_stream_disconnects_group_end(stream_disconnects):
    problems = stream_disconnects.finish()
    leak = sessions_balance(stream_disconnects.target)
    assert not problems and not leak, problems + [leak]


# ===================================================================================================== http-malformed

def warm_malformed(group: Group) -> None:
    http_request(group.target.port, "GET", "", raw=b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=3)


http_malformed = group_fixture("http-malformed", "upload_target", warm_malformed, upload_text)
MALFORMED_CASES = cases_of("http-malformed", bi.malformed_http_cases())
MALFORMED_WINDOW = 3.0  # seconds every malformed request has to be refused (they are sent together)


@pytest.fixture(scope="module")
def malformed_outcomes(http_malformed):
    """Every malformed request at once, on its own connection; each gets MALFORMED_WINDOW seconds."""
    def one(raw: bytes) -> HTTPResult:
        return http_request(http_malformed.target.port, "", "", raw=raw.replace(b"{token}", TOKEN.encode()), timeout=MALFORMED_WINDOW)

    with concurrent.futures.ThreadPoolExecutor(len(MALFORMED_CASES)) as pool:
        futures = {case_id: pool.submit(one, raw) for case_id, raw, _ in MALFORMED_CASES}
        return {case_id: future.result() for case_id, future in futures.items()}


@pytest.mark.parametrize("case_id,raw,statuses", MALFORMED_CASES, ids=[c[0] for c in MALFORMED_CASES])
def test_http_malformed(http_malformed, malformed_outcomes, case_id, raw, statuses):
    """README says nothing: a careful HTTP/1.1 server refuses a request it cannot parse (400, RFC 9112 §2.2/§6.3)
    at once, or at least closes the connection. Leaving the connection open holds a socket for as long as the
    client likes."""
    result = malformed_outcomes[case_id]
    problems = []
    if result.refused:
        problems.append(result.describe())
    elif result.status is None:
        if not result.closed:
            problems.append(f"no answer and the connection still open after {MALFORMED_WINDOW} s")
    elif result.status not in statuses:
        problems.append(f"answered {result.describe()}; expected {statuses} or a close")
    http_malformed.after(case_id, problems, result.describe(), result.seconds)


def test_http_malformed_group_end(http_malformed):
    problems = http_malformed.finish()
    assert not problems, problems


# =================================================================================================== upload-multipart

def warm_multipart(group: Group) -> None:
    port, wav = group.target.port, group.speech.wav
    for path, name in UPLOAD_PATHS.values():
        multipart_upload(port, path, name, wav)
        multipart_upload(port, path, name, b"")
        http_request(port, "POST", path, [("token", TOKEN), ("Content-Type", "multipart/form-data")], b"x")


upload_multipart = group_fixture("upload-multipart", "upload_target", warm_multipart, upload_text)
MULTIPART_CASES = cases_of("upload-multipart", [(f"{endpoint}-{c.id}", endpoint, c.id) for endpoint, (_, name) in UPLOAD_PATHS.items()
                                                for c in bi.multipart_cases(b"RIFF", name)])


def send_upload_case(group: Group, path: str, case: bi.UploadCase) -> tuple[HTTPResult, list[str]]:
    headers = [("token", TOKEN)] + ([("Content-Type", case.content_type)] if case.content_type is not None else [])
    target_path = path + (f"?{case.query}" if case.query else "")
    extra = []
    if case.hold:
        # Content-Length promises more than is sent: the server waits for the rest. Meanwhile it must serve others.
        holder = concurrent.futures.ThreadPoolExecutor(1)
        future = holder.submit(http_request, group.target.port, "POST", target_path, headers, case.body,
                               content_length=case.content_length, timeout=case.hold)
        time.sleep(0.3)
        health = group.target.health(timeout=2)
        if health:
            extra.append(f"while an upload waited for its body: {health}")
        result = future.result()
        holder.shutdown()
        if result.status is not None:
            extra.append(f"answered before the body was complete: {result.describe()}")
        return result, extra
    length = "auto" if case.content_length is None else case.content_length
    return http_request(group.target.port, "POST", target_path, headers, case.body, content_length=length,
                        half_close=case.half_close, timeout=30), extra


@pytest.fixture(scope="module")
def multipart_case_map(speech_data):
    return {(endpoint, c.id): c for endpoint, (_, name) in UPLOAD_PATHS.items() for c in bi.multipart_cases(speech_data.wav, name)}


@pytest.mark.parametrize("case_id,endpoint,name", MULTIPART_CASES, ids=[c[0] for c in MULTIPART_CASES])
def test_upload_multipart(upload_multipart, speech_data, multipart_case_map, case_id, endpoint, name):
    path, _ = UPLOAD_PATHS[endpoint]
    case = multipart_case_map[endpoint, name]
    started = time.monotonic()
    result, problems = send_upload_case(upload_multipart, path, case)
    if not case.hold:
        carries_speech = speech_data.wav[:256] in case.body
        problems += judge_upload(result, path, case.allowed, upload_multipart.reference if carries_speech else None)
    upload_multipart.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_multipart_group_end(upload_multipart):
    problems = upload_multipart.finish()
    assert not problems, problems


# ================================================================================================ upload-content-type

def warm_content_type(group: Group) -> None:
    for path, _ in UPLOAD_PATHS.values():
        http_request(group.target.port, "POST", path, [("token", TOKEN), ("Content-Type", "audio/wav")], group.speech.wav)
        http_request(group.target.port, "POST", path, [("token", TOKEN), ("Content-Type", "text/plain")], b"hello")


upload_content_type = group_fixture("upload-content-type", "upload_target", warm_content_type, upload_text)
CONTENT_TYPE_CASES = cases_of("upload-content-type", [(f"{endpoint}-{c.id}", endpoint, c.id) for endpoint in UPLOAD_PATHS
                                                      for c in bi.content_type_cases(b"")])


@pytest.mark.parametrize("case_id,endpoint,name", CONTENT_TYPE_CASES, ids=[c[0] for c in CONTENT_TYPE_CASES])
def test_upload_content_type(upload_content_type, speech_data, case_id, endpoint, name):
    path, _ = UPLOAD_PATHS[endpoint]
    case = next(c for c in bi.content_type_cases(speech_data.wav) if c.id == name)
    started = time.monotonic()
    result, problems = send_upload_case(upload_content_type, path, case)
    carries_speech = speech_data.wav[:256] in case.body
    problems += judge_upload(result, path, case.allowed, upload_content_type.reference if carries_speech else None)
    upload_content_type.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_content_type_group_end(upload_content_type):
    problems = upload_content_type.finish()
    assert not problems, problems


# ===================================================================================================== upload-formats

def warm_formats(group: Group) -> None:
    for data in group.speech.recordings.values():
        multipart_upload(group.target.port, RECOGNIZE, "audio", data)
    multipart_upload(group.target.port, RECOGNIZE, "audio", bi.truncated(group.speech.recordings["mp3"], 0.5))


upload_formats = group_fixture("upload-formats", "upload_target", warm_formats, upload_text)
FORMAT_CASES = cases_of("upload-formats", bi.format_cases())


@pytest.mark.slow
@pytest.mark.parametrize("case_id,fmt,damage,allowed", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_upload_damaged_recording(upload_formats, speech_data, case_id, fmt, damage, allowed):
    """README: 422 `undecodable_audio` for a corrupt or truncated file, 415 `unsupported_format` for one that is not a
    recording (a zeroed header). Bit errors in the middle may be concealed by the decoder (a 200)."""
    body = bi.damage(speech_data.recordings[fmt], fmt, damage)
    started = time.monotonic()
    result = multipart_upload(upload_formats.target.port, RECOGNIZE, "audio", body, timeout=45)
    problems = judge_upload(result, RECOGNIZE, allowed, None)
    upload_formats.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_formats_group_end(upload_formats):
    problems = upload_formats.finish()
    assert not problems, problems


# ============================================================================================== upload-lies-and-bombs

def warm_bombs(group: Group) -> None:
    for name in ("flac-1-hour-of-silence-in-20KB", "wav-61s", "wav-data-size-4GiB-1s-of-audio"):
        body, fields = bi.bomb(name, group.speech.recordings, group.speech.pcm, group.speech.directory)
        multipart_upload(group.target.port, RECOGNIZE, "audio", body, fields)


upload_bombs = group_fixture("upload-lies-and-bombs", "upload_target", warm_bombs, upload_text)
BOMB_CASES = cases_of("upload-lies-and-bombs", bi.bomb_cases())


@pytest.mark.slow
@pytest.mark.parametrize("case_id,allowed,factor", BOMB_CASES, ids=[c[0] for c in BOMB_CASES])
def test_upload_lying_header(upload_bombs, speech_data, case_id, allowed, factor):
    """Headers that promise hours (or terabytes) cost no more than the audio really there: a 200 whose duration is
    that of the real audio, or the documented refusal; a real bomb (an hour of silence in 20 KB) is 413."""
    body, fields = bi.bomb(case_id, speech_data.recordings, speech_data.pcm, speech_data.directory)
    started = time.monotonic()
    if case_id == "raw-pcm-61s":
        result = http_request(upload_bombs.target.port, "POST", f"{RECOGNIZE}?sample_rate=16000",
                              [("token", TOKEN), ("Content-Type", "application/octet-stream")], body, timeout=60)
    else:
        result = multipart_upload(upload_bombs.target.port, RECOGNIZE, "audio", body, fields, timeout=60)
    problems = judge_upload(result, RECOGNIZE, allowed, None)
    if not problems and result.status == 200 and factor:
        real_ms = 1000 if case_id.startswith("wav-") else len(speech_data.pcm) * 1000 // (2 * bi.RATE)
        duration = result.json()["data"]["duration_ms"]
        if duration > real_ms * factor + 200:
            problems.append(f"duration_ms {duration} for {real_ms} ms of real audio")
    upload_bombs.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_lies_and_bombs_group_end(upload_bombs):
    problems = upload_bombs.finish()
    assert not problems, problems


# ============================================================================================== upload-raw-pcm-rates

def warm_raw_pcm(group: Group) -> None:
    http_request(group.target.port, "POST", f"{RECOGNIZE}?sample_rate=16000",
                 [("token", TOKEN), ("Content-Type", "application/octet-stream")], group.speech.pcm)
    http_request(group.target.port, "POST", f"{RECOGNIZE}?sample_rate=0",
                 [("token", TOKEN), ("Content-Type", "application/octet-stream")], group.speech.pcm)


upload_raw_pcm = group_fixture("upload-raw-pcm-rates", "upload_target", warm_raw_pcm, upload_text)
RAW_PCM_CASES = cases_of("upload-raw-pcm-rates",
                         [(f"query-{r or 'empty'}", "query", r) for r in bi.BAD_RATES]
                         + [(f"{endpoint}-field-{r or 'empty'}", endpoint, r) for endpoint in UPLOAD_PATHS for r in bi.BAD_RATES]
                         + [("raw-pcm-without-sample-rate", "none", None)])


@pytest.mark.parametrize("case_id,where,rate", RAW_PCM_CASES, ids=[c[0] for c in RAW_PCM_CASES])
def test_upload_raw_pcm_bad_rate(upload_raw_pcm, speech_data, case_id, where, rate):
    """Raw PCM needs `sample_rate` 8000–48000: anything else is 400 `invalid_parameter`; none at all is 415."""
    port, pcm = upload_raw_pcm.target.port, speech_data.pcm
    started = time.monotonic()
    octet = [("token", TOKEN), ("Content-Type", "application/octet-stream")]
    if where == "query":
        path = RECOGNIZE
        result = http_request(port, "POST", f"{RECOGNIZE}?sample_rate={rate}", octet, pcm)
        allowed = ((400, "invalid_parameter"),)
    elif where == "none":
        path = RECOGNIZE
        result = http_request(port, "POST", RECOGNIZE, octet, pcm)
        allowed = ((415, "unsupported_format"),)
    else:
        path, field_name = UPLOAD_PATHS[where]
        result = multipart_upload(port, path, field_name, pcm, {"sample_rate": urllib.parse.unquote(rate)})
        allowed = ((400, "invalid_parameter"),)
    problems = judge_upload(result, path, allowed, None)
    upload_raw_pcm.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_raw_pcm_rates_group_end(upload_raw_pcm):
    problems = upload_raw_pcm.finish()
    assert not problems, problems


# ============================================================================================== upload-decoder-stall

@pytest.fixture(scope="module")
def stall_target():
    target = Target("stall", "--token", TOKEN, "--decode-timeout", str(DECODE_TIMEOUT))
    yield target
    target.stop()


def warm_stall(group: Group) -> None:
    multipart_upload(group.target.port, RECOGNIZE, "audio", group.speech.recordings["mp3"])


def stall_recognize(port: int, speech: Speech) -> str:
    result = multipart_upload(port, RECOGNIZE, "audio", speech.wav, timeout=DECODE_TIMEOUT + 5)
    assert result.status == 200, f"a plain upload: {result.describe()}"
    return result.json()["data"]["text"]


upload_stall = group_fixture("upload-decoder-stall", "stall_target", warm_stall, stall_recognize)
STALL_CASES = cases_of("upload-decoder-stall", ["mp3-every-frame-garbled-55s", "adts-every-97th-byte-flipped-55s"])


@pytest.mark.slow
@pytest.mark.parametrize("case_id", STALL_CASES)
def test_upload_decoder_stall(upload_stall, speech_data, case_id):
    """ffmpeg prints an error line per damaged frame; the server must still answer within `--decode-timeout` (plus
    slack) with 422 `undecodable_audio` (or a 200), and must still recognise the next upload."""
    make = bi.stderr_flood_mp3 if case_id.startswith("mp3") else bi.stderr_flood_adts
    body = make(speech_data.directory)
    started = time.monotonic()
    # The decode is bounded by --decode-timeout; what decodes (up to 55 s of noise) is then recognised, which takes
    # PocketSphinx up to half the audio's length here: the answer must come, within that.
    result = multipart_upload(upload_stall.target.port, RECOGNIZE, "audio", body, timeout=DECODE_TIMEOUT + 35)
    problems = judge_upload(result, RECOGNIZE, ((422, "undecodable_audio"), (200, "ok")), None)
    try:
        stall_recognize(upload_stall.target.port, speech_data)
    except AssertionError as error:
        problems.append(f"the next upload is not recognised: {error}")
    upload_stall.after(case_id, problems, result.describe(), time.monotonic() - started)


def test_upload_decoder_stall_group_end(upload_stall):
    time.sleep(1)
    leftovers = [f"{pid}: {command_of(pid)[:120]}" for pid in children(upload_stall.target.pid) if command_of(pid).startswith("ffmpeg")]
    kill_decoders(children(upload_stall.target.pid))  # so that the server can be recognised against and stopped
    problems = (["ffmpeg processes left running after their uploads were answered or abandoned: " + "; ".join(leftovers)] if leftovers else [])
    problems += upload_stall.finish()
    assert not problems, problems


# ================================================================================================== auth-static, -jwt

def small_wav(speech: Speech) -> bytes:
    return bi.wav_header(pcm_len=3200) + speech.pcm[:3200]


def auth_request(port: int, speech: Speech, endpoint: str, placement: dict) -> HTTPResult:
    """One request with the credentials of `placement` ({"headers": {...}, "query": "..."}) on `endpoint`."""
    headers = list(placement.get("headers", {}).items())
    query = placement.get("query")
    suffix = f"?{query}" if query else ""
    if endpoint == "stream":
        handshake = [f"GET {STREAM}{suffix} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"] + [f"{k}: {v}" for k, v in headers]
        return http_request(port, "GET", "", raw=("\r\n".join(handshake) + "\r\n\r\n").encode(), timeout=5)
    if endpoint == "recognize":
        return http_request(port, "POST", RECOGNIZE + suffix, headers + [("Content-Type", "audio/wav")], small_wav(speech), timeout=10)
    boundary = uuid.uuid4().hex.encode()
    return http_request(port, "POST", OPENAI + suffix, headers + [("Content-Type", b"multipart/form-data; boundary=" + boundary)],
                        bi.multipart(boundary, [bi.file_part("file", small_wav(speech))]), timeout=10)


def auth_requests(port: int, speech: Speech, placement: dict) -> dict[str, HTTPResult]:
    """The same credentials on the stream handshake, the upload and the OpenAI endpoint."""
    return {endpoint: auth_request(port, speech, endpoint, placement) for endpoint in ("stream", "recognize", "openai")}


def judge_unauthorized(results: dict[str, HTTPResult]) -> list[str]:
    problems = []
    for endpoint, result in results.items():
        if result.status != 401:
            problems.append(f"{endpoint}: {result.describe()} (expected 401)")
            continue
        try:
            body = result.json()
            error = body["error"]["code"] if endpoint == "openai" else body["error"]
        except (ValueError, KeyError, TypeError):
            problems.append(f"{endpoint}: 401 without the documented body: {result.body[:200]!r}")
            continue
        if error != "unauthorized":
            problems.append(f"{endpoint}: 401 with error {error!r}")
    return problems


def warm_auth(group: Group) -> None:
    now = int(time.time())
    valid = bi.jwt({"alg": "HS256", "typ": "JWT"}, {"exp": now + 600}, JWT_SECRET)
    for placement in ({"headers": {"Authorization": f"Bearer {valid}"}}, {"headers": {"token": valid}},
                      {"query": f"token={valid}"}, {"headers": {"token": TOKEN}}):
        results = auth_requests(group.target.port, group.speech, placement)
        statuses = {k: r.status for k, r in results.items()}
        assert statuses == {"stream": 101, "recognize": 200, "openai": 200}, f"a valid credential {placement} is refused: {statuses}"
    auth_requests(group.target.port, group.speech, {"headers": {"token": "wrong"}})


auth_static = group_fixture("auth-static", "auth_target", warm_auth, upload_text)
auth_jwt = group_fixture("auth-jwt", "auth_target", warm_auth, upload_text)
STATIC_CASES = cases_of("auth-static", bi.static_token_cases(TOKEN))
JWT_CASES = cases_of("auth-jwt", bi.jwt_cases(JWT_SECRET))


@pytest.mark.parametrize("case_id,placement,why", STATIC_CASES, ids=[c[0] for c in STATIC_CASES])
def test_auth_static_refused(auth_static, speech_data, case_id, placement, why):
    started = time.monotonic()
    results = auth_requests(auth_static.target.port, speech_data, placement)
    problems = judge_unauthorized(results)
    auth_static.after(case_id, problems, "; ".join(f"{k}: {r.status}" for k, r in results.items()), time.monotonic() - started)


def test_auth_static_group_end(auth_static):
    problems = auth_static.finish()
    assert not problems, problems


@pytest.mark.parametrize("case_id", [c[0] for c in JWT_CASES])
def test_auth_jwt_refused(auth_jwt, speech_data, case_id):
    """README: a JWT is accepted when it is HS256-signed with the secret and its `exp` is in the future. Each token here
    must be refused (401 `unauthorized`): in `Authorization: Bearer` on the stream handshake, the `token` header on
    the upload, and the `token` query parameter on the OpenAI endpoint. The reason is in bad_inputs.jwt_cases."""
    token = next(c[1] for c in bi.jwt_cases(JWT_SECRET) if c[0] == case_id)  # fresh: `exp` relative to now
    started = time.monotonic()
    quoted = urllib.parse.quote(token, safe="")
    port = auth_jwt.target.port
    results = {
        "stream": auth_request(port, speech_data, "stream", {"headers": {"Authorization": f"Bearer {token}"}}),
        "recognize": auth_request(port, speech_data, "recognize", {"headers": {"token": token}}),
        "openai": auth_request(port, speech_data, "openai", {"query": f"token={quoted}"}),
    }
    problems = judge_unauthorized(results)
    auth_jwt.after(case_id, problems, "; ".join(f"{k}: {r.status}" for k, r in results.items()), time.monotonic() - started)


def test_auth_jwt_group_end(auth_jwt):
    problems = auth_jwt.finish()
    assert not problems, problems


def test_enough_cases():
    assert sum(COUNTS.values()) >= 200, COUNTS
