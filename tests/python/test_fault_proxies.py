"""Each fault proxy reproduces its deployment failure in front of a real `realtime-voice serve`."""
import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import TOKEN, Server
from fault_proxies import FaultProxy

ECHO = f"/api/realtime-voice/echo?token={TOKEN}"
INSTANCE = "X-Realtime-Voice-Instance"
IDLE = 1.5


@pytest.fixture(scope="module")
def upstream():
    server = Server("--token", TOKEN)
    yield server
    server.stop()


def request(proxy: FaultProxy, method: str, path: str, body=None, headers=None, context=None):
    """One HTTP request through the proxy without following redirects: (status, headers, body)."""
    if proxy.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        headers = headers or {}
        conn.request(method, path, body=body, headers=headers, encode_chunked="Transfer-Encoding" in headers)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def assert_health(proxy: FaultProxy, context=None):
    status, headers, body = request(proxy, "GET", "/health", context=context)
    assert status == 200
    assert headers[INSTANCE]
    assert json.loads(body)["status"] == "ok"


def rejected_upgrade(proxy: FaultProxy):
    """Open the echo socket with websockets (which follows redirects, unlike most WebSocket clients)."""
    with pytest.raises(InvalidStatus) as info:
        with connect(proxy.ws_url(ECHO), open_timeout=5):
            pass
    return info.value.response


def upgrade_request(proxy: FaultProxy, path: str = ECHO):
    """The handshake as `curl -i -N -H Upgrade…` sends it: (status, headers, body), no redirects followed."""
    return request(proxy, "GET", path, headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()})


def raw_upgrade(port: int, path: str = ECHO) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        assert data, f"closed during the handshake: {head!r}"
        head += data
    return sock, head


def test_pass_relays_websocket_echo_and_http(upstream):
    with FaultProxy("pass", upstream.port) as proxy:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"
        assert_health(proxy)
        with connect(proxy.ws_url(ECHO), open_timeout=5) as ws:
            assert ws.response.headers[INSTANCE]
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
            ws.send(b"\x00\x01\x02" * 1000)
            assert ws.recv(timeout=5) == b"\x00\x01\x02" * 1000
            ws.send(json.dumps({"type": "ping"}))
            assert json.loads(ws.recv(timeout=5))["type"] == "pong"


def test_pass_survives_concurrent_and_aborted_clients(upstream):
    with FaultProxy("pass", upstream.port) as proxy:
        for _ in range(3):  # clients that vanish mid-request or right after connecting
            sock = socket.create_connection(("127.0.0.1", proxy.port))
            sock.sendall(b"GET /hea")
            sock.close()
        errors = []

        def client(n: int):
            try:
                with connect(proxy.ws_url(ECHO), open_timeout=5) as ws:
                    for i in range(5):
                        ws.send(f"{n}-{i}")
                        assert ws.recv(timeout=5) == f"{n}-{i}"
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not errors
        assert_health(proxy)
        lingering, head = raw_upgrade(proxy.port)
        assert head.startswith(b"HTTP/1.1 101")
        started = time.monotonic()
    assert time.monotonic() - started < 3  # stop() is prompt with a socket still open
    try:
        assert lingering.recv(4096) == b""
    except ConnectionResetError:
        pass
    lingering.close()


def test_strip_upgrade_reaches_our_server_as_a_plain_get(upstream):
    with FaultProxy("strip-upgrade", upstream.port) as proxy:
        response = rejected_upgrade(proxy)
        assert response.status_code == 426
        assert response.headers[INSTANCE]
        assert response.headers["Server"] == "nginx/1.22.1"
        assert json.loads(response.body)["code"] == 426
        status, headers, _ = upgrade_request(proxy)
        assert status == 426 and headers[INSTANCE]
        assert_health(proxy)
        # Request bodies still arrive: the same POST gets the same answer as without the proxy.
        direct = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=5)
        direct.request("POST", f"/api/realtime-voice/recognize?token={TOKEN}", body=b"not audio")
        expected = direct.getresponse()
        expected_body = expected.read()
        direct.close()
        status, headers, body = request(proxy, "POST", f"/api/realtime-voice/recognize?token={TOKEN}", body=b"not audio")
        assert (status, body) == (expected.status, expected_body)
        assert headers[INSTANCE] and headers["Server"] == "nginx/1.22.1"
        status, _, body = request(proxy, "POST", f"/api/realtime-voice/recognize?token={TOKEN}",
                                  body=iter([b"not ", b"audio"]), headers={"Transfer-Encoding": "chunked"})
        assert (status, body) == (expected.status, expected_body)


def test_404_upgrade_comes_from_the_gateway_not_our_server(upstream):
    with FaultProxy("404-upgrade", upstream.port) as proxy:
        response = rejected_upgrade(proxy)
        assert response.status_code == 404
        assert INSTANCE not in response.headers
        assert response.headers["Server"] == "openresty"
        assert b"404 Not Found" in response.body
        status, headers, _ = upgrade_request(proxy)
        assert status == 404 and INSTANCE not in headers
        assert_health(proxy)
        status, headers, _ = request(proxy, "GET", ECHO)  # no Upgrade: relayed to our 426
        assert status == 426 and headers[INSTANCE]


def test_html_fallback_answers_the_websocket_path_with_a_page(upstream):
    with FaultProxy("html-fallback", upstream.port) as proxy:
        response = rejected_upgrade(proxy)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.body.lower().startswith(b"<!doctype html>")
        assert INSTANCE not in response.headers
        status, headers, body = request(proxy, "GET", ECHO)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert_health(proxy)


def test_redirect_sends_the_websocket_path_to_https(upstream):
    with FaultProxy("redirect", upstream.port) as proxy:
        status, headers, body = upgrade_request(proxy)
        assert status == 301
        assert headers["Location"] == f"https://127.0.0.1{ECHO}"
        assert INSTANCE not in headers and headers["Server"] == "nginx/1.22.1"
        assert b"301 Moved Permanently" in body
        status, headers, _ = request(proxy, "GET", ECHO)
        assert status == 301 and headers["Location"].startswith("https://")
        assert_health(proxy)


@pytest.mark.parametrize("kind", ["idle-close", "idle-reset"])
def test_idle_websocket_is_cut_without_a_close_frame(upstream, kind):
    with FaultProxy(kind, upstream.port, idle_seconds=IDLE) as proxy:
        with connect(proxy.ws_url(ECHO), open_timeout=5, ping_interval=None, close_timeout=1) as ws:
            ws.send("still here")
            assert ws.recv(timeout=5) == "still here"
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=IDLE + 5)
            elapsed = time.monotonic() - started
        assert IDLE - 0.2 < elapsed < IDLE + 2.0
        assert info.value.rcvd is None  # no close frame came
        assert ws.protocol.close_code == 1006
        if kind == "idle-reset":
            assert isinstance(info.value.__cause__, ConnectionResetError)

        # The same on the wire: EOF for idle-close, ECONNRESET for idle-reset.
        sock, head = raw_upgrade(proxy.port)
        assert head.startswith(b"HTTP/1.1 101")
        sock.settimeout(IDLE + 5)
        started = time.monotonic()
        if kind == "idle-close":
            assert sock.recv(4096) == b""
        else:
            with pytest.raises(ConnectionResetError):
                sock.recv(4096)
        assert IDLE - 0.2 < time.monotonic() - started < IDLE + 2.0
        sock.close()


def test_truncate_frames_closes_oversized_frames_with_1009(upstream):
    with FaultProxy("truncate-frames", upstream.port) as proxy:
        with connect(proxy.ws_url(ECHO), open_timeout=5, max_size=None, compression=None) as ws:
            small = os.urandom(1024)
            ws.send(small)
            assert ws.recv(timeout=5) == small
            text = "x" * 16384  # exactly at the limit passes
            ws.send(text)
            assert ws.recv(timeout=5) == text
            ws.send(os.urandom(32 * 1024))
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        assert_health(proxy)


@pytest.mark.parametrize("mode", ["self-signed", "expired"])
def test_tls_certificates_fail_verification(upstream, mode):
    with FaultProxy("pass", upstream.port, tls=mode) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        with pytest.raises(ssl.SSLCertVerificationError):
            with connect(proxy.ws_url(ECHO), open_timeout=5):
                pass
        trusting = ssl.create_default_context(cafile=proxy.certificate_path)
        if mode == "self-signed":
            with connect(proxy.ws_url(ECHO), ssl=trusting, open_timeout=5) as ws:
                ws.send("over tls")
                assert ws.recv(timeout=5) == "over tls"
            assert_health(proxy, context=trusting)
        else:
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                with connect(proxy.ws_url(ECHO), ssl=trusting, open_timeout=5):
                    pass
            assert info.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
            assert "expired" in info.value.verify_message


def test_cli_prints_ready_url_and_serves(upstream):
    script = os.path.join(os.path.dirname(__file__), "fault_proxies.py")
    process = subprocess.Popen([sys.executable, script, "404-upgrade", "--upstream-port", str(upstream.port)],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ready http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        sock, head = raw_upgrade(port)
        sock.close()
        assert head.startswith(b"HTTP/1.1 404")
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
