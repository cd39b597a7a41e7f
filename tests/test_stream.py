"""The streaming job (`--stream`): file source, checkpoint, path and table sinks, reruns, kills, triggers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from parity import assert_same_entities
from pyspark.sql.functions import pandas_udf
from samples import DOCS, EXACT_FLAGS, job_process, json_input, many_docs

from sparkner import DEMO_MODEL, SAMPLE_DOCS
from sparkner.cli.job import main
from sparkner.jobs.config import JobConfig
from sparkner.jobs.progress import Counters
from sparkner.jobs.stream import BATCH_COLUMN, MicroBatchLog, TableBatchWriter, last_batch_with_rows
from sparkner.sources.settings import build_settings


def write_files(folder: Path, first: int, count: int, per_file: int = 7, docs: list[dict] = DOCS) -> None:
    """Files `first` .. `first + count - 1` of `docs`, `per_file` documents each."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(first, first + count):
        chunk = docs[index * per_file : (index + 1) * per_file]
        (folder / f"part-{index:03d}.json").write_text("".join(json.dumps(doc) + "\n" for doc in chunk))


def stream_args(source: Path, tmp_path: Path, *extra: str) -> list[str]:
    """The stream over `source`, computing as the batch reference does (the runs batch differently)."""
    return [*json_input(str(source)), "--stream", "--checkpoint", str(tmp_path / "checkpoint"), *EXACT_FLAGS, *extra]


def summary_of(out: Path) -> dict:
    return json.loads((out / "_sparkner_summary.json").read_text())


def by_id(spark, path: Path) -> dict:
    return {
        row["doc_id"]: row.asDict(recursive=True)["entities"] or [] for row in spark.read.parquet(str(path)).collect()
    }


@pytest.fixture(scope="module")
def batch_reference(spark, tmp_path_factory) -> dict:
    """The batch job's entities for the sample: what the stream must produce."""
    out = tmp_path_factory.mktemp("batch") / "out"
    assert main([*json_input(SAMPLE_DOCS), "--output", str(out), *EXACT_FLAGS]) == 0
    return by_id(spark, out)


def assert_summary_counts_the_output(summary: dict, written: dict) -> None:
    """The run's summary counts the entities and rows it wrote, per label and per micro-batch."""
    per_label: dict[str, int] = {}
    for entities in written.values():
        for entity in entities:
            per_label[entity["entity_group"]] = per_label.get(entity["entity_group"], 0) + 1
    assert summary["entities"] == sum(per_label.values()) > 0 and summary["entities_per_label"] == per_label
    assert summary["rows_out"] == len(written) == sum(batch["rows_out"] for batch in summary["micro_batches"])
    assert sum(batch["entities"] for batch in summary["micro_batches"]) == summary["entities"]


def assert_every_id_once_as_in_batch(spark, out: Path, reference: dict, ids: int) -> None:
    written = spark.read.parquet(str(out))
    assert written.count() == written.select("doc_id").distinct().count() == ids
    mine = by_id(spark, out)
    for doc_id, entities in mine.items():
        assert_same_entities(entities, reference[doc_id], doc_id)


def test_available_now_runs_process_only_the_new_files(spark, tmp_path, batch_reference):
    source, out = tmp_path / "in", tmp_path / "out"
    write_files(source, 0, 3)
    assert main([*stream_args(source, tmp_path), "--output", str(out)]) == 0
    first = summary_of(out)
    assert first["mode"] == "stream" and first["rows_processed"] == 21 and first["micro_batches"][0]["tokens"] > 0
    assert first["model_load_seconds"] > 0, "the model's load is not counted as processing"
    assert_summary_counts_the_output(first, by_id(spark, out))
    before = by_id(spark, out)
    write_files(source, 3, 2)
    assert main([*stream_args(source, tmp_path), "--output", str(out)]) == 0
    second = summary_of(out)
    assert second["rows_processed"] == 14, "only the two new files"
    assert_summary_counts_the_output(second, {k: v for k, v in by_id(spark, out).items() if k not in before})
    assert_every_id_once_as_in_batch(spark, out, batch_reference, 35)
    assert main([*stream_args(source, tmp_path), "--output", str(out)]) == 0
    assert summary_of(out)["rows_processed"] == 0 and summary_of(out)["note"].startswith("nothing new")


def test_the_summary_waits_only_for_batches_that_read_rows():
    """A run with nothing new ends with a batch that read nothing: Spark lists it in `recentProgress` but
    never sends its listener event, so waiting for it held every such run for the whole timeout (10 s)."""
    nothing_new = [{"batchId": 2, "numInputRows": 0}]
    assert last_batch_with_rows(nothing_new) == -1
    assert last_batch_with_rows([{"batchId": 0, "numInputRows": 21}, {"batchId": 1, "numInputRows": 0}]) == 0
    assert last_batch_with_rows([]) == -1


def test_waiting_for_a_batch_waits_until_its_summary_is_written(spark):
    """The run's last summary is written after `wait_for`: returning while the listener still wrote the
    batch's summary let two threads write one file (a reader once saw half of each)."""
    import threading

    written = []

    def slow_write(batch: dict) -> None:
        time.sleep(0.3)
        written.append(batch["batch_id"])

    log = MicroBatchLog(Counters.create(spark), exploded=False, on_batch=slow_write)
    progress = {"batchId": 0, "numInputRows": 3, "durationMs": {"triggerExecution": 5}, "sources": [], "sink": {}}
    threading.Thread(target=log.onQueryProgress, args=(SimpleNamespace(progress=progress),)).start()
    log.wait_for(0)
    assert written == [0]


def test_the_summary_is_replaced_whole_and_readable_as_before(tmp_path):
    """Rewritten after each micro-batch, the summary is swapped in whole (no half-written file for a reader,
    no part files left), with the permissions any file gets here (not a temporary file's 0600)."""
    from sparkner.jobs.run import write_latest_summary

    path = tmp_path / "out" / "_sparkner_summary.json"
    for rows in (1, 2):
        write_latest_summary(SimpleNamespace(to_json=lambda rows=rows: json.dumps({"rows": rows})), str(path))
    assert json.loads(path.read_text()) == {"rows": 2} and os.listdir(path.parent) == [path.name]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_table_sink_writes_each_batch_once_even_when_a_batch_is_rerun(spark, tmp_path, batch_reference):
    source = tmp_path / "in"
    write_files(source, 0, 3)
    table = "stream_entities"
    spark.sql(f"DROP TABLE IF EXISTS {table}")
    args = [*stream_args(source, tmp_path), "--output-table", table, "--summary-path", str(tmp_path / "summary.json")]
    assert main(args) == 0
    write_files(source, 3, 2)
    assert main(args) == 0
    written = spark.table(table)
    assert written.count() == written.select("doc_id").distinct().count() == 35
    # A crash after a batch's write but before its commit makes Spark run that batch id again:
    batch = written.where(f"{BATCH_COLUMN} = 1").drop(BATCH_COLUMN).localCheckpoint()
    TableBatchWriter(JobConfig(output_table=table))(batch, 1)
    assert spark.table(table).count() == 35, "the rerun replaced batch 1's rows instead of adding them"
    for row in spark.table(table).collect():
        assert_same_entities(
            row.asDict(recursive=True)["entities"] or [], batch_reference[row["doc_id"]], row["doc_id"]
        )
    spark.sql(f"DROP TABLE {table}")


def test_a_schema_change_in_new_files_is_refused(tmp_path, capsys):
    source, out = tmp_path / "in", tmp_path / "out"
    write_files(source, 0, 2)
    assert main([*stream_args(source, tmp_path), "--output", str(out)]) == 0
    (source / "part-new.json").write_text(json.dumps({"doc_id": "x", "text": "Paris.", "lang": "en"}) + "\n")
    assert main([*stream_args(source, tmp_path), "--output", str(out)]) == 2
    assert "the input's schema changed since this stream started (new column lang string)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mode", "overwrite"], "--stream appends what arrived since its checkpoint; drop --mode"),
        (
            ["--trigger", "every-minute"],
            "--trigger 'every-minute' is not one of available-now, once, processing-time=<interval>",
        ),
        (["--chunk-rows", "10"], "--chunk-rows is for batch runs, not --stream"),
    ],
)
def test_stream_settings_that_cannot_work_are_refused(tmp_path, capsys, extra, message):
    assert main([*stream_args(tmp_path, tmp_path), "--output", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert main(["--input", "x", "--output", "y", "--stream"]) == 2
    assert "--stream needs --checkpoint PATH" in capsys.readouterr().err


def committed_batches(out: Path) -> int:
    return (
        len([name for name in os.listdir(out / "_spark_metadata") if name.isdigit()])
        if (out / "_spark_metadata").exists()
        else 0
    )


def stream_process(source: Path, tmp_path: Path, out: Path, *extra: str) -> list[str]:
    return job_process("local[1]", *stream_args(source, tmp_path), "--output", str(out), *extra)


@pytest.mark.processes
def test_a_stream_killed_mid_batch_then_rerun_has_every_id_exactly_once(spark, tmp_path):
    docs = many_docs(12)  # 420 documents in 6 files, one file per micro-batch
    source, out = tmp_path / "in", tmp_path / "out"
    write_files(source, 0, 6, per_file=70, docs=docs)
    command = stream_process(source, tmp_path, out, "--max-files-per-trigger", "1")
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and committed_batches(out) < 2:
        time.sleep(0.2)
    assert process.poll() is None, "the stream should still be running when it is killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < spark.read.parquet(str(out)).count() < len(docs)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    written = spark.read.parquet(str(out))
    assert written.count() == written.select("doc_id").distinct().count() == len(docs)
    clean_out = tmp_path / "clean"
    assert main([*json_input(str(source)), "--output", str(clean_out), *EXACT_FLAGS]) == 0
    clean = by_id(spark, clean_out)
    for doc_id, entities in by_id(spark, out).items():
        assert_same_entities(entities, clean[doc_id], doc_id)


@pytest.mark.processes
def test_processing_time_trigger_picks_up_a_new_file_and_stops_on_sigterm(spark, tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    write_files(source, 0, 1)
    command = stream_process(source, tmp_path, out, "--trigger", "processing-time=1 second")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and committed_batches(out) < 1:
        time.sleep(0.2)
    write_files(source, 1, 1)  # added while the stream runs
    while time.time() < deadline and process.poll() is None and committed_batches(out) < 2:
        time.sleep(0.2)
    assert process.poll() is None, "a processing-time stream keeps running"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    [line] = [line for line in stderr.splitlines() if line.startswith("sparkner-job: stopped")]
    assert "every micro-batch that finished is committed" in line
    assert spark.read.parquet(str(out)).count() == 14


def test_the_model_loads_once_per_python_worker_across_micro_batches(spark, tmp_path):
    """The library recipe: a streaming DataFrame through sparkner's worker path, several micro-batches;
    each Python worker loads the model once, not once per micro-batch."""
    settings = build_settings(DEMO_MODEL)

    @pandas_udf("string")
    def loads_so_far(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        from sparkner.spark.udf import _worker_setup
        from sparkner.worker_cache import WORKER_CACHE  # the worker's own, imported there

        classifier = _worker_setup(settings)  # what ner_udf's workers do first
        for batch in batches:
            classifier(list(batch))
            yield pd.Series([f"{os.getpid()}:{WORKER_CACHE.loads['model']}"] * len(batch))

    source = tmp_path / "in"
    write_files(source, 0, 4)
    seen: list[set[str]] = []
    docs = spark.readStream.schema("doc_id string, text string").option("maxFilesPerTrigger", 1).json(str(source))
    query = (
        docs.select(loads_so_far("text").alias("probe"))
        .writeStream.option("checkpointLocation", str(tmp_path / "cp"))
        .foreachBatch(lambda batch, _: seen.append({row["probe"] for row in batch.collect()}))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    assert len(seen) == 4, "one micro-batch per file"
    per_worker: dict[str, set[str]] = {}
    for values in seen:
        for value in values:
            pid, loads = value.split(":")
            per_worker.setdefault(pid, set()).add(loads)
    assert all(len(loads) == 1 for loads in per_worker.values()), (
        f"no worker loaded the model again in a later micro-batch: {per_worker}"
    )
