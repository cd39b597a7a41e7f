"""Stopping a running job cleanly: SIGINT (Ctrl-C) and SIGTERM cancel Spark's work and end the
job with one line that says what was kept and how to resume, exit status 130 or 143.

Without this, Ctrl-C prints the cancelled jobs' py4j and Java stack traces (hundreds of lines)
and SIGTERM ends the process without a word.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """The job was asked to stop by a signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@dataclass
class JobProgress:
    """What the run has committed so far (updated by `run.run_job` after each chunk), and whether
    a signal asked it to stop (checked by `run.run_job` between chunks)."""

    chunks: int = 0
    chunks_written: int = 0
    rows_written: int = 0
    stop_signum: int | None = None
    on_stop: Callable[[], None] | None = None  # a stream's query.stop; batch runs cancel Spark's jobs

    def check(self) -> None:
        """Raise `Stopped` once a stop was asked for."""
        if self.stop_signum is not None:
            raise Stopped(self.stop_signum)

    def kept(self, config: Any) -> str:
        resume = "rerun the same command to process the rest"
        if config.stream:
            return f"every micro-batch that finished is committed (checkpoint {config.checkpoint}); {resume}"
        if config.mode == "incremental":
            if self.chunks_written:
                return (
                    f"{self.chunks_written} of {self.chunks} chunks ({self.rows_written:,} rows) were committed and "
                    "kept; "
                    f"{resume} (incremental mode skips the ids already written)"
                )
            return f"no chunk was committed yet; {resume} (incremental mode skips the ids already written)"
        if config.mode == "overwrite":
            return "nothing was committed and the previous output is unchanged; rerun the same command"
        return "nothing was committed; rerun the same command (or use --mode incremental, which commits in chunks)"


def silence_spark_logs(spark: Any) -> None:
    """Spark's own log off from now on. Through log4j itself: `setLogLevel` also drops the console
    threshold that keeps a local session's INFO lines off the terminal, and one can slip out."""
    jvm = spark.sparkContext._jvm
    try:
        log4j = jvm.org.apache.logging.log4j
        log4j.core.config.Configurator.setRootLevel(log4j.Level.OFF)
    except Exception:  # noqa: BLE001 - a JVM without log4j 2 on its classpath
        spark.sparkContext.setLogLevel("OFF")


@contextlib.contextmanager
def stop_on_signals(spark: Any, progress: JobProgress) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM cancel every Spark job; the Spark call then failing is
    turned into `Stopped` (the handler cannot raise itself: py4j would turn it into its own error), and
    the run stops at the next chunk boundary if no Spark job was running."""

    def cancel() -> None:
        with contextlib.suppress(Exception):
            silence_spark_logs(spark)  # the cancelled tasks' traces are not news
            if progress.on_stop is not None:
                progress.on_stop()
            else:
                spark.sparkContext.cancelAllJobs()

    def stop(signum: int, frame: Any) -> None:
        for number in STOP_SIGNALS:  # a second Ctrl-C while stopping does not interrupt the clean-up
            signal.signal(number, signal.SIG_IGN)
        progress.stop_signum = signum
        # From another thread: the main thread is inside a py4j call, and py4j gives each thread one
        # connection to the JVM, so calling it from this handler would re-enter that connection.
        threading.Thread(target=cancel, name="sparkner-stop", daemon=True).start()

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    except Stopped:
        raise
    except Exception as error:
        if progress.stop_signum is not None:
            raise Stopped(progress.stop_signum) from error
        raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
