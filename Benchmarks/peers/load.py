"""A load generator for the gRPC and HTTP peers: several processes, each an asyncio loop, closed or open loop, every
latency kept and merged by the parent.

    python load.py grpc 127.0.0.1:PORT --payload REQUEST.pb (--concurrency C | --rate R) --duration S [--processes P]
    python load.py http http://127.0.0.1:PORT/ctr --payload BODY.json (--concurrency C | --rate R) --duration S

Closed loop keeps C calls in flight in total (C / P coroutines per process, each calling again as soon as one ends).
Open loop starts calls at R per second in total, each process its share on an offset schedule, and times each call
from its intended start (coordinated omission is not hidden); with HTTP each in-flight call holds a keep-alive
connection of the pool. Prints one JSON object like `zserve bench --json`: requests, throughput_rps, p50/p90/p99/p999
in microseconds, status counts.
"""

import argparse
import asyncio
import json
import multiprocessing
import time

import numpy as np


async def grpc_caller(target: str, payload: bytes):
    import grpc
    from zserve.v1 import inference_pb2
    channel = grpc.aio.insecure_channel(target)
    predict = channel.unary_unary("/zserve.v1.Inference/Predict",
                                  request_serializer=lambda message: message,
                                  response_deserializer=inference_pb2.PredictResponse.FromString)

    async def call() -> str:
        try:
            await predict(payload)
            return "OK"
        except grpc.aio.AioRpcError as error:
            return error.code().name

    return call, channel.close


async def http_caller(url: str, body: bytes, connections: int):
    import aiohttp
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                    headers={"Content-Type": "application/json"})

    async def call() -> str:
        try:
            async with session.post(url, data=body) as response:
                await response.read()
                return "OK" if response.status == 200 else f"HTTP_{response.status}"
        except aiohttp.ClientError as error:
            return type(error).__name__

    return call, session.close


async def drive(args, index: int) -> tuple[list[float], dict]:
    payload = open(args.payload, "rb").read()
    share_in_flight = args.concurrency // args.processes + (index < args.concurrency % args.processes) if args.concurrency else 0
    if args.kind == "grpc":
        call, close = await grpc_caller(args.target, payload)
    else:
        call, close = await http_caller(args.target, payload, max(1, share_in_flight or 256))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    await call()  # connect before timing
    start = time.perf_counter() + 0.05
    end = start + args.duration

    async def timed(intended: float) -> None:
        code = await call()
        latencies.append((time.perf_counter() - intended) * 1e6)
        statuses[code] = statuses.get(code, 0) + 1

    if args.rate:
        rate = args.rate / args.processes
        tasks = set()
        sent = 0
        while True:
            intended = start + index / args.rate + sent / rate
            if intended >= end:
                break
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(timed(intended))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.wait(tasks, timeout=10)
    else:
        async def loop() -> None:
            while time.perf_counter() < end:
                await timed(time.perf_counter())
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        await asyncio.gather(*(loop() for _ in range(share_in_flight)))
    await close()
    return latencies, statuses


def worker(args, index: int, queue) -> None:
    latencies, statuses = asyncio.run(drive(args, index))
    queue.put((np.asarray(latencies, dtype=np.float64), statuses))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["grpc", "http"])
    parser.add_argument("target")
    parser.add_argument("--payload", required=True, help="the request bytes (serialized PredictRequest, or JSON body)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--concurrency", type=int)
    group.add_argument("--rate", type=float)
    parser.add_argument("--duration", type=float, default=2)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    args.processes = max(1, min(args.processes, args.concurrency or args.processes))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=worker, args=(args, index, queue)) for index in range(args.processes)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=args.duration + 120) for _ in processes]
    for process in processes:
        process.join()
    latencies = np.concatenate([result[0] for result in results]) if results else np.zeros(0)
    statuses: dict[str, int] = {}
    for _, counts in results:
        for code, count in counts.items():
            statuses[code] = statuses.get(code, 0) + count
    percentile = (lambda q: float(np.percentile(latencies, q))) if len(latencies) else (lambda q: 0.0)
    print(json.dumps({
        "requests": int(len(latencies)), "throughput_rps": len(latencies) / args.duration, "duration_s": args.duration,
        "p50_us": percentile(50), "p90_us": percentile(90), "p99_us": percentile(99), "p999_us": percentile(99.9),
        "status": statuses, "processes": args.processes,
        "mode": "open" if args.rate else "closed", "concurrency": args.concurrency or 0, "rate": args.rate or 0,
    }))


if __name__ == "__main__":
    main()
