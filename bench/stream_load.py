#!/usr/bin/env python3
"""N concurrent clients stream real speech at real-time pace to /api/realtime-voice/stream.

Prints one JSON object: per-session latencies and the server's CPU and RSS over the run
(read from /proc/<pid>), plus this load generator's own CPU so that it can be checked not to be the bottleneck.
"""
import argparse
import asyncio
import json
import resource
import statistics
import time

import websockets

from gateway_process import cpu_seconds, rss_mib

async def session(url: str, pcm: bytes, rate: int, frame_ms: int, paced: bool = True, delay: float = 0) -> dict:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    step = rate * 2 * frame_ms // 1000
    record = {"finals": [], "first_partial": None}
    async with websockets.connect(url, max_size=2**20, open_timeout=60) as ws:
        ready = json.loads(await ws.recv())
        if ready["type"] != "ready":
            return {"finals": [], "first_partial": None, "start": 0, "error": ready.get("code", ready["type"])}
        start = loop.time()
        record["start"] = start

        async def send():
            for index, offset in enumerate(range(0, len(pcm), step)):
                delay = start + index * frame_ms / 1000 - loop.time()
                if paced and delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(pcm[offset:offset + step])
            record["end_sent"] = loop.time()
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for message in ws:
            event = json.loads(message)
            now = loop.time()
            if event["type"] == "partial" and record["first_partial"] is None:
                record["first_partial"] = now
            elif event["type"] == "final":
                record["finals"].append((now, event))
            elif event["type"] == "completed":
                record["completed"] = now
            elif event["type"] == "error":
                record["error"] = event["code"]
        await sender
    return record


def summarize(records: list[dict], audio_seconds: float) -> dict:
    first_partial, after_end, lag = [], [], []
    for record in records:
        words = [w for _, final in record["finals"] for w in final.get("words", [])]
        if record["first_partial"] is not None and words:
            # From the moment the first word's audio had been sent to the first text on screen.
            first_partial.append((record["first_partial"] - (record["start"] + words[0]["start_ms"] / 1000)) * 1000)
        if "completed" in record and "end_sent" in record:
            after_end.append((record["completed"] - record["end_sent"]) * 1000)
        for at, final in record["finals"]:
            # How long after its audio had been sent a final arrived: grows without bound when the engine falls behind.
            lag.append((at - (record["start"] + final["end_ms"] / 1000)) * 1000)

    def stats(values):
        if not values:
            return None
        values = sorted(values)
        return {"p50": round(statistics.median(values)), "p95": round(values[min(len(values) - 1, int(len(values) * 0.95))]), "max": round(values[-1])}

    return {
        "sessions": len(records),
        "completed": sum(1 for r in records if "completed" in r),
        "errors": sorted({r["error"] for r in records if "error" in r}),
        "first_partial_ms": stats(first_partial),
        "final_after_end_ms": stats(after_end),
        "final_lag_ms": stats(lag),
        "transcript": " ".join(f["text"] for _, f in records[0]["finals"] if f["text"]) if records else "",
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pcm", required=True, help="raw s16le mono PCM file")
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--frame-ms", type=int, default=100)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--unpaced", action="store_true", help="send as fast as the server takes it")
    parser.add_argument("--spread-ms", type=int, default=2000, help="session starts spread evenly over this time, as independent users")
    args = parser.parse_args()

    pcm = open(args.pcm, "rb").read()
    audio_seconds = len(pcm) / 2 / args.rate
    cpu_before = cpu_seconds(args.server_pid)
    rss_before = rss_mib(args.server_pid)
    rss_peak = rss_before
    wall_start = time.monotonic()
    async def guarded(index: int) -> dict:
        try:
            delay = index * args.spread_ms / 1000 / args.sessions
            return await session(args.url, pcm, args.rate, args.frame_ms, not args.unpaced, delay)
        except Exception as error:  # a session that failed is counted, not fatal
            return {"finals": [], "first_partial": None, "start": 0, "error": f"{type(error).__name__}: {error}"[:120]}

    tasks = [asyncio.create_task(guarded(index)) for index in range(args.sessions)]
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0.25)
        rss_peak = max(rss_peak, rss_mib(args.server_pid))
    records = [task.result() for task in tasks]
    wall = time.monotonic() - wall_start
    server_cpu = cpu_seconds(args.server_pid) - cpu_before
    own = resource.getrusage(resource.RUSAGE_SELF)
    result = summarize(records, audio_seconds)
    result.update(
        {
            "audio_seconds_per_session": round(audio_seconds, 2),
            "wall_seconds": round(wall, 2),
            "server_cpu_seconds": round(server_cpu, 2),
            "server_cpu_percent": round(100 * server_cpu / wall, 1),
            "rtf_per_stream": round(server_cpu / (audio_seconds * args.sessions), 4),
            "server_rss_mb_before": round(rss_before),
            "server_rss_mb_peak": round(rss_peak),
            "loadgen_cpu_seconds": round(own.ru_utime + own.ru_stime, 2),
        }
    )
    print(json.dumps(result))


asyncio.run(main())
