#!/usr/bin/env python3
"""A local stand-in for Tencent Cloud ASR, written from Tencent's documentation as summarised in docs/tencent.md.

It speaks Tencent's wire protocols so that the gateway's Tencent engine can be tested without Tencent:

* real-time ASR over WebSocket: ``ws://HOST:WS_PORT/asr/v2/<appid>?<query>`` (HMAC-SHA1 query signature,
  handshake frame, binary 16-bit PCM, ``{"type":"end"}``, slice_type 0/1/2 results, ``final:1``, error codes,
  Tencent's pacing rules: at most 3 s of audio per second, 4008 after 15 s without audio).
* SentenceRecognition over HTTP: ``POST http://HOST:HTTP_PORT/`` signed with TC3-HMAC-SHA256.

There is no real recognition. An energy VAD (RMS of 20 ms frames) finds "sentences", and each one gets the
deterministic text ``第{i+1}句{duration_ms}毫秒``.

Test control lives on the HTTP port:

* ``POST /_control {"inject": PLAN | [PLAN, ...]}`` queues WebSocket fault plans. Each new WebSocket session
  takes the next plan (one plan per session, in order). A plan is one of
  ``{"error": 4006, "after_ms": 0}``, ``{"disconnect_after_ms": 1500}``, ``{"handshake_error": 4002}``
  (optional ``"message"`` overrides the error text), or ``{"raise": "text"}``, which raises inside the session
  handler, to show that a failing session does not take the server down.
* ``POST /_control {"inject_api": {"code": "...", "message": "..."} | [...]}`` makes the next correctly
  signed SentenceRecognition request(s) answer with ``Response.Error``.
* ``POST /_control {"reset": true}`` clears queued plans and both logs.
* ``GET /_control`` returns the WebSocket session log (a JSON list; a record is added when its session
  ends). ``GET /_control/api`` returns the SentenceRecognition request log. ``GET /_control/stats`` returns
  counters and the worst event-loop lag seen (a lagging stand-in sees frames bunched up, so its pacing
  numbers are then unreliable).
* A session record has ``params`` (decoded query without ``signature``), ``voice_id``, ``fault``,
  ``handshake_code``, ``end`` (``final`` | ``error`` | ``handshake_error`` | ``injected_error`` |
  ``injected_disconnect`` | ``client_closed`` | ``server_stopped`` | ``exception``), ``error_code``,
  ``error_message``, ``close_code``, ``audio_ms``, ``bytes``, ``frames``, ``frame_bytes_min``/``max``,
  ``frame_sizes`` (histogram, up to 32 sizes), ``odd_frames``, ``max_rate`` (most audio seconds seen in
  any 1 s of wall time), ``max_gap_ms`` (between binary frames), ``first_audio_ms``, ``text_frames``,
  ``messages``, ``sentences``, ``started_at``/``ended_at`` (Unix time), ``duration_s``.
* ``GET /server_time`` returns the Unix time, like ``https://asr.cloud.tencent.com/server_time``.

Pacing (4000): each binary frame is timed when the handler receives it. Audio that arrives during the first
1 s of the session is exempt up to 3 s (the initial burst). All other audio may total at most 3 s within any
sliding 1 s of wall time. ``max_rate`` in the log counts all audio, including the burst.

Capacity: one Python thread. Measured here, a real-time session with 40 ms packets costs about 2 ms of CPU
per second of audio (the websockets library alone about 1.2 ms), so one core carries roughly 500 concurrent
real-time sessions. Watch ``max_loop_lag_ms`` in load tests.

Run it as ``python tencent_standin.py --ws-port 0 --http-port 0``. It prints
``ready ws=ws://127.0.0.1:P http=http://127.0.0.1:Q`` when it is listening. You can also import it:
``StandIn(...).start()``, ``.ws_url``, ``.api_url``, ``.log``, ``.stop()``.

Only the standard library and ``websockets`` (>= 14, the ``websockets.asyncio`` API) are used.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import json
import logging
import operator
import re
import signal
import sys
import threading
import time
import uuid
from array import array
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import quote, unquote

from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

logger = logging.getLogger("tencent_standin")

DEFAULT_SECRET_ID = "AKIDSTANDINEXAMPLE"
DEFAULT_SECRET_KEY = "standin-secret-key-0123456789"
DEFAULT_APPID = "1300000000"

# The host in the real-time string to sign. Clients sign for Tencent's host even when they connect elsewhere.
TENCENT_ASR_HOST = "asr.cloud.tencent.com"

# ---------------------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------------------

UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset("0123456789abcdefABCDEF")


def strict_quote(value: str) -> str:
    """Percent-encodes everything except RFC 3986 unreserved characters (what Tencent needs)."""
    return quote(str(value), safe="")


def ws_string_to_sign(appid: str, params: dict, host: str = TENCENT_ASR_HOST) -> str:
    """``host/asr/v2/<appid>?k=v&...``: every param except ``signature``, sorted by key, raw values."""
    items = sorted((str(k), str(v)) for k, v in params.items() if k != "signature")
    return f"{host}/asr/v2/{appid}?" + "&".join(f"{k}={v}" for k, v in items)


def ws_signature(secret_key: str, appid: str, params: dict, host: str = TENCENT_ASR_HOST) -> str:
    """HMAC-SHA1 over :func:`ws_string_to_sign` with the SecretKey, standard Base64 (not URL-encoded)."""
    digest = hmac.new(secret_key.encode(), ws_string_to_sign(appid, params, host).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ws_signed_url(base: str, appid: str, params: dict, secret_key: str, host: str = TENCENT_ASR_HOST) -> str:
    """A correctly signed real-time URL: ``base/asr/v2/<appid>?<strictly encoded query>&signature=<enc>``."""
    signature = ws_signature(secret_key, appid, params, host)
    query = "&".join(f"{strict_quote(k)}={strict_quote(v)}" for k, v in params.items())
    return f"{base.rstrip('/')}/asr/v2/{appid}?{query}&signature={strict_quote(signature)}"


def tc3_date(timestamp: int) -> str:
    """The UTC date of a Unix timestamp, as TC3 wants it (never local time)."""
    return datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")


def tc3_canonical_request(method: str, uri: str, query: str, headers: dict, signed_headers, payload: bytes) -> str:
    """CanonicalRequest (docs/tencent.md, "TC3-HMAC-SHA256"). ``headers`` maps header names (any case) to values
    as sent; the canonical form lower-cases names and values and trims values (the official page: "Both the key
    and value of the header should be converted to lowercase with the leading and trailing spaces removed")."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    names = [name.lower() for name in signed_headers]
    canonical_headers = "".join(f"{name}:{lowered[name].strip().lower()}\n" for name in names)
    return "\n".join([method, uri, query, canonical_headers, ";".join(names), hashlib.sha256(payload).hexdigest()])


def tc3_string_to_sign(timestamp: int, date: str, service: str, canonical_request: str) -> str:
    return "\n".join([
        "TC3-HMAC-SHA256", str(int(timestamp)), f"{date}/{service}/tc3_request",
        hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    def sign(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    k_date = sign(("TC3" + secret_key).encode(), date)
    k_service = sign(k_date, service)
    k_signing = sign(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_headers(secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int | None = None,
                action: str = "SentenceRecognition", version: str = "2019-06-14", service: str = "asr",
                content_type: str = "application/json; charset=utf-8",
                signed=("content-type", "host")) -> dict:
    """Client-side helper: the headers of a correctly signed API 3.0 request (used by the tests)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    headers = {"Content-Type": content_type, "Host": host, "X-TC-Action": action,
               "X-TC-Version": version, "X-TC-Timestamp": str(timestamp)}
    names = sorted(name.lower() for name in signed)
    date = tc3_date(timestamp)
    canonical = tc3_canonical_request("POST", "/", "", headers, names, body)
    signature = tc3_signature(secret_key, date, service, tc3_string_to_sign(timestamp, date, service, canonical))
    headers["Authorization"] = (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/tc3_request, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


# ---------------------------------------------------------------------------------------------------------
# Fake recognition: energy VAD over 16-bit LE mono PCM
# ---------------------------------------------------------------------------------------------------------

_BIG_ENDIAN = sys.byteorder == "big"


class Recognizer:
    """Energy VAD on 20 ms frames. ``feed`` returns ``(slice_type, index, start_ms, end_ms)`` events.

    A sentence starts at the first frame whose RMS exceeds ``threshold`` (slice 0), reports progress every
    ``partial_ms`` of audio while speech continues (slice 1), and closes once ``silence_ms`` of silence has
    followed its last voiced frame, or when it reaches ``max_speak_ms`` (slice 2). Times are on the audio
    timeline (ms from stream start); a closed sentence ends at the end of its last voiced frame.

    The RMS is estimated from every ``stride``-th sample of the frame (default 4: a quarter of the work per
    session; the energy estimate of speech is the same). ``stride=1`` computes the exact RMS.
    """

    __slots__ = ("frame_bytes", "per", "stride", "limit", "silence_ms", "max_speak_ms", "partial_ms", "buf", "t",
                 "in_speech", "index", "start", "last_voiced_end", "last_partial")

    def __init__(self, sample_rate: int = 16000, silence_ms: int = 1000, max_speak_ms: int = 60000,
                 threshold: float = 300.0, partial_ms: int = 400, stride: int = 4):
        self.per = sample_rate // 50  # samples per 20 ms
        self.frame_bytes = self.per * 2
        self.stride = max(1, int(stride))
        # Sum of squares (over every stride-th sample) above which a frame is voiced: RMS > threshold.
        self.limit = threshold * threshold * len(range(0, self.per, self.stride))
        self.silence_ms, self.max_speak_ms, self.partial_ms = silence_ms, max_speak_ms, partial_ms
        self.buf = bytearray()
        self.t = 0
        self.in_speech = False
        self.index = self.start = self.last_voiced_end = self.last_partial = 0

    def feed(self, data) -> list:
        out: list = []
        buf = self.buf
        buf += data
        count = len(buf) // self.frame_bytes
        if not count:
            return out
        cut = count * self.frame_bytes
        samples = array("h")
        samples.frombytes(bytes(buf[:cut]))
        del buf[:cut]
        if _BIG_ENDIAN:
            samples.byteswap()
        per, stride, limit, mul = self.per, self.stride, self.limit, operator.mul
        for i in range(0, cut // 2, per):
            frame = samples[i:i + per:stride]
            self._step(sum(map(mul, frame, frame)) > limit, out)
        return out

    def _step(self, voiced: bool, out: list) -> None:
        t0 = self.t
        t1 = self.t = t0 + 20
        if self.in_speech:
            if voiced:
                self.last_voiced_end = t1
                if t1 - self.start >= self.max_speak_ms:
                    out.append((2, self.index, self.start, t1))
                    self.index += 1
                    self.in_speech = False
                elif t1 - self.last_partial >= self.partial_ms:
                    out.append((1, self.index, self.start, t1))
                    self.last_partial = t1
            elif t1 - self.last_voiced_end >= self.silence_ms:
                out.append((2, self.index, self.start, self.last_voiced_end))
                self.index += 1
                self.in_speech = False
        elif voiced:
            self.in_speech = True
            self.start, self.last_voiced_end, self.last_partial = t0, t1, t0
            out.append((0, self.index, t0, t1))

    def finish(self) -> list:
        """End of stream: closes an open sentence (a trailing partial frame is ignored)."""
        out = []
        if self.in_speech:
            out.append((2, self.index, self.start, self.last_voiced_end))
            self.index += 1
            self.in_speech = False
        return out


def sentence_text(slice_type: int, index: int, start: int, end: int) -> str:
    final = f"第{index + 1}句{end - start}毫秒"
    if slice_type == 2:
        return final
    return f"第{index + 1}" if slice_type == 0 else f"第{index + 1}句"  # prefixes of the final text


def fake_words(start: int, end: int):
    """One word per 500 ms of speech: ``(word, start, end)``."""
    words, k, s = [], 0, start
    while s < end or k == 0:
        e = min(s + 500, end)
        words.append((f"词{k + 1}", s, e))
        k, s = k + 1, s + 500
    return words


def wav_payload(data: bytes) -> bytes:
    """The sample bytes of a RIFF/WAVE file: the ``data`` chunk when found, else everything after 44 bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        offset = 12
        while offset + 8 <= len(data):
            chunk, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
            if chunk == b"data":
                return data[offset + 8:offset + 8 + size]
            offset += 8 + size + (size & 1)
    return data[44:]


# ---------------------------------------------------------------------------------------------------------
# Parameter tables
# ---------------------------------------------------------------------------------------------------------

WS_ENGINES = frozenset({"16k_zh", "16k_zh_large", "16k_zh_en", "16k_en", "16k_yue", "8k_zh", "16k_multi_lang",
                        "16k_zh_dialect"})
WS_REQUIRED = ("secretid", "timestamp", "expired", "nonce", "engine_model_type", "voice_id", "signature")
VOICE_FORMAT_NAMES = {1: "pcm", 4: "speex", 6: "silk", 8: "mp3", 10: "opus", 12: "wav", 14: "m4a", 16: "aac"}
WS_ERROR_TEXT = {
    4000: "客户端发送音频过快: more than 3 s of audio in 1 s",
    4001: "参数不合法",
    4002: "鉴权失败",
    4003: "AppID 服务未开通",
    4004: "资源包耗尽",
    4005: "账户欠费",
    4006: "账号当前调用并发超限",
    4007: "音频解码失败",
    4008: "后台识别服务器音频分片等待超时",
    4009: "客户端连接断开",
    4010: "客户端上传未知文本消息",
    5000: "后台错误，请重试",
    5001: "后台识别服务器识别失败，请重试",
    5002: "后台识别服务器识别失败，请重试",
    6001: "境外调用需要使用国际站",
}
NINETY_DAYS = 90 * 86400

API_ENGINES = frozenset({"8k_zh", "8k_en", "16k_zh", "16k_zh-PY", "16k_zh_medical", "16k_en", "16k_yue", "16k_ja",
                         "16k_ko", "16k_vi", "16k_ms", "16k_id", "16k_fil", "16k_th", "16k_pt", "16k_tr", "16k_ar",
                         "16k_es", "16k_hi", "16k_fr", "16k_de", "16k_zh_dialect", "16k_zh_large", "16k_zh_en",
                         "16k_multi_lang"})
API_FORMATS = frozenset({"wav", "pcm", "mp3", "m4a", "aac", "ogg-opus", "speex", "silk", "amr"})
# SentenceRecognitionRequestParams in tencentcloud-sdk-go asr/v20190614/models.go, plus ReplaceTextId (API doc).
API_FIELDS = frozenset({"EngSerViceType", "SourceType", "VoiceFormat", "ProjectId", "SubServiceType", "Url",
                        "UsrAudioKey", "Data", "DataLen", "WordInfo", "FilterDirty", "FilterModal", "FilterPunc",
                        "ConvertNumMode", "HotwordId", "CustomizationId", "ReinforceHotword", "HotwordList",
                        "InputSampleRate", "ReplaceTextId"})
API_INT_RANGES = {"WordInfo": (0, 2), "FilterDirty": (0, 2), "FilterModal": (0, 2), "FilterPunc": (0, 2),
                  "ConvertNumMode": (0, 3), "ProjectId": (0, 2**63), "SubServiceType": (0, 2**31),
                  "ReinforceHotword": (0, 1)}
MAX_AUDIO_BYTES = 3 * 1024 * 1024  # 1b: "≤ 3 MB"; checked on the decoded bytes, as the brief asks
MAX_AUDIO_MS = 60_000
MAX_BODY_BYTES = 10 * 1024 * 1024  # API 3.0 request size limit (RequestSizeLimitExceeded)


class WsReject(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class ApiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _int_param(params: dict, name: str, low: int | None = None, high: int | None = None, default=None):
    if name not in params:
        return default
    raw = params[name]
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise WsReject(4001, f"参数不合法: {name}={raw!r} is not an integer")
    value = int(raw)
    if (low is not None and value < low) or (high is not None and value > high):
        raise WsReject(4001, f"参数不合法: {name}={value} is outside [{low}, {high}]")
    return value


# ---------------------------------------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------------------------------------

class StandIn:
    """Tencent ASR stand-in. ``start()`` runs it on a background thread with its own asyncio loop."""

    def __init__(self, secret_id: str = DEFAULT_SECRET_ID, secret_key: str = DEFAULT_SECRET_KEY,
                 appid: str = DEFAULT_APPID, host: str = "127.0.0.1", ws_port: int = 0, http_port: int = 0,
                 idle_timeout: float = 15.0, timestamp_skew: float = 300.0, api_rate_limit: int = 30,
                 max_audio_rate: float = 3.0, burst_audio_s: float = 3.0, vad_threshold: float = 300.0,
                 partial_ms: int = 400, vad_stride: int = 4, sign_host: str = TENCENT_ASR_HOST,
                 more_accounts: tuple = ()):
        """`more_accounts`: further (secret_id, secret_key, appid) triples this stand-in knows, as Tencent knows many
        accounts; each request is checked against the account its SecretId names."""
        self.secret_id, self.secret_key, self.appid = secret_id, secret_key, str(appid)
        self.accounts = {secret_id: (secret_key, str(appid))} | {i: (k, str(a)) for i, k, a in more_accounts}
        self.host, self.ws_port, self.http_port = host, ws_port, http_port
        self.idle_timeout, self.timestamp_skew = float(idle_timeout), float(timestamp_skew)
        self.api_rate_limit, self.max_audio_rate, self.burst_audio_s = api_rate_limit, max_audio_rate, burst_audio_s
        self.vad_threshold, self.partial_ms, self.sign_host = vad_threshold, partial_ms, sign_host
        self.vad_stride = vad_stride
        self.ws_url = self.api_url = None
        self.log: list = []  # WebSocket session records, appended when a session ends (under _lock)
        self.api_log: list = []  # SentenceRecognition request records
        self._lock = threading.Lock()
        self._plans: collections.deque = collections.deque()
        self._api_plans: collections.deque = collections.deque()
        self._voice_ids: set = set()
        self._api_times: collections.deque = collections.deque()
        self._session_counter = 0
        self._active = 0
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ws_server = self._http_server = None
        self._lag_task: asyncio.Task | None = None
        self._max_lag = 0.0

    # ----- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "StandIn":
        ready = threading.Event()
        failure: list = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as exc:  # report start-up failures to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name="tencent-standin", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._close(), loop)
        try:
            future.result(timeout=15)
        except Exception:
            logger.exception("stand-in shutdown")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    async def _open(self) -> None:
        self._ws_server = await ws_serve(
            self._ws_handler, self.host, self.ws_port, process_request=self._process_request,
            compression=None, ping_interval=None, max_size=2**22, max_queue=64, close_timeout=5, backlog=4096)
        self._http_server = await asyncio.start_server(self._http_connection, self.host, self.http_port,
                                                       limit=2**16, backlog=4096)
        self._lag_task = asyncio.get_running_loop().create_task(self._lag_monitor())
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        self.http_port = self._http_server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://{self.host}:{self.ws_port}"
        self.api_url = f"http://{self.host}:{self.http_port}/"

    async def _lag_monitor(self) -> None:
        """Tracks how late the event loop wakes up: a saturated stand-in sees frames late and bunched up,
        which would distort the pacing checks. ``stats()["max_loop_lag_ms"]`` tells a load test about it."""
        loop = asyncio.get_running_loop()
        interval = 0.1
        while True:
            expected = loop.time() + interval
            await asyncio.sleep(interval)
            lag = loop.time() - expected
            if lag > self._max_lag:
                self._max_lag = lag

    async def _close(self) -> None:
        self._stopping = True
        if self._lag_task:
            self._lag_task.cancel()
        self._http_server.close()
        self._ws_server.close()  # closes open sessions with 1001
        try:
            await asyncio.wait_for(self._ws_server.wait_closed(), 10)
        except (asyncio.TimeoutError, Exception):
            pass
        # Whatever is left (idle keep-alive HTTP connections) is cancelled so the loop stops cleanly.
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ----- control -------------------------------------------------------------------------------------

    PLAN_KEYS = frozenset({"error", "after_ms", "disconnect_after_ms", "handshake_error", "message", "raise"})

    def inject(self, *plans: dict) -> None:
        """Queue WebSocket fault plans (one per future session, in order)."""
        for plan in plans:
            if not isinstance(plan, dict):
                raise ValueError("a fault plan must be a JSON object")
            unknown = set(plan) - self.PLAN_KEYS
            if unknown:
                raise ValueError(f"unknown fault plan key(s): {', '.join(sorted(unknown))}")
            for key in ("error", "after_ms", "disconnect_after_ms", "handshake_error"):
                if key in plan and (not isinstance(plan[key], int) or isinstance(plan[key], bool) or plan[key] < 0):
                    raise ValueError(f"fault plan {key} must be a non-negative integer")
        with self._lock:
            self._plans.extend(dict(plan) for plan in plans)

    def inject_api(self, *errors: dict) -> None:
        for error in errors:
            if not isinstance(error, dict) or "code" not in error:
                raise ValueError('an API fault must look like {"code": "...", "message": "..."}')
        with self._lock:
            self._api_plans.extend(dict(error) for error in errors)

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self._api_plans.clear()
            del self.log[:]
            del self.api_log[:]
            self._max_lag = 0.0

    def sessions(self) -> list:
        """A snapshot of the WebSocket session log."""
        with self._lock:
            return list(self.log)

    def api_requests(self) -> list:
        with self._lock:
            return list(self.api_log)

    def wait_for_sessions(self, count: int, timeout: float = 5.0) -> list:
        """Waits until at least ``count`` sessions have ended; returns the log snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.sessions()
            if len(snapshot) >= count or time.monotonic() > deadline:
                return snapshot
            time.sleep(0.02)

    @property
    def active_sessions(self) -> int:
        return self._active

    def stats(self) -> dict:
        with self._lock:
            return {"active_sessions": self._active, "sessions_started": self._session_counter,
                    "sessions_logged": len(self.log), "api_requests_logged": len(self.api_log),
                    "pending_plans": len(self._plans), "pending_api_plans": len(self._api_plans),
                    "max_loop_lag_ms": round(self._max_lag * 1000, 1)}

    def _pop_plan(self):
        with self._lock:
            return self._plans.popleft() if self._plans else None

    def _pop_api_plan(self):
        with self._lock:
            return self._api_plans.popleft() if self._api_plans else None

    def _record(self, target: list, record: dict) -> None:
        with self._lock:
            target.append(record)

    # ----- WebSocket real-time ASR (docs/tencent.md, "Real-time recognition over WebSocket") -----------

    def _process_request(self, connection, request):
        path = request.path.split("?", 1)[0]
        if not re.fullmatch(r"/asr/v2/[^/]+", path):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        return None

    def _validate_ws(self, appid: str, raw_query: str) -> dict:
        """Checks the query as Tencent documents it; returns decoded params or raises WsReject."""
        params: dict = {}
        raw_params: dict = {}
        for part in raw_query.split("&") if raw_query else []:
            if not part:
                continue
            key, sep, value = part.partition("=")
            for text in (key, value):
                bad: list = []
                i = 0
                while i < len(text):
                    char = text[i]
                    if char == "%":
                        pair = text[i + 1:i + 3]
                        if len(pair) != 2 or not set(pair) <= _HEX:
                            raise WsReject(4002, f"鉴权失败: malformed percent-encoding in {key!r}")
                        i += 3
                        continue
                    if char not in UNRESERVED and char not in bad:
                        bad.append(char)
                    i += 1
                if bad:
                    # Tencent: keys and values must be URL-encoded; raw + / = make signatures fail.
                    shown = ", ".join(repr(char) for char in bad)
                    raise WsReject(4002, f"鉴权失败: parameter {unquote(key)!r} contains unencoded {shown}; every "
                                         f"query key and value must be percent-encoded")
            try:
                name = unquote(key, errors="strict")
                decoded = unquote(value, errors="strict")
            except UnicodeDecodeError:
                raise WsReject(4001, f"参数不合法: {key!r} is not valid UTF-8 after percent-decoding") from None
            if name in params:
                raise WsReject(4001, f"参数不合法: duplicate parameter {name!r}")
            params[name] = decoded
            raw_params[name] = value
        missing = [name for name in WS_REQUIRED if name not in params]
        if missing:
            raise WsReject(4001, f"参数不合法: missing required parameter(s) {', '.join(missing)}")
        voice_id = params["voice_id"]
        if not voice_id or len(voice_id) > 128:
            raise WsReject(4001, "参数不合法: voice_id must be 1-128 characters")
        with self._lock:
            reused = voice_id in self._voice_ids
            self._voice_ids.add(voice_id)
        if reused:
            raise WsReject(4001, f"参数不合法: voice_id {voice_id!r} was already used; use a new voice_id per "
                                 f"connection")
        timestamp = _int_param(params, "timestamp")
        expired = _int_param(params, "expired")
        if params["secretid"] not in self.accounts:
            raise WsReject(4002, "鉴权失败: secretid not found")
        secret_key, account_appid = self.accounts[params["secretid"]]
        if appid != account_appid:
            raise WsReject(4002, f"鉴权失败: appid {appid} does not belong to this secretid")
        now = time.time()
        if abs(now - timestamp) > self.timestamp_skew:
            raise WsReject(4002, f"鉴权失败: signature expired (timestamp {timestamp} is {int(now - timestamp)} s "
                                 f"from server time {int(now)}, allowed ±{int(self.timestamp_skew)} s)")
        if expired <= timestamp:
            raise WsReject(4001, f"参数不合法: expired ({expired}) must be greater than timestamp ({timestamp})")
        if expired - timestamp >= NINETY_DAYS:
            raise WsReject(4001, "参数不合法: expired - timestamp must be less than 90 days")
        if expired < now:
            raise WsReject(4002, "鉴权失败: signature expired (expired is in the past)")
        expected = ws_signature(secret_key, appid, params, self.sign_host)
        if not hmac.compare_digest(params["signature"].encode(), expected.encode()):
            raise WsReject(4002, "鉴权失败: signature mismatch (HMAC-SHA1 over "
                                 f"{self.sign_host}/asr/v2/{appid}?<sorted raw params>)")
        nonce = params["nonce"]
        if not re.fullmatch(r"[0-9]{1,10}", nonce) or int(nonce) <= 0:
            raise WsReject(4001, f"参数不合法: nonce must be a positive integer of at most 10 digits, got {nonce!r}")
        if params["engine_model_type"] not in WS_ENGINES:
            raise WsReject(4001, f"参数不合法: unknown engine_model_type {params['engine_model_type']!r}")
        if "voice_format" not in params:
            raise WsReject(4001, "参数不合法: voice_format is absent, so the audio is taken as speex (4); this "
                                 "stand-in only decodes PCM: send voice_format=1")
        voice_format = _int_param(params, "voice_format")
        if voice_format != 1:
            name = VOICE_FORMAT_NAMES.get(voice_format, "unknown")
            raise WsReject(4001, f"参数不合法: voice_format={voice_format} ({name}) is not supported by this "
                                 f"stand-in; only 1 (pcm) is")
        needvad = _int_param(params, "needvad", 0, 1, 0)
        if needvad == 1:
            _int_param(params, "vad_silence_time", 240, 2000)
        _int_param(params, "max_speak_time", 5000, 90000)
        _int_param(params, "word_info", 0, 2)
        _int_param(params, "filter_dirty", 0, 2)
        _int_param(params, "filter_modal", 0, 2)
        _int_param(params, "filter_punc", 0, 2)
        _int_param(params, "filter_empty_result", 0, 1)
        _int_param(params, "convert_num_mode", 0, 3)
        _int_param(params, "input_sample_rate", 8000, 8000)
        if "noise_threshold" in params:
            try:
                if not -1.0 <= float(params["noise_threshold"]) <= 1.0:
                    raise ValueError
            except ValueError:
                raise WsReject(4001, "参数不合法: noise_threshold must be a number in [-1, 1]") from None
        return params

    async def _ws_handler(self, ws) -> None:
        with self._lock:
            self._session_counter += 1
            number = self._session_counter
        record = {"kind": "ws", "session": number, "started_at": time.time(), "path": None, "params": None,
                  "voice_id": None, "fault": None, "handshake_code": None, "end": None, "error_code": None,
                  "error_message": None, "close_code": None, "audio_ms": 0, "bytes": 0, "frames": 0,
                  "frame_bytes_min": None, "frame_bytes_max": None, "frame_sizes": {}, "odd_frames": 0,
                  "max_rate": 0.0, "max_gap_ms": 0, "first_audio_ms": None, "text_frames": 0, "messages": 0,
                  "sentences": 0}
        state = {"logged": False}
        self._active += 1
        try:
            await self._ws_session(ws, record, state)
        except ConnectionClosed as closed:
            if record["end"] is None:
                record["end"] = "server_stopped" if self._stopping else "client_closed"
                record["close_code"] = closed.rcvd.code if closed.rcvd else None
        except Exception as exc:  # one broken session must never take the server down
            logger.exception("session %s failed", number)
            if record["end"] is None:
                record["end"] = "exception"
            record["exception"] = repr(exc)
            self._finish_record(record, state)
            try:
                await self._close_ws(ws, 1011, "internal error")
            except Exception:
                pass
        finally:
            self._active -= 1
            self._finish_record(record, state)

    def _finish_record(self, record: dict, state: dict) -> None:
        if state["logged"]:
            return
        state["logged"] = True
        record["ended_at"] = time.time()
        record["duration_s"] = round(record["ended_at"] - record["started_at"], 3)
        self._record(self.log, record)

    async def _ws_session(self, ws, record: dict, state: dict) -> None:
        path, _, raw_query = ws.request.path.partition("?")
        appid = path.rsplit("/", 1)[-1]
        record["path"] = path
        plan = self._pop_plan()
        record["fault"] = plan
        voice_id = ""
        try:
            params = self._validate_ws(appid, raw_query)
            voice_id = params["voice_id"]
        except WsReject as reject:
            params = None
            code, message = reject.code, reject.message
        else:
            code, message = 0, "success"
        if params is None:
            # Keep what we could read (minus the signature) for the log.
            loose = {}
            for part in raw_query.split("&"):
                key, _, value = part.partition("=")
                try:
                    loose[unquote(key)] = unquote(value)
                except Exception:
                    pass
            loose.pop("signature", None)
            record["params"] = loose
            voice_id = loose.get("voice_id", "")
        else:
            record["params"] = {k: v for k, v in params.items() if k != "signature"}
        record["voice_id"] = voice_id
        if code == 0 and plan and plan.get("handshake_error"):
            code = int(plan["handshake_error"])
            message = plan.get("message") or WS_ERROR_TEXT.get(code, "error")
        if plan and plan.get("raise"):
            raise RuntimeError(str(plan["raise"]))
        record["handshake_code"] = code
        if code != 0:
            await self._send_json(ws, record, {"code": code, "message": message, "voice_id": voice_id})
            record.update(end="handshake_error", error_code=code, error_message=message)
            self._finish_record(record, state)
            await self._close_ws(ws)
            return
        await self._send_json(ws, record, {"code": 0, "message": "success", "voice_id": voice_id})
        await self._stream(ws, record, state, params, plan or {})

    @staticmethod
    async def _close_ws(ws, code: int = 1000, reason: str = "") -> None:
        """Closes normally while draining what the client still sends. Without the drain, a client that keeps
        streaming fills the incoming queue, reading pauses, and its close frame is only seen after the timeout."""
        async def drain():
            try:
                while True:
                    await ws.recv()
            except Exception:
                pass

        drainer = asyncio.ensure_future(drain())
        try:
            await ws.close(code, reason)
        finally:
            drainer.cancel()

    async def _send_json(self, ws, record: dict, message: dict) -> None:
        record["messages"] += 1
        await ws.send(json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    async def _stream(self, ws, record: dict, state: dict, params: dict, plan: dict) -> None:
        loop = asyncio.get_running_loop()
        voice_id = params["voice_id"]
        engine = params["engine_model_type"]
        rate = 8000 if engine.startswith("8k_") or params.get("input_sample_rate") == "8000" else 16000
        bytes_per_s = rate * 2
        needvad = params.get("needvad") == "1"
        silence_ms = int(params["vad_silence_time"]) if needvad and "vad_silence_time" in params else 1000
        recognizer = Recognizer(rate, silence_ms, int(params.get("max_speak_time", 60000)), self.vad_threshold,
                                self.partial_ms, self.vad_stride)
        word_info = int(params.get("word_info", 0))
        message_number = 0

        async def emit(events) -> None:
            nonlocal message_number
            for slice_type, index, start, end in events:
                result = {"slice_type": slice_type, "index": index, "start_time": start, "end_time": end,
                          "voice_text_str": sentence_text(slice_type, index, start, end),
                          "word_size": 0, "word_list": []}
                if word_info > 0:
                    stable = 1 if slice_type == 2 else 0
                    result["word_list"] = [{"word": w, "start_time": s, "end_time": e, "stable_flag": stable}
                                           for w, s, e in fake_words(start, end)]
                    result["word_size"] = len(result["word_list"])
                if slice_type == 2:
                    record["sentences"] += 1
                await self._send_json(ws, record, {
                    "code": 0, "message": "success", "voice_id": voice_id,
                    "message_id": f"{voice_id}_{message_number}", "result": result, "final": 0})
                message_number += 1

        start = loop.time()
        last_audio = start
        last_frame = None
        window: collections.deque = collections.deque()  # (arrival, bytes, bytes subject to the limit)
        window_bytes = window_counted = 0
        burst_left = int(self.burst_audio_s * bytes_per_s)
        limit_bytes = self.max_audio_rate * bytes_per_s
        idle_timeout = self.idle_timeout
        # Per-frame statistics live in locals (cheap) and go into the record when the session ends.
        total = frames = odd_frames = max_gap = 0
        max_window = 0
        size_min = size_max = None
        sizes = record["frame_sizes"]

        def flush() -> None:
            record.update(bytes=total, audio_ms=total * 1000 // bytes_per_s, frames=frames, odd_frames=odd_frames,
                          frame_bytes_min=size_min, frame_bytes_max=size_max, max_gap_ms=int(max_gap * 1000),
                          max_rate=round(max_window / bytes_per_s, 3))

        async def fail(code: int, message: str, end: str = "error") -> None:
            flush()
            record.update(end=end, error_code=code, error_message=message)
            await self._send_json(ws, record, {"code": code, "message": message, "voice_id": voice_id})
            self._finish_record(record, state)
            await self._close_ws(ws)

        error_code = plan.get("error")
        error_after = None if error_code is None else int(plan.get("after_ms", 0)) * bytes_per_s // 1000
        drop_after = plan.get("disconnect_after_ms")
        drop_after = None if drop_after is None else int(drop_after) * bytes_per_s // 1000

        def error_text(code):
            return plan.get("message") or WS_ERROR_TEXT.get(code, "error")

        if error_after == 0:
            await fail(int(error_code), error_text(int(error_code)), "injected_error")
            return
        if drop_after == 0:
            record["end"] = "injected_disconnect"
            self._finish_record(record, state)
            ws.transport.abort()
            return

        try:
            while True:
                try:
                    async with asyncio.timeout_at(last_audio + idle_timeout):
                        message = await ws.recv()
                except TimeoutError:
                    await fail(4008, f"{WS_ERROR_TEXT[4008]}: no audio for more than {idle_timeout:g} s")
                    return
                except ConnectionClosed as closed:
                    flush()
                    record["end"] = "server_stopped" if self._stopping else "client_closed"
                    record["close_code"] = closed.rcvd.code if closed.rcvd else None
                    return
                now = loop.time()
                if isinstance(message, str):
                    record["text_frames"] += 1
                    try:
                        parsed = json.loads(message)
                    except ValueError:
                        parsed = None
                    if parsed != {"type": "end"}:
                        await fail(4010, f"{WS_ERROR_TEXT[4010]}: {message[:80]!r}")
                        return
                    await emit(recognizer.finish())
                    flush()
                    record["end"] = "final"  # ended with {"type":"end"} and final:1
                    await self._send_json(ws, record, {"code": 0, "message": "success", "voice_id": voice_id,
                                                       "message_id": f"{voice_id}_{message_number}", "final": 1})
                    self._finish_record(record, state)
                    await self._close_ws(ws)
                    return

                size = len(message)
                frames += 1
                total += size
                if size in sizes:
                    sizes[size] += 1
                elif len(sizes) < 32:
                    sizes[size] = 1
                else:
                    sizes["other"] = sizes.get("other", 0) + 1
                if size_min is None or size < size_min:
                    size_min = size
                if size_max is None or size > size_max:
                    size_max = size
                if size & 1:
                    odd_frames += 1
                if last_frame is None:
                    record["first_audio_ms"] = int((now - start) * 1000)
                elif now - last_frame > max_gap:
                    max_gap = now - last_frame
                last_frame = last_audio = now

                # Pacing: at most max_audio_rate s of audio in any 1 s of wall time. Audio that arrives in the
                # first second of the session is exempt up to burst_audio_s (the initial burst).
                counted = size
                if burst_left > 0 and now - start < 1.0:
                    exempt = size if size < burst_left else burst_left
                    burst_left -= exempt
                    counted -= exempt
                window.append((now, size, counted))
                window_bytes += size
                window_counted += counted
                horizon = now - 1.0
                while window[0][0] <= horizon:
                    _, old, old_counted = window.popleft()
                    window_bytes -= old
                    window_counted -= old_counted
                if window_bytes > max_window:
                    max_window = window_bytes
                if window_counted > limit_bytes:
                    await fail(4000, f"{WS_ERROR_TEXT[4000]} ({window_bytes / bytes_per_s:.2f} s of audio in the "
                                     f"last second)")
                    return

                events = recognizer.feed(message)
                if events:
                    await emit(events)

                if error_after is not None and total >= error_after:
                    await fail(int(error_code), error_text(int(error_code)), "injected_error")
                    return
                if drop_after is not None and total >= drop_after:
                    flush()
                    record["end"] = "injected_disconnect"
                    self._finish_record(record, state)
                    ws.transport.abort()  # no close frame
                    return
        finally:
            if not state["logged"]:
                flush()

    # ----- HTTP: SentenceRecognition and TC3 (docs/tencent.md) and control ----------------------------

    async def _http_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line in (b"\r\n", b"\n"):
                    continue
                parts = line.decode("latin-1").rstrip("\r\n").split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    await self._http_write(writer, 400, b"bad request\n", "text/plain", False)
                    break
                method, target, version = parts
                headers: dict = {}
                while True:
                    header_line = await reader.readline()
                    if header_line in (b"\r\n", b"\n", b""):
                        break
                    name, sep, value = header_line.decode("latin-1").partition(":")
                    if not sep:
                        continue
                    name = name.strip().lower()
                    value = value.strip()
                    headers[name] = f"{headers[name]}, {value}" if name in headers else value
                    if len(headers) > 200:
                        break
                keep_alive = (version == "HTTP/1.1" and headers.get("connection", "").lower() != "close") or \
                             (version == "HTTP/1.0" and headers.get("connection", "").lower() == "keep-alive")
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = await self._read_chunked(reader)
                    if body is None:
                        await self._http_write(writer, 413, b"request too large\n", "text/plain", False)
                        break
                else:
                    try:
                        length = int(headers.get("content-length", "0"))
                    except ValueError:
                        await self._http_write(writer, 400, b"bad content-length\n", "text/plain", False)
                        break
                    if length > MAX_BODY_BYTES:
                        payload = self._api_error_body("RequestSizeLimitExceeded",
                                                       f"request body of {length} bytes exceeds 10 MB")
                        await self._http_write(writer, 200, payload, "application/json", False)
                        break
                    body = await reader.readexactly(length) if length else b""
                try:
                    status, payload, content_type = await self._http_dispatch(method, target, headers, body)
                except Exception as exc:  # never let one request kill the server
                    logger.exception("HTTP request failed")
                    status, payload, content_type = 500, f"internal error: {exc!r}\n".encode(), "text/plain"
                await self._http_write(writer, status, payload, content_type, keep_alive)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except Exception:
            logger.exception("HTTP connection failed")
        finally:
            try:
                writer.close()
            except Exception:
                pass

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader):
        body = bytearray()
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readline()
            if len(body) > MAX_BODY_BYTES:
                return None

    @staticmethod
    async def _http_write(writer, status: int, payload: bytes, content_type: str, keep_alive: bool) -> None:
        reason = HTTPStatus(status).phrase
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()

    @staticmethod
    def _api_error_body(code: str, message: str, request_id: str | None = None) -> bytes:
        return json.dumps({"Response": {"Error": {"Code": code, "Message": message},
                                        "RequestId": request_id or str(uuid.uuid4())}},
                          ensure_ascii=False).encode()

    async def _http_dispatch(self, method: str, target: str, headers: dict, body: bytes):
        path, _, query = target.partition("?")
        if path == "/_control":
            if method == "GET":
                return 200, json.dumps(self.sessions(), ensure_ascii=False).encode(), "application/json"
            if method == "POST":
                return self._control(body)
            return 405, b"method not allowed\n", "text/plain"
        if path == "/_control/stats" and method == "GET":
            return 200, json.dumps(self.stats()).encode(), "application/json"
        if path == "/_control/api" and method == "GET":
            return 200, json.dumps(self.api_requests(), ensure_ascii=False).encode(), "application/json"
        if path == "/server_time" and method == "GET":
            return 200, str(int(time.time())).encode(), "text/plain"
        if path == "/":
            return 200, self._sentence_recognition(method, headers, body), "application/json"
        return 404, b"not found\n", "text/plain"

    def _control(self, body: bytes):
        try:
            command = json.loads(body or b"{}")
            if not isinstance(command, dict):
                raise ValueError("the control body must be a JSON object")
            if command.get("reset"):
                self.reset()
            if "inject" in command:
                plans = command["inject"]
                self.inject(*(plans if isinstance(plans, list) else [plans]))
            if "inject_api" in command:
                errors = command["inject_api"]
                self.inject_api(*(errors if isinstance(errors, list) else [errors]))
        except (ValueError, TypeError) as exc:
            return 400, json.dumps({"ok": False, "error": str(exc)}).encode(), "application/json"
        with self._lock:
            pending = {"ok": True, "pending": len(self._plans), "pending_api": len(self._api_plans)}
        return 200, json.dumps(pending).encode(), "application/json"

    def _sentence_recognition(self, method: str, headers: dict, body: bytes) -> bytes:
        request_id = str(uuid.uuid4())
        record = {"kind": "api", "request_id": request_id, "received_at": time.time(),
                  "headers": {k: v for k, v in headers.items() if k in ("content-type", "host") or k.startswith("x-tc-")},
                  "body_bytes": len(body), "body": None, "error": None}
        try:
            response = self._sentence_recognition_checked(method, headers, body, record)
            response["RequestId"] = request_id
            record["result"] = {k: v for k, v in response.items() if k != "WordList"}
        except ApiError as error:
            record["error"] = error.code
            record["error_message"] = error.message
            response = {"Error": {"Code": error.code, "Message": error.message}, "RequestId": request_id}
        self._record(self.api_log, record)
        return json.dumps({"Response": response}, ensure_ascii=False).encode()

    def _verify_tc3(self, method: str, headers: dict, body: bytes) -> None:
        authorization = headers.get("authorization")
        if not authorization:
            raise ApiError("AuthFailure.InvalidAuthorization", "the Authorization header is missing")
        match = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/,\s]+)/([0-9]{4}-[0-9]{2}-[0-9]{2})/([^/,\s]+)/"
                             r"tc3_request, ?SignedHeaders=([^,\s]+), ?Signature=([0-9a-f]{64})", authorization)
        if not match:
            raise ApiError("AuthFailure.InvalidAuthorization",
                           "Authorization must look like 'TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/"
                           "tc3_request, SignedHeaders=<h1;h2>, Signature=<64 hex>'")
        secret_id, date, service, signed, signature = match.groups()
        raw_timestamp = headers.get("x-tc-timestamp")
        if raw_timestamp is None:
            raise ApiError("MissingParameter", "the X-TC-Timestamp header is missing")
        if not re.fullmatch(r"[0-9]{1,12}", raw_timestamp):
            raise ApiError("InvalidParameterValue", f"X-TC-Timestamp {raw_timestamp!r} is not a Unix timestamp")
        timestamp = int(raw_timestamp)
        if abs(time.time() - timestamp) > self.timestamp_skew:
            raise ApiError("AuthFailure.SignatureExpire",
                           f"Signature expired. Timestamp {timestamp} is more than {int(self.timestamp_skew)} s from "
                           f"server time {int(time.time())}.")
        if secret_id not in self.accounts:
            raise ApiError("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your "
                                                           "SecretId is correct.")
        names = signed.split(";")
        if names != sorted(names) or any(name != name.lower() for name in names) or len(set(names)) != len(names):
            raise ApiError("AuthFailure.SignatureFailure",
                           f"SignedHeaders {signed!r} must be lower-case, unique and sorted")
        if "content-type" not in names or "host" not in names:
            raise ApiError("AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host")
        absent = [name for name in names if name not in headers]
        if absent:
            raise ApiError("AuthFailure.SignatureFailure", f"signed header(s) {', '.join(absent)} not sent")
        if date != tc3_date(timestamp):
            raise ApiError("AuthFailure.SignatureFailure",
                           f"credential date {date} is not the UTC date of X-TC-Timestamp ({tc3_date(timestamp)})")
        if service != "asr":
            raise ApiError("AuthFailure.SignatureFailure", f"credential service is {service!r}, not 'asr'")
        canonical = tc3_canonical_request(method, "/", "", headers, names, body)
        expected = tc3_signature(self.accounts[secret_id][0], date, service,
                                 tc3_string_to_sign(timestamp, date, service, canonical))
        if not hmac.compare_digest(expected, signature):
            raise ApiError("AuthFailure.SignatureFailure",
                           "The provided credentials could not be validated. Please check your signature is correct.")

    def _sentence_recognition_checked(self, method: str, headers: dict, body: bytes, record: dict) -> dict:
        if method != "POST":
            raise ApiError("UnsupportedProtocol", "this stand-in accepts POST with a JSON body only")
        credential = re.search(r"Credential=([^/,\s]+)/", headers.get("authorization", ""))
        record["secret_id"] = credential.group(1) if credential else None  # which account signed it
        self._verify_tc3(method, headers, body)
        if "x-tc-region" in headers:
            raise ApiError("InvalidParameter", "SentenceRecognition does not take a Region: do not send X-TC-Region")
        action = headers.get("x-tc-action")
        if not action:
            raise ApiError("MissingParameter", "the X-TC-Action header is missing")
        if action != "SentenceRecognition":
            raise ApiError("InvalidAction", f"action {action!r} is not supported by this stand-in")
        version = headers.get("x-tc-version")
        if not version:
            raise ApiError("MissingParameter", "the X-TC-Version header is missing")
        if version != "2019-06-14":
            raise ApiError("NoSuchVersion", f"version {version!r} does not exist for asr SentenceRecognition")
        now = time.monotonic()
        while self._api_times and self._api_times[0] <= now - 1.0:
            self._api_times.popleft()
        if len(self._api_times) >= self.api_rate_limit:
            raise ApiError("RequestLimitExceeded", f"more than {self.api_rate_limit} requests in 1 s")
        self._api_times.append(now)
        injected = self._pop_api_plan()
        if injected:
            raise ApiError(str(injected["code"]), str(injected.get("message") or injected["code"]))
        content_type = headers.get("content-type", "").lower()
        if not content_type.startswith("application/json"):
            raise ApiError("InvalidParameter", f"Content-Type {content_type!r} is not application/json")
        # --- body -----------------------------------------------------------------------------------
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError("InvalidParameter.ErrorParsequest", "the body is not a JSON object") from None
        if not isinstance(request, dict):
            raise ApiError("InvalidParameter.ErrorParsequest", "the body is not a JSON object")
        record["body"] = {k: (f"<{len(v)} base64 chars>" if k == "Data" and isinstance(v, str) else v)
                          for k, v in request.items()}
        unknown = sorted(set(request) - API_FIELDS)
        if unknown:
            raise ApiError("UnknownParameter", f"unknown parameter(s): {', '.join(unknown)}")
        for name in ("EngSerViceType", "SourceType", "VoiceFormat"):
            if name not in request:
                raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
        for name in ("EngSerViceType", "VoiceFormat", "Url", "Data", "HotwordId", "HotwordList", "CustomizationId",
                     "UsrAudioKey", "ReplaceTextId"):
            if name in request and not isinstance(request[name], str):
                raise ApiError("InvalidParameter", f"parameter `{name}` must be a string")
        for name in ("SourceType", "DataLen", "InputSampleRate", *API_INT_RANGES):
            if name in request and (not isinstance(request[name], int) or isinstance(request[name], bool)):
                raise ApiError("InvalidParameter", f"parameter `{name}` must be an integer")
        for name, (low, high) in API_INT_RANGES.items():
            if name in request and not low <= request[name] <= high:
                raise ApiError("InvalidParameterValue", f"`{name}`={request[name]} is outside [{low}, {high}]")
        engine = request["EngSerViceType"]
        if engine not in API_ENGINES:
            raise ApiError("InvalidParameterValue.ErrorInvalidEngservice", f"EngSerViceType {engine!r} is invalid")
        voice_format = request["VoiceFormat"]
        if voice_format not in API_FORMATS:
            raise ApiError("InvalidParameterValue.ErrorInvalidVoiceFormat",
                           f"VoiceFormat {voice_format!r} is not one of {', '.join(sorted(API_FORMATS))}")
        if "InputSampleRate" in request and request["InputSampleRate"] != 8000:
            raise ApiError("InvalidParameterValue", "InputSampleRate only supports 8000")
        source = request["SourceType"]
        if source == 0:
            url = request.get("Url")
            if not url or len(url) >= 2048:
                raise ApiError("InvalidParameterValue.ErrorInvalidUrl", "Url is required and must be < 2048 chars")
            # The stand-in never downloads anything: answer like a failed download.
            raise ApiError("InternalError.ErrorDownFile", "the stand-in cannot download Url audio; use SourceType 1")
        if source != 1:
            raise ApiError("InvalidParameterValue.ErrorInvalidSourcetype", f"SourceType {source} is invalid")
        if "Data" not in request or "DataLen" not in request:
            raise ApiError("InvalidParameter.ErrorParamsMissing", "SourceType 1 needs Data and DataLen")
        data = request["Data"]
        if "\n" in data or "\r" in data:
            raise ApiError("InvalidParameterValue.ErrorInvalidVoicedata", "Data must be Base64 without line breaks")
        try:
            audio = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("InvalidParameterValue.ErrorInvalidVoicedata", "Data is not valid Base64") from None
        if not audio:
            raise ApiError("InvalidParameterValue.ErrorInvalidVoicedata", "Data is empty")
        if request["DataLen"] != len(audio):
            raise ApiError("InvalidParameterValue",
                           f"DataLen {request['DataLen']} is not the length of the decoded Data ({len(audio)} "
                           f"bytes); DataLen is the length before Base64")
        # Size and duration limits. Codes from the SentenceRecognition error list in tencentcloud-sdk-go
        # (asr/v20190614/errors.go): InvalidParameter.ErrorContentlength "请求数据长度无效" for the 3 MB cap and
        # InvalidParameterValue.ErrorVoicedataTooLong "音频时长超过限制" for the 60 s cap. Which one the real
        # service uses for over-size data is not documented.
        if len(audio) > MAX_AUDIO_BYTES:
            raise ApiError("InvalidParameter.ErrorContentlength",
                           f"audio of {len(audio)} bytes exceeds the 3 MB limit")
        rate = 8000 if engine.startswith("8k_") or request.get("InputSampleRate") == 8000 else 16000
        word_info = request.get("WordInfo", 0)
        if voice_format in ("pcm", "wav"):
            samples = wav_payload(audio) if voice_format == "wav" else audio
            if voice_format == "wav" and audio[:4] != b"RIFF":
                raise ApiError("InvalidParameterValue.ErrorInvalidVoicedata", "wav Data has no RIFF header")
            duration = len(samples) * 1000 // (2 * rate)
            if duration > MAX_AUDIO_MS:
                raise ApiError("InvalidParameterValue.ErrorVoicedataTooLong",
                               f"audio is {duration} ms long; the limit is 60 s")
            recognizer = Recognizer(rate, 1000, 60000, self.vad_threshold, self.partial_ms, self.vad_stride)
            events = [e for e in recognizer.feed(samples) + recognizer.finish() if e[0] == 2]
            result = "".join(sentence_text(2, index, start, end) for _, index, start, end in events)
            words = []
            if word_info:
                for _, _, start, end in events:
                    words += [{"Word": w, "StartTime": s, "EndTime": e} for w, s, e in fake_words(start, end)]
        else:
            duration = 0  # no decoder for compressed formats: the duration is unknown
            result, words = f"收到{len(audio)}字节", []
        return {"Result": result, "AudioDuration": duration, "WordSize": len(words), "WordList": words}


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for Tencent Cloud ASR (real-time WebSocket and "
                                                 "SentenceRecognition).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ws-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--secret-id", default=DEFAULT_SECRET_ID)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--appid", default=DEFAULT_APPID)
    parser.add_argument("--idle-timeout", type=float, default=15.0, help="seconds without audio before 4008")
    parser.add_argument("--timestamp-skew", type=float, default=300.0, help="allowed clock skew in seconds")
    parser.add_argument("--api-rate-limit", type=int, default=30, help="SentenceRecognition requests per second")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    standin = StandIn(secret_id=args.secret_id, secret_key=args.secret_key, appid=args.appid, host=args.host,
                      ws_port=args.ws_port, http_port=args.http_port, idle_timeout=args.idle_timeout,
                      timestamp_skew=args.timestamp_skew, api_rate_limit=args.api_rate_limit)
    standin.start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"ready ws={standin.ws_url} http={standin.api_url.rstrip('/')}", flush=True)
    while not done.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
