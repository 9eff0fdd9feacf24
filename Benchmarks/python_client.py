#!/usr/bin/env python3
"""Throughput of the Python client's ways to call Predict, side by side with `zserve bench` (the Swift load
generator) at the same concurrency, against one release `zserve serve` on the example model.

Usage: ZSERVE_BIN=.build/release/zserve .venv/bin/python Benchmarks/python_client.py [--requests N] [--rounds R]

Each round runs every client once (blocking Client.predict one after another; PipelinedClient.predict_many with
--in-flight outstanding; AsyncClient with --in-flight coroutines; `zserve bench --concurrency` for --seconds), in
an order that rotates per round; the medians over rounds are printed, with each one's ratio to `zserve bench`.
Imports zserve_client from Clients/python (run after `pip install ./Clients/python` to measure an installed copy).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "Clients" / "python"), str(REPO_ROOT / "Tests" / "python")]
from zserve_client import AsyncClient, Client, PipelinedClient  # noqa: E402
from zserve_testing import EXAMPLE_REPOSITORY, start_server  # noqa: E402

MODEL = "purchase_propensity"


def inputs(count: int) -> list:
    rows = np.random.default_rng(1).random((count, 8), dtype=np.float32)
    return [{"features": row[None]} for row in rows]


def blocking(endpoint: str, items: list, _in_flight: int) -> float:
    with Client(endpoint) as client:
        start = time.perf_counter()
        for item in items:
            client.predict(MODEL, item)
        return len(items) / (time.perf_counter() - start)


def pipelined(endpoint: str, items: list, in_flight: int) -> float:
    with PipelinedClient(endpoint) as client:
        start = time.perf_counter()
        client.predict_many(MODEL, items, max_in_flight=in_flight)
        return len(items) / (time.perf_counter() - start)


def asyncio_client(endpoint: str, items: list, in_flight: int) -> float:
    async def main() -> float:
        async with AsyncClient(endpoint) as client:
            queue = iter(items)

            async def worker():
                for item in queue:
                    await client.predict(MODEL, item)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return len(items) / (time.perf_counter() - start)

    return asyncio.run(main())


def swift_bench(endpoint: str, seconds: float, in_flight: int) -> float:
    command = [os.environ["ZSERVE_BIN"], "bench", "--endpoint", endpoint, "--model", MODEL,
               "--concurrency", str(in_flight), "--duration", str(seconds), "--json"]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)["throughput_rps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    items = inputs(args.requests)
    runs = {
        "Client.predict (1 in flight)": lambda endpoint: blocking(endpoint, items, 1),
        f"PipelinedClient.predict_many ({args.in_flight} in flight)":
            lambda endpoint: pipelined(endpoint, items, args.in_flight),
        f"AsyncClient ({args.in_flight} coroutines)": lambda endpoint: asyncio_client(endpoint, items, args.in_flight),
        f"zserve bench --concurrency {args.in_flight} (Swift)":
            lambda endpoint: swift_bench(endpoint, args.seconds, args.in_flight),
    }
    figures = {name: [] for name in runs}
    with start_server(EXAMPLE_REPOSITORY) as endpoint:
        names = list(runs)
        for round_index in range(args.rounds):
            for name in names[round_index % len(names):] + names[:round_index % len(names)]:
                figures[name].append(runs[name](endpoint))
    reference = statistics.median(figures[names[-1]])
    print(f"{'client':<44} {'median req/s':>12} {'vs zserve bench':>16}   rounds")
    for name in names:
        median = statistics.median(figures[name])
        rounds = " ".join(f"{value:.0f}" for value in figures[name])
        print(f"{name:<44} {median:>12.0f} {median / reference:>16.2f}   {rounds}")


if __name__ == "__main__":
    main()
