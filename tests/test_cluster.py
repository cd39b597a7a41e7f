"""sparkner on a real Spark standalone cluster: a master and two workers on 127.0.0.1, each its own
JVM with its own executor and Python workers (`cluster.StandaloneCluster`, one per test session).

Each check runs as its own driver process (`cluster_app.py`, or the job's command line), since this
process already holds the suite's local SparkContext. Marked `cluster`: `pytest -m cluster` runs
them alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster import StandaloneCluster
from parity import assert_same_entities
from samples import EXACT_FLAGS, copies_of_the_sample, job_process, json_input

import sparkner
from sparkner.cli.job import main as job_main

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
SAMPLE = Path(sparkner.SAMPLE_DOCS)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = StandaloneCluster(tmp_path_factory.mktemp("standalone")).start()
    yield started
    started.stop()


def app(cluster: StandaloneCluster, check: str, timeout: float = 300, **args) -> dict:
    done = subprocess.run(
        [sys.executable, str(HERE / "cluster_app.py"), cluster.master, check, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{cluster.logs()}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def job_command(cluster: StandaloneCluster, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        *job_process(cluster.master),
        *json_input(str(source)),
        "--output",
        str(out),
        *EXACT_FLAGS,  # runs killed, speculated or spread differently are compared with each other
        *extra,
    ]


def run_job(cluster: StandaloneCluster, source: Path, out: Path, *extra: str) -> None:
    done = subprocess.run(job_command(cluster, source, out, *extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{cluster.logs()}"


def by_id(spark, path: Path) -> dict:
    return {
        row["doc_id"]: row.asDict(recursive=True)["entities"] or [] for row in spark.read.parquet(str(path)).collect()
    }


def assert_same_outputs(mine: dict, reference: dict) -> None:
    assert sorted(mine) == sorted(reference)
    for doc_id, entities in reference.items():
        assert_same_entities(mine[doc_id], entities, doc_id)


@pytest.fixture(scope="module")
def local_reference(spark, tmp_path_factory) -> dict:
    """The job's output on the sample, run in this process on local[2]: what the cluster must match."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert (
        job_main(
            ["--input", str(SAMPLE), "--input-format", "json", "--id-col", "doc_id", "--output", str(out), *EXACT_FLAGS]
        )
        == 0
    )
    return by_id(spark, out)


def test_udf_and_sql_on_two_executors_equal_in_process_results(cluster, local_reference):
    result = app(cluster, "udf")
    assert result["executors"] == 2
    assert_same_outputs(result["udf"], local_reference)
    assert_same_outputs(result["sql"], local_reference)


@pytest.mark.connect
def test_spark_connect_fronting_the_cluster_gives_the_same_results(cluster, local_reference):
    """A Spark Connect server whose session runs on the cluster (Spark 4: `spark.api.mode=connect`)."""
    result = app(cluster, "udf", conf={"spark.api.mode": "connect"})
    assert result["connect"], "the driver program ran through a Spark Connect client"
    assert_same_outputs(result["udf"], local_reference)
    assert_same_outputs(result["sql"], local_reference)


def test_job_overwrite_then_incremental_on_the_cluster(spark, cluster, tmp_path, local_reference):
    out = tmp_path / "out"
    run_job(cluster, SAMPLE, out, "--mode", "overwrite")
    assert_same_outputs(by_id(spark, out), local_reference)
    half = tmp_path / "half.jsonl"
    half.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[::2]))
    incremental = tmp_path / "incremental"
    run_job(cluster, half, incremental, "--mode", "incremental")
    run_job(cluster, SAMPLE, incremental, "--mode", "incremental", "--chunk-rows", "9")  # two commits
    result = spark.read.parquet(str(incremental))
    assert result.count() == result.select("doc_id").distinct().count() == len(local_reference)
    assert_same_outputs(by_id(spark, incremental), local_reference)


def test_a_lost_executor_mid_job_leaves_every_row_exactly_once(spark, cluster, tmp_path):
    """SIGKILL one executor JVM while the job's tasks run: Spark reruns its tasks on a new executor,
    and the file committer (algorithm 1, set by the job) commits each task's output once."""
    many, _ = copies_of_the_sample(tmp_path, 40)  # 1,400 documents: tasks long enough to be caught running
    out = tmp_path / "out"
    process = subprocess.Popen(
        job_command(cluster, many, out, "--mode", "overwrite"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 180
    killed = None
    while time.time() < deadline and process.poll() is None and killed is None:
        # The job's warm-up has loaded the model everywhere once its output's temporary folder exists.
        pids = cluster.executor_pids()
        if len(pids) == 2 and (out / "_temporary").exists():
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=600)
    assert killed is not None, f"no running executor to kill\n{stderr[-3000:]}"
    assert process.returncode == 0, f"{stderr[-4000:]}\n{cluster.logs()}"
    result = spark.read.parquet(str(out))
    assert result.count() == result.select("doc_id").distinct().count() == 35 * 40
    clean = tmp_path / "clean"
    assert (
        job_main(
            ["--input", str(many), "--input-format", "json", "--id-col", "doc_id", "--output", str(clean), *EXACT_FLAGS]
        )
        == 0
    )
    assert_same_outputs(by_id(spark, out), by_id(spark, clean))


def test_speculative_copies_leave_no_duplicate_rows(spark, cluster, tmp_path):
    out = tmp_path / "out"
    conf = {
        "spark.speculation": "true",
        "spark.speculation.multiplier": "1.5",
        "spark.speculation.quantile": "0.5",
        "spark.speculation.interval": "200ms",
        "spark.speculation.minTaskRuntime": "1s",
    }
    result = app(cluster, "speculation", input=str(SAMPLE), output=str(out), conf=conf)
    assert result["speculative_tasks"] >= 1, "the slow task got a speculative copy"
    written = spark.read.parquet(str(out))
    assert written.count() == written.select("doc_id").distinct().count() == result["rows_processed"] == 35


def test_gpu_scheduling_follows_the_assigned_address_and_fails_clearly_without_cuda(cluster):
    conf = {
        "spark.executor.resource.gpu.amount": "1",
        "spark.task.resource.gpu.amount": "1",
        "spark.task.maxFailures": "1",
    }
    result = app(cluster, "gpu", conf=conf)
    assert {row["address"] for row in result["seen"]} == {"0", "1"}, "each worker's fake GPU was assigned to tasks"
    assert all(row["device"] == f"cuda:{row['address']}" for row in result["seen"])
    failure = result["failure"]
    assert failure is not None and "Spark assigned this task GPU" in failure and 'device="cpu"' in failure, failure


def test_two_models_in_a_memory_limited_python_worker(cluster):
    """Two UDFs (two models) in one worker under spark.executor.pyspark.memory, which Spark applies as an
    address-space limit: at 1g torch cannot even load, and the task says which setting to change; at 3g
    both models run."""
    model = Path(__file__).resolve().parents[2] / "shared" / "models" / "conll03-minilm-ner"
    second = str(model) if model.exists() else sparkner.DEMO_MODEL
    tight = app(
        cluster,
        "memory",
        second_model=second,
        conf={"spark.executor.pyspark.memory": "1g", "spark.task.maxFailures": "1"},
    )
    assert (
        "cannot load" in tight["failure"]
        and "address-space limit of 1.0 GiB" in tight["failure"]
        and "raise spark.executor.pyspark.memory to at least 3g" in tight["failure"]
    )
    roomy = app(cluster, "memory", second_model=second, conf={"spark.executor.pyspark.memory": "3g"})
    assert roomy["failure"] is None, roomy["failure"]
    assert roomy["rows"] == 35 and roomy["with_both"] > 25
    print("python worker peaks (MiB):", roomy["peaks"])  # docs/cluster.md records them
    assert all(peak["address_space_mib"] < 3 * 1024 for peak in roomy["peaks"])
