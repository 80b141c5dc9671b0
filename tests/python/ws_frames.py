"""A deliberately naive WebSocket client for conformance tests: a raw TCP socket, a hand-written HTTP upgrade, and
frames built byte by byte, so that it can send what no real client would (reserved bits and opcodes, unmasked or
fragmented control frames, invalid UTF-8, lengths over the server's limits, bad close codes).

Legal frames are serialized by the `websockets` library (`websockets.frames.Frame.serialize`); anything `websockets`
refuses to serialize is built by `raw_frame`. Server frames are parsed with `websockets.frames.Frame.parse`, which
also checks that the server's own frames are legal (unmasked, no reserved bits or opcodes, short control frames).

A test is a `Case`: what to send, what must come back, and how the connection must end. `run_case` plays it against
a server and returns an `Outcome`; `Case.problems(outcome)` lists every way the outcome differs from the expectation.
"""
from __future__ import annotations

import base64
import dataclasses
import os
import socket
import struct
import time
from typing import Iterable

from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x4, 0x2, 0x1  # the `rsv` argument of `frame`: Autobahn's numbering (RSV = 1..7)

# How long a case waits for the server to react (echo, pong, close) before it calls it a timeout.
REACT_TIMEOUT = float(os.environ.get("WS_CONFORMANCE_TIMEOUT", "2.0"))
# How long, after the closing handshake, the server has to close the TCP connection.
DROP_TIMEOUT = 2.0


def apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def raw_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
              mask_key: bytes | None = None) -> bytes:
    """Any frame at all: `opcode` 0..15, `rsv` 0..7 (RSV1 = 4, RSV2 = 2, RSV3 = 1), masked or not, any length."""
    head1 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    n = len(payload)
    maskbit = 0x80 if mask else 0
    if n < 126:
        header = struct.pack("!BB", head1, maskbit | n)
    elif n < 65536:
        header = struct.pack("!BBH", head1, maskbit | 126, n)
    else:
        header = struct.pack("!BBQ", head1, maskbit | 127, n)
    if not mask:
        return header + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return header + key + apply_mask(payload, key)


def is_legal(opcode: int, payload: bytes, fin: bool, rsv: int, mask: bool) -> bool:
    """Whether `websockets` itself would serialize this client frame."""
    if rsv or not mask or opcode not in {op.value for op in Opcode}:
        return False
    if opcode >= CLOSE and (len(payload) > 125 or not fin):
        return False
    return True


def frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True) -> bytes:
    """A client frame: through `websockets.frames.Frame.serialize` when it is legal, else through `raw_frame`."""
    if isinstance(payload, str):
        payload = payload.encode()
    if is_legal(opcode, payload, fin, rsv, mask):
        return Frame(Opcode(opcode), payload, fin=fin).serialize(mask=True, extensions=[])
    return raw_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask)


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if isinstance(reason, str):
        reason = reason.encode()
    return b"" if code is None else struct.pack("!H", code) + reason


def close_frame(code: int | None = 1000, reason: bytes | str = b"", **kw) -> bytes:
    return frame(CLOSE, close_payload(code, reason), **kw)


# ---------------------------------------------------------------------------------------------------------- steps


@dataclasses.dataclass(frozen=True)
class Send:
    """Bytes written to the socket: at once (`chop=None`) or in writes of `chop` bytes, `delay` seconds apart."""
    data: bytes
    chop: int | None = None
    delay: float = 0.0


@dataclasses.dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclasses.dataclass(frozen=True)
class Expect:
    """Wait until the first `count` expected replies have arrived before going on with the steps."""
    count: int


def send(*frames: bytes, chop: int | None = None, delay: float = 0.0) -> Send:
    return Send(b"".join(frames), chop, delay)


# ---------------------------------------------------------------------------------------------------------- cases

EMPTY = None  # in `close_codes`: a close frame with no payload at all


@dataclasses.dataclass
class Case:
    """One conformance case.

    - `steps`: `Send`, `Sleep` and `Expect` items, in order.
    - `replies`: what the server must send back, in order, before it closes: `("text"|"binary"|"pong", bytes)`.
      Nothing else may come (server pings are answered and ignored). `non_strict`: another acceptable list
      (Autobahn's NON_STRICT: e.g. a server that fails the connection before echoing an earlier valid message).
    - `client_closes`: once every reply has arrived, the client starts the closing handshake with 1000 (the
      "everything was fine" cases). Otherwise the server must close by itself (a failed connection, or the answer
      to a close frame among the steps).
    - `close_codes`: close codes acceptable in the server's (first) close frame; `EMPTY` for a close frame with
      no payload.
    - `allow_drop`: a failed connection may also end with the TCP connection dropped without a close frame
      (Autobahn's `requireClean: False`).
    """
    id: str
    category: str
    description: str
    steps: list
    replies: list = dataclasses.field(default_factory=list)
    client_closes: bool = False
    close_codes: Iterable[int | None] = (1000,)
    allow_drop: bool = False
    timeout: float = REACT_TIMEOUT
    non_strict: list | None = None

    def acceptable(self) -> list[list]:
        return [self.replies] + ([self.non_strict] if self.non_strict is not None else [])

    @property
    def expectation(self) -> str:
        parts = []
        if self.replies:
            parts.append("replies " + ", ".join(describe_reply(r) for r in self.replies))
        else:
            parts.append("no reply")
        if self.non_strict is not None:
            parts[-1] += " (non-strict: " + (", ".join(describe_reply(r) for r in self.non_strict) or "no reply") + ")"
        codes = "/".join("empty" if c is None else str(c) for c in self.close_codes)
        if self.client_closes:
            parts.append(f"then our close 1000 is answered with close {codes}")
        else:
            parts.append(f"server closes with {codes}" + (" (or drops TCP)" if self.allow_drop else ""))
        parts.append("server closes TCP")
        return "; ".join(parts)

    def problems(self, outcome: "Outcome") -> list[str]:
        problems: list[str] = []
        if outcome.handshake_error:
            return [f"handshake failed: {outcome.handshake_error}"]
        if outcome.received not in self.acceptable():
            n = next((i for i, (a, b) in enumerate(zip(outcome.received, self.replies)) if a != b),
                     min(len(outcome.received), len(self.replies)))
            if n < len(outcome.received):
                problems.append(f"unexpected reply {describe_reply(outcome.received[n])}")
            else:
                problems.append(f"missing reply {describe_reply(self.replies[n])}")
        codes = set(self.close_codes)
        if outcome.ended == "close" and outcome.we_closed == "after an unexpected reply" and not self.client_closes:
            problems.append("the server did not fail the connection (it only answered our close)")
        elif outcome.ended == "close":
            if outcome.close_code not in codes:
                shown = "empty" if outcome.close_code is None else outcome.close_code
                problems.append(f"close code {shown}, expected " + "/".join(
                    "empty" if c is None else str(c) for c in self.close_codes))
        elif outcome.ended in ("drop", "reset") and self.allow_drop and not self.client_closes:
            pass
        elif outcome.ended == "timeout":
            problems.append(f"the server neither closed nor dropped the connection within {self.timeout:g} s")
        else:
            clean = " (a clean close was expected)" if outcome.ended in ("drop", "reset") else ""
            problems.append(f"connection ended by {outcome.ended}{clean}")
        if outcome.ended == "close" and outcome.close_code in codes and not outcome.tcp_closed:
            problems.append(f"server did not close TCP within {DROP_TIMEOUT:g} s of the closing handshake")
        if outcome.invalid_server_frame:
            problems.append(f"server sent an invalid frame: {outcome.invalid_server_frame}")
        return problems


def describe_reply(reply: tuple[str, bytes]) -> str:
    kind, data = reply
    shown = data if len(data) <= 24 else data[:16] + b"..." + data[-4:]
    return f"{kind}({len(data)} B {shown!r})"


@dataclasses.dataclass
class Outcome:
    received: list = dataclasses.field(default_factory=list)
    ended: str = "timeout"  # close | drop | reset | timeout | invalid-frame
    close_code: int | None | str = "none"  # "none": no close frame; None: empty close payload
    close_reason: bytes = b""
    tcp_closed: bool = False
    handshake_error: str = ""
    invalid_server_frame: str = ""
    notes: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    we_closed: str = ""  # when we sent a close frame before the server's: in the steps / after the replies / ...

    def describe(self) -> str:
        if self.handshake_error:
            return f"handshake failed: {self.handshake_error}"
        parts = ["received " + (", ".join(describe_reply(r) for r in self.received) or "nothing")]
        if self.we_closed == "after an unexpected reply":
            parts.append("no close from the server, so we sent close 1000")
        if self.ended == "close":
            code = "empty" if self.close_code is None else self.close_code
            answer = " in answer to our close" if self.we_closed and self.we_closed != "in the steps" else ""
            parts.append(f"server close {code}{answer}" + (f" {self.close_reason!r}" if self.close_reason else ""))
            parts.append("TCP closed by server" if self.tcp_closed else "TCP left open by server")
        else:
            parts.append({"drop": "TCP dropped without close frame", "reset": "connection reset without close frame",
                          "timeout": "no close", "invalid-frame": "invalid frame from server"}[self.ended])
        parts.extend(self.notes)
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------------------ connection


class Closed(Exception):
    pass


class Connection:
    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[:end]
        status, *header_lines = head.split("\r\n")
        if not status.startswith("HTTP/1.1 101"):
            raise ConnectionError(f"upgrade refused: {status}")
        received = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        if received.get("sec-websocket-accept") != accept_key(key):
            raise ConnectionError(f"bad Sec-WebSocket-Accept: {received.get('sec-websocket-accept')}")

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise TimeoutError from None
        if not chunk:
            raise Closed("drop")
        self.buffer += chunk

    def send(self, step: Send) -> None:
        if step.chop is None:
            self.sock.sendall(step.data)
            return
        for i in range(0, len(step.data), step.chop):
            self.sock.sendall(step.data[i:i + step.chop])
            if step.delay:
                time.sleep(step.delay)

    def read_frame(self, deadline: float) -> Frame:
        """The next server frame, parsed (and checked) by `websockets.frames.Frame.parse`."""
        def read_exact(n: int):
            while len(self.buffer) < n:
                self._fill(deadline)
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data
            yield  # a generator-based coroutine, as Frame.parse expects

        parser = Frame.parse(read_exact, mask=False, max_size=None, extensions=[])
        try:
            next(parser)
        except StopIteration as done:
            return done.value
        raise AssertionError("unreachable: read_exact never yields")

    def wait_for_eof(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._fill(deadline)
                self.buffer.clear()
        except TimeoutError:
            return False
        except (Closed, OSError):  # EOF, or a reset: either way the server closed the connection
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def run_case(port: int, path: str, case: Case, headers: dict[str, str] | None = None) -> Outcome:
    outcome = Outcome()
    started = time.monotonic()
    try:
        conn = Connection(port, path, headers)
    except (OSError, ConnectionError, TimeoutError, Closed) as error:
        outcome.handshake_error = repr(error)
        return outcome
    try:
        _play(conn, case, outcome)
    finally:
        conn.close()
        outcome.seconds = time.monotonic() - started
    return outcome


def _play(conn: Connection, case: Case, outcome: Outcome) -> None:
    sent_close = False
    fragments: list[bytes] = []
    fragment_kind = ""
    expected = case.replies

    def on_frame(f: Frame) -> str | None:
        """Handles one server frame; returns "close" when the server's close frame arrived."""
        nonlocal fragments, fragment_kind
        if f.opcode == Opcode.PING:
            conn.sock.sendall(frame(PONG, f.data))
            outcome.notes.append("server ping answered")
        elif f.opcode == Opcode.PONG:
            outcome.received.append(("pong", bytes(f.data)))
        elif f.opcode == Opcode.CLOSE:
            data = bytes(f.data)
            outcome.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else (None if not data else "1 byte")
            outcome.close_reason = data[2:]
            return "close"
        elif f.opcode in (Opcode.TEXT, Opcode.BINARY):
            if fragments:
                outcome.invalid_server_frame = "new data frame inside a fragmented message"
            fragment_kind = "text" if f.opcode == Opcode.TEXT else "binary"
            fragments = [bytes(f.data)]
        else:  # CONT
            fragments.append(bytes(f.data))
        if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT) and f.fin:
            outcome.received.append((fragment_kind, b"".join(fragments)))
            fragments = []
        return None

    def mismatch() -> bool:
        n = len(outcome.received)
        return all(n > len(e) or outcome.received != e[:n] for e in case.acceptable())

    def read_until(deadline: float, until: int | None) -> str | None:
        """Reads frames until `until` replies have arrived ("done"), or the server's close ("close"), or an
        unexpected reply ("mismatch"); raises TimeoutError / Closed."""
        while True:
            if until is not None and len(outcome.received) >= until:
                return "done"
            try:
                f = conn.read_frame(deadline)
            except ProtocolError as error:
                outcome.invalid_server_frame = str(error)
                return "invalid-frame"
            if on_frame(f) == "close":
                return "close"
            if mismatch():
                return "mismatch"

    result: str | None = None
    try:
        for step in case.steps:
            if isinstance(step, Send):
                conn.send(step)
                if _contains_close(step.data):
                    sent_close = True
                    outcome.we_closed = "in the steps"
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, Expect):
                result = read_until(time.monotonic() + case.timeout, until=step.count)
                if result != "done":
                    break
                result = None
    except (BrokenPipeError, ConnectionResetError) as error:
        # The server closed while we were still sending (e.g. it refused a frame header before its payload):
        # what it sent before closing may still be readable.
        outcome.notes.append(f"connection broken while we were sending ({type(error).__name__})")
    except TimeoutError:
        result = "timeout"
    except Closed:
        result = "drop"

    deadline = time.monotonic() + case.timeout
    try:
        if result is None:
            if case.client_closes:
                result = read_until(deadline, until=len(expected))
                if result == "done":
                    conn.sock.sendall(close_frame(1000))
                    sent_close = True
                    outcome.we_closed = "after the replies"
                    result = read_until(time.monotonic() + case.timeout, until=None)
            else:
                result = read_until(deadline, until=None)
    except TimeoutError:
        result = "timeout"
    except Closed:
        result = "drop"
    except ConnectionResetError:
        result = "reset"
    except OSError as error:
        outcome.notes.append(f"socket error {error!r}")
        result = "reset"

    if result == "mismatch":
        # Unexpected data: the case already failed. Close (1000) to learn how the server ends the connection.
        try:
            if not sent_close:
                conn.sock.sendall(close_frame(1000))
                sent_close = True
                outcome.we_closed = "after an unexpected reply"
            deadline = time.monotonic() + case.timeout
            while True:
                f = conn.read_frame(deadline)
                if on_frame(f) == "close":
                    result = "close"
                    break
        except TimeoutError:
            result = "timeout"
        except Closed:
            result = "drop"
        except ProtocolError as error:
            outcome.invalid_server_frame = str(error)
            result = "invalid-frame"
        except OSError:
            result = "reset"
    if result == "timeout":
        outcome.notes.append("nothing more from the server within %.1f s" % case.timeout)

    if result == "close":
        outcome.ended = "close"
        if not sent_close:
            try:
                conn.sock.sendall(close_frame(1000))
            except OSError:
                pass
        outcome.tcp_closed = conn.wait_for_eof(DROP_TIMEOUT)
    elif result in ("drop", "reset", "timeout", "invalid-frame"):
        outcome.ended = result


def _contains_close(data: bytes) -> bool:
    """Whether the bytes we sent contain a (well-formed-header) close frame: walks the frames we built."""
    i = 0
    while i + 2 <= len(data):
        head1, head2 = data[i], data[i + 1]
        n = head2 & 0x7F
        j = i + 2
        if n == 126:
            if j + 2 > len(data):
                return False
            n = struct.unpack("!H", data[j:j + 2])[0]
            j += 2
        elif n == 127:
            if j + 8 > len(data):
                return False
            n = struct.unpack("!Q", data[j:j + 8])[0]
            j += 8
        if head2 & 0x80:
            j += 4
        if head1 & 0x0F == CLOSE:
            return True
        i = j + n
    return False


def echo_probe(port: int, path: str, headers: dict[str, str] | None = None) -> str | None:
    """A fresh connection that echoes one message and closes cleanly; None when it works, else what went wrong."""
    probe = Case("probe", "probe", "fresh connection echo", [send(frame(TEXT, "still alive?"))],
                 replies=[("text", b"still alive?")], client_closes=True)
    outcome = run_case(port, path, probe, headers)
    problems = probe.problems(outcome)
    return None if not problems else f"{problems}: {outcome.describe()}"
