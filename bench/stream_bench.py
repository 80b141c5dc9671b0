#!/usr/bin/env python3
"""Runs the streaming benchmark: baselines, gateway at N=1, then N concurrent streams. Called by stream.sh."""
import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway_process import BIN, ROOT, gateway_process


def direct(audio: Path, realtime: bool) -> float:
    args = [str(BIN / "pocketsphinx-direct"), *(["--realtime"] if realtime else []), str(audio)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return float(next(line.split("\t")[1] for line in out.splitlines() if line.startswith("rtf\t")))


def gateway(pcm: Path, sessions: int, paced: bool, port: int, log: Path) -> dict:
    with gateway_process(port, log, "--decoders", str(sessions), "--queue-size", "0") as server:
        args = [sys.executable, str(ROOT / "bench" / "stream_load.py"), "--url", f"ws://127.0.0.1:{port}/api/realtime-voice/stream?token=bench",
                "--pcm", str(pcm), "--sessions", str(sessions), "--server-pid", str(server.pid)]
        if not paced:
            args.append("--unpaced")
        result = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
        result["decoder_thread_cpu_seconds"], result["other_thread_cpu_seconds"] = thread_cpu(server.pid)
        return result


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the decoder threads (NIOThreadPool, named TP-#n) and of all the others, since start."""
    decoding = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / 100
        if (task / "comm").read_text().startswith("TP-#"):
            decoding += seconds
        else:
            other += seconds
    return round(decoding, 2), round(other, 2)


def fmt(stats: dict | None, a: str = "p50", b: str = "p95") -> str:
    return f'{stats[a]}/{stats[b]}' if stats else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audio", required=True)
    parser.add_argument("--pcm", required=True)
    parser.add_argument("--sessions", default="2 4 8 12 16")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    audio, pcm, out = Path(args.audio), Path(args.pcm), Path(args.out)
    log = out.with_suffix(".server.log")
    report = {"repeat": args.repeat, "runs": {}}

    # Baselines and the gateway at N=1. This machine's speed drifts by ±20 % over minutes, so at real-time pace
    # (about a fifth of a core each) the direct decode and the gateway run side by side, at the same time, one core
    # each; as fast as possible they take turns.
    direct_fast, direct_live, gw_fast, gw_live = [], [], [], []
    for _ in range(args.repeat):
        direct_fast.append(direct(audio, realtime=False))
        gw_fast.append(gateway(pcm, 1, False, args.port, log))
        with ThreadPoolExecutor(1) as pool:
            side_by_side = pool.submit(direct, audio, True)
            gw_live.append(gateway(pcm, 1, True, args.port, log))
            direct_live.append(side_by_side.result())
    median = statistics.median
    d_fast, d_live = median(direct_fast), median(direct_live)
    g_fast = median(r["rtf_per_stream"] for r in gw_fast)
    g_live = median(r["rtf_per_stream"] for r in gw_live)
    report["baseline"] = {"direct_rtf_unpaced": direct_fast, "direct_rtf_realtime": direct_live,
                          "gateway_rtf_unpaced": [r["rtf_per_stream"] for r in gw_fast], "gateway_rtf_realtime": [r["rtf_per_stream"] for r in gw_live]}
    print(f"audio: {gw_live[0]['audio_seconds_per_session']} s of speech per session (LibriVox + flite), median of {args.repeat} runs each")
    print(f"{'':34}{'direct C API':>14}{'gateway':>10}{'ratio':>8}")
    print(f"{'CPU s per audio s, as fast as possible':34}{d_fast:>14.4f}{g_fast:>10.4f}{g_fast / d_fast:>8.3f}")
    print(f"{'CPU s per audio s, real-time pace':34}{d_live:>14.4f}{g_live:>10.4f}{g_live / d_live:>8.3f}")
    ratios = [g["rtf_per_stream"] / d for g, d in zip(gw_live, direct_live)]
    print(f"real-time pace, side by side, ratio per run: {', '.join(f'{r:.3f}' for r in ratios)}")
    decoding = sum(g["decoder_thread_cpu_seconds"] for g in gw_live)
    other = sum(g["other_thread_cpu_seconds"] for g in gw_live)
    print(f"gateway CPU outside the decoder threads (sockets, JSON, scheduling): {other:.2f} s = {100 * other / decoding:.1f} % of decoding")
    report["overhead"] = {"realtime_ratios": ratios, "decoder_thread_cpu": decoding, "other_thread_cpu": other}
    print()

    rows = [(1, gw_live[-1])] + [(int(n), None) for n in args.sessions.split()]
    print(f"{'N':>3} {'done':>6} {'rtf/stream':>10} {'vs direct':>9} {'1st partial ms':>15} {'end→final ms':>13} {'final lag p50/95/max':>20} {'CPU %':>6} {'RSS MB':>7} {'loadgen s':>9}  keeps up")
    capacity = 0
    for n, r in rows:
        r = r or gateway(pcm, n, True, args.port, log)
        keeps_up = r["completed"] == n and not r["errors"] and r["final_lag_ms"] and r["final_lag_ms"]["p95"] < 1500
        if keeps_up:
            capacity = max(capacity, n)
        print(f"{n:>3} {str(r['completed']) + '/' + str(n):>6} {r['rtf_per_stream']:>10.4f} {r['rtf_per_stream'] / d_live:>9.3f} "
              f"{fmt(r['first_partial_ms']):>15} {fmt(r['final_after_end_ms']):>13} {fmt(r['final_lag_ms'], 'p50', 'p95') + '/' + str(r['final_lag_ms']['max'] if r['final_lag_ms'] else '-'):>18} "
              f"{r['server_cpu_percent']:>6} {r['server_rss_mb_peak']:>7} {r['loadgen_cpu_seconds']:>9}  {'yes' if keeps_up else 'NO ' + ','.join(r['errors'])}", flush=True)
        report["runs"][n] = r
    target = 2 / d_live * 0.8
    print()
    print(f"capacity: {capacity} concurrent real-time streams kept up; target (2 cores / direct real-time rtf) x 0.8 = {target:.1f}")
    print("rtf/stream: server CPU s per audio s per stream; vs direct: over the direct C API at real-time pace.")
    print("1st partial: from the first word's audio being sent to the first partial; end→final: 'end' sent to 'completed'")
    print("(the last sentence runs up to 'end', so this includes its finalisation); final lag: a final's arrival after")
    print("its audio was sent (includes the 600 ms of silence that ends a segment; grows without bound when the engine falls")
    print("behind); keeps up: all completed, final lag p95 < 1.5 s. Session starts are spread over 2 s, as independent users")
    print("(in lockstep every session finalises at the same instant). loadgen s: the load generator's own CPU.")
    report.update({"direct_rtf_realtime": d_live, "gateway_rtf_realtime": g_live, "capacity": capacity, "capacity_target": target})
    out.write_text(json.dumps(report, indent=1))
    print(f"raw: {out}")


main()
