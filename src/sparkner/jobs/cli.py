"""`sparkner-job`: the command line (and Databricks wheel-task entry point)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from sparkner.classifier import TokenClassifier
from sparkner.jobs.config import JobError, parse_args
from sparkner.jobs.progress import JobProgress, Stopped, stop_on_signals
from sparkner.jobs.spark_session import local_session
from sparkner.jobs.summary import RunSummary
from sparkner.loading import ModelLoadError

logger = logging.getLogger("sparkner.job")


def main(argv: list[str] | None = None) -> int:
    """Run the job; exit status 0 on success, 2 for a problem with the input or settings."""
    command_started = time.time()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = parse_args(argv)
        settings = config.ner_settings()
        TokenClassifier.from_settings(settings)  # model, tokenizer and parameters checked before Spark starts
    except (JobError, ValueError, ImportError, ModelLoadError) as error:
        print(f"sparkner-job: error: {error}", file=sys.stderr)
        return 2
    from sparkner.jobs.run import default_summary_path, run_job, write_examples_table, write_summary

    spark = local_session("sparkner-job", config.master)
    progress = JobProgress()
    path = default_summary_path(config)
    try:
        with stop_on_signals(spark, progress):
            if config.stream:
                from sparkner.jobs.stream import run_stream

                def latest(summary: RunSummary) -> None:  # after each micro-batch
                    if path:
                        Path(path).parent.mkdir(parents=True, exist_ok=True)
                        Path(path).write_text(summary.to_json() + "\n")

                summary = run_stream(spark, config, settings, command_started=command_started, progress=progress, on_batch=latest)
            else:
                summary = run_job(spark, config, settings, command_started=command_started, progress=progress)
    except (JobError, ValueError, ModelLoadError) as error:
        print(f"sparkner-job: error: {error}", file=sys.stderr)
        return 2
    except Stopped as stopped:
        print(f"sparkner-job: stopped by {stopped.name}; {progress.kept(config)}", file=sys.stderr)
        return 128 + stopped.signum
    if config.show:
        print(f"\nEntities found (first {config.show}):\n{write_examples_table(summary)}\n")
    print("Run summary:")
    print(summary.to_json())
    if path:
        own, latest = write_summary(summary, path)
        logger.info("summary written to %s (latest: %s)", own, latest)
    return 0
