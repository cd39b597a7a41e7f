"""A Python worker killed mid-task: Spark retries the task and the output is complete and
equal to a clean run.

Runs in its own process, with `local[2,4]` (a task may fail 4 times, as on a cluster; the
shared test session fails at once) and `spark.python.worker.reuse=false`, so a live worker
is always one running a task. A thread in that process SIGKILLs the first worker that has
been alive for 1.5 s with torch loaded, i.e. mid-task, after the model loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from parity import EXACT, assert_same_entities

import sparkner
from sparkner import TokenClassifier

pytestmark = pytest.mark.processes
SAMPLE = Path(sparkner.SAMPLE_DOCS)

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from pyspark.sql import SparkSession
    import sparkner

    spark = (SparkSession.builder.master("local[2,4]").config("spark.ui.enabled", "false")
             .config("spark.python.worker.reuse", "false").getOrCreate())
    spark.sparkContext.setLogLevel("WARN")  # the retry shows as "Lost task ... Python worker exited unexpectedly"

    def runs_torch(pid):  # a worker running the sparkner UDF has torch loaded
        try:
            return "libtorch" in open(f"/proc/{pid}/maps").read()
        except OSError:
            return False

    def cmdline(pid):
        try:
            return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            return ""

    def parent(pid):
        try:
            return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return -1

    def ours(pid):  # this script -> its JVM -> pyspark.daemon -> worker (not another session's workers)
        for _ in range(4):
            pid = parent(pid)
            if pid == os.getpid():
                return True
        return False

    killed, seen, stop = [], {}, threading.Event()

    def kill_one_worker():
        while not killed and not stop.is_set():
            for name in os.listdir("/proc"):
                if (name.isdigit() and "pyspark.daemon" in cmdline(name) and "pyspark.daemon" in cmdline(parent(name))
                        and ours(name) and runs_torch(name)):
                    seen.setdefault(name, time.time())
                    if time.time() - seen[name] > 1.5:
                        os.kill(int(name), signal.SIGKILL)
                        killed.append(int(name))
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    df = spark.read.json(sys.argv[1]).repartition(4)  # read by the JVM: the only Python workers are sparkner's
    ner = sparkner.ner_udf(sparkner.DEMO_MODEL, runtime="torch", dtype="float32")  # compared with the driver's
    rows = df.select("id", ner("text").alias("entities")).collect()
    stop.set()
    tracker = spark.sparkContext.statusTracker()
    failed = sum(tracker.getStageInfo(stage).numFailedTasks
                 for job in tracker.getJobIdsForGroup() for stage in tracker.getJobInfo(job).stageIds
                 if tracker.getStageInfo(stage) is not None)
    result = {"killed": killed, "failed_tasks": failed,
              "rows": [[row["id"], [e.asDict() for e in row["entities"]] if row["entities"] is not None else None]
                       for row in rows]}
    print("RESULT " + json.dumps(result))
    """
)


def test_a_killed_worker_is_retried_and_nothing_is_lost(tmp_path):
    docs = [json.loads(line)["text"] for line in SAMPLE.open()]
    texts = [text if text is None else f"{text} ({copy})" for copy in range(12) for text in docs]
    (tmp_path / "texts.json").write_text(
        "".join(json.dumps({"id": i, "text": text}) + "\n" for i, text in enumerate(texts))
    )
    (tmp_path / "run.py").write_text(SCRIPT)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "texts.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["killed"], "no worker was killed: the tasks ended too soon"
    assert result["failed_tasks"] >= 1, f"the kill did not fail a task: {done.stderr[-3000:]}"
    got = dict((row_id, entities) for row_id, entities in result["rows"])
    assert sorted(got) == list(range(len(texts)))  # every row once
    expected = TokenClassifier(sparkner.DEMO_MODEL, **EXACT)(texts)
    for row_id, text in enumerate(texts):
        if text is None:
            assert got[row_id] is None
        else:
            assert_same_entities(got[row_id], expected[row_id], f"row {row_id}")
