"""`realtime-voice serve`: defaults, environment, generated token, refusals with a clear message."""
import json
import subprocess
import time
import urllib.error
import urllib.request

from conftest import BINARY, Server, free_port


def test_help_documents_every_limit_and_its_variable():
    text = subprocess.run([str(BINARY), "serve", "--help"], check=True, capture_output=True, text=True).stdout
    for flag, variable in [
        ("--host", "REALTIME_VOICE_HOST"), ("--port", "PORT"), ("--engine", "REALTIME_VOICE_ENGINE"),
        ("--token", "REALTIME_VOICE_TOKENS"), ("--no-auth", "REALTIME_VOICE_NO_AUTH"),
        ("--max-frame-bytes", "REALTIME_VOICE_MAX_FRAME_BYTES"), ("--idle-timeout", "REALTIME_VOICE_IDLE_TIMEOUT"),
        ("--max-session", "REALTIME_VOICE_MAX_SESSION"), ("--ping-interval", "REALTIME_VOICE_PING_INTERVAL"),
        ("--endpoint-ms", "REALTIME_VOICE_ENDPOINT_MS"), ("--decoders", "REALTIME_VOICE_DECODERS"),
        ("--queue-size", "REALTIME_VOICE_QUEUE_SIZE"), ("--queue-timeout", "REALTIME_VOICE_QUEUE_TIMEOUT"),
        ("--model-dir", "REALTIME_VOICE_MODEL_DIR"), ("--max-buffered-audio", "REALTIME_VOICE_MAX_BUFFERED_AUDIO"),
        ("--log-level", "REALTIME_VOICE_LOG_LEVEL"), ("--decoder-threads", "REALTIME_VOICE_DECODER_THREADS"),
        ("--max-upload-bytes", "REALTIME_VOICE_MAX_UPLOAD_BYTES"), ("--max-upload-seconds", "REALTIME_VOICE_MAX_UPLOAD_SECONDS"),
        ("--max-concurrent-uploads", "REALTIME_VOICE_MAX_CONCURRENT_UPLOADS"), ("--decode-timeout", "REALTIME_VOICE_DECODE_TIMEOUT"),
    ]:
        assert flag in text and variable in text, flag
    assert "REALTIME_VOICE_JWT_SECRET" in text


def test_generated_token_is_printed_with_a_ready_url_and_works():
    server = Server()
    try:
        output = server.output()
        assert "token:" in output and "/api/realtime-voice/stream?token=" in output
        token = output.split("token:", 1)[1].split()[0]
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/realtime-voice/stream", headers={"Authorization": f"Bearer {token}", "Upgrade": "websocket", "Connection": "Upgrade"})
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("an incomplete handshake must not succeed")
        except urllib.error.HTTPError as error:
            assert error.code == 400  # past auth: the handshake lacks its key
            assert json.loads(error.read())["error"] == "invalid_upgrade"
    finally:
        server.stop()


def test_port_from_environment_and_no_auth_warns():
    port = free_port()
    process = subprocess.Popen([str(BINARY), "serve", "--host", "127.0.0.1", "--no-auth", "--engine", "pocketsphinx", "--decoders", "1"], env={"PORT": str(port), "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not answer on $PORT")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "Authentication is OFF" in output


def test_refuses_a_short_jwt_secret_and_a_missing_model():
    short = subprocess.run([str(BINARY), "serve", "--port", "0"], env={"REALTIME_VOICE_JWT_SECRET": "short"}, capture_output=True, text=True, timeout=30)
    assert short.returncode == 2 and "at least 32 bytes" in short.stderr + short.stdout
    model = subprocess.run([str(BINARY), "serve", "--port", "0", "--model-dir", "/nonexistent"], capture_output=True, text=True, timeout=30)
    assert model.returncode == 2 and "pocketsphinx-en-us" in model.stderr + model.stdout


def test_refuses_a_tencent_response_timeout_out_of_range():
    env = {"TENCENTCLOUD_SECRET_ID": "AKIDexample", "TENCENTCLOUD_SECRET_KEY": "example-key", "TENCENTCLOUD_APPID": "1250000000"}
    for value in ("0.5", "121", "ten"):
        run = subprocess.run([str(BINARY), "serve", "--port", "0", "--engine", "pocketsphinx"],
                             env=env | {"TENCENT_ASR_RESPONSE_TIMEOUT": value}, capture_output=True, text=True, timeout=30)
        assert run.returncode == 2 and "TENCENT_ASR_RESPONSE_TIMEOUT must be 1 to 120" in run.stderr + run.stdout, (value, run.stderr)


def test_readme_configuration_table_has_the_defaults_serve_prints():
    """Each default is defined once (the configuration types); `serve --help` prints it, and README must agree."""
    import re
    from conftest import ROOT
    help_text = " ".join(subprocess.run([str(BINARY), "serve", "--help"], check=True, capture_output=True, text=True).stdout.split())
    printed = {}
    for match in re.finditer(r"(--[a-z-]+)(?: <[a-z-]+>)? (.*?)(?= --[a-z-]+(?: <[a-z-]+>)? |$)", help_text):
        default = re.search(r"\(default: ([^)]*)\)\s*$", match.group(2))
        if default:
            printed[match.group(1)] = default.group(1).strip()
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    compared = 0
    for row in re.findall(r"^\| `(--[a-z-]+)`[^|]*\| [^|]*\| ([^|]*) \|", section, re.M):
        flag, written = row
        if flag not in printed:
            continue
        value = written.replace("`", "").strip()
        value = re.sub(r" (s|ms)$", "", value)
        assert value == printed[flag], f"{flag}: README says {written!r}, serve --help says {printed[flag]!r}"
        compared += 1
    assert compared >= 25, (compared, sorted(printed))
