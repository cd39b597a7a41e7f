"""The SparkSession sparkner's command-line tools start when no cluster gives them one."""

from __future__ import annotations

import sys
from typing import Any


def local_session(app_name: str, master: str | None = None) -> Any:
    """`getOrCreate()` (spark-submit's and Databricks' session when there is one), with the Python
    workers on this very interpreter (`spark.pyspark.python`), so a tool run from a virtual
    environment finds sparkner in its workers without PYSPARK_PYTHON being set."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).config("spark.pyspark.python", sys.executable)
    if master:
        builder = builder.master(master)
    # Commit task output only when the whole write succeeds: a killed run leaves no partial files.
    builder = builder.config("spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1")
    return builder.getOrCreate()
