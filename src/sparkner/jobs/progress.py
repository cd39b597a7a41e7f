"""Progress a person can read while the job runs: rows done out of the total, rows/s, tokens/s, ETA.

The rows and tokens come from two Spark accumulators that the NER UDF adds to after each Arrow
batch (`spark.udf.ner_stats_udf`); Spark merges a task's additions when the task ends, so the job
splits its rows into tasks of about `run.ROWS_PER_TASK` to make the count move steadily. On a
terminal the line is a `tqdm` bar; otherwise (a log file, a scheduler) one log line every
`LOG_INTERVAL` seconds (`--progress-interval`). Spark's status tracker adds the number of tasks running.
"""

from __future__ import annotations

import datetime
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from pyspark.accumulators import AccumulatorParam
from pyspark.sql import SparkSession

from sparkner.engine.results import TextResult

PROGRESS_LOGGER = "sparkner.progress"
logger = logging.getLogger(PROGRESS_LOGGER)

TERMINAL_INTERVAL = 0.5
LOG_INTERVAL = 10.0


class SumsParam(AccumulatorParam):
    """An accumulator of per-key counts (entities per label): the workers' dicts are added key by key."""

    def zero(self, value: dict[str, int]) -> dict[str, int]:
        return {}

    def addInPlace(self, total: dict[str, int], more: dict[str, int]) -> dict[str, int]:  # noqa: N802 - pyspark's name
        for key, count in more.items():
            total[key] = total.get(key, 0) + count
        return total


@dataclass(frozen=True)
class Counters:
    """What the workers classified so far (see `spark.udf.ner_stats_udf`): rows, tokens, entities per label,
    and rows without any entity (what `--explode` writes one row for). Spark merges a task's additions
    when it ends; a task that is run again (a lost executor, speculation) adds its rows again."""

    rows: Any  # pyspark.Accumulator[int]
    tokens: Any
    entities: Any  # pyspark.Accumulator[dict[str, int]]
    rows_without_entities: Any

    @classmethod
    def create(cls, spark: SparkSession) -> Counters:
        context = spark.sparkContext
        return cls(
            context.accumulator(0), context.accumulator(0), context.accumulator({}, SumsParam()), context.accumulator(0)
        )

    def add(self, results: list[TextResult]) -> None:
        """On a worker, after each batch."""
        labels: Counter[str] = Counter()
        bare = 0
        for result in results:
            if result.entities:
                labels.update(entity.get("entity_group") or entity["entity"] for entity in result.entities)
            else:
                bare += 1
        self.rows.add(len(results))
        self.tokens.add(sum(result.tokens for result in results))
        self.entities.add(dict(labels))
        self.rows_without_entities.add(bare)

    def snapshot(self) -> CountsSoFar:
        """The totals now (read on the driver)."""
        return CountsSoFar(
            self.rows.value, self.tokens.value, dict(self.entities.value), self.rows_without_entities.value
        )


@dataclass(frozen=True)
class CountsSoFar:
    """`Counters`' values at one moment; `since` gives what was added between two moments."""

    rows: int = 0
    tokens: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    rows_without_entities: int = 0

    def since(self, earlier: CountsSoFar) -> CountsSoFar:
        labels = {label: n - earlier.entities.get(label, 0) for label, n in self.entities.items()}
        return CountsSoFar(
            self.rows - earlier.rows,
            self.tokens - earlier.tokens,
            {label: n for label, n in labels.items() if n},
            self.rows_without_entities - earlier.rows_without_entities,
        )

    def rows_written(self, exploded: bool) -> int:
        """The output rows these results make: one per text, or exploded one per entity plus one per text
        without any."""
        return sum(self.entities.values()) + self.rows_without_entities if exploded else self.rows


def format_duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def progress_text(rows: int, total: int, tokens: int, elapsed: float, running_tasks: int | None = None) -> str:
    """`12,000/30,000 rows (40%), 520 rows/s, 11,400 tokens/s, ETA 0:00:34, 2 tasks running`."""
    rows = min(rows, total)  # a retried task adds its rows again
    rate = rows / elapsed if elapsed > 0 else 0.0
    parts = [f"{rows:,}/{total:,} rows ({rows / total:.0%})" if total else f"{rows:,} rows"]
    parts += [f"{rate:,.0f} rows/s", f"{tokens / elapsed if elapsed > 0 else 0.0:,.0f} tokens/s"]
    if rate > 0 and 0 < total and rows < total:
        parts.append(f"ETA {format_duration((total - rows) / rate)}")
    if running_tasks:  # between Spark jobs (a commit, the summary's counts) no task runs: nothing to say then
        parts.append(f"{running_tasks} task{'s' if running_tasks != 1 else ''} running")
    return ", ".join(parts)


class ProgressLine(threading.Thread):
    """Shows `counters` against `total` rows until `stop()`: a tqdm bar on a terminal, log lines otherwise."""

    def __init__(
        self,
        spark: SparkSession,
        counters: Counters,
        total: int,
        log_interval: float | None = None,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(name="sparkner-progress", daemon=True)
        self.counters = counters
        self.total = total
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.log_interval = log_interval or LOG_INTERVAL
        self.tracker = spark.sparkContext.statusTracker()
        self.started = time.time()
        self.stopped = threading.Event()

    def running_tasks(self) -> int:
        stages = (self.tracker.getStageInfo(stage) for stage in self.tracker.getActiveStageIds())
        return sum(stage.numActiveTasks for stage in stages if stage is not None)

    def snapshot(self) -> str:
        return progress_text(
            self.counters.rows.value,
            self.total,
            self.counters.tokens.value,
            time.time() - self.started,
            self.running_tasks(),
        )

    def run(self) -> None:
        if self.terminal:
            self._bar()
        else:
            while not self.stopped.wait(self.log_interval):
                logger.info("progress: %s", self.snapshot())

    def _bar(self) -> None:
        from tqdm import tqdm

        with tqdm(total=self.total, unit="rows", file=self.stream, dynamic_ncols=True, smoothing=0.1) as bar:
            shown = 0
            while not self.stopped.wait(TERMINAL_INTERVAL):
                rows = min(self.counters.rows.value, self.total)
                bar.update(rows - shown)
                shown = rows
                elapsed = time.time() - self.started
                bar.set_postfix_str(f"{self.counters.tokens.value / elapsed:,.0f} tokens/s", refresh=True)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=2)
        if not self.terminal:
            logger.info(
                "progress: %s",
                progress_text(
                    self.counters.rows.value, self.total, self.counters.tokens.value, time.time() - self.started
                ),
            )
