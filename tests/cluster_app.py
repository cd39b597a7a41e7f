"""Driver programs for the standalone-cluster tests: `python cluster_app.py MASTER CHECK [ARGS_JSON]`.

Each runs as its own application (the test process already has a local SparkContext) and prints
one JSON line as its last line of output.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from unittest import mock

import pandas as pd
from pyspark import TaskContext
from pyspark.sql import SparkSession

import sparkner


def session(master: str, conf: dict[str, str]) -> SparkSession:
    """A classic session on the cluster, or with `spark.api.mode=connect` (Spark 4) a local Spark Connect
    server whose own session runs on the cluster, and a Connect client session to it."""
    builder = SparkSession.builder.master(master).appName("sparkner-cluster-test")
    for key, value in {"spark.executor.memory": "1g", "spark.ui.showConsoleProgress": "false", **conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if conf.get("spark.api.mode") != "connect":
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def executor_count(spark: SparkSession, wanted: int, timeout: float = 60) -> int:
    """Executors registered with the driver (the driver itself not counted), waiting for `wanted`."""
    deadline = time.time() + timeout
    while True:
        count = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        if count >= wanted or time.time() > deadline:
            return count
        time.sleep(0.5)


def entities_by_id(rows) -> dict:
    return {row["doc_id"]: [entity.asDict() for entity in row["entities"] or []] for row in rows}


def udf_and_sql(spark: SparkSession, args: dict) -> dict:
    """ner_udf and the SQL function over several partitions, on the cluster's executors."""
    connect = type(spark).__module__.startswith("pyspark.sql.connect")
    executors = None if connect else executor_count(spark, 2)
    docs = spark.read.json(sparkner.SAMPLE_DOCS).repartition(4)
    exact = {"runtime": "torch", "dtype": "float32"}  # compared with a run batched differently
    udf = sparkner.ner_udf(sparkner.DEMO_MODEL, **exact)
    by_udf = entities_by_id(docs.select("doc_id", udf("text").alias("entities")).collect())
    sparkner.register(spark, "ner", sparkner.DEMO_MODEL, **exact)
    docs.createOrReplaceTempView("docs")
    by_sql = entities_by_id(spark.sql("SELECT doc_id, ner(text) AS entities FROM docs").collect())
    return {"executors": executors, "connect": connect, "udf": by_udf, "sql": by_sql}


def gpu_scheduling(spark: SparkSession, args: dict) -> dict:
    """Tasks that Spark gives a (fake) GPU: which address each sees, which device sparkner picks
    when CUDA is there (patched in), and what a real NER task does when it is not."""
    from sparkner.sources.loading import resolve_device

    executor_count(spark, 2)

    def devices(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        addresses = TaskContext.get().resources()["gpu"].addresses
        with mock.patch("torch.cuda.is_available", return_value=True):
            device = resolve_device(None)
        for batch in batches:
            yield pd.DataFrame({"address": [",".join(addresses)] * len(batch), "device": [device] * len(batch)})

    seen = spark.range(0, 8, numPartitions=8).mapInPandas(devices, "address string, device string").distinct().collect()
    try:
        spark.read.json(sparkner.SAMPLE_DOCS).select(sparkner.ner_udf(sparkner.DEMO_MODEL)("text")).collect()
        failure = None
    except Exception as error:  # noqa: BLE001 - the test reads the message
        failure = str(error)
    return {"seen": [row.asDict() for row in seen], "failure": failure}


def speculation(spark: SparkSession, args: dict) -> dict:
    """The batch job with speculative execution on and its first task made slow."""
    from sparkner.jobs import run
    from sparkner.jobs.config import JobConfig

    executor_count(spark, 2)
    spread = run.spread_over_tasks

    def slow_first_attempt(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        context = TaskContext.get()
        if context.partitionId() == 0 and context.attemptNumber() == 0:
            time.sleep(20)
        yield from batches

    def spread_with_a_slow_task(df, rows, slots):
        spread_df = spread(df, rows, slots)
        return spread_df.mapInPandas(slow_first_attempt, spread_df.schema)

    run.spread_over_tasks = spread_with_a_slow_task
    config = JobConfig(
        input=args["input"], input_format="json", id_col="doc_id", output=args["output"], mode="overwrite"
    )
    summary = run.run_job(spark, config, config.ner_settings())
    app = spark.sparkContext.applicationId
    stages = json.load(
        urllib.request.urlopen(f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{app}/stages?details=true")
    )
    speculative = sum(
        task.get("speculative", False) for stage in stages for task in (stage.get("tasks") or {}).values()
    )
    return {"rows_processed": summary.rows_processed, "speculative_tasks": speculative}


def python_worker_memory(spark: SparkSession, args: dict) -> dict:
    """Two models (two UDFs) in one Python worker, under the app's `spark.executor.pyspark.memory`:
    each text's entities from both, the workers' peak resident memory and address space, or why it failed."""
    executor_count(spark, 2)
    docs = spark.read.json(sparkner.SAMPLE_DOCS).repartition(2)
    first = sparkner.ner_udf(sparkner.DEMO_MODEL)
    second = sparkner.ner_udf(args["second_model"])
    tagged = docs.select("doc_id", "text", first("text").alias("a")).select("doc_id", "a", second("text").alias("b"))

    def peak(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        for batch in batches:
            yield pd.DataFrame(
                {
                    "rss_mib": [int(status["VmHWM"].split()[0]) / 1024] * len(batch),
                    "address_space_mib": [int(status["VmPeak"].split()[0]) / 1024] * len(batch),
                }
            )

    try:
        rows = tagged.collect()
    except Exception as error:  # noqa: BLE001 - the test reads the message
        return {"failure": str(error)}
    peaks = spark.range(0, 2, numPartitions=2).mapInPandas(peak, "rss_mib double, address_space_mib double").collect()
    return {
        "failure": None,
        "rows": len(rows),
        "with_both": sum(bool(row["a"]) and bool(row["b"]) for row in rows),
        "peaks": [p.asDict() for p in peaks],
    }


CHECKS = {"udf": udf_and_sql, "gpu": gpu_scheduling, "speculation": speculation, "memory": python_worker_memory}


def main() -> None:
    master, check = sys.argv[1], sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = session(master, args.pop("conf", {}))
    try:
        result = CHECKS[check](spark, args)
    finally:
        spark.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
