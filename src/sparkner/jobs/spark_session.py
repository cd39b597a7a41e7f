"""The SparkSession sparkner's command-line tools start when no cluster gives them one."""

from __future__ import annotations

import os
import sys
from typing import Any


def local_session(app_name: str, master: str | None = None) -> Any:
    """`getOrCreate()` (spark-submit's and Databricks' session when there is one).

    A session started here runs its Python workers on this very interpreter unless
    PYSPARK_PYTHON says otherwise, so a tool run from a virtual environment finds sparkner in
    its workers without the variable being set (pyspark itself would start `python3`).
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    # Commit task output only when the whole write succeeds: a killed run leaves no partial files.
    builder = builder.config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
    # The job shows its own progress line (rows, rates, ETA); Spark's stage bar would overwrite it.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    return builder.getOrCreate()
