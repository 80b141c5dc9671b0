#!/usr/bin/env python3
"""The gateway against the seed's stack (Node + Express + ws, bench/node/server.js) on the WebSocket echo, called by
compare.sh. Each server runs alone on core 0 (`taskset -c 0`), the load generator (bench/ws_loadgen.c) on core 1;
every measurement gets a fresh server process, and the two servers take turns phase by phase (ABBA when repeated) so
that a slow stretch of the shared machine does not fall on one of them only.

a. live-audio shape: N connections each sending 3200 B every 100 ms, N = 1000 and 2000: server CPU, RTT, RSS growth;
b. saturation: 200 connections, 4 messages in flight each: echoes per second at a full core;
c. idle capacity: 10 000 idle connections: RSS per connection, all accepted and still echoing.

Prints markdown tables and ratios, writes them to bench/BENCHMARKS.md and the raw numbers to bench/out/compare-<date>.json.
"""
import argparse
import ctypes
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from gateway_process import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench"
NODE_PATH = "/usr/share/nodejs"
LOADGEN_BUSY_LIMIT = 80.0  # % of its core: above this the load generator may be the bottleneck
OTHERS_LIMIT = 10.0  # % of a core used by other processes on core 0 (or 1) above which a run is flagged noisy
KEEPS_UP_P99_MS = 100.0  # a 100 ms audio frame: a server whose p99 round trip is longer is falling behind
NICE = 0  # set from --nice: both servers and the load generator run at this niceness

FULL = {
    "repeat": 2,
    "rate": {"conns": [1000, 2000], "ramp_rate": 200, "warmup": 5, "window": 20},
    "saturate": {"conns": 200, "inflight": 4, "ramp_rate": 200, "warmup": 5, "window": 15},
    "idle": {"conns": 10000, "ramp_rate": 1000, "hold": 10},
}
QUICK = {
    "repeat": 1,
    "rate": {"conns": [1000, 2000], "ramp_rate": 500, "warmup": 2, "window": 8},
    "saturate": {"conns": 200, "inflight": 4, "ramp_rate": 500, "warmup": 2, "window": 6},
    "idle": {"conns": 10000, "ramp_rate": 1000, "hold": 3},
}

PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    """Children get SIGTERM if this script dies, however it dies (taskset keeps it through exec)."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def spawn(argv: list[str], **kwargs) -> subprocess.Popen:
    """Starts `argv` at niceness NICE in a session of its own. With autogroup scheduling on (as on this machine), a
    process's niceness counts only against the processes of its own session, so the session's autogroup gets the niceness
    too: otherwise other sessions' threads on the same core still take their equal share."""
    process = subprocess.Popen(["nice", "-n", str(NICE), *argv], start_new_session=True, preexec_fn=die_with_parent, **kwargs)
    if NICE and AUTOGROUP.exists() and AUTOGROUP.read_text().strip() == "1":
        try:
            Path(f"/proc/{process.pid}/autogroup").write_text(str(NICE))
        except OSError as error:
            print(f"could not set the autogroup niceness of {argv[0]}: {error}", file=sys.stderr)
    return process


class Server:
    """One server under test, pinned to core 0."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.process = None

    def start(self, port: int):
        argv = ["taskset", "-c", "0", *[a.replace("{port}", str(port)) for a in self.command]]
        self.process = spawn(argv, stdout=open(self.log, "a"), stderr=subprocess.STDOUT, env={**os.environ, **self.env}, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        time.sleep(1)  # let start-up work (a decoder's first allocations, JIT) settle
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health 200 within 30 s: see {self.log}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def run_loadgen(loadgen: Path, port: int, server_pid: int, arguments: list[str], budget: float) -> dict:
    argv = ["taskset", "-c", "1", str(loadgen), "--port", str(port), "--token", TOKEN, "--server-pid", str(server_pid), *arguments]
    process = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"load generator did not finish within {budget:.0f} s")
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}): {err.strip()}")
    return json.loads(out)


def phase_arguments(phase: str, conns: int, settings: dict) -> tuple[list[str], float]:
    """The load generator's arguments for one measurement, and a bound on its duration."""
    if phase == "rate":
        s = settings["rate"]
        args = ["--mode", "rate", "--conns", conns, "--size", 3200, "--interval-ms", 100, "--ramp-rate", s["ramp_rate"],
                "--warmup", s["warmup"], "--window", s["window"]]
        budget = conns / s["ramp_rate"] + s["warmup"] + s["window"] + 40
    elif phase == "saturate":
        s = settings["saturate"]
        args = ["--mode", "saturate", "--conns", conns, "--size", 3200, "--inflight", s["inflight"], "--ramp-rate", s["ramp_rate"],
                "--warmup", s["warmup"], "--window", s["window"]]
        budget = conns / s["ramp_rate"] + s["warmup"] + s["window"] + 40
    else:
        s = settings["idle"]
        args = ["--mode", "idle", "--conns", conns, "--size", 64, "--ramp-rate", s["ramp_rate"], "--hold", s["hold"], "--window", 1]
        budget = conns / s["ramp_rate"] + s["hold"] + 60
    return [str(a) for a in args], budget


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_facts(binary: Path) -> dict:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    package_version = lambda name: json.loads((Path(NODE_PATH) / name / "package.json").read_text())["version"]
    swift = command_output(["swift", "--version"]).splitlines()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {
        "nproc": command_output(["nproc"]),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "node": command_output(["node", "--version"]),
        "express": package_version("express"),
        "ws": package_version("ws"),
        "ws_native_addons": "bufferutil" if (Path(NODE_PATH) / "bufferutil").exists() else "none (masking and UTF-8 checks in JavaScript)",
        "swift": swift[0] if swift else "?",
        "gateway": f"{binary} ({command_output([str(binary), '--version'])}, built {datetime.fromtimestamp(binary.stat().st_mtime).strftime('%Y-%m-%d %H:%M')}, "
                   f"sha256 {command_output(['sha256sum', str(binary)])[:12]})",
        "ulimit_n": command_output(["bash", "-c", "ulimit -n"]),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "nice": NICE,
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float) and digits == 0:
        return f"{value:.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def ratio(ours, node):
    if ours is None or not node:
        return "–"
    value = ours / node
    return f"**{value:.2f}**" if value >= 0.1 else f"**{value:.2g}**"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["rate", "saturate", "idle"], action="append", help="run only these phases")
    parser.add_argument("--nice", type=int, default=0, help="niceness of the servers and the load generator (negative needs root)")
    parser.add_argument("--command", default="bench/compare.sh")
    parser.add_argument("--out", required=True)
    parser.add_argument("--markdown", required=True)
    options = parser.parse_args()

    def on_signal(number, _frame):
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    global NICE
    NICE = options.nice if options.nice >= 0 or os.geteuid() == 0 else 0
    if NICE != options.nice:
        print(f"not root: running at niceness 0, not {options.nice}", flush=True)
    settings = QUICK if options.quick else FULL
    binary = Path(options.binary).resolve()
    out = Path(options.out)
    logs = out.with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    servers = {
        "ours": Server("ours", [str(binary), "serve", "--host", "127.0.0.1", "--port", "{port}", "--token", TOKEN, "--engine", "pocketsphinx", "--decoders", "1",
                                "--log-level", "warning"], {}, logs / "ours.log"),
        "node": Server("node", ["node", str(ROOT / "bench" / "node" / "server.js"), "--host", "127.0.0.1", "--port", "{port}", "--token", TOKEN],
                       {"NODE_PATH": NODE_PATH}, logs / "node.log"),
    }
    facts = machine_facts(binary)
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).astimezone()
    phases = [("rate", n) for n in settings["rate"]["conns"]] + [("saturate", settings["saturate"]["conns"]), ("idle", settings["idle"]["conns"])]
    if options.only:
        phases = [p for p in phases if p[0] in options.only]
    results = {"facts": facts, "settings": settings, "command": options.command, "started": started_at.isoformat(), "runs": []}
    print(f"machine: {facts['nproc']} cores, {facts['cpu']}, load average {' '.join(facts['loadavg_at_start'])}", flush=True)
    turn = 0
    try:
        for repeat in range(settings["repeat"]):
            for phase, conns in phases:
                order = ["ours", "node"] if turn % 2 == 0 else ["node", "ours"]
                turn += 1
                for name in order:
                    server = servers[name]
                    port = free_port()
                    arguments, budget = phase_arguments(phase, conns, settings)
                    server.start(port)
                    try:
                        result = run_loadgen(Path(options.loadgen), port, server.process.pid, arguments, budget)
                    finally:
                        server.stop()
                    result.update({"server": name, "phase": phase, "repeat": repeat})
                    results["runs"].append(result)
                    print(summary_line(result), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    out.write_text(json.dumps(results, indent=1))
    markdown = report(results, phases, options)
    print()
    print(markdown)
    Path(options.markdown).write_text(markdown)
    print(f"raw numbers: {out}; written: {options.markdown}")
    return 0


def others(r: dict, core: int) -> float:
    """% of core 0 (1) that processes other than the server (the load generator) used during the window."""
    if core == 0:
        return max(0.0, r["core0_busy_pct"] - r["server_cpu_pct"])
    return max(0.0, r["core1_busy_pct"] - (r["loadgen_cpu_pct"] if r["phase"] != "idle" else 0))


def keeps_up(r: dict) -> bool:
    return r["lost"] == 0 and r["skipped_backpressure"] == 0 and r["rtt_ms"]["p99"] < KEEPS_UP_P99_MS


def summary_line(r: dict) -> str:
    head = f"{r['phase']:8} {r['conns']:>5} {r['server']:4}"
    errors = r["connect_errors"] + r["handshake_errors"] + r["closed_by_server"] + r["eof_errors"] + r["bad_echo"]
    noise = f"others on core 0 {others(r, 0):.0f}%, on core 1 {others(r, 1):.0f}%; loadgen {r['loadgen_cpu_pct']:.0f}% CPU"
    if r["phase"] == "idle":
        return (f"{head}  accepted {r['connected']}/{r['conns']}, echoing {r['verified']}, RSS {r['server_rss_kb']['before'] / 1024:.0f} → "
                f"{r['server_rss_kb']['held'] / 1024:.0f} MiB, errors {errors}; loadgen {r['loadgen_cpu_pct_ramp']:.0f}% CPU while connecting")
    if r["phase"] == "saturate":
        return (f"{head}  {r['echo_per_s']:.0f} echo/s at {r['server_cpu_pct']:.0f}% CPU, RTT p50 {r['rtt_ms']['p50']:.1f} ms, errors {errors}; {noise}")
    return (f"{head}  CPU {r['server_cpu_pct']:.1f}%, RTT p50/p99/max {r['rtt_ms']['p50']:.2f}/{r['rtt_ms']['p99']:.2f}/{r['rtt_ms']['max']:.1f} ms, "
            f"sent {r['sent']} received {r['received']}, RSS {r['server_rss_kb']['before'] / 1024:.0f} → {r['server_rss_kb']['peak'] / 1024:.0f} MiB, "
            f"errors {errors}, send lag p99 {r['send_lag_ms']['p99']:.1f} ms; {noise}")


def report(results: dict, phases: list, options) -> str:
    facts, settings = results["facts"], results["settings"]
    runs = results["runs"]

    def pick(server, phase, conns):
        return [r for r in runs if r["server"] == server and r["phase"] == phase and r["conns"] == conns]

    def med(server, phase, conns, getter):
        return median([getter(r) for r in pick(server, phase, conns)])

    def errors(r):
        return r["connect_errors"] + r["handshake_errors"] + r["closed_by_server"] + r["eof_errors"] + r["bad_echo"] + r["lost"]

    def each(server, phase, conns, getter, digits=1):
        values = [getter(r) for r in pick(server, phase, conns)]
        return " / ".join(fmt(float(v), digits) for v in values)

    lines = [
        "# realtime-voice against Node + Express + ws",
        "",
        f"Generated by `{results['command']}` on {datetime.fromisoformat(results['started']).strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{results['elapsed_s'] / 60:.1f} min{' (--quick: short windows, one round; a smoke run, not for decisions)' if options.quick else ''}.",
        "",
        "| machine | |",
        "|---|---|",
        f"| cores (`nproc`) | {facts['nproc']} |",
        f"| CPU | {facts['cpu']} |",
        f"| memory | {facts['memory_gib']} GiB |",
        f"| kernel | {facts['kernel']} |",
        f"| load average at start | {' '.join(facts['loadavg_at_start'])} |",
        f"| gateway | {facts['gateway']}, {facts['swift']} |",
        f"| Node | {facts['node']}, express {facts['express']}, ws {facts['ws']} (Debian packages; ws native add-ons: {facts['ws_native_addons']}) |",
        "",
        "Each server runs alone on core 0 (`taskset -c 0`); the load generator `bench/ws_loadgen.c` (C, epoll, one thread) runs "
        "on core 1. Every measurement starts a fresh server; the servers take turns phase by phase"
        f"{' (ABBA order over ' + str(settings['repeat']) + ' rounds; tables show the median, per-run values are in the last table)' if settings['repeat'] > 1 else ''}. "
        "Messages are 3200-byte binary frames (100 ms of 16 kHz PCM), masked with a random key per frame as clients must; each carries "
        "CLOCK_MONOTONIC ns, the connection and a sequence number, and the round trip (RTT) is measured per message; the echoed bytes are "
        "checked. Ours runs `realtime-voice serve --decoders 1`; Node runs `bench/node/server.js` "
        "(express app, `ws` WebSocketServer with `noServer` on the http server's `upgrade`, the same token check, a 20 s heartbeat ping like "
        "the gateway's). CPU is utime+stime from /proc/PID/stat over the window, in % of one core.",
        "",
    ]
    rate = settings["rate"]
    rate_phases = [c for p, c in phases if p == "rate"]
    if rate_phases:
        lines += [
            f"## a. Live-audio shape: N connections × one 3200 B message every 100 ms",
            "",
            f"Connections open at {rate['ramp_rate']}/s; then {rate['warmup']} s of warm-up and a {rate['window']} s window. "
            "RSS growth: peak RSS in the window (sampled each second) − RSS before the first connection. "
            f"*Keeps up*: every message sent in the window echoed within 2 s after it, and RTT p99 < {KEEPS_UP_P99_MS:.0f} ms (one frame); "
            "a server that does not keep up has a queue that grows for as long as the load lasts, so its RTT says how long the window was "
            "rather than how fast it is, and RTT percentiles count only the messages that came back.",
            "",
            "| N | server | keeps up | connections open | CPU % of a core | RTT p50 ms | RTT p99 ms | RTT max ms | sent / received (lost) | errors | RSS before → under load MiB | RSS growth MiB | load generator CPU % |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for conns in rate_phases:
            for name in ["ours", "node"]:
                rs = pick(name, "rate", conns)
                if not rs:
                    continue
                g = lambda f: med(name, "rate", conns, f)
                lines.append(
                    f"| {conns} | {name} | {'/'.join('yes' if keeps_up(r) else 'no' for r in rs)} | {min(r['open_at_window'] for r in rs)} | {fmt(g(lambda r: r['server_cpu_pct']))} | {fmt(g(lambda r: r['rtt_ms']['p50']), 2)} | "
                    f"{fmt(g(lambda r: r['rtt_ms']['p99']), 2)} | {fmt(g(lambda r: r['rtt_ms']['max']), 1)} | "
                    f"{sum(r['sent'] for r in rs)} / {sum(r['received'] for r in rs)} ({sum(r['lost'] for r in rs)}) | {sum(errors(r) for r in rs)} | "
                    f"{fmt(g(lambda r: r['server_rss_kb']['before'] / 1024), 0)} → {fmt(g(lambda r: r['server_rss_kb']['peak'] / 1024), 0)} | "
                    f"{fmt(g(lambda r: (r['server_rss_kb']['peak'] - r['server_rss_kb']['before']) / 1024), 1)} | "
                    f"{fmt(g(lambda r: r['loadgen_cpu_pct']))} |"
                )
        lines += [""]
    sat = settings["saturate"]
    sat_conns = [c for p, c in phases if p == "saturate"]
    if sat_conns:
        conns = sat_conns[0]
        lines += [
            f"## b. Saturation: {conns} connections, {sat['inflight']} messages in flight each",
            "",
            f"Each connection sends its next 3200 B message as soon as one comes back; {sat['window']} s window after {sat['warmup']} s of warm-up. "
            "*Per CPU-second* divides by the CPU the server actually got, which corrects for other processes on core 0.",
            "",
            "| server | echoes/s | server CPU % | echoes per CPU-second | RTT p50 ms | RTT p99 ms | errors | load generator CPU % |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in ["ours", "node"]:
            rs = pick(name, "saturate", conns)
            if not rs:
                continue
            g = lambda f: med(name, "saturate", conns, f)
            lines.append(
                f"| {name} | {fmt(g(lambda r: r['echo_per_s']), 0)} | {fmt(g(lambda r: r['server_cpu_pct']))} | "
                f"{fmt(g(lambda r: r['echo_per_s'] / max(r['server_cpu_pct'], 1e-9) * 100), 0)} | {fmt(g(lambda r: r['rtt_ms']['p50']), 1)} | "
                f"{fmt(g(lambda r: r['rtt_ms']['p99']), 1)} | {sum(errors(r) for r in rs)} | {fmt(g(lambda r: r['loadgen_cpu_pct']))} |"
            )
        lines += [""]
    idle = settings["idle"]
    idle_conns = [c for p, c in phases if p == "idle"]
    if idle_conns:
        conns = idle_conns[0]
        lines += [
            f"## c. Idle capacity: {conns} idle connections",
            "",
            f"Opened at {idle['ramp_rate']}/s, held {idle['hold']} s, then RSS is read and one small message is echoed on every connection. "
            f"RSS per connection = (RSS at {conns} − RSS before) / {conns}.",
            "",
            "| server | accepted | still echoing | RSS before MiB | RSS at N MiB | KiB per connection | server CPU s to accept them | load generator CPU % while connecting |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in ["ours", "node"]:
            rs = pick(name, "idle", conns)
            if not rs:
                continue
            g = lambda f: med(name, "idle", conns, f)
            lines.append(
                f"| {name} | {min(r['connected'] for r in rs)}/{conns} | {min(r['verified'] for r in rs)}/{conns} | "
                f"{fmt(g(lambda r: r['server_rss_kb']['before'] / 1024), 0)} | {fmt(g(lambda r: r['server_rss_kb']['held'] / 1024), 0)} | "
                f"{fmt(g(lambda r: (r['server_rss_kb']['held'] - r['server_rss_kb']['before']) / conns), 1)} | "
                f"{fmt(g(lambda r: r['server_cpu_s_connect']), 2)} | {fmt(g(lambda r: r['loadgen_cpu_pct_ramp']))} |"
            )
        lines += [""]

    # Ratios and the acceptance targets.
    lines += ["## Ratios (ours / Node; lower is better for ours)", "", "| measure | ours | Node | ours / Node | target |", "|---|---|---|---|---|"]
    for conns in rate_phases:
        target = conns == max(rate_phases)
        for label, getter, digits, goal in [
            ("server CPU %", lambda r: r["server_cpu_pct"], 1, "≤ 0.67"),
            ("RTT p99 ms", lambda r: r["rtt_ms"]["p99"], 2, "≤ 1"),
            ("RTT p50 ms", lambda r: r["rtt_ms"]["p50"], 2, ""),
            ("RSS growth MiB", lambda r: (r["server_rss_kb"]["peak"] - r["server_rss_kb"]["before"]) / 1024, 1, "≤ 1"),
        ]:
            o, n = med("ours", "rate", conns, getter), med("node", "rate", conns, getter)
            behind = [name for name in ["ours", "node"] if not all(keeps_up(r) for r in pick(name, "rate", conns))]
            note = f" ({' and '.join(behind)} did not keep up)" if behind else ""
            lines.append(f"| {conns} × 10 msg/s: {label}{note} | {fmt(o, digits)} | {fmt(n, digits)} | {ratio(o, n)} | {goal if target else ''} |")
    behind_any = [(name, conns) for conns in rate_phases for name in ["ours", "node"]
                  if not all(keeps_up(r) for r in pick(name, "rate", conns))]
    for conns in sat_conns:
        for label, getter in [("echoes/s", lambda r: r["echo_per_s"]),
                              ("echoes per CPU-second", lambda r: r["echo_per_s"] / max(r["server_cpu_pct"], 1e-9) * 100)]:
            o, n = med("ours", "saturate", conns, getter), med("node", "saturate", conns, getter)
            lines.append(f"| saturation: {label} (higher is better) | {fmt(o, 0)} | {fmt(n, 0)} | {ratio(o, n)} | |")
    for conns in idle_conns:
        getter = lambda r: (r["server_rss_kb"]["held"] - r["server_rss_kb"]["before"]) / conns
        o, n = med("ours", "idle", conns, getter), med("node", "idle", conns, getter)
        lines.append(f"| {conns} idle: KiB per connection | {fmt(o)} | {fmt(n)} | {ratio(o, n)} | ≤ 1 |")
    lines += [""]
    for name, conns in behind_any:
        lines.append(f"- {'Node' if name == 'node' else 'Ours'} did not keep up at {conns} × 10 msg/s: its CPU there is capped at its core, "
                     "so the CPU ratio at that N understates the difference in cost per message; the saturation row measures that cost directly.")
    if behind_any:
        lines += [""]

    # Validity: the load generator, and how much else ran on the cores.
    lines += [
        "## Validity",
        "",
        f"Per run: the load generator's CPU in % of its core (above {LOADGEN_BUSY_LIMIT:.0f} % it could be the bottleneck and the "
        "comparison would be invalid), its send lag in the rate phases (how late it sent against the schedule), and the share of "
        "each core that other processes used during the window (the core's busy time from /proc/stat minus the server's, or the load "
        "generator's, own CPU). The machine is shared: others use what the server leaves idle, which costs it nothing, but when a core "
        f"was full and others had more than {OTHERS_LIMIT:.0f} % of it, the server (or the load generator) may have been kept waiting, "
        "and the run is flagged noisy"
        f"{f'. Servers and load generator ran at niceness {NICE}, each in a session of its own whose autogroup has that niceness too, so that others get little of a core they want' if NICE else ''}.",
        "",
        "| phase | N | server | round | load generator CPU % | send lag p99 / max ms | server CPU % | others on core 0 % | others on core 1 % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    warnings = []
    for r in runs:
        busy = r["loadgen_cpu_pct_ramp"] if r["phase"] == "idle" else r["loadgen_cpu_pct"]
        lag = f"{r['send_lag_ms']['p99']:.1f} / {r['send_lag_ms']['max']:.1f}" if r["phase"] == "rate" else "–"
        cpu = f"{r['server_cpu_pct']:.0f}" if r["phase"] != "idle" else "–"
        lines.append(f"| {r['phase']} | {r['conns']} | {r['server']} | {r['repeat'] + 1} | {busy:.1f} | {lag} | {cpu} | "
                     f"{others(r, 0):.0f} | {others(r, 1):.0f} |")
        where = f"{r['phase']} {r['conns']} ({r['server']}, round {r['repeat'] + 1})"
        if busy > LOADGEN_BUSY_LIMIT:
            warnings.append(f"INVALID: the load generator used {busy:.0f} % of its core in {where}.")
        if r["phase"] == "rate" and r["send_lag_ms"]["p99"] > 20:
            warnings.append(f"The load generator sent late in {where}: p99 {r['send_lag_ms']['p99']:.0f} ms behind schedule.")
        if r["phase"] != "idle" and r["core0_busy_pct"] >= 98 and others(r, 0) > OTHERS_LIMIT:
            warnings.append(f"Noisy: core 0 was full and other processes had {others(r, 0):.0f} % of it in {where}.")
        if r["phase"] != "idle" and r["core1_busy_pct"] >= 98 and others(r, 1) > OTHERS_LIMIT:
            warnings.append(f"Noisy: core 1 was full and other processes had {others(r, 1):.0f} % of it in {where}.")
        if r["timed_out"]:
            warnings.append(f"{where} hit the load generator's time limit.")
    lines += [""] + [f"- {w}" for w in warnings] + ([""] if warnings else [])
    if settings["repeat"] > 1:
        lines += ["Per-run values (round 1 / round 2 …):", "", "| phase | N | server | CPU % | RTT p99 ms | RSS growth MiB | echoes/s | KiB per idle connection |",
                  "|---|---|---|---|---|---|---|---|"]
        for phase, conns in phases:
            for name in ["ours", "node"]:
                lines.append(
                    f"| {phase} | {conns} | {name} | {each(name, phase, conns, lambda r: r['server_cpu_pct'])} | "
                    f"{each(name, phase, conns, lambda r: r['rtt_ms']['p99'], 2) if phase != 'idle' else '–'} | "
                    f"{each(name, phase, conns, lambda r: (r['server_rss_kb']['peak'] - r['server_rss_kb']['before']) / 1024) if phase == 'rate' else '–'} | "
                    f"{each(name, phase, conns, lambda r: r['echo_per_s'], 0) if phase == 'saturate' else '–'} | "
                    f"{each(name, phase, conns, lambda r: (r['server_rss_kb']['held'] - r['server_rss_kb']['before']) / conns) if phase == 'idle' else '–'} |"
                )
        lines += [""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
