"""`sparkner serve` under load: concurrent clients, dynamic batching on and off.

    .venv/bin/python benchmarks/serve_load.py [--clients 32] [--requests 50]

Starts the server on 127.0.0.1 (the bundled demo model, the cache bypassed with `x-use-cache:
false` so every request reaches the model), runs `--clients` threads that each send `--requests`
CoNLL-2003 test sentences one by one, and prints throughput and latency percentiles, once with
batching (`--batch-wait-ms 5`) and once without (`0`). It stops by itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import conll_sentences

import sparkner


def start(port: int, wait_ms: float) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "sparkner.serve",
        "--model",
        sparkner.DEMO_MODEL,
        "--model-id",
        "demo",
        "--port",
        str(port),
        "--batch-wait-ms",
        str(wait_ms),
    ]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )


def run(port: int, texts: list[str], clients: int, per_client: int) -> dict[str, float]:
    import requests

    url = f"http://127.0.0.1:{port}/models/demo"
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).json()["status"] == "ok":
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)

    def client(n: int) -> list[float]:
        session, latencies = requests.Session(), []
        for i in range(per_client):
            started = time.perf_counter()
            response = session.post(
                url, json={"inputs": texts[(n * per_client + i) % len(texts)]}, headers={"x-use-cache": "false"}
            )
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
        return latencies

    client(0)  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [value for values in pool.map(client, range(clients)) for value in values]
    seconds = time.perf_counter() - started
    latencies.sort()
    calls = requests.get(f"http://127.0.0.1:{port}/health").json()["engine_calls"]
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "requests_per_engine_call": len(latencies) / max(1, calls - per_client),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    texts = [doc.text for doc in conll_sentences("test")]
    print(f"{args.clients} clients x {args.requests} requests, one CoNLL-2003 test sentence each, cache bypassed\n")
    print("| batching | requests/s | p50 latency | p99 latency | requests per engine call |")
    print("|---|---|---|---|---|")
    for name, wait_ms in (("on (5 ms)", 5.0), ("off", 0.0)):
        server = start(args.port, wait_ms)
        try:
            r = run(args.port, texts, args.clients, args.requests)
        finally:
            server.terminate()
            server.wait()
        print(
            f"| {name} | {r['requests_per_s']:.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
            f"{r['requests_per_engine_call']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
