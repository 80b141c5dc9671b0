#!/usr/bin/env python3
"""Load for the relay benchmark: N real-time streaming sessions on engine=tencent, each sending a 100 ms frame of
16 kHz PCM every 100 ms for D seconds, then end. The first 8 bytes of each frame carry CLOCK_MONOTONIC ns, which the
sink turns into the latency the gateway added. Prints a JSON summary: outcomes, and this process's CPU."""
import argparse
import asyncio
import json
import resource
import time

import websockets


async def session(url: str, delay: float, seconds: float, outcomes: dict) -> None:
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    try:
        async with websockets.connect(url, max_size=2**20, compression=None, ping_interval=None, open_timeout=60, close_timeout=30) as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if ready.get("type") != "ready":
                outcomes[f"not_ready:{ready.get('code')}"] = outcomes.get(f"not_ready:{ready.get('code')}", 0) + 1
                return
            ending: dict = {}

            async def receive():
                async for message in ws:
                    event = json.loads(message)
                    if event["type"] in ("completed", "error"):
                        ending.update(event)

            receiver = asyncio.create_task(receive())
            start = loop.time()
            padding = bytes(3192)
            for k in range(int(seconds * 10)):
                await ws.send(time.monotonic_ns().to_bytes(8, "little") + padding)
                await asyncio.sleep(max(0.0, start + (k + 1) * 0.1 - loop.time()))
            await ws.send('{"type":"end"}')
            try:
                await asyncio.wait_for(receiver, 60)
            except (asyncio.TimeoutError, websockets.ConnectionClosed):
                pass
            key = "completed" if ending.get("type") == "completed" else f"error:{ending.get('code', 'closed_without_completed')}"
            outcomes[key] = outcomes.get(key, 0) + 1
    except Exception as error:  # a dropped session, whatever the cause
        key = f"exception:{type(error).__name__}"
        outcomes[key] = outcomes.get(key, 0) + 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--ramp", type=float, default=10, help="seconds over which sessions start")
    args = parser.parse_args()
    outcomes: dict = {}
    started = time.monotonic()
    await asyncio.gather(*(session(args.url, i * args.ramp / args.sessions, args.seconds, outcomes) for i in range(args.sessions)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"outcomes": outcomes, "wall_seconds": round(time.monotonic() - started, 1),
                      "load_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
