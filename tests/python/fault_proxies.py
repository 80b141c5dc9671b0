"""Fault-injecting proxies that reproduce real deployment failures of WebSocket servers.

Each proxy listens on 127.0.0.1 (a free port) and forwards to a live `realtime-voice serve`.
Put one between `realtime-voice doctor` (or any client) and the server to reproduce one failure:

    with FaultProxy("strip-upgrade", upstream_port=server.port) as proxy:
        run_doctor(proxy.url)

Kinds (see KINDS and the README-style notes in each `_canned_*` function):

  pass             faithful TCP relay (baseline).
  strip-upgrade    nginx without `proxy_http_version 1.1` and the `map $http_upgrade` block: every
                   request goes upstream as HTTP/1.0 with Upgrade/Connection removed, so our server
                   sees a plain GET and answers 426. Responses get `Server: nginx/1.22.1`.
  404-upgrade      a gateway that does not pass WebSockets: a request with `Upgrade: websocket` gets
                   the gateway's own 404 (`Server: openresty`, HTML body, no instance header).
  html-fallback    an SPA/static fallback: GET under /api/realtime-voice/ answers 200 text/html.
  redirect         an http->https redirect: GET under /api/realtime-voice/ answers 301 to https://.
  idle-close       TCP relay that closes both sides (FIN) after `idle_seconds` with no bytes in either
                   direction (any byte, e.g. a server ping, restarts the timer, as with nginx).
  idle-reset       same, with a TCP RST (SO_LINGER 0). Over TLS the RST comes with no close_notify;
                   note Python's ssl module reports that as a plain EOF, other stacks as ECONNRESET.
  truncate-frames  after a 101, a client frame whose payload exceeds `max_frame` gets a close frame
                   1009 sent to the client, and the upstream connection is dropped.

`tls="self-signed"` or `tls="expired"` (with any kind) terminates TLS with a certificate made by the
`openssl` command line into a temporary directory. `certificate_path` is the PEM to trust as a root:
the self-signed certificate itself, or, for "expired", the test CA that signed the expired leaf.

Only the Python standard library is used. Run `python fault_proxies.py KIND --upstream-port P` for
manual use; it prints `ready http://127.0.0.1:PORT`.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import email.utils
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import uuid

KINDS = ("pass", "strip-upgrade", "404-upgrade", "html-fallback", "redirect",
         "idle-close", "idle-reset", "truncate-frames")
TLS_MODES = ("self-signed", "expired")
WS_PREFIX = "/api/realtime-voice/"
NGINX_SERVER = "nginx/1.22.1"
GATEWAY_SERVER = "openresty"
RAW_KINDS = ("pass", "idle-close", "idle-reset")
HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade")


# --------------------------------------------------------------------------- HTTP/1.x parsing

class Head:
    """A parsed request or response head. `raw` is the exact bytes received."""

    def __init__(self, raw: bytes):
        self.raw = raw
        text = raw.decode("latin-1")
        lines = text.split("\r\n")
        self.start = lines[0]
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t" and self.headers:  # obsolete folding
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line {line!r}")
            self.headers.append((name.strip(), value.strip()))

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def tokens(self, name: str) -> set[str]:
        name = name.lower()
        return {token.strip().lower() for key, value in self.headers if key.lower() == name
                for token in value.split(",") if token.strip()}


class Request(Head):
    def __init__(self, raw: bytes):
        super().__init__(raw)
        parts = self.start.split(" ")
        if len(parts) != 3:
            raise ValueError(f"bad request line {self.start!r}")
        self.method, self.target, self.version = parts
        path = self.target
        if "://" in path:  # absolute-form
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        self.path = path.partition("?")[0]

    @property
    def is_upgrade(self) -> bool:
        return "websocket" in self.tokens("upgrade")

    @property
    def on_ws_prefix(self) -> bool:
        return self.method == "GET" and self.path.startswith(WS_PREFIX)


class Response(Head):
    def __init__(self, raw: bytes):
        super().__init__(raw)
        parts = self.start.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ValueError(f"bad status line {self.start!r}")
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""


def build_head(start: str, headers: list[tuple[str, str]]) -> bytes:
    return (start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


async def relay_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> bytes:
    """Copy a chunked body verbatim to `writer` (if any); return the de-chunked payload when writer is None."""
    payload = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if writer is not None:
            writer.write(line)
        if size == 0:
            while True:  # trailers up to the empty line
                trailer = await reader.readuntil(b"\r\n")
                if writer is not None:
                    writer.write(trailer)
                if trailer == b"\r\n":
                    break
            if writer is not None:
                await writer.drain()
            return bytes(payload)
        remaining = size + 2
        while remaining:
            data = await reader.read(min(remaining, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            if writer is not None:
                writer.write(data)
                await writer.drain()
            else:
                payload += data
        if writer is None:
            del payload[-2:]


async def relay_exactly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, count: int) -> bytes:
    payload = bytearray()
    while count:
        data = await reader.read(min(count, CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", count)
        count -= len(data)
        if writer is not None:
            writer.write(data)
            await writer.drain()
        else:
            payload += data
    return bytes(payload)


async def relay_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()


async def relay_request_body(reader, writer, request: Request) -> None:
    if "chunked" in request.tokens("transfer-encoding"):
        await relay_chunked(reader, writer)
    elif (length := request.get("content-length")) is not None:
        await relay_exactly(reader, writer, int(length))


async def read_request_body(reader, request: Request) -> bytes:
    if "chunked" in request.tokens("transfer-encoding"):
        return await relay_chunked(reader, None)
    if (length := request.get("content-length")) is not None:
        return await relay_exactly(reader, None, int(length))
    return b""


async def relay_response_body(reader, writer, method: str, response: Response) -> bool:
    """Copy the response body; return True when it was delimited by closing the connection."""
    if method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
        return False
    if "chunked" in response.tokens("transfer-encoding"):
        await relay_chunked(reader, writer)
        return False
    if (length := response.get("content-length")) is not None:
        await relay_exactly(reader, writer, int(length))
        return False
    await relay_until_eof(reader, writer)
    return True


# --------------------------------------------------------------------------- canned responses

def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def canned(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    headers = headers + [("Content-Length", str(len(body))), ("Connection", "close")]
    return build_head(f"HTTP/1.1 {status}", headers) + body


def nginx_error_page(title: str, server: str) -> bytes:
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n").encode()


def canned_404_upgrade(request: Request) -> bytes:
    """A gateway's own 404 for WebSocket upgrades: `Server: openresty`, `Content-Type: text/html`,
    `X-Request-Id: <32 hex>`, an openresty default error page, and no `X-Realtime-Voice-Instance`."""
    return canned("404 Not Found", [
        ("Server", GATEWAY_SERVER), ("Date", http_date()), ("Content-Type", "text/html"),
        ("X-Request-Id", uuid.uuid4().hex)], nginx_error_page("404 Not Found", GATEWAY_SERVER))


SPA_HTML = b"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Voice Console</title>
    <script type="module" crossorigin src="/assets/index-4f9c2a1b.js"></script>
    <link rel="stylesheet" href="/assets/index-7d3e8f10.css">
  </head>
  <body>
    <div id="app"></div>
  </body>
</html>
"""


def canned_html_fallback(request: Request) -> bytes:
    """nginx `try_files $uri /index.html` serving the SPA: 200, `Server: nginx/1.22.1`,
    `Content-Type: text/html`, ETag/Last-Modified/Accept-Ranges, body starting `<!doctype html>`."""
    return canned("200 OK", [
        ("Server", NGINX_SERVER), ("Date", http_date()), ("Content-Type", "text/html"),
        ("Last-Modified", "Mon, 02 Nov 2026 08:00:00 GMT"), ("ETag", '"6545d680-1a4"'),
        ("Accept-Ranges", "bytes")], SPA_HTML)


def canned_redirect(request: Request) -> bytes:
    """nginx `return 301 https://$host$request_uri;`: 301, `Server: nginx/1.22.1`, `Content-Type: text/html`,
    `Location: https://<Host header without port><original request target>`, nginx's 301 page."""
    host = request.get("host") or "localhost"
    if host.startswith("["):
        host = host[:host.index("]") + 1]
    else:
        host = host.rsplit(":", 1)[0]
    target = request.target
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return canned("301 Moved Permanently", [
        ("Server", NGINX_SERVER), ("Date", http_date()), ("Content-Type", "text/html"),
        ("Location", f"https://{host}{target}")], nginx_error_page("301 Moved Permanently", "nginx/1.22.1"))


# --------------------------------------------------------------------------- certificates

def _openssl(*args: str, cwd: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1"

CA_CONFIG = """\
[ ca ]
default_ca = fault_ca

[ fault_ca ]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[ policy_any ]
commonName = supplied

[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_certificates(mode: str, directory: str) -> tuple[str, str, str]:
    """Return (served certificate, its key, certificate to trust as a root)."""
    if mode == "self-signed":
        _openssl("req", "-x509", *EC_KEY, "-keyout", "key.pem", "-out", "cert.pem", "-days", "30",
                 "-subj", "/CN=localhost", "-addext", SAN, cwd=directory)
        cert = os.path.join(directory, "cert.pem")
        return cert, os.path.join(directory, "key.pem"), cert
    if mode == "expired":
        # A valid test CA, and a leaf it signed whose validity ended yesterday. OpenSSL 3.0's `x509`
        # has no -not_before/-not_after (3.4+), so `openssl ca -startdate/-enddate` sets the dates.
        _openssl("req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
                 "-subj", "/CN=realtime-voice fault-proxy test CA", cwd=directory)
        _openssl("req", "-new", *EC_KEY, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=localhost",
                 cwd=directory)
        with open(os.path.join(directory, "ca.cnf"), "w") as f:
            f.write(CA_CONFIG)
        open(os.path.join(directory, "index.txt"), "w").close()
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write(uuid.uuid4().hex[:16].upper() + "\n")
        now = datetime.datetime.now(datetime.timezone.utc)
        start = (now - datetime.timedelta(days=60)).strftime("%Y%m%d%H%M%SZ")
        end = (now - datetime.timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")
        _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "leaf.csr",
                 "-out", "cert.pem", "-startdate", start, "-enddate", end, "-extensions", "leaf", "-notext",
                 cwd=directory)
        return (os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"),
                os.path.join(directory, "ca.pem"))
    raise ValueError(f"unknown tls mode {mode!r}; use one of {TLS_MODES}")


# --------------------------------------------------------------------------- the proxy

def _linger_zero(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


def _close(writer: asyncio.StreamWriter | None, reset: bool = False) -> None:
    if writer is None:
        return
    try:
        if reset:
            _linger_zero(writer)
            writer.transport.abort()
        else:
            writer.close()
    except Exception:
        pass


def close_frame(code: int, reason: str) -> bytes:
    payload = struct.pack(">H", code) + reason.encode()[:123]
    return bytes([0x88, len(payload)]) + payload


class FaultProxy:
    def __init__(self, kind: str, upstream_port: int, upstream_host: str = "127.0.0.1", tls: str | None = None,
                 idle_seconds: float = 5.0, max_frame: int = 16384):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; use one of {KINDS}")
        if tls is not None and tls not in TLS_MODES:
            raise ValueError(f"unknown tls mode {tls!r}; use one of {TLS_MODES}")
        self.kind, self.upstream_host, self.upstream_port = kind, upstream_host, upstream_port
        self.tls, self.idle_seconds, self.max_frame = tls, idle_seconds, max_frame
        self.port: int | None = None
        self.certificate_path: str | None = None  # PEM to trust as a root (None without TLS)
        self.server_certificate_path: str | None = None  # PEM the proxy serves
        self.key_path: str | None = None
        self._tmpdir: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._context: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # ----- lifecycle

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Client connections being relayed now."""
        return len(self._tasks)

    def ws_url(self, path: str = "/", **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}{path}" + (f"?{params}" if params else "")

    def start(self) -> "FaultProxy":
        context = None
        if self.tls:
            self._tmpdir = tempfile.mkdtemp(prefix=f"fault-proxy-{self.tls}-")
            try:
                self.server_certificate_path, self.key_path, self.certificate_path = make_certificates(
                    self.tls, self._tmpdir)
            except BaseException:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None
                raise
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.server_certificate_path, self.key_path)
            context.set_alpn_protocols(["http/1.1"])
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda loop, ctx: None)  # client disconnects are not errors here
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"FaultProxy-{self.kind}", daemon=True)
        self._thread.start()
        ready.wait()
        self._context = context
        # TLS is started inside the handler (not by start_server) so connections still in their handshake
        # are tracked too, and stop() can close them.
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEAD_LIMIT), self._loop)
        try:
            self._server = future.result(timeout=10)
        except BaseException:
            self.stop()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        self._loop.run_forever()

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._thread is not None:
            if loop.is_running():
                try:
                    asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
                except Exception:
                    pass
                loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                loop.close()
        self._thread = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            try:
                writer.transport.abort()
            except Exception:
                pass
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    def cut(self, reset: bool = False) -> None:
        """Drops every connection relayed now, both sides at once (FIN, or RST with `reset`), as a network that
        goes away does: no WebSocket close frame reaches either end. New connections are relayed as before."""
        async def cut_all() -> None:
            for writer in list(self._writers):
                _close(writer, reset=reset)
        asyncio.run_coroutine_threadsafe(cut_all(), self._loop).result(timeout=5)

    def __enter__(self) -> "FaultProxy":
        return self.start() if self.port is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- connections

    async def _open_upstream(self):
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=HEAD_LIMIT)
        self._writers.add(writer)
        return reader, writer

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: list = []
        reset = False
        try:
            if self._context is not None:
                await writer.start_tls(self._context, ssl_handshake_timeout=10)
            if self.kind in RAW_KINDS:
                reset = await self._raw(reader, writer, upstream) and self.kind == "idle-reset"
            else:
                await self._http(reader, writer, upstream)
        except (asyncio.CancelledError, Exception):
            pass
        finally:
            _close(writer, reset)
            for _, up_writer in upstream:
                _close(up_writer, reset)
                self._writers.discard(up_writer)
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def _pump(self, reader, writer, activity: list[float] | None) -> None:
        while data := await reader.read(CHUNK):
            if activity is not None:
                activity[0] = asyncio.get_running_loop().time()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        else:
            raise ConnectionAbortedError("half-close not possible on this transport")

    async def _raw(self, reader, writer, upstream: list) -> bool:
        """Relay bytes both ways; return True when the idle timer fired."""
        up_reader, up_writer = await self._open_upstream()
        upstream.append((up_reader, up_writer))
        loop = asyncio.get_running_loop()
        activity = [loop.time()]
        idle = self.kind in ("idle-close", "idle-reset")
        pumps = [asyncio.ensure_future(self._pump(reader, up_writer, activity)),
                 asyncio.ensure_future(self._pump(up_reader, writer, activity))]
        watchdog = asyncio.ensure_future(self._watch_idle(activity)) if idle else None
        try:
            pending = set(pumps) | ({watchdog} if watchdog else set())
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if watchdog in done:
                    return True  # _handle closes both sides: FIN for idle-close, RST for idle-reset
                if any(t.exception() for t in done if t in pumps):
                    return False
                if all(t.done() for t in pumps):
                    return False
        finally:
            for t in pumps + ([watchdog] if watchdog else []):
                t.cancel()

    async def _watch_idle(self, activity: list[float]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            remaining = activity[0] + self.idle_seconds - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)

    async def _http(self, reader, writer, upstream: list) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            request = Request(raw)
            answer = None
            if self.kind == "404-upgrade" and request.is_upgrade:
                answer = canned_404_upgrade(request)
            elif self.kind == "html-fallback" and request.on_ws_prefix:
                answer = canned_html_fallback(request)
            elif self.kind == "redirect" and request.on_ws_prefix:
                answer = canned_redirect(request)
            if answer is not None:
                writer.write(answer)
                await writer.drain()
                return
            if self.kind == "strip-upgrade":
                await self._forward_stripped(request, reader, writer, upstream)
                return
            if not upstream:
                upstream.append(await self._open_upstream())
            if not await self._forward(request, reader, writer, *upstream[0]):
                return

    async def _forward(self, request: Request, reader, writer, up_reader, up_writer) -> bool:
        """Relay one request and its response untouched; return True to keep the connection alive."""
        up_writer.write(request.raw)
        await up_writer.drain()
        body = asyncio.ensure_future(relay_request_body(reader, up_writer, request))
        try:
            while True:
                response = Response(await up_reader.readuntil(b"\r\n\r\n"))
                writer.write(response.raw)
                await writer.drain()
                if response.status == 101:
                    await body
                    if self.kind == "truncate-frames":
                        await self._limit_frames(reader, writer, up_reader, up_writer)
                    else:
                        await self._splice(reader, writer, up_reader, up_writer)
                    return False
                if response.status >= 200:
                    break
            close_delimited = await relay_response_body(up_reader, writer, request.method, response)
            if not body.done():
                return False  # answered before the request body finished: give up on this connection
            await body
        finally:
            body.cancel()
        return not (close_delimited or request.version != "HTTP/1.1" or response.version != "HTTP/1.1"
                    or "close" in request.tokens("connection") or "close" in response.tokens("connection"))

    async def _splice(self, reader, writer, up_reader, up_writer) -> None:
        pumps = [asyncio.ensure_future(self._pump(reader, up_writer, None)),
                 asyncio.ensure_future(self._pump(up_reader, writer, None))]
        try:
            pending = set(pumps)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(t.exception() for t in done):
                    return
        finally:
            for t in pumps:
                t.cancel()

    async def _forward_stripped(self, request: Request, reader, writer, upstream: list) -> None:
        """nginx with the default `proxy_http_version 1.0` and no Upgrade/Connection forwarding."""
        if "100-continue" in request.tokens("expect"):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await read_request_body(reader, request)  # nginx buffers the body (proxy_request_buffering)
        named = request.tokens("connection")
        headers = [(k, v) for k, v in request.headers
                   if k.lower() not in HOP_BY_HOP and k.lower() not in named
                   and k.lower() not in ("content-length", "expect")]
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        headers.append(("Connection", "close"))
        up_reader, up_writer = await self._open_upstream()
        upstream.append((up_reader, up_writer))
        up_writer.write(build_head(f"{request.method} {request.target} HTTP/1.0", headers) + body)
        await up_writer.drain()
        while True:
            response = Response(await up_reader.readuntil(b"\r\n\r\n"))
            if response.status >= 200:
                break
        named = response.tokens("connection")
        out = [("Server", NGINX_SERVER)] + [
            (k, v) for k, v in response.headers
            if k.lower() not in ("server", "connection", "keep-alive") and k.lower() not in named - {"upgrade"}]
        out.append(("Connection", "close"))
        writer.write(build_head(f"HTTP/1.1 {response.status} {response.reason}", out))
        await relay_response_body(up_reader, writer, request.method, response)
        await writer.drain()

    # ----- WebSocket frame limit

    async def _limit_frames(self, reader, writer, up_reader, up_writer) -> None:
        down = asyncio.ensure_future(self._frames_down(up_reader, writer))
        up = asyncio.ensure_future(self._frames_up(reader, writer, up_writer, down))
        try:
            pending = {down, up}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if up in done or any(t.exception() for t in done if not t.cancelled()):
                    return
        finally:
            down.cancel()
            up.cancel()

    @staticmethod
    async def _frame_header(reader) -> tuple[bytes, int, int]:
        """Read one frame header; return (header bytes including mask key, opcode, payload length)."""
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            ext = await reader.readexactly(2)
            length = struct.unpack(">H", ext)[0]
        elif length == 127:
            ext = await reader.readexactly(8)
            length = struct.unpack(">Q", ext)[0]
        else:
            ext = b""
        mask = await reader.readexactly(4) if head[1] & 0x80 else b""
        return head + ext + mask, head[0] & 0x0F, length

    async def _frames_down(self, up_reader, writer) -> None:
        """Server to client: whole frames at a time, so a close frame can be injected between frames."""
        while True:
            header, _, length = await self._frame_header(up_reader)
            payload = await up_reader.readexactly(length)
            writer.write(header + payload)
            await writer.drain()

    async def _frames_up(self, reader, writer, up_writer, down: asyncio.Task) -> None:
        while True:
            header, _, length = await self._frame_header(reader)
            if length > self.max_frame:
                down.cancel()
                _close(up_writer, reset=True)  # drop the upstream without a close frame
                writer.write(close_frame(1009, f"frame exceeds {self.max_frame} bytes"))
                await writer.drain()
                try:  # let the client finish its frame and answer the close, so closing sends FIN, not RST
                    await asyncio.wait_for(self._discard_until_close(reader, length), timeout=2)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    pass
                return
            up_writer.write(header)
            await relay_exactly(reader, up_writer, length)

    async def _discard_until_close(self, reader, length: int) -> None:
        await relay_exactly(reader, None, length)
        while True:
            _, opcode, length = await self._frame_header(reader)
            await relay_exactly(reader, None, length)
            if opcode == 0x8:
                return


# --------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one fault-injecting proxy in front of realtime-voice.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--upstream-host", default="127.0.0.1")
    parser.add_argument("--tls", choices=TLS_MODES)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--max-frame", type=int, default=16384)
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.kind, args.upstream_port, args.upstream_host, tls=args.tls,
                       idle_seconds=args.idle_seconds, max_frame=args.max_frame).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"ready {proxy.url}", flush=True)
    if proxy.certificate_path:
        print(f"trust-root {proxy.certificate_path}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
