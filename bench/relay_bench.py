#!/usr/bin/env python3
"""Relay benchmark, called by relay.sh: M concurrent paced sessions through the gateway's tencent engine to a sink
that speaks Tencent's protocol at almost no cost. Reports the gateway's CPU and RSS, the latency it added per frame,
and dropped sessions."""
import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from gateway_process import BIN, ROOT, cpu_seconds, gateway_process, rss_mib


def run(sessions: int, seconds: float, ramp: float, port: int, sink_port: int, log: Path) -> dict:
    sink = subprocess.Popen([str(BIN / "tencent-relay-sink"), "--port", str(sink_port)], stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().startswith("ready"), "sink did not start"
    env_args = {
        "TENCENTCLOUD_SECRET_ID": "AKIDBENCH", "TENCENTCLOUD_SECRET_KEY": "bench-secret", "TENCENTCLOUD_APPID": "1300000000",
        "TENCENT_ASR_WS_URL": f"ws://127.0.0.1:{sink_port}/asr/v2",
    }
    try:
        with gateway_process(port, log, "--decoders", "1", env=env_args) as server:
            rss_before = rss_mib(server.pid)
            samples = {"peak_rss": rss_before}
            running = True

            def sample():
                while running:
                    samples["peak_rss"] = max(samples["peak_rss"], rss_mib(server.pid))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample)
            sampler.start()
            load = subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "relay_load.py"), "--url", f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token=bench&engine=tencent&lang=zh-CN",
                 "--sessions", str(sessions), "--seconds", str(seconds), "--ramp", str(ramp)],
                stdout=subprocess.PIPE, text=True,
            )
            # Steady state: every session started, none ended yet. CPU is measured over that window.
            time.sleep(ramp + 2)
            cpu_start, sink_start, window_start = cpu_seconds(server.pid), cpu_seconds(sink.pid), time.monotonic()
            steady = max(1.0, seconds - 4)
            time.sleep(steady)
            cpu_end, sink_end, window = cpu_seconds(server.pid), cpu_seconds(sink.pid), time.monotonic() - window_start
            rss_steady = rss_mib(server.pid)
            output, _ = load.communicate(timeout=seconds + ramp + 180)
            running = False
            sampler.join()
            result = json.loads(output)
            stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{sink_port}/stats", timeout=10).read())
            rss_after = rss_mib(server.pid)
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    completed = result["outcomes"].get("completed", 0)
    return {
        "sessions": sessions, "completed": completed, "dropped": sessions - completed, "outcomes": result["outcomes"],
        "gateway_cpu_percent": round(100 * (cpu_end - cpu_start) / window, 1),
        "sink_cpu_percent": round(100 * (sink_end - sink_start) / window, 1),
        "load_cpu_seconds": result["load_cpu_seconds"],
        "rss_before_mib": round(rss_before, 1), "rss_steady_mib": round(rss_steady, 1), "rss_peak_mib": round(samples["peak_rss"], 1),
        "rss_after_mib": round(rss_after, 1),
        "frame_latency_p50_ms": stats["p50_us"] / 1000, "frame_latency_p99_ms": stats["p99_us"] / 1000,
        "frame_latency_max_ms": stats["max_us"] / 1000, "latency_samples": stats["samples"],
        "sink_sessions_finished": stats["finished"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", default="100 500 1000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--ramp", type=float, default=10)
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--sink-port", type=int, default=18182)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for sessions in map(int, args.sessions.split()):
        rows.append(run(sessions, args.seconds, args.ramp, args.port, args.sink_port, args.out.with_suffix(f".{sessions}.server.log")))
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print()
    print(f"{args.seconds:.0f} s paced sessions (100 ms frames), started over {args.ramp:.0f} s; CPU % of one core over the steady window")
    print("| M | completed | dropped | gateway CPU % | RSS steady / peak MiB (before) | added latency per frame p50 / p99 / max ms | sink CPU % | load CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sessions']} | {r['completed']} | {r['dropped']} | {r['gateway_cpu_percent']} | {r['rss_steady_mib']} / {r['rss_peak_mib']} ({r['rss_before_mib']}) "
              f"| {r['frame_latency_p50_ms']:.1f} / {r['frame_latency_p99_ms']:.1f} / {r['frame_latency_max_ms']:.1f} | {r['sink_cpu_percent']} | {r['load_cpu_seconds']} |")


if __name__ == "__main__":
    main()
