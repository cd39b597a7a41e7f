"""The job's Spark work: read, skip what is done, add entities, write, summarise.

Modes:
- `error` (default): refuse an output that already exists;
- `overwrite`: replace the output; a rerun writes the same rows again, no duplicates;
- `append`: add rows to the output;
- `incremental`: process only the ids not yet in the output and append them, in
  chunks of about `--chunk-rows` (default `DEFAULT_CHUNK_ROWS`), each its own commit,
  so a run killed midway keeps the chunks it finished and a rerun does the rest:
  every id ends up in the output exactly once. A run with nothing new loads no
  model and writes nothing.

The rows to classify are spread over tasks of about `ROWS_PER_TASK` rows, so every core
gets work (a small input, or the few new rows of an incremental run, would otherwise be one
task on one core) and the progress line moves as tasks finish.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructType

from sparkner.jobs.config import DEFAULT_CHUNK_ROWS, JobConfig, JobError
from sparkner.jobs.progress import Counters, ProgressLine
from sparkner.jobs.signals import JobProgress
from sparkner.jobs.summary import RunSummary
from sparkner.masking import Masker
from sparkner.metrics.spans import LabelCounts, add_counts, collect_counts, label_counts, metrics_rows
from sparkner.options.settings import OnError, Settings
from sparkner.spark.schema import entity_fields
from sparkner.spark.udf import ner_stats_udf, runs_on_udf

logger = logging.getLogger("sparkner.job")

NER_COLUMN = "__sparkner"
MASKED_COLUMN = "masked_text"
ROWS_PER_TASK = 1000


def read_input(spark: SparkSession, config: JobConfig) -> DataFrame:
    if config.input_table:
        if not spark.catalog.tableExists(config.input_table):
            raise JobError(f"input table {config.input_table!r} does not exist")
        return checked_input(spark.table(config.input_table), config)
    reader = file_reader(spark.read, config)
    if config.schema:
        reader = reader.schema(given_schema(spark, config))
    try:
        df = reader.load(config.input)
    except Exception as error:  # noqa: BLE001 - any reader failure is the input's problem
        raise JobError(f"cannot read input {config.input!r} as {config.input_format}: {first_line(error)}") from None
    return checked_input(df, config)


def file_reader(reader: Any, config: JobConfig) -> Any:
    """`spark.read` or `spark.readStream` set up for `--input-format`. CSV columns get the types their
    values read as (an id column of numbers is a number, as in JSON); `--schema` fixes them instead."""
    reader = reader.format(config.input_format)
    if config.input_format == "csv":
        reader = reader.option("header", "true").option("multiLine", "true").option("escape", '"')
        reader = reader.option("inferSchema", "true")
    return reader


def given_schema(spark: SparkSession, config: JobConfig) -> StructType:
    """`--schema`, a DDL string, as a schema (a bad one is the user's to fix)."""
    try:
        return spark.createDataFrame([], config.schema).schema
    except Exception as error:  # noqa: BLE001 - any parser failure means the same
        raise JobError(f"--schema {config.schema!r} is not a valid schema: {first_line(error)}") from None


def checked_input(df: DataFrame, config: JobConfig) -> DataFrame:
    """The input with its text column as a string, after checking the columns the job needs."""
    if config.input_format == "text" and not config.input_table and config.text_col not in df.columns:
        df = df.withColumnRenamed("value", config.text_col)
    if config.text_col not in df.columns:
        raise JobError(
            f"input has no text column {config.text_col!r}; its columns are {', '.join(df.columns)} (use --text-col)"
        )
    text_type = df.schema[config.text_col].dataType
    if isinstance(text_type, (ArrayType, MapType, StructType)):
        raise JobError(
            f"text column {config.text_col!r} is {text_type.simpleString()}, not a string column; "
            "point --text-col at a string column (or write one, e.g. concat_ws(' ', col), before the job)"
        )
    if not isinstance(text_type, StringType):
        logger.info(
            "text column %r is %s; reading it as text (CAST AS STRING)", config.text_col, text_type.simpleString()
        )
        df = df.withColumn(config.text_col, F.col(config.text_col).cast("string"))
    if config.gold_col and config.gold_col not in df.columns:
        raise JobError(f"input has no gold column {config.gold_col!r}; its columns are {', '.join(df.columns)}")
    if config.id_col and config.id_col not in df.columns:
        raise JobError(f"input has no id column {config.id_col!r}; its columns are {', '.join(df.columns)}")
    return df


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def read_output(spark: SparkSession, config: JobConfig) -> DataFrame | None:
    """The existing output, or None when there is none yet."""
    if config.output_table:
        return spark.table(config.output_table) if spark.catalog.tableExists(config.output_table) else None
    if is_local_path(config.output) and not Path(config.output.removeprefix("file:")).exists():
        return None
    try:
        existing = spark.read.format(config.output_format).load(config.output)
        existing.schema  # noqa: B018 - forces the read to resolve
        return existing
    except AnalysisException:
        return None


def count_rows_with_unique_ids(df: DataFrame, id_col: str) -> int:
    """The rows of `df`, checked in the same pass to have unique `id_col` (incremental mode resumes by id)."""
    per_id = df.groupBy(id_col).count()
    totals = per_id.agg(F.sum("count").alias("rows"), F.max("count").alias("most")).first()
    if totals["most"] is not None and totals["most"] > 1:
        duplicated = per_id.where("count > 1").limit(5).collect()  # a second pass, only to name examples
        examples = ", ".join(repr(row[id_col]) for row in duplicated)
        raise JobError(f"id column {id_col!r} has duplicates (e.g. {examples}); incremental mode needs unique ids")
    return int(totals["rows"] or 0)


def chunk_label_counts(result: DataFrame, gold_col: str) -> dict[str, LabelCounts]:
    """Per-label span counts of a chunk's entities against its gold column (summed in Spark)."""
    entities = result.select(F.col(f"{NER_COLUMN}.entities").alias("__entities"), F.col(gold_col))
    try:
        return collect_counts(label_counts(entities, "__entities", gold_col))
    except ValueError as error:
        raise JobError(str(error).replace("'__entities'", "the entities")) from None


def shape_output(result: DataFrame, config: JobConfig, settings: Settings) -> DataFrame:
    """One row per document with an `entities` array, or (`--explode`) one row per entity, or (`--mask`)
    one row per document with its `masked_text` (the text and the entities only when asked for).

    Exploded output keeps a document that has no entities as one row with null
    entity fields, so the document still counts as processed.
    """
    # With --on-error null, why a text failed is kept next to its (null) entities.
    error = [F.col(f"{NER_COLUMN}.error").alias("error")] if settings.on_error is OnError.NULL else []
    if config.mask:
        kept = [name for name in result.columns if name != NER_COLUMN and (config.keep_text or name != config.text_col)]
        entities = [F.col(f"{NER_COLUMN}.entities").alias("entities")] if config.keep_entities else []
        return result.select(*kept, F.col(f"{NER_COLUMN}.masked").alias(MASKED_COLUMN), *entities, *error)
    dropped = (NER_COLUMN,) if config.keep_text else (NER_COLUMN, config.text_col)
    others = [name for name in result.columns if name not in dropped]
    fields = entity_fields(settings.aggregation_strategy)
    if not config.explode:
        kept = [name for name in result.columns if name != NER_COLUMN]
        return result.select(*kept, F.col(f"{NER_COLUMN}.entities").alias("entities"), *error)
    exploded = result.select(*others, *error, F.explode_outer(f"{NER_COLUMN}.entities").alias("entity"))
    return exploded.select(
        *others, *[F.col(f"entity.{name}").alias(name) for name in fields], *[F.col("error")] if error else []
    )


def write(df: DataFrame, config: JobConfig, mode: str) -> None:
    writer = df.write.format(config.output_format).mode(mode)
    if config.partition_by:
        writer = writer.partitionBy(*config.partition_by)
    if config.output_table:
        writer.saveAsTable(config.output_table)
    else:
        writer.save(config.output)


def spread_over_tasks(df: DataFrame, rows: int, slots: int) -> DataFrame:
    """`df` in tasks of at most about `ROWS_PER_TASK` rows, as many as a whole number of waves over the
    task slots (5 tasks on 2 cores would leave one core idle for the last wave)."""
    waves = max(1, math.ceil(rows / (ROWS_PER_TASK * slots)))
    return df.repartition(waves * slots)


def load_model_everywhere(spark: SparkSession, settings: Settings) -> tuple[float, list[str]]:
    """Load the model into every task slot's Python worker with a one-row-per-slot job: how long that
    took, so the run's rates count processing only (workers are reused across tasks), and what runs
    the model in the workers (`runtime="auto"` decides per machine)."""
    started = time.time()
    slots = max(1, spark.sparkContext.defaultParallelism)
    warm_up = spark.range(slots, numPartitions=slots).select(runs_on_udf(settings)(F.lit("warm up")).alias("runs_on"))
    runs_on = sorted({row["runs_on"] for row in warm_up.collect()})
    return time.time() - started, runs_on


def run_job(
    spark: SparkSession,
    config: JobConfig,
    settings: Settings,
    *,
    command_started: float | None = None,
    progress: JobProgress | None = None,
    masker: Masker | None = None,
) -> RunSummary:
    """Run the job with `settings` already validated on the driver (see `cli.job`); `progress` hears of
    each committed chunk (what a stopped run keeps); `masker` masks the texts (`--mask`)."""
    progress = progress or JobProgress()
    started = time.time()
    command_started = command_started or started
    source = read_input(spark, config)
    existing = read_output(spark, config)
    target = config.output_table or config.output
    if existing is not None and config.mode == "error":
        raise JobError(f"output {target!r} already exists; pass --mode overwrite, append or incremental")
    todo, rows_total, skipped = rows_to_do(source, existing, config, target)
    chunks = 1
    if config.mode == "incremental" and config.chunk_rows != 0:
        chunks = max(1, math.ceil(rows_total / (config.chunk_rows or DEFAULT_CHUNK_ROWS)))
    summary = RunSummary.begin(
        settings.model,
        config.requested_model(settings),
        config.mode,
        target,
        command_started,
        started,
        rows_skipped_existing=skipped,
    )
    if config.mode == "incremental" and rows_total == 0:
        summary.note = f"nothing new: all {skipped:,} ids are already in the output; no model loaded, nothing written"
        logger.info(summary.note)
        summary.finish(0.0, time.time() - command_started)
        return summary
    load_seconds, summary.runs_on = load_model_everywhere(spark, settings)
    summary.model_load_seconds = round(load_seconds, 3)
    processing_started = time.time()
    gold_counts: dict[str, LabelCounts] = {}
    progress.chunks = chunks
    counters = Counters.create(spark)
    udf = ner_stats_udf(settings, counters, masker)
    slots = max(1, spark.sparkContext.defaultParallelism)
    mode = {"error": "errorifexists", "overwrite": "overwrite"}.get(config.mode, "append")
    line = ProgressLine(spark, counters, rows_total, config.progress_interval)
    line.start()
    try:
        for chunk in range(chunks):
            progress.check()
            part = todo if chunks == 1 else todo.where(F.pmod(F.xxhash64(config.id_col), F.lit(chunks)) == chunk)
            part = spread_over_tasks(part, math.ceil(rows_total / chunks), slots)
            result = part.withColumn(NER_COLUMN, udf(config.text_col)).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                # Counted first (which classifies and caches the chunk), so a run stopped after the write
                # knows what the committed chunk holds.
                rows_out = summary.add_chunk(result, config.text_col, NER_COLUMN, exploded=config.explode)
                write(shape_output(result, config, settings), config, mode if chunk == 0 else "append")
                progress.chunks_written += 1
                progress.rows_written += rows_out
                progress.check()
                if config.gold_col:
                    gold_counts = add_counts(gold_counts, chunk_label_counts(result, config.gold_col))
                if config.show and len(summary.examples) < config.show:
                    summary.add_examples(result, config, NER_COLUMN, config.show)
            finally:
                result.unpersist()
            if config.mode == "incremental":
                mode = "append"
            if chunks > 1:
                logger.info("chunk %d/%d committed: %d rows so far", chunk + 1, chunks, summary.rows_processed)
    finally:
        line.stop()
    summary.finish(time.time() - processing_started, time.time() - command_started)
    summary.describe_output(config, masker)
    if config.gold_col:
        summary.quality = metrics_rows(gold_counts)
    return summary


def rows_to_do(
    source: DataFrame, existing: DataFrame | None, config: JobConfig, target: str | None
) -> tuple[DataFrame, int, int]:
    """The rows to classify, how many, and (incremental mode) how many were skipped as already done."""
    if config.mode != "incremental":
        return source, source.count(), 0
    rows_in_source = count_rows_with_unique_ids(source, config.id_col)
    if existing is None:
        return source, rows_in_source, 0
    if config.id_col not in existing.columns:
        raise JobError(f"existing output {target!r} has no id column {config.id_col!r} to resume from")
    done = existing.select(config.id_col).where(F.col(config.id_col).isNotNull()).distinct()
    # Materialize the ids still to do now: the writes that follow change the output this reads.
    todo = source.join(done, on=config.id_col, how="left_anti").localCheckpoint(eager=True)
    rows_total = todo.count()  # counts the checkpoint, not the input again
    return todo, rows_total, rows_in_source - rows_total


def is_local_path(path: str) -> bool:
    return path.startswith("file:") or ":" not in path.split("/", 1)[0]


def default_summary_path(config: JobConfig) -> str | None:
    """Inside a local path output (Spark's readers skip files starting with '_');
    for tables and remote paths only where --summary-path says."""
    if config.summary_path:
        return config.summary_path
    if config.output and is_local_path(config.output):
        return f"{config.output.removeprefix('file:').rstrip('/')}/_sparkner_summary.json"
    return None


def write_summary(summary: RunSummary, path: str) -> list[Path]:
    """The run's own summary, named by its start time, and a copy at `path` (the latest run's)."""
    latest = Path(path)
    stamp = summary.started_at.replace(":", "").replace("+0000", "Z")
    own = latest.with_name(f"{latest.stem}-{stamp}{latest.suffix}")
    write_latest_summary(summary, path)
    own.write_text(summary.to_json() + "\n")
    return [own, latest]


def write_latest_summary(summary: RunSummary, path: str) -> None:
    """The summary at `path` (rewritten after each micro-batch of a stream, and at the end of any run),
    replaced whole: whoever reads it meanwhile sees the previous summary or this one, never a mix."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A name of this thread's own, created as any file is (the umask's permissions, unlike mkstemp's 0600).
    part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        part.write_text(summary.to_json() + "\n")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def write_examples_table(summary: RunSummary) -> str:
    rows = summary.examples
    if not rows:
        return "(no entities found)"
    headers = list(rows[0])
    widths = [max(len(h), *(len(_cell(row[h])) for row in rows)) for h in headers]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    body = ["  ".join(_cell(row[h]).ljust(w) for h, w in zip(headers, widths)) for row in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
