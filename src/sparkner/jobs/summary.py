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
    rows_skipped_existing: int = 0
    rows_in: int = 0
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

    def add_chunk(self, result: DataFrame, text_col: str, ner_col: str, *, rows_out: int) -> None:
        """Counts from a persisted chunk of results (one pass for totals, one for labels)."""
        text = F.col(text_col)
        totals = result.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(text.isNull().cast("int")).alias("nulls"),
            F.sum((text.isNotNull() & (F.length(F.trim(text)) == 0)).cast("int")).alias("empties"),
            F.sum((F.col(f"{ner_col}.windows") > 1).cast("int")).alias("multi"),
            F.sum(f"{ner_col}.tokens").alias("tokens"),
            F.sum(F.col(f"{ner_col}.error").isNotNull().cast("int")).alias("failed"),
        ).first()
        self.rows_in += totals["rows"]
        self.rows_out += rows_out
        self.null_texts += totals["nulls"] or 0
        self.empty_texts += totals["empties"] or 0
        self.failed_texts += totals["failed"] or 0
        self.multi_window_documents += totals["multi"] or 0
        self.tokens += totals["tokens"] or 0
        label = _label_field(result, ner_col)
        counts = result.select(F.explode(f"{ner_col}.entities").alias("e")).groupBy(f"e.{label}").count().collect()
        merged = Counter(self.entities_per_label)
        merged.update({row[label]: row["count"] for row in counts})
        self.entities_per_label = dict(sorted(merged.items(), key=lambda item: (-item[1], item[0])))
        self.entities = sum(self.entities_per_label.values())

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
        self.rows_in += batch["rows"]
        self.rows_out += batch["rows_out"] if batch["rows_out"] is not None else batch["rows"]
        self.tokens += batch["tokens"] or 0

    def finish(self, processing_seconds: float, wall_seconds: float) -> None:
        """Rates of the processing itself: start-up and model loading are reported on their own."""
        self.processing_seconds = round(processing_seconds, 3)
        self.wall_seconds = round(wall_seconds, 3)
        seconds = processing_seconds
        self.rows_per_second = round(self.rows_in / seconds, 2) if seconds > 0 else 0.0
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
