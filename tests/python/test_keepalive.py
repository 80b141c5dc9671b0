"""Server WebSocket pings keep idle proxies from cutting the socket; seen on the wire with a raw socket."""
import base64
import os
import socket
import time

from conftest import TOKEN, Server


def handshake(port: int, path: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    return sock, head


def test_server_pings_at_the_configured_interval():
    server = Server("--token", TOKEN, "--ping-interval", "0.5")
    try:
        sock, head = handshake(server.port, f"/api/realtime-voice/echo?token={TOKEN}")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"x-realtime-voice-instance" in head.lower()
        pings = 0
        deadline = time.monotonic() + 1.8
        sock.settimeout(0.2)
        buffer = head.split(b"\r\n\r\n", 1)[1]
        while time.monotonic() < deadline:
            try:
                buffer += sock.recv(4096)
            except socket.timeout:
                continue
            while len(buffer) >= 2:
                opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
                if len(buffer) < 2 + length:
                    break
                payload, buffer = buffer[2:2 + length], buffer[2 + length:]
                if opcode == 0x9:
                    pings += 1
                    # Answer like a browser would (masked pong), so the server keeps the socket.
                    mask = os.urandom(4)
                    sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        assert pings >= 2
        sock.close()
    finally:
        server.stop()
