"""WebSocket conformance of `/api/realtime-voice/echo`: the Autobahn|Testsuite "fuzzingclient" cases, re-implemented.

Case ids are Autobahn's (`1.1.1` … `9.8.x`); ids with an `x` (`3.x.text-RSV1`, `9.x.limit-…`) are extra cases in
the same category. Every case opens a fresh connection with a raw socket and hand-made frames (see `ws_frames.py`),
and after it a fresh connection must still echo (the server survived the case). One server serves the whole module.

Expectations follow Autobahn: a case that "fails the connection" passes when the server closes with the expected
code (or drops TCP), echoes nothing of the offending data and closes TCP after the closing handshake. Deviations
from Autobahn are said at the case: 9.x are scaled to the server's
message limit (`--max-frame-bytes`) instead of Autobahn's 16 MiB; category 10 (auto-fragmentation) and 7.1.6
(informational in Autobahn) are left out; 12/13 (permessage-deflate) are out of scope (the server offers no
extensions).

`WS_CONFORMANCE_REPORT=path.json` writes every case's expectation and outcome to `path.json`.
"""
from __future__ import annotations

import json
import os
import struct

import pytest

from conftest import TOKEN, Server
from ws_frames import (BINARY, CLOSE, CONT, EMPTY, PING, PONG, RSV1, RSV2, RSV3, TEXT, Case, Expect, Sleep,
                       close_frame, close_payload, echo_probe, frame, raw_frame, run_case, send)

PATH = "/api/realtime-voice/echo"
HEADERS = {"token": TOKEN}
MAX_MESSAGE = 65536  # --max-frame-bytes: the echo endpoint's largest message
NIO_MAX_FRAME = 2 * MAX_MESSAGE  # the frame decoder's limit (Application+build.swift: maxFrameBytes * 2)
OCTET_DELAY = 0.0005  # between one-byte writes of small frames, so that they travel as separate segments

RESULTS: list[dict] = []


# ------------------------------------------------------------------------------------------------------ shorthands


def ok(id, category, description, steps, replies, **kw) -> Case:
    """Everything is legal: the replies come back, then our close 1000 is answered with 1000."""
    return Case(id, category, description, steps, replies, client_closes=True, close_codes=(1000,), **kw)


def fail(id, category, description, steps, replies=(), codes=(1002,), **kw) -> Case:
    """The server must fail the connection: close with `codes` (or drop TCP), nothing else echoed."""
    return Case(id, category, description, steps, list(replies), client_closes=False, close_codes=codes,
                allow_drop=True, **kw)


def answered(id, category, description, steps, replies=(), codes=(1000,), **kw) -> Case:
    """The steps end with our close frame: the server answers it with `codes` and closes TCP."""
    return Case(id, category, description, steps, list(replies), client_closes=False, close_codes=codes, **kw)


def text(payload) -> tuple[str, bytes]:
    return ("text", payload.encode() if isinstance(payload, str) else payload)


def binary(payload: bytes) -> tuple[str, bytes]:
    return ("binary", payload)


def pong(payload) -> tuple[str, bytes]:
    return ("pong", payload.encode() if isinstance(payload, str) else payload)


def fragments(opcode: int, payload: bytes, size: int) -> list[bytes]:
    """`payload` as one message in frames of `size` bytes (the first with `opcode`, the rest continuations)."""
    parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    return [frame(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1) for i, part in enumerate(parts)]


def octetwise(*frames: bytes):
    return send(*frames, chop=1, delay=OCTET_DELAY)


# ------------------------------------------------------------------------------------ 1 framing (payload lengths)


def framing_cases() -> list[Case]:
    cases = []
    lengths = [0, 125, 126, 127, 128, 65535, 65536]
    for sub, (opcode, kind, fill) in enumerate([(TEXT, "text", b"*"), (BINARY, "binary", b"\xfe")], 1):
        for i, n in enumerate(lengths, 1):
            encoding = "7-bit" if n < 126 else "16-bit" if n < 65536 else "64-bit"
            cases.append(ok(f"1.{sub}.{i}", "1 framing", f"{kind} message, payload {n} B ({encoding} length)",
                            [send(frame(opcode, fill * n))], [(kind, fill * n)]))
        cases.append(ok(f"1.{sub}.8", "1 framing", f"{kind} message, payload 65536 B, written in chops of 997 B",
                        [send(frame(opcode, fill * 65536), chop=997)], [(kind, fill * 65536)]))
    cases += [
        ok("1.x.text-125-octetwise", "1 framing", "text 125 B (7-bit length), written byte by byte",
           [octetwise(frame(TEXT, b"*" * 125))], [text(b"*" * 125)]),
        ok("1.x.text-126-octetwise", "1 framing", "text 126 B (16-bit length), written byte by byte",
           [octetwise(frame(TEXT, b"*" * 126))], [text(b"*" * 126)]),
        ok("1.x.binary-65536-octetwise", "1 framing", "binary 65536 B (64-bit length), written byte by byte",
           [send(frame(BINARY, b"\xfe" * 65536), chop=1)], [binary(b"\xfe" * 65536)], timeout=10),
    ]
    return cases


# ---------------------------------------------------------------------------------------------- 2 pings and pongs


def ping_cases() -> list[Case]:
    c = "2 pings/pongs"
    binary_payload = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    pings = [f"payload-{i}".encode() for i in range(10)]
    cases = [
        ok("2.1", c, "ping without payload", [send(frame(PING))], [pong(b"")]),
        ok("2.2", c, "ping with small text payload", [send(frame(PING, "Hello, world!"))], [pong("Hello, world!")]),
        ok("2.3", c, "ping with small binary payload", [send(frame(PING, binary_payload))], [pong(binary_payload)]),
        ok("2.4", c, "ping with 125 B payload", [send(frame(PING, b"\xfe" * 125))], [pong(b"\xfe" * 125)]),
        fail("2.5", c, "ping with 126 B payload (control frames are at most 125 B)",
             [send(frame(PING, b"\xfe" * 126))]),
        ok("2.6", c, "ping with 125 B payload, written byte by byte", [octetwise(frame(PING, b"\xfe" * 125))],
           [pong(b"\xfe" * 125)]),
        ok("2.7", c, "unsolicited pong without payload: ignored", [send(frame(PONG))], []),
        ok("2.8", c, "unsolicited pong with payload: ignored", [send(frame(PONG, "unsolicited pong payload"))], []),
        ok("2.9", c, "unsolicited pong, then ping: only the ping is answered",
           [send(frame(PONG, "unsolicited pong payload"), frame(PING, "ping payload"))], [pong("ping payload")]),
        ok("2.10", c, "10 pings: 10 pongs, in order", [send(*(frame(PING, p) for p in pings))],
           [pong(p) for p in pings]),
        ok("2.11", c, "10 pings written byte by byte: 10 pongs, in order",
           [octetwise(*(frame(PING, p) for p in pings))], [pong(p) for p in pings]),
    ]
    for n in (1, 2, 16, 64, 124):
        payload = bytes(range(n))
        cases.append(ok(f"2.x.ping-{n}B", c, f"ping with {n} B payload", [send(frame(PING, payload))],
                        [pong(payload)]))
    return cases


# ------------------------------------------------------------------------------------------------- 3 reserved bits


def reserved_bit_cases() -> list[Case]:
    c = "3 reserved bits"
    hello = "Hello, world!"
    cases = [
        fail("3.1", c, "text with RSV = 1", [send(frame(TEXT, hello, rsv=1))]),
        fail("3.2", c, "text, then text with RSV = 2, then ping: first echoed, then fail, no pong",
             [send(frame(TEXT, hello), frame(TEXT, hello, rsv=2), frame(PING, hello))], [text(hello)],
             non_strict=[]),
        fail("3.3", c, "as 3.2 with RSV = 3, frame by frame",
             [send(frame(TEXT, hello)), Expect(1), send(frame(TEXT, hello, rsv=3)), Sleep(0.05),
              send(frame(PING, hello))], [text(hello)]),
        fail("3.4", c, "as 3.2 with RSV = 4, byte by byte",
             [octetwise(frame(TEXT, hello), frame(TEXT, hello, rsv=4), frame(PING, hello))], [text(hello)],
             non_strict=[]),
        fail("3.5", c, "binary with RSV = 5", [send(frame(BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=5))]),
        fail("3.6", c, "ping with RSV = 6", [send(frame(PING, hello, rsv=6))]),
        fail("3.7", c, "close with RSV = 7", [send(close_frame(1000, rsv=7))]),
    ]
    for name, opcode, payload in [("text", TEXT, hello.encode()), ("binary", BINARY, b"\x01\x02\x03"),
                                  ("ping", PING, b"ping"), ("close", CLOSE, close_payload(1000))]:
        for bit, rsv in [("RSV1", RSV1), ("RSV2", RSV2), ("RSV3", RSV3)]:
            cases.append(fail(f"3.x.{name}-{bit}", c, f"{name} frame with {bit} set",
                              [send(frame(opcode, payload, rsv=rsv))]))
    cases += [
        fail("3.x.continuation-RSV1", c, "fragmented text whose continuation frame has RSV1 set",
             [send(frame(TEXT, "frag", fin=False), frame(CONT, "ment", rsv=RSV1))]),
        fail("3.x.pong-RSV1", c, "pong with RSV1 set", [send(frame(PONG, "pong", rsv=RSV1))]),
    ]
    return cases


# ------------------------------------------------------------------------------------------------------- 4 opcodes


def opcode_cases() -> list[Case]:
    c = "4 opcodes"
    hello = "Hello, world!"
    cases = []
    for group, opcodes in [(1, [3, 4, 5, 6, 7]), (2, [11, 12, 13, 14, 15])]:
        kind = "non-control" if group == 1 else "control"
        for i, op in enumerate(opcodes, 1):
            if i == 1:
                cases.append(fail(f"4.{group}.{i}", c, f"reserved {kind} opcode {op}", [send(raw_frame(op))]))
            elif i == 2:
                cases.append(fail(f"4.{group}.{i}", c, f"reserved {kind} opcode {op} with payload",
                                  [send(raw_frame(op, hello.encode()))]))
            else:
                payload = b"" if i == 3 else hello.encode()
                frames = [frame(TEXT, hello), raw_frame(op, payload), frame(PING)]
                cases.append(fail(f"4.{group}.{i}", c,
                                  f"text, then reserved {kind} opcode {op}{' with payload' if payload else ''}, "
                                  f"then ping{', byte by byte' if i == 5 else ''}: text echoed, then fail, no pong",
                                  [octetwise(*frames) if i == 5 else send(*frames)], [text(hello)],
                                  non_strict=[]))
    return cases


# ------------------------------------------------------------------------------------------------- 5 fragmentation


def fragmentation_cases() -> list[Case]:
    c = "5 fragmentation"
    f1, f2 = "fragment1", "fragment2"
    hello = "Hello, world!"
    cases = [
        fail("5.1", c, "ping fragmented into 2 frames", [send(frame(PING, f1, fin=False), frame(CONT, f2))]),
        fail("5.2", c, "pong fragmented into 2 frames", [send(frame(PONG, f1, fin=False), frame(CONT, f2))]),
        ok("5.3", c, "text in 2 fragments", [send(frame(TEXT, f1, fin=False), frame(CONT, f2))], [text(f1 + f2)]),
        ok("5.4", c, "text in 2 fragments, frame by frame",
           [send(frame(TEXT, f1, fin=False)), Sleep(0.05), send(frame(CONT, f2))], [text(f1 + f2)]),
        ok("5.5", c, "text in 2 fragments, byte by byte", [octetwise(frame(TEXT, f1, fin=False), frame(CONT, f2))],
           [text(f1 + f2)]),
        ok("5.6", c, "text in 2 fragments with a ping between: pong, then the whole message",
           [send(frame(TEXT, f1, fin=False), frame(PING, "ping payload"), frame(CONT, f2))],
           [pong("ping payload"), text(f1 + f2)]),
        ok("5.7", c, "as 5.6, frame by frame",
           [send(frame(TEXT, f1, fin=False)), Sleep(0.02), send(frame(PING, "ping payload")), Expect(1),
            send(frame(CONT, f2))], [pong("ping payload"), text(f1 + f2)]),
        ok("5.8", c, "as 5.6, byte by byte",
           [octetwise(frame(TEXT, f1, fin=False), frame(PING, "ping payload"), frame(CONT, f2))],
           [pong("ping payload"), text(f1 + f2)]),
    ]
    for first, (fin, name) in [(9, (True, "FIN = true")), (12, (False, "FIN = false"))]:
        data = [frame(CONT, "non-continuation payload", fin=fin), frame(TEXT, hello)]
        cases += [
            fail(f"5.{first}", c, f"continuation ({name}) with nothing to continue, then text",
                 [send(*data)]),
            fail(f"5.{first + 1}", c, f"as 5.{first}, frame by frame",
                 [send(data[0]), Sleep(0.05), send(data[1])]),
            fail(f"5.{first + 2}", c, f"as 5.{first}, byte by byte", [octetwise(*data)]),
        ]
    cases += [
        fail("5.15", c, "text in 2 fragments, then continuation (FIN = false) with nothing to continue, then text: "
                        "first message echoed, then fail",
             [send(frame(TEXT, f1, fin=False), frame(CONT, f2), frame(CONT, "fragment3", fin=False),
                   frame(TEXT, "fragment4"))], [text(f1 + f2)], non_strict=[]),
        fail("5.16", c, "2x: continuation (FIN = false) with nothing to continue, then text in 2 fragments",
             [send(*[frame(CONT, f1, fin=False), frame(TEXT, f2, fin=False), frame(CONT, "fragment3")] * 2)]),
        fail("5.17", c, "2x: continuation (FIN = true) with nothing to continue, then text in 2 fragments",
             [send(*[frame(CONT, f1), frame(TEXT, f2, fin=False), frame(CONT, "fragment3")] * 2)]),
        fail("5.18", c, "text in 2 fragments, both with opcode text (new message inside a fragmented one)",
             [send(frame(TEXT, f1, fin=False), frame(TEXT, f2))]),
    ]
    parts = [f"fragment{i}" for i in range(1, 6)]
    pings = ["pongme 1!", "pongme 2!"]
    for id, pause in [("5.19", [Sleep(0.2)]), ("5.20", [Expect(1), Sleep(0.2)])]:
        cases.append(ok(id, c, "text in 5 fragments with 2 pings between, and a pause: pongs, then the message"
                        + (" (frame by frame)" if id == "5.20" else ""),
                        [send(frame(TEXT, parts[0], fin=False), frame(CONT, parts[1], fin=False), frame(PING, pings[0])),
                         *pause,
                         send(frame(CONT, parts[2], fin=False), frame(CONT, parts[3], fin=False), frame(PING, pings[1]),
                              frame(CONT, parts[4]))],
                        [pong(pings[0]), pong(pings[1]), text("".join(parts))]))
    text_payload = ("fragmented text message, " * 40).encode()[:1000]
    binary_payload = bytes((i * 7 + 3) % 256 for i in range(1000))
    for n in (2, 3, 5, 64):
        size = -(-1000 // n)
        cases.append(ok(f"5.x.text-{n}-fragments", c, f"1000 B text in {n} fragments",
                        [send(*fragments(TEXT, text_payload, size))], [text(text_payload)]))
        cases.append(ok(f"5.x.binary-{n}-fragments", c, f"1000 B binary in {n} fragments",
                        [send(*fragments(BINARY, binary_payload, size))], [binary(binary_payload)]))
    cases += [
        fail("5.x.binary-inside-text", c, "binary frame inside a fragmented text message",
             [send(frame(TEXT, f1, fin=False), frame(BINARY, b"\x01\x02"), frame(CONT, f2))]),
        fail("5.x.text-inside-binary", c, "text frame inside a fragmented binary message",
             [send(frame(BINARY, b"\x01\x02", fin=False), frame(TEXT, hello), frame(CONT, b"\x03"))]),
        fail("5.x.close-fragmented", c, "close frame without FIN (fragmented control frame)",
             [send(frame(CLOSE, close_payload(1000), fin=False), frame(CONT, b""))]),
    ]
    return cases


# ---------------------------------------------------------------------------------------------------------- 6 UTF-8


def utf8_sequences() -> list[tuple[str, list[tuple[bool, bytes]]]]:
    """Autobahn's createUtf8TestSequences() (case6_x_x.py), from Markus Kuhn's UTF-8-test.txt: groups 6.5 … 6.23."""
    groups = []
    vss = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

    def valid(b: bytes) -> bool:
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False

    groups.append(("Some valid UTF-8 sequences", [(True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
                                                  (True, b"hello\xe2\x82\xacworld"),
                                                  (True, b"hello\xf0\xa4\xad\xa2world"), (True, vss)]))
    groups.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
                   [(valid(vss[:i]), vss[:i]) for i in range(1, len(vss) + 1)]))
    groups.append(("First possible sequence of a certain length",
                   [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")]))
    groups.append(("First possible sequence length 5/6 (invalid codepoints)",
                   [(False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    groups.append(("Last possible sequence of a certain length",
                   [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"), (True, b"\xf4\x8f\xbf\xbf")]))
    groups.append(("Last possible sequence length 4/5/6 (invalid codepoints)",
                   [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"), (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    groups.append(("Other boundary conditions",
                   [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
                    (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    groups.append(("Unexpected continuation bytes",
                   [(False, b) for b in [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
                                         b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf",
                                         bytes(range(0x80, 0xbf))]]))
    groups.append(("Lonely start characters",
                   [(False, b"".join(bytes([i, 0x20]) for i in range(lo, hi)))
                    for lo, hi in [(0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)]]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
               b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    groups.append(("Sequences with last continuation byte missing", [(False, b) for b in missing]))
    groups.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    groups.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    groups.append(("Examples of an overlong ASCII character",
                   [(False, b) for b in [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xf8\x80\x80\x80\xaf",
                                         b"\xfc\x80\x80\x80\x80\xaf"]]))
    groups.append(("Maximum overlong sequences",
                   [(False, b) for b in [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf", b"\xf8\x87\xbf\xbf\xbf",
                                         b"\xfc\x83\xbf\xbf\xbf\xbf"]]))
    groups.append(("Overlong representation of the NUL character",
                   [(False, b) for b in [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xf8\x80\x80\x80\x80",
                                         b"\xfc\x80\x80\x80\x80\x80"]]))
    groups.append(("Single UTF-16 surrogates",
                   [(False, b) for b in [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
                                         b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]]))
    groups.append(("Paired UTF-16 surrogates",
                   [(False, b) for b in [b"\xed\xa0\x80\xed\xb0\x80", b"\xed\xa0\x80\xed\xbf\xbf",
                                         b"\xed\xad\xbf\xed\xb0\x80", b"\xed\xad\xbf\xed\xbf\xbf",
                                         b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf",
                                         b"\xed\xaf\xbf\xed\xb0\x80", b"\xed\xaf\xbf\xed\xbf\xbf"]]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if not (z1 == 0xf4 and z2 != 0x8f):
                for z3 in b"\xbe\xbf":
                    zz = bytes([z1, z2, 0xbf, z3])
                    if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                        nonchars.append((True, zz))
    groups.append(("Non-character code points (valid UTF-8)", nonchars))
    groups.append(("Unicode specials (i.e. replacement char)",
                   [(True, b) for b in [b"\xef\xbf\xb9", b"\xef\xbf\xba", b"\xef\xbf\xbb", b"\xef\xbf\xbc",
                                        b"\xef\xbf\xbd", b"\xef\xbf\xbe", b"\xef\xbf\xbf"]]))
    for _, sequences in groups:  # Autobahn's own validator and Python's strict decoder agree on every sequence
        for is_valid, b in sequences:
            assert valid(b) == is_valid, b
    return groups


def utf8_cases() -> list[Case]:
    c = "6 UTF-8"
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    kosme = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
    bad = kosme + b"\xed\xa0\x80" + b"edited"  # 6.3.x: a surrogate (U+D800) in the middle
    p1, p2, p3 = kosme, b"\xf4\x90\x80\x80", b"edited"  # 6.4.x: U+110000 (out of range) in the middle
    whole = p1 + p2 + p3
    cases = [
        ok("6.1.1", c, "text of length 0", [send(frame(TEXT, b""))], [text(b"")]),
        ok("6.1.2", c, "text in 3 fragments, each of length 0",
           [send(frame(TEXT, b"", fin=False), frame(CONT, b"", fin=False), frame(CONT, b""))], [text(b"")]),
        ok("6.1.3", c, "text in 3 fragments, first and last of length 0",
           [send(frame(TEXT, b"", fin=False), frame(CONT, "middle frame payload", fin=False), frame(CONT, b""))],
           [text("middle frame payload")]),
        ok("6.2.1", c, "valid UTF-8 text in one fragment", [send(frame(TEXT, hello))], [text(hello)]),
        ok("6.2.2", c, "valid UTF-8 text in 2 fragments, split on a code point boundary",
           [send(frame(TEXT, "Hello-µ@ßöä", fin=False), frame(CONT, "üàá-UTF-8!!"))], [text(hello)]),
        ok("6.2.3", c, "valid UTF-8 text in fragments of 1 byte (splitting code points)",
           [send(*fragments(TEXT, hello, 1))], [text(hello)]),
        ok("6.2.4", c, "valid UTF-8 text (κόσμε) in fragments of 1 byte", [send(*fragments(TEXT, kosme, 1))],
           [text(kosme)]),
        fail("6.3.1", c, "invalid UTF-8 text (a surrogate) in one fragment", [send(frame(TEXT, bad))], codes=(1007,)),
        fail("6.3.2", c, "invalid UTF-8 text (a surrogate) in fragments of 1 byte",
             [send(*fragments(TEXT, bad, 1))], codes=(1007,)),
        fail("6.4.1", c, "invalid UTF-8 in 3 fragments, with pauses: valid, invalid (U+110000), valid",
             [send(frame(TEXT, p1, fin=False)), Sleep(0.2), send(frame(CONT, p2, fin=False)), Sleep(0.2),
              send(frame(CONT, p3))], codes=(1007,)),
        fail("6.4.2", c, "as 6.4.1, the 2nd fragment ending on the byte that makes the text invalid",
             [send(frame(TEXT, whole[:12], fin=False)), Sleep(0.2), send(frame(CONT, whole[12:13], fin=False)),
              Sleep(0.2), send(frame(CONT, whole[13:]))], codes=(1007,)),
    ]
    one = frame(TEXT, whole)
    header = len(one) - len(whole) - 4  # the mask key is written with the header
    cut1, cut2 = header + 4 + len(p1), header + 4 + len(p1) + len(p2)
    cases.append(fail("6.4.3", c, "as 6.4.1, in 3 chops of one frame", [send(one[:cut1]), Sleep(0.2),
                      send(one[cut1:cut2]), Sleep(0.2), send(one[cut2:])], codes=(1007,)))
    cut1, cut2 = header + 4 + 12, header + 4 + 13
    cases.append(fail("6.4.4", c, "as 6.4.2, in 3 chops of one frame", [send(one[:cut1]), Sleep(0.2),
                      send(one[cut1:cut2]), Sleep(0.2), send(one[cut2:])], codes=(1007,)))
    for i, (group, sequences) in enumerate(utf8_sequences(), 5):
        for j, (is_valid, payload) in enumerate(sequences, 1):
            description = f"{group}: 0x{payload.hex()}"
            if is_valid:
                cases.append(ok(f"6.{i}.{j}", c, description + " (valid: echoed)", [send(frame(TEXT, payload))],
                                [text(payload)]))
            else:
                cases.append(fail(f"6.{i}.{j}", c, description + " (invalid: fail 1007)",
                                  [send(frame(TEXT, payload))], codes=(1007,)))
    return cases


# ---------------------------------------------------------------------------------------------------- 7 close handling


def close_cases() -> list[Case]:
    c = "7 close handling"
    hello = "Hello World!"
    cases = [
        answered("7.1.1", c, "text, then close: text echoed, close 1000",
                 [send(frame(TEXT, hello), close_frame(1000))], [text(hello)]),
        answered("7.1.2", c, "two close frames: one close back, the second ignored",
                 [send(close_frame(1000), close_frame(1000))]),
        answered("7.1.3", c, "close, then ping: no pong", [send(close_frame(1000), frame(PING, hello))]),
        answered("7.1.4", c, "close, then text: not echoed", [send(close_frame(1000), frame(TEXT, hello))]),
        answered("7.1.5", c, "text fragment, close, then the last fragment: nothing echoed",
                 [send(frame(TEXT, "fragment1", fin=False), close_frame(1000), frame(CONT, "fragment2"))]),
        answered("7.3.1", c, "close without payload: close 1000 (or empty) back", [send(close_frame(None))],
                 codes=(1000, EMPTY)),
        fail("7.3.2", c, "close with a 1-byte payload", [send(frame(CLOSE, b"a"))]),
        answered("7.3.3", c, "close 1000 without reason", [send(close_frame(1000))]),
        answered("7.3.4", c, "close 1000 with a reason", [send(close_frame(1000, hello))]),
        answered("7.3.5", c, "close 1000 with a 123 B reason (payload 125 B)", [send(close_frame(1000, "*" * 123))]),
        fail("7.3.6", c, "close 1000 with a 124 B reason (payload 126 B > 125)",
             [send(close_frame(1000, "*" * 124))]),
        fail("7.5.1", c, "close 1000 with a reason that is not UTF-8: 1007 or 1002, as Autobahn accepts",
             [send(close_frame(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"))],
             codes=(1007, 1002)),
    ]
    valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    for i, code in enumerate(valid, 1):
        cases.append(answered(f"7.7.{i}", c, f"close with valid code {code}: close 1000 or {code} back",
                              [send(close_frame(code))], codes=(1000, code)))
    invalid = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
    for i, code in enumerate(invalid, 1):
        cases.append(fail(f"7.9.{i}", c, f"close with invalid code {code}", [send(close_frame(code))]))
    cases.append(fail("7.9.x-1015", c, "close with invalid code 1015 (TLS handshake, never sent on the wire)",
                      [send(close_frame(1015))]))
    cases.append(fail("7.13.1", c, "close with invalid code 5000", [send(close_frame(5000))]))
    cases.append(fail("7.13.2", c, "close with invalid code 65535", [send(close_frame(65535))]))
    return cases


# ---------------------------------------------------------------------------------------- 9 limits, performance-lite


def limit_cases() -> list[Case]:
    c = "9 limits"
    big_text = (b"BAsd7&jh23" * (MAX_MESSAGE // 10 + 1))[:MAX_MESSAGE]
    big_binary = bytes((i * 31 + 7) % 256 for i in range(MAX_MESSAGE))
    cases = []
    for sub, opcode, kind, payload in [(1, TEXT, "text", big_text), (2, BINARY, "binary", big_binary)]:
        for i, n in enumerate([16384, MAX_MESSAGE], 1):
            cases.append(ok(f"9.{sub}.{i}", c, f"{kind} message of {n} B in one frame", [send(frame(opcode, payload[:n]))],
                            [(kind, payload[:n])]))
    for sub, opcode, kind, payload in [(3, TEXT, "text", big_text), (4, BINARY, "binary", big_binary)]:
        for i, size in enumerate([64, 1024, 16384, 65536], 1):
            cases.append(ok(f"9.{sub}.{i}", c, f"{kind} message of {MAX_MESSAGE} B in frames of {size} B",
                            [send(*fragments(opcode, payload, size))], [(kind, payload)]))
    for sub, opcode, kind, payload in [(5, TEXT, "text", big_text), (6, BINARY, "binary", big_binary)]:
        for i, chop in enumerate([64, 2048], 1):
            cases.append(ok(f"9.{sub}.{i}", c, f"{kind} message of {MAX_MESSAGE} B in one frame, written in chops of {chop} B",
                            [send(frame(opcode, payload), chop=chop)], [(kind, payload)]))
    for sub, opcode, kind in [(7, TEXT, "text"), (8, BINARY, "binary")]:
        for i, n in enumerate([0, 4096], 1):
            messages = [(b"%d:" % k + b"x" * n)[:max(n, 1)] if n else b"" for k in range(200)]
            steps = []
            for k, m in enumerate(messages, 1):
                steps += [send(frame(opcode, m)), Expect(k)]
            cases.append(ok(f"9.{sub}.{i}", c, f"200 {kind} messages of {n} B, each waiting for its echo",
                            steps, [(kind, m) for m in messages], timeout=5))
    over = MAX_MESSAGE + 1
    cases += [
        fail("9.x.limit-text-frame", c, f"text of {over} B in one frame (over --max-frame-bytes)",
             [send(frame(TEXT, b"*" * over))], codes=(1009,)),
        fail("9.x.limit-binary-frame", c, f"binary of {over} B in one frame (over --max-frame-bytes)",
             [send(frame(BINARY, b"\xfe" * over))], codes=(1009,)),
        fail("9.x.limit-text-fragmented", c, f"text of {over} B in 2 fragments",
             [send(*fragments(TEXT, b"*" * over, MAX_MESSAGE // 2 + 1))], codes=(1009,)),
        fail("9.x.limit-binary-fragmented", c, f"binary of {over} B in 2 fragments",
             [send(*fragments(BINARY, b"\xfe" * over, MAX_MESSAGE // 2 + 1))], codes=(1009,)),
        fail("9.x.limit-binary-many-fragments", c, f"binary of {over} B in fragments of 1024 B",
             [send(*fragments(BINARY, b"\xfe" * over, 1024))], codes=(1009,)),
        fail("9.x.limit-binary-frame-2x", c, f"binary of {NIO_MAX_FRAME} B in one frame (the frame decoder's limit)",
             [send(frame(BINARY, b"\xfe" * NIO_MAX_FRAME))], codes=(1009,)),
        fail("9.x.limit-binary-frame-2x+1", c, f"binary of {NIO_MAX_FRAME + 1} B in one frame (over the decoder's limit)",
             [send(frame(BINARY, b"\xfe" * (NIO_MAX_FRAME + 1)))], codes=(1009,)),
        fail("9.x.limit-huge-length", c, "a frame header announcing 2^63 - 1 B (no payload sent)",
             [send(struct.pack("!BBQ", 0x82, 0xFF, 2**63 - 1) + b"\x00\x00\x00\x00")], codes=(1009,)),
    ]
    return cases


# ---------------------------------------------------------------------------------------------------------- masking


def masking_cases() -> list[Case]:
    c = "masking"
    return [
        fail("x.unmasked-text", c, "unmasked text frame from the client", [send(frame(TEXT, "Hello", mask=False))]),
        fail("x.unmasked-binary", c, "unmasked binary frame from the client",
             [send(frame(BINARY, b"\x01\x02\x03", mask=False))]),
        fail("x.unmasked-ping", c, "unmasked ping from the client", [send(frame(PING, "ping", mask=False))]),
        fail("x.unmasked-close", c, "unmasked close 1000 from the client", [send(close_frame(1000, mask=False))]),
    ]


CASES = (framing_cases() + ping_cases() + reserved_bit_cases() + opcode_cases() + fragmentation_cases()
         + utf8_cases() + close_cases() + limit_cases() + masking_cases())
assert len({case.id for case in CASES}) == len(CASES), "duplicate case ids"


# ----------------------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def echo_server():
    instance = Server("--token", TOKEN, "--max-frame-bytes", str(MAX_MESSAGE))
    yield instance
    instance.stop()
    report = os.environ.get("WS_CONFORMANCE_REPORT")
    if report:
        with open(report, "w") as out:
            json.dump(RESULTS, out, indent=1)


def test_frame_builder_matches_websockets():
    """`raw_frame` (used for illegal frames) encodes legal frames exactly as `websockets` does."""
    from websockets.frames import Frame, Opcode

    for opcode, payload, fin in [(TEXT, b"", True), (TEXT, b"x" * 125, False), (BINARY, b"\x00" * 126, True),
                                 (BINARY, b"\x01" * 65535, True), (BINARY, b"\x02" * 65536, True),
                                 (PING, b"p" * 125, True), (CLOSE, close_payload(1000, "bye"), True)]:
        ours = raw_frame(opcode, payload, fin=fin, mask=False)
        theirs = Frame(Opcode(opcode), payload, fin=fin).serialize(mask=False, extensions=[])
        assert ours == theirs


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_autobahn(echo_server, case: Case):
    outcome = run_case(echo_server.port, PATH, case, HEADERS)
    problems = case.problems(outcome)
    survived = echo_probe(echo_server.port, PATH, HEADERS)
    if survived is not None:
        problems.append(f"a fresh connection after the case failed: {survived}")
    RESULTS.append({"id": case.id, "category": case.category, "description": case.description,
                    "expected": case.expectation, "actual": outcome.describe(), "problems": problems,
                    "seconds": round(outcome.seconds, 3)})
    assert not problems, (f"{case.id} {case.description}\n  expected: {case.expectation}\n"
                          f"  actual:   {outcome.describe()}\n  problems: {'; '.join(problems)}")


def test_server_survived_the_suite(echo_server):
    assert echo_server.process.poll() is None, echo_server.output()[-2000:]
    assert echo_probe(echo_server.port, PATH, HEADERS) is None
