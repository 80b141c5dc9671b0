"""Starts a release `realtime-voice serve` for a benchmark and waits until it is healthy."""
import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".build" / "release"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, since it started."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """The resident set size of process `pid` in MiB (0 for a zombie, which has none)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def gateway_process(port: int, log: Path, *arguments: str, env: dict | None = None):
    """`serve` on 127.0.0.1:`port` with token `bench` and `arguments` (engine pocketsphinx unless they name one), and
    `env` added to the environment; its output in `log`; stopped on exit."""
    # The benchmarks name their engine; one that does not gets pocketsphinx, as before whisper became the default.
    chosen = any(a == "--engine" or a.startswith("--engine=") for a in arguments) or "REALTIME_VOICE_ENGINE" in (env or {})
    server = subprocess.Popen(
        [str(BIN / "realtime-voice"), "serve", "--host", "127.0.0.1", "--port", str(port), "--token", "bench",
         "--log-level", "warning", *([] if chosen else ["--engine", "pocketsphinx"]), *arguments],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
