"""Shared fixtures: tiny models built once per test session, one local SparkSession."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from paths import REAL_MODEL  # noqa: E402
from tiny_models import FAMILIES, build_tiny_model  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage reports from the tests (nor from Spark's workers)
warnings.filterwarnings("ignore", message="Tokenizer does not support real words")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny model per tokenizer family, 32-token windows."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny_model(root / family, family, model_max_length=32) for family in FAMILIES}


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """One local SparkSession for the whole test session (2 cores, small Arrow batches)."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("sparkner-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "3")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def real_model() -> Path:
    if not REAL_MODEL.exists():
        pytest.skip(f"the real model is not here ({REAL_MODEL}); it lives in the project's shared/ folder")
    return REAL_MODEL
