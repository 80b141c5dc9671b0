"""`realtime-voice doctor` against a healthy server and against proxies that each break one thing on purpose
(fault_proxies.py): the doctor must name that proxy's fault, by its cause code."""
import json
import subprocess
import time

import pytest

from conftest import BINARY, TOKEN, Server
from fault_proxies import FaultProxy


@pytest.fixture(scope="module")
def server():
    instance = Server("--token", TOKEN, "--decoders", "1", "--ping-interval", "3")
    yield instance
    instance.stop()


def doctor(url: str, *args: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    result = subprocess.run([str(BINARY), "doctor", url, "--json", "--timeout", "5", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout), time.monotonic() - started


def by_check(report: dict) -> dict:
    return {c["check"]: c for c in report["checks"]}


def test_a_healthy_server_passes_every_check_in_under_10_s(server):
    code, report, seconds = doctor(f"http://127.0.0.1:{server.port}", "--token", TOKEN, "--skip-idle")
    checks = by_check(report)
    assert code == 0, report
    for name in ["dns", "tcp", "health", "plain_get", "upgrade", "auth", "headers", "echo", "stream", "recognize"]:
        assert checks[name]["status"] == "pass", checks[name]
    assert checks["idle"]["status"] == "skip"
    assert seconds < 10
    nonce = checks["upgrade"]["detail"].split("nonce ")[1].split()[0]
    assert f"doctor.nonce={nonce}" in server.output()


def test_the_human_checklist_and_usage_errors(server):
    result = subprocess.run([str(BINARY), "doctor", f"ws://127.0.0.1:{server.port}/api/realtime-voice/stream", "--skip-idle"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("realtime-voice doctor: http://127.0.0.1:")  # ws:// and the endpoint path are understood
    # Without a token the handshake still shows it reaches the server (401 with our header): a warning, not a failure.
    assert any(line.startswith("⚠️  upgrade") and "reaches realtime-voice" in line for line in lines), lines
    assert "All checks passed." in lines[-1]
    assert subprocess.run([str(BINARY), "doctor", "ftp://example.com"], capture_output=True, timeout=30).returncode == 2


@pytest.mark.parametrize("kind, check, cause", [
    ("404-upgrade", "upgrade", "gateway_does_not_route_websocket"),
    ("strip-upgrade", "upgrade", "upgrade_headers_stripped"),
    ("html-fallback", "upgrade", "html_fallback"),
    ("redirect", "upgrade", "redirect_on_websocket_path"),
])
def test_each_broken_proxy_is_named(server, kind, check, cause):
    with FaultProxy(kind, server.port) as proxy:
        code, report, _ = doctor(proxy.url, "--token", TOKEN, "--skip-idle")
    checks = by_check(report)
    assert code == 1
    assert checks[check]["status"] == "fail" and checks[check]["diagnosis"]["cause"] == cause, checks[check]
    assert checks["health"]["status"] == "pass"  # plain HTTP still works through it: the seed's symptom
    assert checks[check]["diagnosis"]["manualCheck"].startswith("curl -i -N")
    assert TOKEN not in json.dumps(report)  # manual commands say token=TOKEN


def test_stripped_headers_are_seen_by_the_server_echo(server):
    with FaultProxy("strip-upgrade", server.port) as proxy:
        _, report, _ = doctor(proxy.url, "--token", TOKEN, "--skip-idle")
    headers = by_check(report)["headers"]
    assert headers["status"] == "fail" and "Upgrade" in headers["detail"], headers
    assert any("nginx" in name for name in report["intermediaries"]), report["intermediaries"]


@pytest.mark.slow
@pytest.mark.parametrize("kind, how", [("idle-close", "without a WebSocket close frame"), ("idle-reset", "reset")])
def test_an_idle_timeout_is_timed_and_named(server, kind, how):
    with FaultProxy(kind, server.port, idle_seconds=2.0) as proxy:
        code, report, _ = doctor(proxy.url, "--token", TOKEN, "--idle-seconds", "6")
    idle = by_check(report)["idle"]
    assert code == 1 and idle["status"] == "fail" and idle["diagnosis"]["cause"] == "idle_timeout", idle
    seconds = float(idle["detail"].split("after ")[1].split(" s")[0])
    assert 1.5 <= seconds <= 3.5, idle["detail"]
    assert how in idle["detail"]
    assert "it stayed open" in idle["detail"]  # a client heartbeat keeps it open: the remedy, shown


@pytest.mark.slow
def test_server_pings_keep_an_idle_connection_alive(server):
    # The server pings every 3 s here; the proxy cuts after 5 s of silence in both directions.
    with FaultProxy("idle-close", server.port, idle_seconds=5.0) as proxy:
        code, report, _ = doctor(proxy.url, "--token", TOKEN, "--idle-seconds", "8")
    assert by_check(report)["idle"]["status"] == "pass", by_check(report)["idle"]


def test_large_frames_cut_by_a_proxy(server):
    with FaultProxy("truncate-frames", server.port, max_frame=16384) as proxy:
        code, report, _ = doctor(proxy.url, "--token", TOKEN, "--skip-idle")
    echo = by_check(report)["echo"]
    assert code == 1 and echo["diagnosis"]["cause"] == "large_frames_cut", echo


@pytest.mark.parametrize("mode, cause", [("self-signed", "certificate_self_signed"), ("expired", "certificate_expired")])
def test_bad_certificates_are_named(server, mode, cause):
    with FaultProxy("pass", server.port, tls=mode) as proxy:
        code, report, _ = doctor(proxy.url.replace("127.0.0.1", "localhost"), "--token", TOKEN, "--skip-idle")
        tls = by_check(report)["tls"]
        assert code == 1 and tls["diagnosis"]["cause"] == cause, tls
        if mode == "self-signed":
            # Trusted through --ca-file, the same deployment passes end to end over TLS.
            code, report, _ = doctor(proxy.url.replace("127.0.0.1", "localhost"), "--token", TOKEN, "--skip-idle", "--ca-file", proxy.certificate_path)
            assert code == 0, [c for c in report["checks"] if c["status"] == "fail"]


def test_nothing_listening_and_no_such_host():
    code, report, _ = doctor("http://127.0.0.1:9")
    assert code == 1 and by_check(report)["tcp"]["diagnosis"]["cause"] == "tcp_unreachable"
    code, report, _ = doctor("http://no-such-host.invalid")
    assert code == 1 and by_check(report)["dns"]["diagnosis"]["cause"] == "dns_not_resolved"
