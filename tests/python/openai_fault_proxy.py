"""A small HTTP proxy in front of an OpenAI-compatible transcription server (the Whisper sidecar), for fault tests.

    proxy = OpenAIFaultProxy(sidecar.base_url)          # mode "pass": forwards everything unchanged
    proxy.configure(delay=2)                             # wait 2 s before forwarding each request
    proxy.configure(fail_first=1)                        # answer the next request(s) 500, then forward again
    proxy.configure(refuse_verbose=True)                 # 400 to any form with response_format=verbose_json
    proxy.base_url                                       # http://127.0.0.1:PORT/v1, for the gateway
    proxy.requests                                       # one dict per POST: its form fields (no file), status
    proxy.max_in_flight                                  # most requests in flight at once since reset()

Standard library only: a ThreadingHTTPServer (one thread per connection, HTTP/1.1 keep-alive) forwarding with urllib.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARDED_HEADERS = ("Content-Type", "Authorization", "Accept")


def form_fields(content_type: str, body: bytes) -> dict[str, list[str]]:
    """The text fields of a multipart/form-data body, each name with its values in order; file parts are left out."""
    boundary = next((p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";") if p.strip().startswith("boundary=")), None)
    fields: dict[str, list[str]] = {}
    if not boundary:
        return fields
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = next((line for line in head.decode("latin-1").split("\r\n") if line.lower().startswith("content-disposition")), "")
        if "filename=" in disposition:
            continue
        name = disposition.split('name="', 1)[1].split('"', 1)[0] if 'name="' in disposition else ""
        fields.setdefault(name, []).append(value.decode("utf-8", "replace"))
    return fields


class OpenAIFaultProxy:
    def __init__(self, upstream_base_url: str):
        self.upstream = upstream_base_url.rstrip("/").rsplit("/v1", 1)[0]
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.reset()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.forward(self, None)

            def do_POST(self):
                proxy.forward(self, self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Back to mode "pass", with no requests logged."""
        with self.lock:
            self.delay, self.fail_first, self.refuse_verbose = 0.0, 0, False
            self.requests: list[dict] = []
            self.in_flight = self.max_in_flight = 0

    def configure(self, delay: float = 0.0, fail_first: int = 0, refuse_verbose: bool = False) -> "OpenAIFaultProxy":
        with self.lock:
            self.delay, self.fail_first, self.refuse_verbose = delay, fail_first, refuse_verbose
        return self

    def stop(self) -> None:
        self.stopped.set()  # requests still in their delay are dropped, never forwarded
        self.server.shutdown()
        self.server.server_close()

    def forward(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> None:
        record = {"path": handler.path, "fields": form_fields(handler.headers.get("Content-Type", ""), body or b""),
                  "started": time.monotonic()}
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay = self.delay
            fail = body is not None and self.fail_first > 0
            if fail:
                self.fail_first -= 1
            refuse = body is not None and self.refuse_verbose and record["fields"].get("response_format") == ["verbose_json"]
            if body is not None:
                self.requests.append(record)
        try:
            if self.stopped.wait(delay):
                handler.close_connection = True
                return
            if fail:
                status, content_type, answer = 500, "application/json", error_body("injected upstream failure", "server_error")
            elif refuse:
                status, content_type, answer = 400, "application/json", error_body("verbose_json is not supported by this server", "invalid_request_error")
            else:
                status, content_type, answer = self.upstream_answer(handler, body)
            record["status"] = status
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(answer)))
            handler.end_headers()
            handler.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the gateway gave up on this request (its timeout)
        finally:
            with self.lock:
                self.in_flight -= 1
            record["ended"] = time.monotonic()

    def upstream_answer(self, handler: BaseHTTPRequestHandler, body: bytes | None) -> tuple[int, str, bytes]:
        headers = {k: handler.headers[k] for k in FORWARDED_HEADERS if handler.headers.get(k)}
        request = urllib.request.Request(self.upstream + handler.path, data=body, headers=headers, method=handler.command)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.headers.get("Content-Type", "application/json"), response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", "application/json"), e.read()


def error_body(message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()
