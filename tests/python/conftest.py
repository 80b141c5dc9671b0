"""Fixtures: a real `realtime-voice serve` process, the local Whisper sidecar, and real speech made with flite and sox."""
import hashlib
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("REALTIME_VOICE_BINARY", ROOT / ".build" / "debug" / "realtime-voice"))
DIRECT = ROOT / ".build" / "debug" / "pocketsphinx-direct"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
TOKEN = "python-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, seconds: float) -> bool:
    """Polls `url` until it answers 200; False when `process` exits first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


class LoggedProcess:
    """A child process whose output goes to `log_path`; `stop()` terminates it (kills it after 10 s)."""

    process: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class Server(LoggedProcess):
    """`realtime-voice serve` on a free port. Unless `args` or `env` choose an engine, it serves pocketsphinx (the
    tests of the protocol and limits do not need the Whisper sidecar); `engine=None` keeps serve's own default."""

    def __init__(self, *args: str, env: dict | None = None, engine: str | None = "pocketsphinx"):
        self.port = free_port()
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"realtime-voice-{self.port}.log"
        chosen = any(a == "--engine" or a.startswith("--engine=") for a in args) or "REALTIME_VOICE_ENGINE" in (env or {})
        engine_args = ["--engine", engine] if engine and not chosen else []
        command = [str(BINARY), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--decoders", "2", *engine_args, *args]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        if not wait_until_healthy(f"http://127.0.0.1:{self.port}/health", self.process, seconds=120):
            raise RuntimeError(f"server did not become healthy: {self.output()}")

    def url(self, path: str, **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}{path}" + (f"?{params}" if params else "")



# The area markers of each test file (pytest.ini describes them); `make test-fast` leaves the slow areas out.
AREAS = {
    "test_ws_conformance.py": ["conformance"],
    "test_bad_input.py": ["bad_input"],
    "test_upload_limits.py": ["bad_input"],
    "test_web_page.py": ["browser"],
    "test_nginx.py": ["nginx"],
    "test_whisper_engine.py": ["whisper"],
    "test_whisper_sidecar.py": ["whisper"],
    "test_whisper_workers.py": ["whisper"],
    "test_miniprogram_client.py": ["node"],
    "test_miniprogram_resume.py": ["node"],
}


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in AREAS.get(item.path.name, []):
            item.add_marker(marker)


@pytest.fixture
def server():
    instance = Server("--token", TOKEN)
    yield instance
    instance.stop()


WHISPER_DIR = ROOT / "sidecars" / "whisper"
WHISPER_PYTHON = WHISPER_DIR / ".venv" / "bin" / "python"


class WhisperSidecar(LoggedProcess):
    """sidecars/whisper/server.py (an OpenAI-compatible transcription server) run with its own venv's Python.

    `base_url` is what the openai SDK takes; `load_seconds` is the time from start to a healthy /health."""

    def __init__(self, *args: str, port: int | None = None):
        if not WHISPER_PYTHON.exists():
            raise RuntimeError(f"{WHISPER_PYTHON} is missing: run sidecars/whisper/setup.sh (make test-deps does)")
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"whisper-sidecar-{self.port}.log"
        self.log = open(self.log_path, "w")
        command = [str(WHISPER_PYTHON), str(WHISPER_DIR / "server.py"), "--port", str(self.port), *args]
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_until_healthy(f"http://127.0.0.1:{self.port}/health", self.process, seconds=120):
            self.stop()
            raise RuntimeError(f"whisper sidecar did not become healthy: {self.output()}")
        self.load_seconds = time.monotonic() - started



@pytest.fixture(scope="session")
def whisper_sidecar():
    """One Whisper sidecar with default flags (base, multilingual, no API key) for the whole session."""
    instance = WhisperSidecar()
    yield instance
    instance.stop()


def shared_directory(tmp_path_factory, name: str) -> Path:
    """A folder of this test run shared by its pytest-xdist workers (each worker has its own base temp folder, inside
    the run's): synthesised audio is made once per run, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    directory = run / f"shared-{name}"
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def speech(tmp_path_factory):
    """speech(text, voice='rms', rate=16000) -> path of a mono 16-bit WAV spoken by flite."""
    directory = shared_directory(tmp_path_factory, "speech")

    def make(text: str, voice: str = "rms", rate: int = 16000) -> Path:
        name = hashlib.sha1(f"{voice}{rate}{text}".encode()).hexdigest()[:12]
        out = directory / f"{name}.wav"
        if not out.exists():
            raw, converted = directory / f"{name}-{os.getpid()}-flite.wav", directory / f"{name}-{os.getpid()}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
            subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(converted)], check=True)
            os.replace(converted, out)  # atomic: another worker may be making the same file
            raw.unlink()
        return out

    return make


def direct_decode(path: Path) -> str:
    """The PocketSphinx C API's own streaming decode of a file, with no gateway."""
    output = subprocess.run([str(DIRECT), str(path)], check=True, capture_output=True, text=True).stdout
    texts = [line.split("\t", 2)[2] for line in output.splitlines() if line.startswith("text\t") and len(line.split("\t")) > 2]
    return " ".join(t for t in texts if t)


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def wav_pcm(path: Path) -> bytes:
    """The sample bytes of a PCM WAV (the data chunk)."""
    data = path.read_bytes()
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        if chunk == b"data":
            return data[offset + 8:offset + 8 + size]
        offset += 8 + size + (size & 1)
    raise ValueError(f"{path} has no data chunk")
