"""deploy/nginx.conf checked by nginx itself, and a real nginx in front of the server: streaming, uploads and
`realtime-voice doctor` through it, over plain HTTP and over TLS."""
import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BINARY, ROOT, TOKEN, Server, direct_decode, free_port, wait_until_healthy, wav_pcm
from fault_proxies import make_certificates
from gateway_client import check_results, cut_session
from several_gateways import snippets
from test_stream_protocol import finals_text, stream_file

DEPLOY = ROOT / "deploy"
NGINX = "/usr/sbin/nginx"


def production_config(tmp: Path, certificate: str, key: str, site_file: str = "nginx.conf") -> Path:
    """A shipped site file (deploy/nginx.conf) inside a minimal nginx.conf, its paths pointed into `tmp`."""
    snippets(tmp)
    site = (DEPLOY / site_file).read_text()
    site = site.replace("/etc/nginx/snippets/", f"{DEPLOY}/nginx/")
    site = re.sub(r"ssl_certificate .*;", f"ssl_certificate {certificate};", site)
    site = re.sub(r"ssl_certificate_key .*;", f"ssl_certificate_key {key};", site)
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\nhttp {{\naccess_log off;\ninclude {tmp}/site.conf;\n}}\n")
    return main


@pytest.mark.parametrize("site_file", ["nginx.conf", "nginx-several-gateways.conf"])
def test_the_shipped_config_passes_nginx_t(tmp_path, site_file):
    certificate, key, _ = make_certificates("self-signed", str(tmp_path))
    config = production_config(tmp_path, certificate, key, site_file)
    result = subprocess.run([NGINX, "-t", "-c", str(config), "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


class Nginx:
    """nginx on loopback in front of `upstream_port`, with the shipped snippets: plain HTTP and TLS."""

    def __init__(self, tmp: Path, upstream_port: int):
        self.http_port, self.https_port = free_port(), free_port()
        self.certificate, key, self.trust_root = make_certificates("self-signed", str(tmp))
        snippets(tmp)
        config = tmp / "nginx.conf"
        config.write_text(f"""
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
worker_processes 1;
events {{}}
http {{
    access_log off;
    include {DEPLOY}/nginx/websocket-map.conf;
    upstream realtime_voice {{ server 127.0.0.1:{upstream_port}; }}
    server {{
        listen 127.0.0.1:{self.http_port};
        include {DEPLOY}/nginx/realtime-voice-locations.conf;
    }}
    server {{
        listen 127.0.0.1:{self.https_port} ssl;
        server_name localhost;
        ssl_certificate {self.certificate};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        include {DEPLOY}/nginx/realtime-voice-locations.conf;
    }}
}}
""")
        self.process = subprocess.Popen([NGINX, "-c", str(config), "-p", str(tmp), "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
        if not wait_until_healthy(f"http://127.0.0.1:{self.http_port}/health", self.process, seconds=10):
            raise RuntimeError(f"nginx did not start: {self.process.stderr.read() if self.process.poll() is not None else ''}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    server = Server("--token", TOKEN, "--decoders", "1")
    proxy = Nginx(tmp_path_factory.mktemp("nginx"), server.port)
    yield proxy
    proxy.stop()
    server.stop()


def test_streaming_through_nginx_gives_the_engines_text(nginx, speech):
    path = speech("please turn off the lights in the kitchen")
    url = f"ws://127.0.0.1:{nginx.http_port}/api/realtime-voice/stream?token={TOKEN}"
    events, close_code = asyncio.run(stream_file(url, wav_pcm(path)))
    assert events[0]["type"] == "ready" and events[-1]["type"] == "completed" and close_code == 1000
    assert finals_text(events) == direct_decode(path)


def test_a_stream_cut_behind_nginx_is_resumed_through_it(nginx, speech):
    """The client's connection to nginx dies twice mid-sentence (its TCP connection aborted): nginx drops the
    upstream one without a close frame, the gateway keeps the session, and the resume through nginx finishes it."""
    pcm = b"".join(wav_pcm(speech(s)) + bytes(32000) for s in ("please turn off the lights in the kitchen", "what time is it"))
    url = f"ws://127.0.0.1:{nginx.http_port}/api/realtime-voice/stream?token={TOKEN}"
    received, resumes, code = asyncio.run(cut_session(url, pcm, [0.3, 0.7]))
    assert code == 1000 and len(resumes) == 2 and received[-1]["type"] == "completed", received[-3:]
    check_results(received)
    assert len([m for m in received if m["type"] == "final"]) == 2, received


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_doctor_passes_through_nginx(nginx, scheme):
    port = nginx.http_port if scheme == "http" else nginx.https_port
    args = [str(BINARY), "doctor", f"{scheme}://localhost:{port}", "--token", TOKEN, "--idle-seconds", "3", "--json"]
    if scheme == "https":
        args += ["--ca-file", nginx.trust_root]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout)
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    assert result.returncode == 0 and not failed, failed
    checks = {c["check"]: c for c in report["checks"]}
    assert all(checks[name]["status"] == "pass" for name in ["upgrade", "headers", "echo", "idle", "stream", "recognize"]), checks
    assert any(name.startswith("nginx") for name in report["intermediaries"])
    if scheme == "https":
        assert checks["tls"]["detail"].startswith("TLS 1.")
