"""What sparkner checks of the user's Spark session before its UDFs run."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

logger = logging.getLogger("sparkner")


def workers_on_this_interpreter(spark: Any = None) -> None:
    """Point a local session's Python workers at the driver's interpreter when nothing else was chosen.

    pyspark starts workers with `PYSPARK_PYTHON`, else `spark.pyspark.python`, else `python3` from
    PATH, which in a virtual environment that is not activated has no sparkner: the first batch
    fails after a minute of Py4J traceback. In local mode the workers run on this machine, so the
    interpreter running sparkner is the right one; on a cluster the choice stays the user's.
    """
    from pyspark.sql import SparkSession

    spark = spark or SparkSession.getActiveSession()
    try:
        context = spark.sparkContext if spark is not None else None
    except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext; its server starts the workers
        return
    if context is None or not context.master.startswith("local"):
        return
    if os.environ.get("PYSPARK_PYTHON") or context.getConf().get("spark.pyspark.python"):
        return
    if context.pythonExec != sys.executable:
        logger.info("sparkner: local Spark workers run on %s (set PYSPARK_PYTHON to choose another)", sys.executable)
        context.pythonExec = sys.executable


def default_worker_interpreter() -> None:
    """Run at `import sparkner`: an interpreter of a virtual environment that is not activated (run
    by its path, `.venv/bin/python script.py`) becomes `PYSPARK_PYTHON` when nothing else was chosen.

    Otherwise the sessions it starts would run their Python workers on the `python3` of PATH, which is
    not this environment and has no sparkner. An activated environment, `PYSPARK_PYTHON`, or
    spark-submit's `spark.pyspark.python` (which sets it) are left as they are.
    """
    in_a_venv = sys.prefix != sys.base_prefix
    activated = os.path.realpath(os.environ.get("VIRTUAL_ENV", "")) == os.path.realpath(sys.prefix)
    if in_a_venv and not activated and "PYSPARK_PYTHON" not in os.environ:
        os.environ["PYSPARK_PYTHON"] = sys.executable
