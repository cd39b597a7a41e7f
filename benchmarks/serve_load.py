"""`sparkner serve` under load: concurrent clients, dynamic batching on and off; and a mixed, hostile load.

    .venv/bin/python benchmarks/serve_load.py [--clients 32] [--requests 50]
    .venv/bin/python benchmarks/serve_load.py --hostile [--clients 64] [--seconds 60]

`--hostile`: `--clients` threads for `--seconds`, each sending CoNLL-2003 sentences, whole documents
and batches of sentences, with one request in ten oversized (a body over the limit, too many texts or
too long a text) or malformed (not JSON, a bad parameter); it prints requests/s, latency percentiles of
the good requests, counts of each answer by kind (anything else is unexpected) and the server's
resident memory at the start and the end.

Starts the server on 127.0.0.1 (the bundled demo model, the cache bypassed with `x-use-cache:
false` so every request reaches the model), runs `--clients` threads that each send `--requests`
CoNLL-2003 test sentences one by one, and prints throughput and latency percentiles, once with
batching (`--batch-wait-ms 5`) and once without (`0`). It stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from common import conll_sentences

import sparkner


def start(port: int, wait_ms: float, *extra: str) -> subprocess.Popen:
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
        *extra,
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


BAD_REQUESTS = {
    "oversized body": lambda: {"data": json.dumps({"inputs": "word " * 300_000}).encode()},
    "too many texts": lambda: {"json": {"inputs": ["Paris"] * 300}},
    "too long a text": lambda: {"json": {"inputs": "Berlin " * 20_000}},
    "not JSON": lambda: {"data": b"{inputs: Paris"},
    "bad parameter": lambda: {"json": {"inputs": "Paris", "parameters": {"aggregation_strategy": "firts"}}},
}
EXPECTED_STATUS = {
    "oversized body": 413,
    "too many texts": 413,
    "too long a text": 413,
    "not JSON": 400,
    "bad parameter": 400,
}


def hostile(port: int, clients: int, seconds: float) -> dict:
    """Mixed good and bad requests from `clients` threads for `seconds`."""
    import random

    import requests
    from common import long_document_texts, rss_mib

    sentences = [doc.text for doc in conll_sentences("test")]
    documents = long_document_texts()
    url = f"http://127.0.0.1:{port}/models/demo"
    deadline = time.monotonic() + seconds
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    def client(n: int) -> None:
        rng, session = random.Random(n), requests.Session()
        while time.monotonic() < deadline:
            if rng.random() < 0.1:
                kind = rng.choice(list(BAD_REQUESTS))
                response = session.post(url, **BAD_REQUESTS[kind](), timeout=120)
                outcomes[f"{kind}: {response.status_code}"] += 1
                continue
            shape = rng.choice(("sentence", "document", "batch"))
            inputs = {
                "sentence": lambda: rng.choice(sentences),
                "document": lambda: rng.choice(documents),
                "batch": lambda: rng.sample(sentences, 16),
            }[shape]()
            started = time.perf_counter()
            response = session.post(url, json={"inputs": inputs}, headers={"x-use-cache": "false"}, timeout=120)
            latencies.append(time.perf_counter() - started)
            outcomes[f"{shape}: {response.status_code}"] += 1

    memory_before = rss_mib(server_pid(port))
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    unexpected = {
        kind: count
        for kind, count in outcomes.items()
        if not kind.endswith(": 200") and not any(kind == f"{bad}: {status}" for bad, status in EXPECTED_STATUS.items())
    }
    return {
        "requests_per_s": sum(outcomes.values()) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "outcomes": dict(sorted(outcomes.items())),
        "unexpected": unexpected,
        "rss_mib_start": round(memory_before),
        "rss_mib_end": round(rss_mib(server_pid(port))),
    }


SERVERS: dict[int, int] = {}


def server_pid(port: int) -> int:
    return SERVERS[port]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--hostile", action="store_true", help="mixed sizes and 10%% bad requests for --seconds")
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if args.hostile:
        server = start(args.port, 5.0)
        SERVERS[args.port] = server.pid
        try:
            run(args.port, ["warm up"], 1, 1)  # waits for the model, then one request
            print(json.dumps(hostile(args.port, args.clients, args.seconds), indent=2))
        finally:
            server.terminate()
            server.wait()
        return
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
