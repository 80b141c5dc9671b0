"""The deployment files: the Dockerfile (no Docker engine here, so its instructions are checked, and its runtime
packages against the libraries the binary really links), the CloudBase config and the systemd unit."""
import pytest
import json
import os
import re
import subprocess

from conftest import BINARY, ROOT


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_non_root_with_port_and_health_check():
    instructions = dockerfile_instructions()
    stages = [args for name, args in instructions if name == "FROM"]
    assert len(stages) == 3 and " AS build" in stages[0] and stages[1] == "debian:bookworm-slim AS sidecar"
    assert stages[2] == "debian:bookworm-slim"  # the sidecar's venv is built on the runtime's own Python
    runtime = runtime_stage()
    names = [name for name, _ in runtime]
    assert ("COPY", "--from=build /usr/local/bin/realtime-voice /usr/local/bin/realtime-voice") in runtime
    assert ("COPY", "--from=sidecar /opt/realtime-voice /opt/realtime-voice") in runtime
    user = next(args for name, args in runtime if name == "USER")
    assert user not in ("root", "0")
    assert ("EXPOSE", "8080") in runtime and ("ENV", "PORT=8080") in runtime
    health = next(args for name, args in runtime if name == "HEALTHCHECK")
    assert "/health" in health and "${PORT}" in health
    assert names.index("USER") > names.index("RUN")  # packages installed as root, then dropped


@pytest.mark.slow
def test_runtime_packages_cover_every_library_the_binary_links():
    install = next(args for name, args in runtime_stage() if name == "RUN" and "apt-get install" in args)
    packages = set(re.findall(r"\b(lib[\w.+-]+|pocketsphinx-en-us|ffmpeg|curl|ca-certificates)\b", install.split("apt-get install", 1)[1]))
    assert {"libpocketsphinx3", "pocketsphinx-en-us", "libsoxr0", "ffmpeg"} <= packages
    closure = set(subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                                  "--no-breaks", "--no-replaces", "--no-enhances", *packages], capture_output=True, text=True, check=True).stdout.split())
    closure |= packages | {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
    ldd = subprocess.run(["ldd", str(BINARY)], capture_output=True, text=True, check=True).stdout
    libraries = [line.split("=>")[1].split("(")[0].strip() for line in ldd.splitlines() if "=>" in line and "/opt/swift" not in line]
    assert any("libpocketsphinx" in library for library in libraries)
    missing = []
    for library in libraries:
        # /lib is /usr/lib on Debian 12, and BLAS/LAPACK are reached through update-alternatives links.
        candidates = [os.path.realpath(library), library, library.replace("/lib/", "/usr/lib/", 1)]
        owners = [subprocess.run(["dpkg", "-S", path], capture_output=True, text=True) for path in candidates]
        package = next((o.stdout.split(":", 1)[0].strip() for o in owners if o.returncode == 0), "(no package)")
        if package not in closure:
            missing.append((library, package))
    assert not missing, f"linked but not installed in the runtime image: {missing}"


def test_cloudbase_config_matches_the_image():
    config = json.loads((ROOT / "deploy" / "cloudbaserc.json").read_text())
    plugin = config["framework"]["plugins"]["gateway"]
    inputs = plugin["inputs"]
    assert plugin["use"] == "@cloudbase/framework-plugin-container"
    assert inputs["containerPort"] == 8080 and inputs["envVariables"]["PORT"] == "8080"
    assert inputs["minNum"] >= 1  # no cold start for the first WebSocket
    assert inputs["dockerfilePath"] == "./Dockerfile"
    for name in ["REALTIME_VOICE_TOKENS", "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_APPID"]:
        assert inputs["envVariables"][name] == "{{env.%s}}" % name  # secrets come from the environment, never the file


def test_systemd_unit_runs_the_server_behind_a_proxy():
    unit = (ROOT / "deploy" / "realtime-voice.service").read_text()
    sections = re.findall(r"^\[(\w+)\]", unit, re.M)
    assert sections == ["Unit", "Service", "Install"]
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    assert exec_start[:2] == ["/usr/local/bin/realtime-voice", "serve"] and "127.0.0.1" in exec_start
    # The flags the unit passes are real `serve` flags.
    help_text = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in (a for a in exec_start if a.startswith("--")):
        assert flag in help_text
    assert "EnvironmentFile=-/etc/realtime-voice.env" in unit and "Restart=on-failure" in unit


def test_the_image_serves_engine_whisper_from_its_built_sidecar():
    """The default engine needs the sidecar: built in its own stage, found through the variables serve reads."""
    instructions = dockerfile_instructions()
    sidecar = instructions[[i for i, (name, _) in enumerate(instructions) if name == "FROM"][1]:]
    setup = next(args for name, args in sidecar if name == "RUN" and "setup.sh" in args)
    assert "/opt/realtime-voice/sidecars/whisper/setup.sh" in setup and "models/whisper-base" in setup
    runtime = runtime_stage()
    env = dict(args.split("=", 1) for name, args in runtime if name == "ENV")
    assert env["REALTIME_VOICE_WHISPER_SIDECAR"] == "/opt/realtime-voice/sidecars/whisper"
    assert env["REALTIME_VOICE_WHISPER_MODEL"] == "/opt/realtime-voice/models/whisper-base"
    install = next(args for name, args in runtime if name == "RUN" and "apt-get install" in args)
    assert " python3 " in install  # the venv's interpreter
    assert not any("REALTIME_VOICE_ENGINE" in args for name, args in runtime if name in ("ENV", "CMD"))  # whisper, serve's default
    help_text = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, check=True).stdout
    assert "REALTIME_VOICE_WHISPER_SIDECAR" in help_text and "REALTIME_VOICE_WHISPER_MODEL" in help_text
