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
from dataclasses import dataclass
from typing import Any, TextIO

from pyspark.sql import SparkSession

logger = logging.getLogger("sparkner.job")

TERMINAL_INTERVAL = 0.5
LOG_INTERVAL = 10.0


@dataclass(frozen=True)
class Counters:
    """Rows and tokens classified so far, added to by the workers (see `spark.udf.ner_stats_udf`)."""

    rows: Any  # pyspark.Accumulator[int]
    tokens: Any

    @classmethod
    def create(cls, spark: SparkSession) -> Counters:
        return cls(spark.sparkContext.accumulator(0), spark.sparkContext.accumulator(0))

    def add(self, rows: int, tokens: int) -> None:
        """On a worker, after each batch."""
        self.rows.add(rows)
        self.tokens.add(tokens)


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
    if running_tasks is not None:
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
