"""deploy/nginx-several-gateways.conf run for real: nginx on loopback in front of two gateways."""
import re
import subprocess
from pathlib import Path

from conftest import ROOT, TOKEN, Server, free_port, wait_until_healthy

DEPLOY = ROOT / "deploy"


def snippets(tmp: Path) -> None:
    """The shipped snippets where nginx looks for `include snippets/…` (relative to the directory of nginx.conf)."""
    if not (tmp / "snippets").exists():
        (tmp / "snippets").symlink_to(DEPLOY / "nginx")


class TwoGateways:
    """deploy/nginx-several-gateways.conf in a real nginx on loopback (plain HTTP: its TLS server's ssl lines left
    out), in front of two gateways named gateway-a and gateway-b, as that file and resume-routing.conf expect."""

    def __init__(self, tmp: Path, *args: str):
        """`args` go to both gateways' `serve` (default: PocketSphinx with 2 decoders)."""
        self.gateways = {name: Server("--token", TOKEN, *(args or ("--decoders", "2")), env={"REALTIME_VOICE_INSTANCE_ID": name})
                         for name in ("gateway-a", "gateway-b")}
        self.port = free_port()
        snippets(tmp)
        site = (DEPLOY / "nginx-several-gateways.conf").read_text()
        site = site.replace("/etc/nginx/snippets/", f"{DEPLOY}/nginx/")
        site = site.replace("10.0.0.11:8080", f"127.0.0.1:{self.gateways['gateway-a'].port}")
        site = site.replace("10.0.0.12:8080", f"127.0.0.1:{self.gateways['gateway-b'].port}")
        site = re.sub(r"\n\s*listen \[::\]:\d+( ssl)?;", "", site)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
        site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{self.port};")
        site = re.sub(r"\n\s*ssl_[a-z_]+ [^;]*;", "", site)
        (tmp / "site.conf").write_text(site)
        config = tmp / "nginx.conf"
        config.write_text(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nworker_processes 1;\nevents {{}}\n"
                          f"http {{\naccess_log off;\ninclude {tmp}/site.conf;\n}}\n")
        self.process = subprocess.Popen(["/usr/sbin/nginx", "-c", str(config), "-p", str(tmp), "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
        if not wait_until_healthy(f"http://127.0.0.1:{self.port}/health", self.process, seconds=10):
            self.stop()
            raise RuntimeError("nginx did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        for gateway in self.gateways.values():
            gateway.stop()
