"""The streaming job (`--stream`): Structured Streaming over the input files or table, with a checkpoint
that remembers what was processed, so each run does only what arrived since the last.

Sinks:
- a path: Spark's file sink. Each micro-batch's files are listed in the output's `_spark_metadata`
  log when the batch commits, and Spark's readers of the path read only listed files, so a run killed
  mid-batch leaves no duplicates and the rerun redoes that batch (exactly once, with the checkpoint).
- a table: `foreachBatch`, idempotent per batch id. With `--output-format delta`, Delta's own
  idempotent writes (`txnAppId` = the checkpoint's query id, `txnVersion` = the batch id); otherwise
  the table is partitioned by `sparkner_batch_id` and each batch overwrites its own partition
  (dynamic partition overwrite), so a batch rerun after a crash replaces what it wrote the first time.

The input's schema is fixed when the stream starts (`--schema`, or read from the files there then) and
recorded in the checkpoint folder; a later run whose new files no longer match stops with an error
rather than reading them with the wrong columns.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener
from pyspark.sql.types import StructType

from sparkner.jobs.config import JobConfig, JobError, parse_trigger
from sparkner.jobs.progress import Counters, CountsSoFar
from sparkner.jobs.run import (
    NER_COLUMN,
    checked_input,
    file_reader,
    first_line,
    given_schema,
    is_local_path,
    load_model_everywhere,
    shape_output,
)
from sparkner.jobs.signals import JobProgress
from sparkner.jobs.summary import RunSummary
from sparkner.masking import Masker
from sparkner.options.settings import Settings
from sparkner.spark.udf import ner_stats_udf

logger = logging.getLogger("sparkner.job")

SCHEMA_FILE = "sparkner_input_schema.json"
BATCH_COLUMN = "sparkner_batch_id"


def infer_schema(spark: SparkSession, config: JobConfig, modified_after: float | None = None) -> StructType | None:
    """The schema of the input files (those modified after `modified_after`, epoch seconds, if given);
    None when there are no such files."""
    reader = file_reader(spark.read, config)
    if config.input_format == "parquet":
        reader = reader.option("mergeSchema", "true")
    if modified_after is not None:
        zone = ZoneInfo(spark.conf.get("spark.sql.session.timeZone"))
        reader = reader.option(
            "modifiedAfter", datetime.datetime.fromtimestamp(modified_after, zone).strftime("%Y-%m-%dT%H:%M:%S")
        )
    try:
        schema = reader.load(config.input).schema
    except Exception as error:  # noqa: BLE001 - no (new) files, unreadable files
        if modified_after is not None:
            return None
        raise JobError(
            f"cannot read the schema of input {config.input!r} as {config.input_format} ({first_line(error)}); give "
            "--schema"
        ) from None
    return schema if schema.fields else None


def schema_changes(before: StructType, now: StructType, config: JobConfig) -> list[str]:
    """What differs; a column absent from JSON or CSV files is not a change (it reads as null)."""
    old, new = {f.name: f.dataType.simpleString() for f in before}, {f.name: f.dataType.simpleString() for f in now}
    changes = [f"new column {name} {kind}" for name, kind in new.items() if name not in old]
    changes += [f"column {name} {old[name]} -> {new[name]}" for name in new if name in old and old[name] != new[name]]
    if config.input_format in ("parquet", "text"):
        changes += [f"column {name} dropped" for name in old if name not in new]
    return changes


def stream_schema(spark: SparkSession, config: JobConfig, started: float) -> StructType:
    """The schema to read the stream with: `--schema`, or the one recorded in the checkpoint when the
    stream first ran (read from the files there then). Files added since the last run are checked
    against it — only those, so the check does not grow with the input's history."""
    if config.schema:
        return given_schema(spark, config)
    record = Path(config.checkpoint.removeprefix("file:")) / SCHEMA_FILE if is_local_path(config.checkpoint) else None
    if record is None or not record.exists():
        schema = infer_schema(spark, config)
        if record is None:
            logger.info(
                "checkpoint %s is not a local path: the input schema is read from the files on every run",
                config.checkpoint,
            )
            return schema
    else:
        state = json.loads(record.read_text())
        schema = StructType.fromJson(state["schema"])
        newer = infer_schema(spark, config, modified_after=state["checked_at"])
        changes = schema_changes(schema, newer, config) if newer is not None else []
        if changes:
            raise JobError(
                f"the input's schema changed since this stream started ({'; '.join(changes)}); write such files to "
                "another "
                "folder with their own --checkpoint and --output, or pass --schema to read every file with one schema "
                "of your "
                f"choice (this stream's: {schema.simpleString()})"
            )
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"schema": schema.jsonValue(), "checked_at": started}))
    return schema


def stream_input(spark: SparkSession, config: JobConfig, started: float) -> DataFrame:
    if config.input_table:
        return checked_input(spark.readStream.table(config.input_table), config)
    reader = file_reader(spark.readStream, config).schema(stream_schema(spark, config, started))
    if config.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", config.max_files_per_trigger)
    if config.max_bytes_per_trigger:
        reader = reader.option("maxBytesPerTrigger", config.max_bytes_per_trigger)
    return checked_input(reader.load(config.input), config)


class TableBatchWriter:
    """`foreachBatch` for a table sink: writing batch N twice leaves batch N's rows once."""

    def __init__(self, config: JobConfig) -> None:
        self.config = config

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        config = self.config
        spark = batch.sparkSession
        if config.output_format == "delta":
            # Delta skips a write whose (txnAppId, txnVersion) it has already committed.
            writer = (
                batch.write.format("delta")
                .mode("append")
                .option("txnAppId", config.checkpoint)
                .option("txnVersion", batch_id)
            )
            writer.partitionBy(*config.partition_by or []).saveAsTable(config.output_table)
            return
        rows = batch.withColumn(BATCH_COLUMN, F.lit(batch_id))
        if not spark.catalog.tableExists(config.output_table):
            rows.write.format(config.output_format).partitionBy(BATCH_COLUMN, *config.partition_by or []).saveAsTable(
                config.output_table
            )
            return
        # Overwriting the static partition of this batch id replaces exactly what an earlier attempt wrote.
        columns = ", ".join(f"`{name}`" for name in spark.table(config.output_table).columns if name != BATCH_COLUMN)
        view = f"sparkner_batch_{batch_id}"
        batch.createOrReplaceTempView(view)
        partition = ", ".join([f"{BATCH_COLUMN} = {batch_id}", *(config.partition_by or [])])
        spark.sql(f"INSERT OVERWRITE TABLE {config.output_table} PARTITION ({partition}) SELECT {columns} FROM {view}")
        spark.catalog.dropTempView(view)


def progress_dict(progress: Any) -> dict[str, Any]:
    """A `StreamingQueryProgress` as its JSON fields (pyspark 3.5 gives dicts in places, 4 objects)."""
    return progress if isinstance(progress, dict) else json.loads(progress.json)


def read_rows(progress: dict[str, Any]) -> bool:
    """Whether a micro-batch read anything: the summary lists only those."""
    return progress["numInputRows"] > 0


def last_batch_with_rows(recent: list[dict[str, Any]]) -> int:
    """The id of the last micro-batch that read rows (-1 for none): the one whose listener event the summary
    waits for. A batch that read nothing is left out: Spark reports it in `recentProgress` but may never
    send its event (a run with nothing new would wait out the whole timeout), and the summary skips it."""
    return max((p["batchId"] for p in recent if read_rows(p)), default=-1)


def micro_batch(progress: dict[str, Any], done: CountsSoFar | None, exploded: bool) -> dict[str, Any]:
    """One micro-batch's entry in the run summary; `done` is what the workers counted in it (None when
    its listener event came too late to tell)."""
    sink_rows = (progress.get("sink") or {}).get("numOutputRows", -1)  # file and foreachBatch sinks say -1
    backlog = {
        key: value for source in progress.get("sources") or [] for key, value in (source.get("metrics") or {}).items()
    }
    batch = {
        "batch_id": progress["batchId"],
        "rows": progress["numInputRows"],
        "rows_out": sink_rows if sink_rows >= 0 else done.rows_written(exploded) if done is not None else None,
        "entities": sum(done.entities.values()) if done is not None else None,
        "tokens": done.tokens if done is not None else None,
        "seconds": round(progress.get("batchDuration", progress["durationMs"].get("triggerExecution", 0)) / 1000, 3),
    }
    if backlog:
        batch["backlog"] = backlog
    return batch


class MicroBatchLog(StreamingQueryListener):
    """Logs each micro-batch as it commits (rows, entities, tokens, duration, backlog where the source
    reports it) and passes it on (`on_batch`), which adds it to the run summary."""

    def __init__(self, counters: Counters, exploded: bool, on_batch: Any = None) -> None:
        self.counters = counters
        self.exploded = exploded
        self.on_batch = on_batch
        self.seen = CountsSoFar()
        self.last_batch_id = -1

    def onQueryStarted(self, event: Any) -> None:
        logger.info("stream started (id %s)", event.id)

    def onQueryProgress(self, event: Any) -> None:
        progress = progress_dict(event.progress)
        try:
            self.log_batch(progress)
        finally:  # only now: `wait_for` must not return while the batch's summary is still being written
            self.last_batch_id = progress["batchId"]

    def log_batch(self, progress: dict[str, Any]) -> None:
        if not read_rows(progress):
            return
        now = self.counters.snapshot()
        done, self.seen = now.since(self.seen), now
        batch = micro_batch(progress, done, self.exploded)
        logger.info(
            "micro-batch %d: %s rows, %s entities, %s tokens in %.1f s (%.0f rows/s)%s",
            batch["batch_id"],
            f"{batch['rows']:,}",
            f"{batch['entities']:,}",
            f"{done.tokens:,}",
            batch["seconds"],
            batch["rows"] / max(batch["seconds"], 1e-3),
            f", backlog {batch['backlog']}" if "backlog" in batch else "",
        )
        if self.on_batch is not None:
            self.on_batch(batch)

    def wait_for(self, batch_id: int, timeout: float = 10.0) -> None:
        """Listener events arrive after the query reports them; wait for the last before reading on."""
        deadline = time.time() + timeout
        while self.last_batch_id < batch_id and time.time() < deadline:
            time.sleep(0.05)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass


def start_query(output: DataFrame, config: JobConfig) -> StreamingQuery:
    writer = output.writeStream.option("checkpointLocation", config.checkpoint).trigger(**parse_trigger(config.trigger))
    if config.output_table:
        return writer.foreachBatch(TableBatchWriter(config)).start()
    writer = writer.format(config.output_format).outputMode("append")
    if config.partition_by:
        writer = writer.partitionBy(*config.partition_by)
    return writer.start(config.output)


def run_stream(
    spark: SparkSession,
    config: JobConfig,
    settings: Settings,
    *,
    command_started: float | None = None,
    progress: JobProgress | None = None,
    on_batch: Any = None,
    masker: Masker | None = None,
) -> RunSummary:
    """Run the stream until its trigger ends it (available-now, once) or a signal stops it; `on_batch`
    gets the summary after each micro-batch (the job writes it out)."""
    progress = progress or JobProgress()
    started = time.time()
    command_started = command_started or started
    output = config.output_table or config.output
    summary = RunSummary.begin(
        settings.model, config.requested_model(settings), "stream", output, command_started, started
    )
    counters = Counters.create(spark)
    # Spread each micro-batch over the task slots: one new file is otherwise one task on one core.
    source = stream_input(spark, config, started).repartition(max(1, spark.sparkContext.defaultParallelism))
    result = source.withColumn(NER_COLUMN, ner_stats_udf(settings, counters, masker)(config.text_col))
    load_seconds, summary.runs_on = load_model_everywhere(spark, settings)
    summary.model_load_seconds = round(load_seconds, 3)

    def batch_done(batch: dict[str, Any]) -> None:
        summary.add_micro_batch(batch)
        summary.count_stream(counters.snapshot(), config.explode)
        if on_batch is not None:
            on_batch(summary)

    listener = MicroBatchLog(counters, config.explode, batch_done)
    spark.streams.addListener(listener)
    try:
        query = start_query(shape_output(result, config, settings), config)
        progress.on_stop = query.stop
        query.awaitTermination()
        progress.check()
        recent = [progress_dict(p) for p in query.recentProgress]
        listener.wait_for(last_batch_with_rows(recent))
    finally:
        spark.streams.removeListener(listener)
    # The listener saw every batch of a long stream (the query keeps only its last 100); a batch whose
    # event was still on its way after the wait comes from the query's own record.
    logged = {batch["batch_id"] for batch in summary.micro_batches or []}
    for entry in recent:
        if read_rows(entry) and entry["batchId"] not in logged:
            summary.add_micro_batch(micro_batch(entry, None, config.explode))
    summary.count_stream(counters.snapshot(), config.explode)
    # A stream's processing time is its micro-batches' (not the waits between triggers).
    summary.finish(sum(batch["seconds"] for batch in summary.micro_batches or []), time.time() - command_started)
    summary.describe_output(config, masker)
    if not summary.micro_batches:
        summary.note = "nothing new since the last run: no micro-batch had input"
    return summary
