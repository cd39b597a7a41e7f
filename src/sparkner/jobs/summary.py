"""The run summary: what went in, what came out, and how fast."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass
class RunSummary:
    model: str  # as run: an MLflow alias or stage is replaced by the version it pointed at when the job started
    mode: str
    output: str | None
    model_requested: str | None = None  # what --model said, when it differs from `model`
    runs_on: list[str] = field(default_factory=list)  # what ran the model in the workers, and why
    rows_input: int = 0  # the input's rows: processed plus skipped
    rows_skipped_existing: int = 0  # incremental mode: rows whose id was already in the output
    rows_processed: int = 0  # the rows classified by this run
    rows_in: int = 0  # deprecated: rows_processed, under the name of 0.1.0 (kept for one release)
    rows_out: int = 0
    null_texts: int = 0
    empty_texts: int = 0
    failed_texts: int = 0
    entities: int = 0
    entities_per_label: dict[str, int] = field(default_factory=dict)
    multi_window_documents: int = 0
    tokens: int = 0
    started_at: str = ""  # UTC, ISO 8601
    startup_seconds: float = 0.0  # from the command's start until Spark and the driver's checks were ready
    model_load_seconds: float = 0.0  # loading the model into every task slot's Python worker (a warm-up job)
    processing_seconds: float = 0.0  # reading, classifying and writing: what the rates below divide by
    wall_seconds: float = 0.0  # all of it
    rows_per_second: float = 0.0
    tokens_per_second: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""  # e.g. why nothing was processed
    written: str = ""  # what the output holds, in words (plainly so when texts were masked)
    masking: dict[str, Any] | None = None  # --mask: the labels and each label's operator (never a key)
    micro_batches: list[dict[str, Any]] | None = None  # --stream: one entry per micro-batch with input
    quality: list[dict[str, Any]] | None = None  # span metrics against --gold-col (sparkner.evaluate's rows)

    @classmethod
    def begin(
        cls,
        model: str,
        model_requested: str | None,
        mode: str,
        output: str | None,
        command_started: float,
        started: float,
        **counts: Any,
    ) -> RunSummary:
        """A run's summary as its work starts: `startup_seconds` from the command's start until now (`started`)."""
        summary = cls(model=model, model_requested=model_requested, mode=mode, output=output, **counts)
        summary.started_at = datetime.datetime.fromtimestamp(command_started, datetime.timezone.utc).isoformat(
            timespec="seconds"
        )
        summary.startup_seconds = round(started - command_started, 3)
        return summary

    def add_chunk(self, result: DataFrame, text_col: str, ner_col: str, *, exploded: bool) -> int:
        """Counts from a persisted chunk of results, in one Spark query; returns the rows the chunk
        writes: one per document, or with `exploded` one per entity and one per document without any.

        Each document's entities are exploded as `--explode` writes them (`posexplode_outer`: a document
        without any keeps one row), the rows are counted per label, and each document's own figures
        (null, empty, failed, tokens) are summed on its first exploded row only, so they count once.
        """
        label = _label_field(result, ner_col)
        text, stats = F.col(text_col), F.col(ner_col)
        per_entity = result.select(
            text.alias("text"), stats.alias("stats"), F.posexplode_outer(stats["entities"]).alias("at", "entity")
        )
        once = F.coalesce(F.col("at"), F.lit(0)) == 0  # a document's first exploded row

        def per_document(flag: Any) -> Any:
            return F.sum(F.when(once & flag, 1).otherwise(0))

        by_label = (
            per_entity.groupBy(F.col("entity")[label].alias("label"))
            .agg(
                F.count(F.lit(1)).alias("exploded_rows"),
                F.count("entity").alias("entities"),
                per_document(F.lit(True)).alias("rows"),
                per_document(F.col("text").isNull()).alias("nulls"),
                per_document(F.col("text").isNotNull() & (F.length(F.trim("text")) == 0)).alias("empties"),
                per_document(F.col("stats.windows") > 1).alias("multi"),
                per_document(F.col("stats.error").isNotNull()).alias("failed"),
                F.sum(F.when(once, F.col("stats.tokens")).otherwise(0)).alias("tokens"),
            )
            .collect()
        )
        total = Counter()
        for row in by_label:
            total.update({name: row[name] or 0 for name in row.asDict() if name != "label"})
        rows_out = total["exploded_rows"] if exploded else total["rows"]
        self.rows_processed += total["rows"]
        self.rows_out += rows_out
        self.null_texts += total["nulls"]
        self.empty_texts += total["empties"]
        self.failed_texts += total["failed"]
        self.multi_window_documents += total["multi"]
        self.tokens += total["tokens"]
        merged = Counter(self.entities_per_label)
        merged.update({row["label"]: row["entities"] for row in by_label if row["label"] is not None})
        self.entities_per_label = dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))
        self.entities = sum(self.entities_per_label.values())
        return rows_out

    def add_examples(self, result: DataFrame, config: Any, ner_col: str, limit: int) -> None:
        label = _label_field(result, ner_col)
        keys = [config.id_col] if config.id_col else []
        rows = (
            result.select(*keys, F.explode(f"{ner_col}.entities").alias("e"))
            .limit(limit - len(self.examples))
            .collect()
        )
        for row in rows:
            entity = row["e"]
            example = {"id": row[config.id_col]} if config.id_col else {}
            example.update(
                label=entity[label],
                word=entity["word"],
                score=entity["score"],
                start=entity["start"],
                end=entity["end"],
            )
            self.examples.append(example)

    def add_micro_batch(self, batch: dict[str, Any]) -> None:
        """A streaming micro-batch, as `stream.MicroBatchLog` saw it."""
        self.micro_batches = [*(self.micro_batches or []), batch]
        self.rows_processed += batch["rows"]

    def count_stream(self, done: Any, exploded: bool) -> None:
        """A stream's totals from what its workers counted (`jobs.progress.CountsSoFar`): entities per
        label, tokens and output rows, all micro-batches together."""
        self.tokens = done.tokens
        self.rows_out = done.rows_written(exploded)
        self.entities_per_label = dict(sorted(done.entities.items(), key=lambda item: (-item[1], item[0])))
        self.entities = sum(self.entities_per_label.values())

    def describe_output(self, config: Any, masker: Any) -> None:
        """Say what was written: with `--mask`, which texts were masked how, and what was left out."""
        if masker is None:
            what = "one row per entity" if config.explode else "each document's entities"
            self.written = what + (" and its text" if config.keep_text or not config.explode else "")
            return
        self.masking = {
            "labels": list(masker.settings.mask_labels) if masker.settings.mask_labels else "every label found",
            "operators": {label: operator["type"] for label, operator in masker.operators.items()}
            or {"DEFAULT": "replace"},
            "min_score": masker.min_score,
        }
        parts = ["masked_text (each text with its entities masked)"]
        parts.append("the original text" if config.keep_text else "no original text")
        parts.append("the entities, with their words" if config.keep_entities else "no entities")
        self.written = ", ".join(parts)

    def finish(self, processing_seconds: float, wall_seconds: float) -> None:
        """Rates of the processing itself: start-up and model loading are reported on their own."""
        self.rows_in = self.rows_processed
        self.rows_input = self.rows_processed + self.rows_skipped_existing
        self.processing_seconds = round(processing_seconds, 3)
        self.wall_seconds = round(wall_seconds, 3)
        seconds = processing_seconds
        self.rows_per_second = round(self.rows_processed / seconds, 2) if seconds > 0 else 0.0
        self.tokens_per_second = round(self.tokens / seconds, 1) if seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("examples")
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def _label_field(result: DataFrame, ner_col: str) -> str:
    """`entity_group` for grouped strategies, `entity` for `none`."""
    names = result.schema[ner_col].dataType["entities"].dataType.elementType.names
    return "entity_group" if "entity_group" in names else "entity"
