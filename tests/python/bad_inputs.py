"""Generators of malformed inputs for `test_bad_input.py`: WebSocket frames and messages, WAV headers that lie,
damaged recordings of every upload format, lying multipart bodies, and JWTs.

Everything here is pure data: builders return bytes (or strings), case lists return `(id, …)` tuples whose last
items say what the server must answer. Nothing talks to a server. Randomness is seeded, so that a failing case
can be replayed byte for byte.

What the expectations mean (the test module interprets them):

- stream cases, `StreamCase.expect`:
  `("error", code, close)`   the server sends `{"type":"error","code":code}` and closes with `close`;
  `("close", {codes})`       protocol-level failure: a close frame with one of `codes` (or a TCP drop), no reply;
  `("end-race", code, close)` either `("error", code, close)` or `completed` and 1000, never both;
  `("completed", check)`     no error: the session ends with `completed` and close 1000; `check` is `None`,
                             `"duration"` (duration_ms must match the bytes sent) or `"transcript"` (the finals
                             must equal the reference transcript of the speech);
- upload cases: the HTTP statuses and `error` codes allowed (`0`/`"ok"` for a 200 with a transcript).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import random
import struct
import subprocess
import time
from pathlib import Path

from ws_frames import BINARY, CLOSE, CONT, PING, TEXT, close_frame, close_payload, frame, raw_frame

MAX_FRAME = 65536  # --max-frame-bytes (default)
RATE = 16000


# ======================================================================================================= streams

@dataclasses.dataclass(frozen=True)
class StreamCase:
    id: str
    frames: tuple[bytes, ...]  # wire bytes, sent after `ready`
    expect: tuple
    pcm_bytes: int = 0  # for ("completed", "duration"): PCM bytes that count as audio
    query: str = ""  # extra query parameters
    repeat: int = 1  # sessions played (for outcomes that depend on timing)


END = frame(TEXT, '{"type":"end"}')
PING_MSG = frame(TEXT, '{"type":"ping"}')


def invalid_message(close: int = 1008) -> tuple:
    return ("error", "invalid_message", close)


def text_cases() -> list[StreamCase]:
    """Text that is not JSON, JSON that is not an object, and objects whose `type` is wrong.

    Not here: `{"type":"ping",}` and `{"type":"ping","n":0123}`, which Foundation's JSON decoder accepts (a trailing
    comma, a leading zero); the README says the server tolerates them."""
    bad_json = {
        "empty": "",
        "space": " ",
        "truncated-object": '{"type":"en',
        "truncated-after-colon": '{"type":',
        "unclosed-brace": '{"type":"end"',
        "trailing-garbage": '{"type":"end"} x',
        "two-objects": '{"type":"ping"}{"type":"end"}',
        "trailing-nul": '{"type":"ping"}\x00',
        "single-quotes": "{'type':'ping'}",
        "unquoted-key": '{type:"ping"}',
        "comment": '{"type":"ping"} // hi',
        "nan-type": '{"type":NaN}',
        "nan-extra-field": '{"type":"ping","n":NaN}',
        "infinity-extra-field": '{"type":"ping","n":-Infinity}',
        "hex-number": '{"type":"ping","n":0x10}',
        "lone-surrogate-escape": '{"type":"\\ud800"}',
        "bad-escape": '{"type":"\\x70ing"}',
        "raw-control-char": '{"type":"pi\x01ng"}',
        "deep-array-600": "[" * 600 + "]" * 600,
        "deep-object-600": '{"a":' * 600 + "1" + "}" * 600,
        "deep-array-30000-in-object": '{"type":"ping","x":' + "[" * 30000 + "]" * 30000 + "}",
        "deep-unclosed-30000": "[" * 30000,
        "only-brackets-64k": "[" * (MAX_FRAME - 1) + "]",
        "xml": "<type>end</type>",
        "python-repr": "{'type': 'end'}",
        "json-in-json": '"{\\"type\\":\\"end\\"}"',
    }
    not_objects = {
        "array-with-end": '[{"type":"end"}]',
        "array-empty": "[]",
        "string-end": '"end"',
        "number": "5",
        "huge-number": "1e999999",
        "negative-huge-number": "-" + "9" * 5000,
        "null": "null",
        "true": "true",
    }
    wrong_types = {
        "type-int": '{"type":5}',
        "type-float": '{"type":1.5}',
        "type-huge-number": '{"type":1e999999}',
        "type-null": '{"type":null}',
        "type-bool": '{"type":true}',
        "type-array": '{"type":["end"]}',
        "type-object": '{"type":{"type":"end"}}',
        "type-missing": '{"kind":"end"}',
        "type-empty-object": "{}",
        "type-unknown": '{"type":"start"}',
        "type-uppercase": '{"type":"END"}',
        "type-padded": '{"type":" end"}',
        "type-empty": '{"type":""}',
        "type-nul-inside": '{"type":"end\\u0000"}',
        "type-audio": '{"type":"audio","data":"AAAA"}',
        "type-long": '{"type":"' + "x" * 60000 + '"}',
        "type-unicode": '{"type":"énd"}',
    }
    cases = []
    for group in (bad_json, not_objects, wrong_types):
        for name, text in group.items():
            cases.append(StreamCase(f"text-{name}", (frame(TEXT, text),), invalid_message()))
    # Valid JSON with extra members, huge numbers or a byte-order mark is a ping all the same: pong, then `end` works.
    valid = {
        "ping-huge-number-field": '{"type":"ping","n":1e999999}',
        "ping-long-digits-field": '{"type":"ping","n":' + "9" * 50000 + "}",
        "ping-nested-field-100": '{"type":"ping","x":' + "[" * 100 + "]" * 100 + "}",
        "ping-escaped-type": '{"type":"p\\u0069ng"}',
        "ping-whitespace": ' \t\r\n{ "type" : "ping" } \n',
    }
    for name, text in valid.items():
        cases.append(StreamCase(f"text-{name}", (frame(TEXT, text), END), ("completed", "pong")))
    return cases


def size_cases() -> list[StreamCase]:
    """Messages at, just over, and far over `--max-frame-bytes` (text and binary)."""
    def ping_padded(n: int) -> bytes:
        base = b'{"type":"ping"}'
        return base + b" " * (n - len(base))

    cases = [
        StreamCase("size-text-limit-minus-1", (frame(TEXT, ping_padded(MAX_FRAME - 1)), END), ("completed", "pong")),
        StreamCase("size-text-at-limit", (frame(TEXT, ping_padded(MAX_FRAME)), END), ("completed", "pong")),
        StreamCase("size-text-limit-plus-1", (frame(TEXT, ping_padded(MAX_FRAME + 1)),), ("error", "frame_too_large", 1009)),
        StreamCase("size-text-1.5x", (frame(TEXT, ping_padded(MAX_FRAME * 3 // 2)),), ("error", "frame_too_large", 1009)),
        StreamCase("size-text-2x", (frame(TEXT, ping_padded(MAX_FRAME * 2)),), ("error", "frame_too_large", 1009)),
        StreamCase("size-text-2x-plus-1", (frame(TEXT, ping_padded(MAX_FRAME * 2 + 1)),), ("close", {1009})),
        StreamCase("size-text-1MiB", (frame(TEXT, ping_padded(1 << 20)),), ("close", {1009})),
        StreamCase("size-binary-at-limit", (frame(BINARY, b"\x00" * MAX_FRAME), END), ("completed", "duration"), MAX_FRAME),
        StreamCase("size-binary-limit-plus-1", (frame(BINARY, b"\x00" * (MAX_FRAME + 1)),), ("error", "frame_too_large", 1009)),
        StreamCase("size-binary-2x", (frame(BINARY, b"\x00" * (MAX_FRAME * 2)),), ("error", "frame_too_large", 1009)),
        StreamCase("size-binary-2x-plus-1", (frame(BINARY, b"\x00" * (MAX_FRAME * 2 + 1)),), ("close", {1009})),
        StreamCase("size-binary-4MiB", (frame(BINARY, b"\x00" * (4 << 20)),), ("close", {1009})),
        # A frame header announcing 2^62 bytes, then nothing: refused from the header.
        StreamCase("size-header-claims-2^62", (b"\x82\xff" + struct.pack("!Q", 1 << 62) + b"\x00\x00\x00\x00",), ("close", {1009, 1002})),
        # The most significant bit of a 64-bit length must be 0 (RFC 6455 §5.2).
        StreamCase("size-header-length-msb-set", (b"\x82\xff" + struct.pack("!Q", 1 << 63) + b"\x00\x00\x00\x00",), ("close", {1002, 1009})),
    ]
    return cases


INVALID_UTF8 = {
    "lone-ff": b"\xff",
    "lone-continuation": b"\x80",
    "overlong-slash": b'{"type":"ping"}\xc0\xaf',
    "overlong-nul": b"\xc0\x80",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-pair-cesu": b"\xed\xa0\xbd\xed\xb8\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "truncated-3-byte": b'{"type":"\xe2\x82"}',
    "latin1-e-acute": b'{"type":"\xe9"}',
    "fe-ff-bom": b"\xfe\xff\x00p",
    "valid-then-invalid-at-end": b'{"type":"ping"}' + b" " * 1000 + b"\xc3",
    "invalid-in-64k": b"a" * 40000 + b"\xff" + b"a" * 20000,
}


def utf8_cases() -> list[StreamCase]:
    """Text messages that are not UTF-8: RFC 6455 §8.1 fails the connection with 1007."""
    cases = [StreamCase(f"utf8-{name}", (frame(TEXT, data),), ("close", {1007})) for name, data in INVALID_UTF8.items()]
    # Split across fragments: the first fragment ends inside a code point, the second is not a continuation.
    cases.append(StreamCase("utf8-fragmented", (raw_frame(TEXT, b'{"type":"\xe2\x82', fin=False), raw_frame(CONT, b'x"}')), ("close", {1007})))
    return cases


def garbage_pcm(seed: int, size: int) -> bytes:
    """Random bytes that do not start like a RIFF header (they must be taken as PCM)."""
    data = bytearray(random.Random(seed).randbytes(size))
    if data[:1] == b"R":
        data[0] = 0x00
    return bytes(data)


def binary_cases() -> list[StreamCase]:
    """Binary garbage is PCM: decoded as noise, the session completes, `duration_ms` counts its samples."""
    cases = []
    for seed, sizes in enumerate([(1,), (2,), (3,), (3199,), (3200,), (3201,), (32000,), (65535,), (65536,),
                                  (7, 13, 1, 1, 3200, 4095), (1,) * 101, (33333, 33333)]):
        chunks = [garbage_pcm(seed * 100 + i, n) for i, n in enumerate(sizes)]
        ident = "x".join(str(n) for n in sizes) if len(sizes) < 10 else f"{len(sizes)}x{sizes[0]}"
        cases.append(StreamCase(f"binary-random-{ident}", tuple(frame(BINARY, c) for c in chunks) + (END,),
                                ("completed", "duration"), sum(sizes)))
    # Extremes of the sample range and byte patterns that look like other formats' magic numbers.
    for name, data in {
        "all-ff": b"\xff" * 32000, "all-80": b"\x80" * 32000, "int16-extremes": struct.pack("<2h", -32768, 32767) * 8000,
        "mp3-sync": b"\xff\xfb\x90\x64" * 4000, "oggs": b"OggS" * 4000, "id3": b"ID3" + b"\x00" * 31997,
        "riff-without-wave": b"RIFF\x10\x00\x00\x00JUNK" + b"\x01\x02" * 16000, "riff-then-end": b"RIF",
    }.items():
        cases.append(StreamCase(f"binary-{name}", (frame(BINARY, data), END), ("completed", "duration"), len(data)))
    # An empty binary message, then end.
    cases.append(StreamCase("binary-empty-message", (frame(BINARY, b""), END), ("completed", "duration"), 0))
    return cases


def protocol_cases() -> list[StreamCase]:
    """Frames RFC 6455 forbids, on the stream endpoint (the echo endpoint has its own conformance suite)."""
    return [
        StreamCase("proto-reserved-opcode-3", (raw_frame(3, b"x"),), ("close", {1002})),
        StreamCase("proto-reserved-opcode-b", (raw_frame(0xB, b"x"),), ("close", {1002})),
        StreamCase("proto-unmasked-binary", (raw_frame(BINARY, b"\x00" * 10, mask=False),), ("close", {1002})),
        StreamCase("proto-rsv1-binary", (raw_frame(BINARY, b"\x00" * 10, rsv=4),), ("close", {1002})),
        StreamCase("proto-continuation-first", (raw_frame(CONT, b"\x00" * 10),), ("close", {1002})),
        StreamCase("proto-ping-126-bytes", (raw_frame(PING, b"p" * 126),), ("close", {1002})),
        StreamCase("proto-fragmented-ping", (raw_frame(PING, b"p", fin=False),), ("close", {1002})),
        StreamCase("proto-data-inside-fragmented-text", (raw_frame(TEXT, b'{"type":', fin=False), raw_frame(BINARY, b"x")), ("close", {1002})),
        StreamCase("proto-close-code-999", (close_frame(999),), ("close", {1002})),
        StreamCase("proto-close-code-1005", (close_frame(1005),), ("close", {1002})),
        StreamCase("proto-close-1-byte-payload", (raw_frame(CLOSE, b"\x03"),), ("close", {1002})),
        StreamCase("proto-close-reason-not-utf8", (raw_frame(CLOSE, close_payload(1000, b"\xff\xfe")),), ("close", {1002, 1007})),
    ]


# -------------------------------------------------------------------------------------------- WAV headers that lie

def wav_header(fmt_tag: int = 1, channels: int = 1, rate: int = RATE, bits: int = 16, *, riff_size: int | None = None,
               data_size: int | None = None, fmt_size: int = 16, data_first: bool = False, extra_chunks: bytes = b"",
               pcm_len: int = 0) -> bytes:
    """A RIFF/WAVE header (up to the first sample byte) saying whatever it is told to."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    fmt = (fmt + b"\x00" * max(0, fmt_size - 16))[:fmt_size]
    fmt_chunk = b"fmt " + struct.pack("<I", fmt_size) + fmt
    data_chunk = b"data" + struct.pack("<I", (pcm_len if data_size is None else data_size) & 0xFFFFFFFF)
    body = extra_chunks + (data_chunk + fmt_chunk if data_first else fmt_chunk + data_chunk)
    size = 4 + len(body) + pcm_len if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", size & 0xFFFFFFFF) + b"WAVE" + body


def chunked(data: bytes, size: int = 3200) -> tuple[bytes, ...]:
    return tuple(frame(BINARY, data[i:i + size]) for i in range(0, len(data), size))


def stereo(pcm: bytes) -> bytes:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[:len(pcm) // 2 * 2])
    return struct.pack(f"<{2 * len(samples)}h", *[s for s in samples for _ in (0, 1)])


def wav_stream_cases(pcm: bytes) -> list[StreamCase]:
    """A WAV header at the start of a stream: honest ones are skipped (the transcript is the speech's), lying ones
    that announce anything but 16-bit PCM mono/stereo at 8–48 kHz are `invalid_audio` (1003)."""
    n = len(pcm)
    bad = {
        "8-bit": wav_header(bits=8, pcm_len=n),
        "24-bit": wav_header(bits=24, pcm_len=n),
        "32-bit-int": wav_header(bits=32, pcm_len=n),
        "float32": wav_header(fmt_tag=3, bits=32, pcm_len=n),
        "float16-tag3": wav_header(fmt_tag=3, bits=16, pcm_len=n),
        "alaw": wav_header(fmt_tag=6, bits=8, pcm_len=n),
        "mp3-tag": wav_header(fmt_tag=0x55, bits=16, pcm_len=n),
        "0-bits": wav_header(bits=0, pcm_len=n),
        "6-channels": wav_header(channels=6, pcm_len=n),
        "0-channels": wav_header(channels=0, pcm_len=n),
        "65535-channels": wav_header(channels=65535, pcm_len=n),
        "rate-0": wav_header(rate=0, pcm_len=n),
        "rate-7999": wav_header(rate=7999, pcm_len=n),
        "rate-48001": wav_header(rate=48001, pcm_len=n),
        "rate-4GHz": wav_header(rate=0xFFFFFFFF, pcm_len=n),
        "data-before-fmt": wav_header(data_first=True, pcm_len=n),
        "fmt-size-12": wav_header(fmt_size=12, pcm_len=n),
        "fmt-size-0": wav_header(fmt_size=0, pcm_len=n),
        "header-over-64KiB-one-chunk": wav_header(extra_chunks=b"LIST" + struct.pack("<I", 70000), pcm_len=n),
        "header-over-64KiB-many-chunks": wav_header(extra_chunks=(b"JUNK" + struct.pack("<I", 4000) + b"\x00" * 4000) * 17, pcm_len=n),
        "chunk-size-4GiB-before-fmt": wav_header(extra_chunks=b"JUNK" + struct.pack("<I", 0xFFFFFFFF), pcm_len=n),
    }
    cases = [StreamCase(f"wav-{name}", chunked(head + pcm) + (END,), ("error", "invalid_audio", 1003)) for name, head in bad.items()]
    fine = {
        "riff-size-0": wav_header(riff_size=0, pcm_len=n),
        "riff-size-4GiB": wav_header(riff_size=0xFFFFFFFF, pcm_len=n),
        "data-size-0": wav_header(data_size=0, pcm_len=n),
        "data-size-4GiB": wav_header(data_size=0xFFFFFFFF, pcm_len=n),
        "data-size-too-small": wav_header(data_size=100, pcm_len=n),
        "extensible-16-bit": wav_header(fmt_tag=0xFFFE, fmt_size=40, pcm_len=n),
        "list-chunk-60000": wav_header(extra_chunks=b"LIST" + struct.pack("<I", 60000) + b"\x00" * 60000, pcm_len=n),
        "odd-sized-chunk-padded": wav_header(extra_chunks=b"JUNK" + struct.pack("<I", 3) + b"abc\x00", pcm_len=n),
    }
    for name, head in fine.items():
        cases.append(StreamCase(f"wav-{name}", chunked(head + pcm) + (END,), ("completed", "transcript")))
    header = wav_header(pcm_len=n)
    cases.append(StreamCase("wav-header-one-byte-per-message", tuple(frame(BINARY, header[i:i + 1]) for i in range(len(header))) + chunked(pcm) + (END,),
                            ("completed", "transcript")))
    cases.append(StreamCase("wav-header-split-odd", (frame(BINARY, header[:7]), frame(BINARY, header[7:31])) + chunked(header[31:] + pcm, 3199) + (END,),
                            ("completed", "transcript")))
    cases.append(StreamCase("wav-stereo-honest", chunked(wav_header(channels=2, pcm_len=2 * n) + stereo(pcm)) + (END,), ("completed", "transcript")))
    cases.append(StreamCase("wav-riff-then-garbage", chunked(b"RIFF" + garbage_pcm(7, 20) + pcm) + (END,), ("completed", None)))
    cases.append(StreamCase("wav-incomplete-header-then-end", (frame(BINARY, header[:30]), END), ("completed", "duration"), 30))
    return cases


def after_end_cases(pcm: bytes) -> list[StreamCase]:
    """Audio after `{"type":"end"}` is `invalid_message` (README). The server may have finished before it reads that
    audio (then `completed` and 1000 are a fair answer too), but one session must not get both `completed` and an
    error: each case is played `repeat` times, since which one happens depends on timing."""
    race = ("end-race", "invalid_message", 1008)
    return [
        StreamCase("after-end-audio-immediately", (END, frame(BINARY, pcm[:3200])), race, repeat=60),
        StreamCase("after-end-audio-after-speech", chunked(pcm[:32000]) + (END, frame(BINARY, pcm[:3200])), race, repeat=30),
        StreamCase("after-end-one-byte", chunked(pcm[:32000]) + (END, frame(BINARY, b"\x00")), race, repeat=30),
        StreamCase("after-end-garbage-text", chunked(pcm[:32000]) + (END, frame(TEXT, "not json")), race, repeat=30),
        StreamCase("after-end-second-end-is-ignored", chunked(pcm[:32000]) + (END, END), ("completed", "duration"), 32000),
    ]


def stream_cases(pcm: bytes) -> list[StreamCase]:
    cases = text_cases() + size_cases() + utf8_cases() + binary_cases() + protocol_cases() + wav_stream_cases(pcm) + after_end_cases(pcm)
    assert len({c.id for c in cases}) == len(cases), "duplicate stream case ids"
    return cases


# ------------------------------------------------------------------------------------------------- handshake query

def query_cases() -> list[tuple[str, str, str]]:
    """(id, query string, error): a bad query refuses the handshake with 400 and the error code, before any upgrade."""
    rates = ["0", "-1", "7999", "48001", "1e9", "abc", "", "16000.0", "16k", "0x3E80", "99999999999999999999999",
             "-16000", "%2016000", "16000%00", "%D9%A1%D9%A6%D9%A0%D9%A0%D9%A0", "16000%20", "4294983296"]
    cases = [(f"sample_rate={r or 'empty'}", f"sample_rate={r}", "invalid_parameter") for r in rates]
    for lang in ["fr", "zh-CN", "de-DE", "eo", "%00", "x" * 300, "%F0%9F%98%80", "-en"]:
        cases.append((f"lang={lang[:20]}", f"lang={lang}", "unsupported_language"))
    for engine in ["nope", "tencent", "openai", "PocketSphinx", "%00", "..%2Fpocketsphinx", "pocketsphinx%20", "x" * 300]:
        cases.append((f"engine={engine[:20]}", f"engine={engine}", "unknown_engine"))
    return cases


def handshake_cases() -> list[tuple[str, bytes, tuple[int, ...], str | None]]:
    """(id, raw request with {token}, statuses allowed, error code): handshakes that must not be upgraded."""
    def upgrade(lines: list[str], method: str = "GET", query: str = "token={token}") -> bytes:
        return (f"{method} /api/realtime-voice/stream?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{l}\r\n" for l in lines) + "\r\n").encode()
    key, version = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"
    up, conn = "Upgrade: websocket", "Connection: Upgrade"
    return [
        ("bad-token-and-bad-sample-rate", upgrade([up, conn, key, version], query="token=wrong&sample_rate=0"), (401,), "unauthorized"),
        ("no-sec-websocket-key", upgrade([up, conn, version]), (400,), "invalid_upgrade"),
        ("no-sec-websocket-version", upgrade([up, conn, key]), (400, 426), None),
        ("sec-websocket-version-8", upgrade([up, conn, key, "Sec-WebSocket-Version: 8"]), (400, 426), None),
        ("no-connection-header", upgrade([up, key, version]), (400, 426), None),
        ("upgrade-h2c", upgrade(["Upgrade: h2c", conn, key, version]), (400, 426), None),
        # RFC 6455 §4.2.1: the key must be base64 of 16 bytes, the method GET; otherwise 400 (§4.2.2).
        ("sec-websocket-key-not-16-bytes", upgrade([up, conn, "Sec-WebSocket-Key: short", version]), (400,), None),
        ("method-post", upgrade([up, conn, key, version, "Content-Length: 0"], method="POST"), (400, 404, 405), None),
    ]


def malformed_http_cases() -> list[tuple[str, bytes, tuple[int, ...]]]:
    """(id, raw bytes, statuses allowed besides a plain close): requests an HTTP/1.1 parser must refuse.
    A careful server answers 4xx (or closes the connection) at once; it must not leave the connection hanging."""
    post = "POST /api/realtime-voice/recognize HTTP/1.1\r\nHost: x\r\ntoken: {token}\r\nContent-Type: audio/wav\r\n"
    refused = (400,)
    return [
        ("content-length-not-a-number", (post + "Content-Length: abc\r\n\r\nRIFF").encode(), refused),
        ("content-length-negative", (post + "Content-Length: -5\r\n\r\nRIFF").encode(), refused),
        ("content-length-twice-different", (post + "Content-Length: 4\r\nContent-Length: 9\r\n\r\nRIFF").encode(), refused),
        ("content-length-and-chunked", (post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nRIFF\r\n0\r\n\r\n").encode(), refused),
        ("chunk-size-not-hex", (post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n").encode(), refused),
        ("transfer-encoding-gzip", (post + "Transfer-Encoding: gzip\r\n\r\nabc").encode(), refused + (501,)),
        ("header-without-colon", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", refused),
        ("space-before-colon", b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n", refused),
        ("nul-in-header-value", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", refused),
        ("control-char-in-method", b"GE\x01T /health HTTP/1.1\r\nHost: x\r\n\r\n", refused + (501,)),
        ("space-in-path", b"GET /hea lth HTTP/1.1\r\nHost: x\r\n\r\n", refused),
        ("garbage-request-line", b"HELLO\r\n\r\n", refused),
        ("http-0.9-request", b"GET /health\r\n\r\n", refused + (505,)),
        ("http-version-3.0", b"GET /health HTTP/3.0\r\nHost: x\r\n\r\n", refused + (505,)),
        ("http2-preface-on-http1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", refused + (505,)),
        ("tls-client-hello-on-plain-port", bytes.fromhex("16030100a5010000a10303") + b"\x00" * 100, refused),
        ("uri-of-100KiB", b"GET /health?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", refused + (414, 431)),
        ("2000-header-fields", b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(2000)) + b"\r\n", refused + (431,)),
        ("header-of-1MiB", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", refused + (431,)),
        ("obs-fold-header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", refused + (200,)),
        ("lf-only-line-endings", b"GET /health HTTP/1.1\nHost: x\n\n", refused + (200,)),
    ]


# ---------------------------------------------------------------------------------------------------- disconnects

def disconnect_cases(pcm: bytes) -> list[tuple[str, str, bytes]]:
    """(id, when, bytes): `when` is "handshake" (bytes replace the upgrade request) or "session" (sent after
    `ready`); then the client vanishes (FIN or RST, the test decides)."""
    burst = b"".join(frame(BINARY, pcm[i:i + 3200]) for i in range(0, min(len(pcm), 64000), 3200))
    big = raw_frame(BINARY, pcm[:3200])
    return [
        ("half-upgrade-request", "handshake", b"GET /api/realtime-voice/stream?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: webs"),
        ("upgrade-then-vanish", "handshake-complete", b""),
        ("one-byte-of-frame-header", "session", b"\x82"),
        ("16-bit-length-cut", "session", b"\x82\xfe\x0c"),
        ("64-bit-length-cut", "session", b"\x82\xff\x00\x00\x00\x00"),
        ("mask-key-cut", "session", b"\x82\x85\x01\x02"),
        ("payload-cut", "session", big[:500]),
        ("text-payload-cut", "session", raw_frame(TEXT, b'{"type":"end"}')[:12]),
        ("first-fragment-only", "session", raw_frame(BINARY, pcm[:3200], fin=False)),
        ("close-frame-cut", "session", raw_frame(CLOSE, close_payload(1000, "bye"))[:4]),
        ("burst-then-vanish", "session", burst),
        ("end-then-vanish", "session", burst + END),
    ]


# ========================================================================================================= uploads

def make_recordings(wav: Path, directory: Path) -> dict[str, bytes]:
    """The speech in `wav` in every format the README lists, made with ffmpeg."""
    codecs = {
        "wav": ["-c:a", "pcm_s16le"],
        "mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
        "m4a": ["-c:a", "aac", "-b:a", "32k"],
        "ogg": ["-c:a", "libopus", "-b:a", "24k"],
        "webm": ["-c:a", "libopus", "-b:a", "24k"],
        "flac": ["-c:a", "flac"],
        "aac": ["-c:a", "aac", "-b:a", "32k", "-f", "adts"],
    }
    out = {}
    for ext, args in codecs.items():
        path = directory / f"speech.{ext}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), *args, str(path)], check=True)
        out[ext] = path.read_bytes()
    return out


FORMATS = ["wav", "mp3", "m4a", "ogg", "webm", "flac", "aac"]
TRUNCATIONS = {"cut-at-3pct": 0.03, "cut-at-half": 0.5, "cut-at-90pct": 0.9}


def truncated(data: bytes, fraction: float) -> bytes:
    return data[:max(1, int(len(data) * fraction))]


def flipped(data: bytes, offset: int, count: int = 64) -> bytes:
    out = bytearray(data)
    for i in range(offset, min(len(out), offset + count)):
        out[i] ^= 0xFF
    return bytes(out)


def zeroed_header(data: bytes, count: int = 64) -> bytes:
    return b"\x00" * count + data[count:]


def format_cases() -> list[tuple[str, str, str, tuple]]:
    """(id, format, damage, allowed): damage is a key of `damage()`; allowed a set of (status, error)."""
    cases = []
    for fmt in FORMATS:
        for name in TRUNCATIONS:
            # README: a truncated WAV, MP3, M4A or Ogg is 422 undecodable_audio; WebM, FLAC and ADTS AAC declare no
            # length the server checks, so a cut one is transcribed as far as it goes (200), or refused if ffmpeg
            # cannot read it.
            allowed = ((422, "undecodable_audio"),) if fmt in ("wav", "mp3", "m4a", "ogg") else ((422, "undecodable_audio"), (200, "ok"))
            cases.append((f"{fmt}-{name}", fmt, name, allowed))
        # Bit errors: concealed (a transcript) or refused as corrupt; never anything else.
        cases.append((f"{fmt}-flip-64-bytes-middle", fmt, "flip-middle", ((200, "ok"), (422, "undecodable_audio"))))
        cases.append((f"{fmt}-flip-16-bytes-after-magic", fmt, "flip-header", ((200, "ok"), (422, "undecodable_audio"), (415, "unsupported_format"))))
        cases.append((f"{fmt}-zeroed-header", fmt, "zero-header", ((415, "unsupported_format"),)))
    return cases


def damage(data: bytes, fmt: str, name: str) -> bytes:
    if name in TRUNCATIONS:
        return truncated(data, TRUNCATIONS[name])
    if name == "flip-middle":
        return flipped(data, len(data) // 2)
    if name == "flip-header":
        return flipped(data, 12 if fmt == "wav" else 4 + (4 if fmt in ("m4a",) else 0), 16)
    if name == "zero-header":
        return zeroed_header(data)
    raise KeyError(name)


# ---- lying headers and decompression bombs

def ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def ogg_pages(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of every Ogg page."""
    pages, offset = [], 0
    while offset + 27 <= len(data) and data[offset:offset + 4] == b"OggS":
        segments = data[offset + 26]
        length = 27 + segments + sum(data[offset + 27:offset + 27 + segments])
        pages.append((offset, length))
        offset += length
    return pages


def ogg_with_granule(data: bytes, granule: int, page_index: int = -1) -> bytes:
    """The Ogg file with one page's granule position replaced (and its CRC fixed)."""
    out = bytearray(data)
    offset, length = ogg_pages(data)[page_index]
    out[offset + 6:offset + 14] = struct.pack("<q", granule)
    out[offset + 22:offset + 26] = b"\x00\x00\x00\x00"
    out[offset + 22:offset + 26] = struct.pack("<I", ogg_crc(bytes(out[offset:offset + length])))
    return bytes(out)


def mp3_with_xing(data: bytes, frames: int | None = None, nbytes: int | None = None) -> bytes:
    """The MP3 with its Xing/Info header's frame count and/or byte count replaced (LAME/ffmpeg write one)."""
    out = bytearray(data)
    at = out.find(b"Info")
    if at < 0:
        at = out.find(b"Xing")
    assert at > 0, "no Xing/Info header"
    flags = struct.unpack(">I", out[at + 4:at + 8])[0]
    position = at + 8
    if flags & 1:
        if frames is not None:
            out[position:position + 4] = struct.pack(">I", frames)
        position += 4
    if flags & 2 and nbytes is not None:
        out[position:position + 4] = struct.pack(">I", nbytes)
    return bytes(out)


def flac_with_total_samples(data: bytes, total: int) -> bytes:
    """The FLAC file with STREAMINFO's 36-bit total sample count replaced."""
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0
    info = bytearray(data[8:8 + 34])
    packed = int.from_bytes(info[10:18], "big")
    packed = (packed & ~((1 << 36) - 1)) | (total & ((1 << 36) - 1))
    info[10:18] = packed.to_bytes(8, "big")
    return data[:8] + bytes(info) + data[8 + 34:]


def mp4_with_duration(data: bytes, duration: int = 0xFFFFFFF0) -> bytes:
    """The MP4 with the `mvhd` and every `mdhd`/`tkhd` duration (version 0 boxes) replaced."""
    out = bytearray(data)
    for box, offset in ((b"mvhd", 16), (b"mdhd", 16), (b"tkhd", 20)):
        at = out.find(box)
        while at >= 0:
            if out[at + 4] == 0:  # version 0: 32-bit times
                out[at + 4 + offset:at + 8 + offset] = struct.pack(">I", duration)
            at = out.find(box, at + 4)
    return bytes(out)


def webm_with_duration(data: bytes, milliseconds: float = 1e12) -> bytes:
    """The WebM with its Segment Info Duration (element 0x4489, a float) replaced."""
    out = bytearray(data)
    at = out.find(b"\x44\x89\x88")
    if at >= 0:
        out[at + 3:at + 11] = struct.pack(">d", milliseconds)
        return bytes(out)
    at = out.find(b"\x44\x89\x84")
    assert at >= 0, "no Duration element"
    out[at + 3:at + 7] = struct.pack(">f", milliseconds)
    return bytes(out)


def silence_flac(seconds: int, directory: Path) -> bytes:
    """A FLAC of `seconds` of silence in 64k-sample frames: an hour is about 20 KB (a decompression bomb)."""
    path = directory / f"silence-{seconds}.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"anullsrc=r={RATE}:cl=mono", "-t", str(seconds),
                    "-c:a", "flac", "-frame_size", "65535", str(path)], check=True)
    return path.read_bytes()


def bomb_cases() -> list[tuple[str, tuple, float | None]]:
    """(id, allowed (status, error) pairs, longest duration_ms accepted in a 200 as a multiple of the real one)."""
    ok_short = ((200, "ok"),)
    return [
        ("wav-data-size-4GiB-1s-of-audio", ok_short, 1.1),
        # Transcribed as the second it holds, or refused as cut short (its data chunk declares 2 GiB).
        ("wav-riff-and-data-size-2GiB", ok_short + ((422, "undecodable_audio"),), 1.1),
        ("wav-data-size-0", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("wav-fmt-rate-0", ((422, "undecodable_audio"),), None),
        ("wav-fmt-rate-4GHz", ((422, "undecodable_audio"),), None),
        ("wav-fmt-0-channels", ((422, "undecodable_audio"),), None),
        ("wav-fmt-6-channels", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("wav-data-before-fmt", ((422, "undecodable_audio"),), None),
        ("wav-fmt-24-bit-on-16-bit-data", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("wav-fmt-float-on-16-bit-data", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("mp3-xing-frames-claim-hours", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("mp3-xing-bytes-claim-4GiB", ((422, "undecodable_audio"),), None),
        ("ogg-last-granule-3-days", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("ogg-first-audio-granule-3-days", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("flac-streaminfo-claims-50-days", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("m4a-durations-claim-years", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("webm-duration-claims-30-years", ((200, "ok"), (422, "undecodable_audio")), 1.1),
        ("flac-1-hour-of-silence-in-20KB", ((413, "audio_too_long"),), None),
        ("wav-61s", ((413, "audio_too_long"),), None),
        ("raw-pcm-61s", ((413, "audio_too_long"),), None),
        ("wav-claims-4GiB-sends-11MiB", ((413, "audio_too_large"),), None),
    ]


def bomb(name: str, recordings: dict[str, bytes], pcm: bytes, directory: Path) -> tuple[bytes, dict]:
    """The body for a bomb case, and extra query fields."""
    one_second = pcm[:2 * RATE]
    n = len(one_second)
    if name == "wav-data-size-4GiB-1s-of-audio":
        return wav_header(data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF, pcm_len=n) + one_second, {}
    if name == "wav-riff-and-data-size-2GiB":
        return wav_header(data_size=0x7FFFFFFF, riff_size=0x7FFFFFFF, pcm_len=n) + one_second, {}
    if name == "wav-data-size-0":
        return wav_header(data_size=0, pcm_len=n) + one_second, {}
    if name == "wav-fmt-rate-0":
        return wav_header(rate=0, pcm_len=n) + one_second, {}
    if name == "wav-fmt-rate-4GHz":
        return wav_header(rate=0xFFFFFFFF, pcm_len=n) + one_second, {}
    if name == "wav-fmt-0-channels":
        return wav_header(channels=0, pcm_len=n) + one_second, {}
    if name == "wav-fmt-6-channels":
        return wav_header(channels=6, pcm_len=n) + one_second, {}
    if name == "wav-data-before-fmt":
        return wav_header(data_first=True, pcm_len=n) + one_second, {}
    if name == "wav-fmt-24-bit-on-16-bit-data":
        return wav_header(bits=24, pcm_len=n) + one_second[:n // 6 * 6], {}
    if name == "wav-fmt-float-on-16-bit-data":
        return wav_header(fmt_tag=3, bits=32, pcm_len=n) + one_second, {}
    if name == "mp3-xing-frames-claim-hours":
        return mp3_with_xing(recordings["mp3"], frames=0x7FFFFFFF), {}
    if name == "mp3-xing-bytes-claim-4GiB":
        return mp3_with_xing(recordings["mp3"], nbytes=0xFFFFFFF0), {}
    if name == "ogg-last-granule-3-days":
        return ogg_with_granule(recordings["ogg"], 3 * 86400 * 48000, -1), {}
    if name == "ogg-first-audio-granule-3-days":
        return ogg_with_granule(recordings["ogg"], 3 * 86400 * 48000, 2), {}
    if name == "flac-streaminfo-claims-50-days":
        return flac_with_total_samples(recordings["flac"], (1 << 36) - 1), {}
    if name == "m4a-durations-claim-years":
        return mp4_with_duration(recordings["m4a"]), {}
    if name == "webm-duration-claims-30-years":
        return webm_with_duration(recordings["webm"]), {}
    if name == "flac-1-hour-of-silence-in-20KB":
        return silence_flac(3600, directory), {}
    if name == "wav-61s":
        return wav_header(pcm_len=61 * 2 * RATE) + b"\x00" * (61 * 2 * RATE), {}
    if name == "raw-pcm-61s":
        return garbage_pcm(61, 61 * 2 * RATE), {"sample_rate": "16000"}
    if name == "wav-claims-4GiB-sends-11MiB":
        return wav_header(data_size=0xFFFFFFFF, pcm_len=11 << 20) + b"\x00" * (11 << 20), {}
    raise KeyError(name)


def stderr_flood_mp3(directory: Path, seconds: int = 55) -> bytes:
    """A valid-looking MP3 whose every frame keeps its header but has random main data: ffmpeg prints an error
    line per frame (about 170 KB on stderr for 55 s)."""
    path = directory / "tone.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-ar", str(RATE), "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", str(path)], check=True)
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    i = 10 + sum((data[6 + k] & 0x7F) << (7 * (3 - k)) for k in range(4)) if data[:3] == b"ID3" else 0
    tab1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    tab2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    frames = 0
    while i + 4 <= len(data) and data[i] == 0xFF and data[i + 1] & 0xE0 == 0xE0:
        version, bitrate, rate_index, padding = (data[i + 1] >> 3) & 3, data[i + 2] >> 4, (data[i + 2] >> 2) & 3, (data[i + 2] >> 1) & 1
        mpeg1 = version == 3
        kbps = (tab1 if mpeg1 else tab2)[bitrate]
        rate = [44100, 48000, 32000][rate_index] >> (0 if mpeg1 else (1 if version == 2 else 2))
        length = (144 if mpeg1 else 72) * kbps * 1000 // rate + padding
        if length <= 4:
            break
        data[i + 4:i + length] = rng.randbytes(min(length - 4, len(data) - i - 4))
        i += length
        frames += 1
    assert frames > 1000, frames
    return bytes(data)


def stderr_flood_adts(directory: Path, seconds: int = 55) -> bytes:
    """ADTS AAC with every 97th byte flipped past the first 4 KiB: ffmpeg prints about 70 KB of errors."""
    path = directory / "tone.aac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-ar", str(RATE), "-ac", "1", "-c:a", "aac", "-b:a", "32k", "-f", "adts", str(path)], check=True)
    data = bytearray(path.read_bytes())
    for i in range(4096, len(data)):
        if i % 97 == 0:
            data[i] ^= 0x5A
    return bytes(data)


# ---- multipart bodies that lie

def part(headers: list[str] | bytes, data: bytes) -> tuple[bytes, bytes]:
    head = headers if isinstance(headers, bytes) else "\r\n".join(headers).encode()
    return head, data


def multipart(boundary: bytes, parts: list[tuple[bytes, bytes]], closed: bool = True, newline: bytes = b"\r\n") -> bytes:
    body = b""
    for head, data in parts:
        body += b"--" + boundary + newline + head + newline + newline + data + newline
    if closed:
        body += b"--" + boundary + b"--" + newline
    return body


def file_part(field: str, data: bytes, filename: str = "speech.wav") -> tuple[bytes, bytes]:
    return part([f'Content-Disposition: form-data; name="{field}"; filename="{filename}"', "Content-Type: application/octet-stream"], data)


def text_part(name: str, value: str) -> tuple[bytes, bytes]:
    return part([f'Content-Disposition: form-data; name="{name}"'], value.encode())


@dataclasses.dataclass(frozen=True)
class UploadCase:
    """A request: `content_type` (None: no header), `body`, and how it is sent: `content_length` (None: the
    body's), `half_close` (shut the write side after the body), `hold` (keep the connection open that long,
    then close). `allowed`: (status, error) pairs; status None means "the connection is closed without an
    answer" is acceptable too."""
    id: str
    content_type: bytes | None
    body: bytes
    allowed: tuple
    content_length: int | str | None = None
    half_close: bool = False
    hold: float = 0.0
    query: str = ""


def multipart_cases(wav: bytes, field: str) -> list[UploadCase]:
    """Multipart bodies that lie; `field` is the file field (`audio` or `file`)."""
    b = b"bNd7q"
    ct = b"multipart/form-data; boundary=" + b
    good = [file_part(field, wav)]
    body = multipart(b, good)
    ok = (200, "ok")
    missing = (400, "missing_audio")
    invalid = (400, "invalid_multipart")
    # Bytes past a shorter Content-Length are a malformed next request: NIO's parser refuses them first.
    malformed = (400, "bad_request")
    return [
        UploadCase("no-boundary-parameter", b"multipart/form-data", body, (invalid,)),
        UploadCase("empty-boundary", b"multipart/form-data; boundary=", body, (invalid,)),
        UploadCase("quoted-empty-boundary", b'multipart/form-data; boundary=""', body, (invalid,)),
        UploadCase("boundary-without-value", b"multipart/form-data; boundary", body, (invalid,)),
        UploadCase("wrong-boundary", b"multipart/form-data; boundary=other", body, (missing, invalid)),
        UploadCase("boundary-of-200-chars", b"multipart/form-data; boundary=" + b"z" * 200, multipart(b"z" * 200, good), (ok, invalid)),
        UploadCase("no-closing-delimiter", ct, multipart(b, good, closed=False), (missing, invalid)),
        UploadCase("body-ends-inside-the-file", ct, multipart(b, good)[:len(body) // 2], (missing, invalid)),
        UploadCase("part-without-name", ct, multipart(b, [part(['Content-Disposition: form-data; filename="a.wav"'], wav)]), (missing,)),
        UploadCase("part-without-disposition", ct, multipart(b, [part(["Content-Type: audio/wav"], wav)]), (missing,)),
        UploadCase("part-with-empty-name", ct, multipart(b, [part(['Content-Disposition: form-data; name=""; filename="a.wav"'], wav)]), (missing,)),
        UploadCase("only-text-fields", ct, multipart(b, [text_part("lang", "en-US"), text_part("engine", "pocketsphinx")]), (missing,)),
        UploadCase("empty-file", ct, multipart(b, [file_part(field, b"")]), (missing,)),
        UploadCase("empty-body", ct, b"", (missing, invalid)),
        UploadCase("two-files-both-speech", ct, multipart(b, [file_part(field, wav), file_part(field, wav)]), (ok, invalid)),
        UploadCase("two-files-speech-then-junk", ct, multipart(b, [file_part(field, wav), file_part(field, b"junk" * 10)]),
                   (ok, invalid, (415, "unsupported_format"))),
        UploadCase("two-files-speech-then-empty", ct, multipart(b, [file_part(field, wav), file_part(field, b"")]), (ok, invalid, missing)),
        UploadCase("nested-multipart-mixed", ct, multipart(b, [part([f'Content-Disposition: form-data; name="{field}"', "Content-Type: multipart/mixed; boundary=inner"],
                                                                    multipart(b"inner", [part(['Content-Disposition: attachment; filename="a.wav"'], wav)]))]),
                   ((415, "unsupported_format"), invalid)),
        UploadCase("part-header-line-1MiB", ct, multipart(b, [part([f'Content-Disposition: form-data; name="{field}"; filename="a.wav"', "X-Junk: " + "a" * (1 << 20)], wav)]),
                   (ok, invalid, (431, None))),
        UploadCase("part-header-line-over-upload-limit", ct, multipart(b, [part([f'Content-Disposition: form-data; name="{field}"; filename="a.wav"', "X-Junk: " + "a" * (11 << 20)], wav)]),
                   ((413, "audio_too_large"),)),
        UploadCase("part-header-without-colon", ct, multipart(b, [part([f'Content-Disposition: form-data; name="{field}"', "garbage line"], wav)]), (invalid,)),
        UploadCase("part-header-name-with-parenthesis", ct, multipart(b, [part(["Content(Disposition: x"], wav)]), (invalid,)),
        UploadCase("lf-only-line-endings", ct, multipart(b, good, newline=b"\n"), (invalid, missing)),
        UploadCase("content-length-shorter", ct, body, (missing, invalid, malformed), content_length=len(body) // 3),
        UploadCase("content-length-longer-then-half-close", ct, body, (invalid, missing, malformed, (None, None)), content_length=len(body) + 5000, half_close=True),
        UploadCase("content-length-longer-then-hold-2s", ct, body, (invalid, missing, (None, None)), content_length=len(body) + 5000, hold=2.0),
        UploadCase("bad-lang-field", ct, multipart(b, [text_part("lang" if field == "audio" else "language", "fr")] + good), ((400, "unsupported_language"),)),
        UploadCase("bad-engine-field", ct, multipart(b, [text_part("engine", "nope")] + good), ((400, "unknown_engine"),)) if field == "audio" else
        UploadCase("bad-response-format-field", ct, multipart(b, [text_part("response_format", "xml")] + good), ((400, "invalid_parameter"),)),
    ]


def content_type_cases(wav: bytes) -> list[UploadCase]:
    """Raw bodies with wrong or missing Content-Types: the format is told from the bytes (README), never the type."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 200
    unsupported = (415, "unsupported_format")
    ok = (200, "ok")
    return [
        UploadCase("text-plain-with-text", b"text/plain", b"hello, this is not audio", (unsupported,)),
        UploadCase("text-plain-with-speech", b"text/plain", wav, (ok, unsupported)),
        UploadCase("json-with-base64-audio", b"application/json", json.dumps({"audio": base64.b64encode(wav[:2000]).decode()}).encode(), (unsupported,)),
        UploadCase("image-png-with-speech-inside", b"image/png", wav, (ok, unsupported)),
        UploadCase("audio-wav-with-png-inside", b"audio/wav", png, (unsupported,)),
        UploadCase("no-content-type-with-speech", None, wav, (ok, unsupported)),
        UploadCase("no-content-type-empty-body", None, b"", ((400, "missing_audio"),)),
        UploadCase("octet-stream-empty-body", b"application/octet-stream", b"", ((400, "missing_audio"),)),
        UploadCase("form-urlencoded", b"application/x-www-form-urlencoded", b"audio=" + base64.b64encode(wav[:300]), (unsupported,)),
        UploadCase("multipart-mixed-not-form-data", b"multipart/mixed; boundary=q", multipart(b"q", [file_part("audio", wav)]), (unsupported, (400, "invalid_multipart"))),
        UploadCase("silk-voice-message", b"audio/silk", b"\x02#!SILK_V3" + garbage_pcm(3, 2000), (unsupported,)),
        # AMR is not in the README's list, but the server hands it to ffmpeg, and AMR has no checksum: noise is a 200.
        UploadCase("amr-of-random-frames", b"audio/amr", b"#!AMR\n" + garbage_pcm(4, 2000), (unsupported, (422, "undecodable_audio"), ok)),
    ]


BAD_RATES = ["0", "-1", "7999", "48001", "1e9", "abc", "", "16000.0", "99999999999999999999", "%2016000"]


# ============================================================================================================ auth

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header: dict | str | None, payload: dict | list | str | None, secret: bytes, *, digest=hashlib.sha256,
        signature: str | None = None) -> str:
    """A JWT: header and payload as JSON (dicts) or raw base64url strings (str); signed with HMAC `digest`."""
    h = header if isinstance(header, str) else b64url(json.dumps(header, separators=(",", ":")).encode())
    p = payload if isinstance(payload, str) else b64url(json.dumps(payload, separators=(",", ":")).encode())
    if signature is None:
        signature = b64url(hmac.new(secret, f"{h}.{p}".encode(), digest).digest()) if digest else ""
    return f"{h}.{p}.{signature}"


def jwt_cases(secret: bytes, now: int | None = None) -> list[tuple[str, str, str]]:
    """(id, token, why it must be refused). Every one must get 401 unauthorized."""
    now = int(time.time()) if now is None else now
    hs = {"alg": "HS256", "typ": "JWT"}
    live = {"sub": "bad-input", "exp": now + 600}
    valid = jwt(hs, live, secret)
    h, p, s = valid.split(".")
    other = b"another-secret-that-is-32-bytes-long!!"
    flipped_sig = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    cases = [
        ("expired", jwt(hs, {"exp": now - 60}, secret), "exp in the past"),
        ("expired-long-ago", jwt(hs, {"exp": 1}, secret), "exp in 1970"),
        ("exp-negative", jwt(hs, {"exp": -1}, secret), "exp before the epoch"),
        ("exp-missing", jwt(hs, {"sub": "x"}, secret), "README: a JWT without exp is refused"),
        ("exp-string", jwt(hs, {"exp": str(now + 600)}, secret), "exp must be a NumericDate"),
        ("exp-null", jwt(hs, {"exp": None}, secret), "exp must be a NumericDate"),
        ("exp-bool", jwt(hs, {"exp": True}, secret), "exp must be a NumericDate"),
        ("exp-object", jwt(hs, {"exp": {"t": now + 600}}, secret), "exp must be a NumericDate"),
        ("nbf-in-the-future", jwt(hs, {"exp": now + 600, "nbf": now + 300}, secret), "RFC 7519 §4.1.5: MUST NOT be accepted before nbf"),
        ("alg-none-empty-signature", jwt({"alg": "none", "typ": "JWT"}, live, secret, digest=None), "alg none"),
        ("alg-None-empty-signature", jwt({"alg": "None"}, live, secret, digest=None), "alg none, capitalised"),
        ("alg-none-with-hs256-signature", jwt({"alg": "none", "typ": "JWT"}, live, secret), "header alg is not the server's HS256"),
        ("alg-HS512-signed-HS512", jwt({"alg": "HS512", "typ": "JWT"}, live, secret, digest=hashlib.sha512), "not HS256"),
        ("alg-HS384-signed-HS384", jwt({"alg": "HS384", "typ": "JWT"}, live, secret, digest=hashlib.sha384), "not HS256"),
        ("alg-HS512-header-hs256-signature", jwt({"alg": "HS512", "typ": "JWT"}, live, secret), "header alg is not the server's HS256"),
        ("alg-RS256-header-hmac-with-secret", jwt({"alg": "RS256", "typ": "JWT"}, live, secret), "key confusion: RS256 header, HMAC signature"),
        ("alg-ES256-header-hmac-with-secret", jwt({"alg": "ES256", "typ": "JWT"}, live, secret), "header alg is not the server's HS256"),
        ("alg-missing", jwt({"typ": "JWT"}, live, secret), "RFC 7515: alg is required"),
        ("header-empty-object", jwt({}, live, secret), "RFC 7515: alg is required"),
        ("crit-unknown-extension", jwt({"alg": "HS256", "crit": ["exp-ext"], "exp-ext": 1}, live, secret), "RFC 7515 §4.1.11: unknown crit must be refused"),
        ("wrong-key", jwt(hs, live, other), "signed with another secret"),
        ("key-prefix", jwt(hs, live, secret[:31]), "signed with the first 31 bytes of the secret"),
        ("signature-bit-flipped", f"{h}.{p}.{flipped_sig}", "signature altered"),
        ("signature-truncated", f"{h}.{p}.{s[:20]}", "signature cut"),
        ("signature-empty", f"{h}.{p}.", "no signature"),
        ("signature-of-another-payload", f"{h}.{b64url(json.dumps({'sub': 'admin', 'exp': now + 9999}).encode())}.{s}", "payload swapped"),
        ("one-part", h, "not 3 parts"),
        ("two-parts", f"{h}.{p}", "not 3 parts"),
        ("four-parts", f"{valid}.{s}", "not 3 parts"),
        ("empty-parts", "..", "empty"),
        ("dots-only", "....", "empty"),
        ("bad-base64-header", f"{h[:-2]}*!.{p}.{s}", "not base64url"),
        ("bad-base64-payload", f"{h}.{p}%%.{s}", "not base64url"),
        ("header-not-json", jwt(b64url(b"hello"), live, secret), "header not JSON"),
        ("header-truncated-json", jwt(b64url(b'{"alg":"HS256"'), live, secret), "header not JSON"),
        ("header-json-array", jwt(b64url(b'["HS256"]'), live, secret), "header not an object"),
        ("payload-not-json", jwt(hs, b64url(b"exp=9999999999"), secret), "payload not JSON"),
        ("payload-json-array", jwt(hs, b64url(b"[1,2]"), secret), "payload not an object"),
        ("payload-json-string", jwt(hs, b64url(b'"x"'), secret), "payload not an object"),
        ("huge-expired-jwt-16KiB", jwt(hs, {"exp": now - 60, "pad": "x" * 16000}, secret), "expired"),
        ("jwt-with-inner-space", f"{h}. {p}.{s}", "not a JWT"),
        ("jwt-trailing-dot", f"{valid}.", "not 3 parts"),
        ("jwt-unicode", f"{h}.{p}.{s}é", "not base64url"),
    ]
    assert len({c[0] for c in cases}) == len(cases)
    return cases


def static_token_cases(token: str) -> list[tuple[str, dict, str]]:
    """(id, placement, why): placement is {"headers": {...}, "query": str} for the request."""
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    return [
        ("missing", {}, "no token"),
        ("empty-token-header", {"headers": {"token": ""}}, "empty"),
        ("empty-bearer", {"headers": {"Authorization": "Bearer "}}, "empty"),
        ("bearer-without-token", {"headers": {"Authorization": "Bearer"}}, "empty"),
        ("empty-query", {"query": "token="}, "empty"),
        ("wrong-token", {"headers": {"token": "wrong"}}, "unknown token"),
        ("prefix-of-token", {"headers": {"token": token[:-1]}}, "unknown token"),
        ("token-plus-suffix", {"headers": {"token": token + "x"}}, "unknown token"),
        ("token-uppercased", {"headers": {"token": token.upper()}}, "unknown token"),
        ("token-with-trailing-space-in-query", {"query": f"token={token}%20"}, "unknown token"),
        ("token-with-nul-in-query", {"query": f"token={token}%00"}, "unknown token"),
        ("token-unicode-lookalike", {"headers": {"Authorization": "Bearer pythоn-test-token"}}, "Cyrillic o"),
        ("token-8KiB", {"headers": {"token": "t" * 8192}}, "unknown token"),
        ("basic-auth", {"headers": {"Authorization": f"Basic {basic}"}}, "wrong scheme"),
        ("token-scheme", {"headers": {"Authorization": f"Token {token}"}}, "wrong scheme"),
        ("authorization-without-scheme", {"headers": {"Authorization": token}}, "wrong scheme"),
        ("x-token-header", {"headers": {"X-Token": token}}, "wrong header"),
        ("x-api-key-header", {"headers": {"X-Api-Key": token}}, "wrong header"),
        ("cookie", {"headers": {"Cookie": f"token={token}"}}, "wrong header"),
        ("proxy-authorization", {"headers": {"Proxy-Authorization": f"Bearer {token}"}}, "wrong header"),
        ("query-parameter-misnamed", {"query": f"access_token={token}"}, "wrong parameter"),
        ("wrong-token-header-right-bearer", {"headers": {"token": "wrong", "Authorization": f"Bearer {token}"}}, "a wrong credential is presented"),
    ]
