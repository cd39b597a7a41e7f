"""Worker memory against partition size: Arrow batches are streamed, never collected.

    .venv/bin/python benchmarks/memory.py [--sizes 2000 8000 32000] [--batch 1000]

One Spark `local[1]` session, one partition of N rows, `maxRecordsPerBatch` rows per Arrow batch,
sparkner's `ner_udf` (real MiniLM model) written to the `noop` sink. A thread polls the resident
memory (VmRSS) of the session's Python workers; the peak per run is printed for each N, smallest
first (a worker's memory rarely shrinks, so growth with N would show). Each CoNLL-2003 test
sentence is repeated 10 times in a row, so every Arrow batch is full-sized while the model only
computes the distinct texts of each batch (repeats are computed once): the run stays short, and
what is measured is the batch and result handling that a larger partition would stress.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from common import SHARED, child_pids, rss_mib  # noqa: E402 - also puts src/ on the path

from sparkner import ner_udf  # noqa: E402
from sparkner.metrics.conll import read_conll_file  # noqa: E402


def _python_workers() -> list[int]:
    """This process -> its JVM -> pyspark.daemon -> workers."""
    workers = []
    for jvm in child_pids(os.getpid()):
        for daemon in child_pids(jvm):
            workers.extend(child_pids(daemon))
    return workers


class PeakWorkerMemory(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.peak = max([self.peak, *(rss_mib(pid) for pid in _python_workers())])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHARED / "models" / "conll03-minilm-ner"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 32000])
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sentences = [s.text for s in read_conll_file(SHARED / "data" / "conll2003" / "test.txt")]
    udf = ner_udf(args.model, aggregation_strategy="first")
    spark.createDataFrame([(s,) for s in sentences[:100]], "text string").select(udf("text")).write.format("noop").mode(
        "overwrite"
    ).save()
    rows = []
    for size in sorted(args.sizes):
        texts = [sentences[(i // 10) % len(sentences)] for i in range(size)]
        df = spark.createDataFrame([(t,) for t in texts], "text string").coalesce(1)
        monitor = PeakWorkerMemory()
        monitor.start()
        started = time.time()
        df.select(udf("text").alias("e")).write.format("noop").mode("overwrite").save()
        monitor.stopped.set()
        monitor.join()
        rows.append(
            {
                "partition_rows": size,
                "arrow_batches": -(-size // args.batch),
                "peak_worker_rss_mib": round(monitor.peak, 1),
                "seconds": round(time.time() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
