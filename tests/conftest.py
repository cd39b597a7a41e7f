"""Shared fixtures: tiny models built once per test session, one local SparkSession."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from paths import REAL_MODEL  # noqa: E402
from tiny_models import FAMILIES, build_tiny_model  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Spark's driver JVMs here live for a test session or one job: compiling hot code only with the quick
# compiler (C1) saves about a fifth of their CPU, the results being the same (the in-process session
# and every job a test starts as its own process read this).
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Models converted for OpenVINO or exported for ONNX Runtime go to this run's own cache folder (the
# job and Spark's workers, started from here, read the variable too).
os.environ.setdefault(
    "SPARKNER_CACHE_DIR", tempfile.mkdtemp(prefix="sparkner-test-cache-")
)  # no usage reports from the tests (nor from Spark's workers)
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
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "3")
        # Tiny frames: adaptive re-planning and generated code cost more than they save (about a
        # tenth of each test's Spark time); the results are the same either way.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def oracle_model(tmp_path_factory: pytest.TempPathFactory):
    """`oracle_model(family)`: the oracle's model of that family (a real tokenizer under random weights,
    `oracle.FAMILIES`), built once per test session (converting DeBERTa-v3's SentencePiece model takes seconds)."""
    import oracle

    if not oracle.TOKENIZERS.exists():
        pytest.skip(f"the real tokenizers live in the project's shared/ folder ({oracle.TOKENIZERS})")
    root = tmp_path_factory.mktemp("oracle-models")
    built: dict[str, Path] = {}

    def build(family: str) -> Path:
        if family not in built:
            built[family] = oracle.FAMILIES[family](root / f"model{len(built)}")
        return built[family]

    return build


@pytest.fixture(scope="session")
def real_model() -> Path:
    if not REAL_MODEL.exists():
        pytest.skip(f"the real model is not here ({REAL_MODEL}); it lives in the project's shared/ folder")
    return REAL_MODEL
