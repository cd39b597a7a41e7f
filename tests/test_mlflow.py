"""Registered models against a real MLflow tracking server: `models:/...@alias`, `runs:/`,
sparkner's pyfunc, the job, and the errors a user meets (see README "Registered models")."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow_server import QUIET, MlflowServer
from parity import assert_same_entities

import sparkner
import sparkner.mlflow
from sparkner import SAMPLE_DOCS, TokenClassifier, ner_udf
from sparkner.cli.job import main as job_main
from sparkner.sources.locations import ModelLoadError
from sparkner.sources.mlflow.artifacts import DOWNLOAD_LOG, cache_root, local_copy

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.mlflow

DOCS = [json.loads(line) for line in Path(SAMPLE_DOCS).open()]
TEXTS = [doc["text"] for doc in DOCS]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", *QUIET)}
    os.environ.update({"MLFLOW_TRACKING_URI": server.url, **QUIET})
    mlflow.set_tracking_uri(server.url)
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    mlflow.set_tracking_uri(None)
    server.stop()


def log_transformers_model(folder: Path, registered_name: str) -> str:
    """MLflow's own transformers flavor, as teams log models today; returns the new version."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    components = {
        "model": AutoModelForTokenClassification.from_pretrained(folder),
        "tokenizer": AutoTokenizer.from_pretrained(folder),
    }
    with mlflow.start_run():
        info = mlflow.transformers.log_model(
            components, name="ner", task="token-classification", registered_model_name=registered_name,
            pip_requirements=["transformers", "torch"],
        )  # fmt: skip
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def registered(server, real_model, tmp_path_factory):
    """The real MiniLM registered twice (MLflow's transformers flavor and sparkner's pyfunc, both
    @champion), a run holding its plain Hugging Face folder, and a run holding no model."""
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("ner-hf", "champion", log_transformers_model(real_model, "ner-hf"))
    with mlflow.start_run():
        info = sparkner.mlflow.log_model(
            str(real_model), "ner", registered_model_name="ner-sparkner", aggregation_strategy="first"
        )
    client.set_registered_model_alias("ner-sparkner", "champion", str(info.registered_model_version))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(real_model), "hf")
        notes = tmp_path_factory.mktemp("notes") / "notes.txt"
        notes.write_text("no model here")
        mlflow.log_artifact(str(notes), "notes")
    return {
        "hf": "models:/ner-hf@champion",
        "pyfunc": "models:/ner-sparkner@champion",
        "run": f"runs:/{run.info.run_id}/hf",
        "no_model_run": f"runs:/{run.info.run_id}/notes",
        "pyfunc_info": info,
    }


def downloads(cache: Path) -> list[str]:
    log = cache_root(str(cache)) / DOWNLOAD_LOG
    return [line.split("\t")[-1] for line in log.read_text().splitlines()] if log.exists() else []


def entities_in_spark(spark, udf) -> list:
    frame = spark.createDataFrame(DOCS).repartition(4)
    return [
        row["entities"] for row in frame.select("doc_id", udf("text").alias("entities")).orderBy("doc_id").collect()
    ]


@pytest.fixture(scope="module")
def local_entities(spark, real_model):
    return entities_in_spark(spark, ner_udf(str(real_model)))


def test_alias_in_spark_and_sql_equals_local_path_downloaded_once_per_machine(
    spark, registered, local_entities, tmp_path
):
    cache = tmp_path / "cache"
    assert entities_in_spark(spark, ner_udf(registered["hf"], model_cache_dir=str(cache))) == local_entities
    sparkner.register(spark, "ner_registered", registered["pyfunc"], model_cache_dir=str(cache))
    spark.createDataFrame(DOCS).repartition(4).createOrReplaceTempView("docs_mlflow")
    via_sql = spark.sql("SELECT doc_id, ner_registered(text) AS entities FROM docs_mlflow ORDER BY doc_id").collect()
    assert [row["entities"] for row in via_sql] == local_entities
    # the driver's check and both Python workers (4 tasks) share one download per model on this machine
    assert downloads(cache) == ["models:/ner-hf/1", "models:/ner-sparkner/1"]


def test_run_uri_with_a_plain_hugging_face_folder(spark, registered, local_entities, tmp_path):
    assert entities_in_spark(spark, ner_udf(registered["run"], model_cache_dir=str(tmp_path))) == local_entities


def test_a_logged_model_id_uri(registered, real_model, tmp_path):
    """MLflow 3 names each logged model `models:/m-<id>`: immutable, so used as it is."""
    uri = registered["pyfunc_info"].model_uri
    assert uri.startswith("models:/m-")
    classifier = TokenClassifier(uri, model_cache_dir=str(tmp_path))
    assert classifier.settings.model == uri
    assert classifier(TEXTS) == TokenClassifier(str(real_model))(TEXTS)


def test_moving_the_alias_after_the_driver_resolved_it_keeps_the_version(
    spark, registered, local_entities, tiny_models, tmp_path
):
    client = mlflow.MlflowClient()
    udf = ner_udf(registered["hf"], model_cache_dir=str(tmp_path))  # pinned to version 1 here, on the driver
    version_2 = log_transformers_model(tiny_models["bert-cased"], "ner-hf")
    client.set_registered_model_alias("ner-hf", "champion", version_2)
    try:
        assert entities_in_spark(spark, udf) == local_entities, (
            "executors ran what the alias pointed at when the udf was made"
        )
        moved = TokenClassifier(registered["hf"], model_cache_dir=str(tmp_path))
        assert moved.settings.model == f"models:/ner-hf/{version_2}"
        assert moved(TEXTS[:5]) == TokenClassifier(str(tiny_models["bert-cased"]))(TEXTS[:5])
    finally:
        client.set_registered_model_alias("ner-hf", "champion", "1")
    assert downloads(tmp_path) == ["models:/ner-hf/1", f"models:/ner-hf/{version_2}"]


def test_pyfunc_predict_returns_entities_with_spans(registered, real_model):
    model = mlflow.pyfunc.load_model(registered["pyfunc"])
    frame = model.predict(pd.DataFrame({"text": TEXTS}))
    assert list(frame.columns) == ["entities", "error"]
    expected = TokenClassifier(str(real_model), aggregation_strategy="first")(TEXTS)
    assert frame["entities"].tolist() == [entities or [] for entities in expected]  # [] for the null text (doc-035)
    assert frame["error"].isna().all()
    signature = registered["pyfunc_info"].signature
    assert signature.inputs.input_names() == ["text"] and signature.outputs.input_names() == ["entities", "error"]


def test_pyfunc_spark_udf_equals_ner_udf(spark, registered, real_model):
    frame = spark.createDataFrame(DOCS).repartition(4)
    ours = ner_udf(str(real_model), aggregation_strategy="first", on_error="null")
    theirs = mlflow.pyfunc.spark_udf(
        spark, registered["pyfunc"], result_type=sparkner.mlflow.result_type("first"), env_manager="local"
    )
    expected = frame.select("doc_id", ours("text").alias("ner")).orderBy("doc_id")
    got = frame.select("doc_id", theirs("text").alias("ner")).orderBy("doc_id")
    assert got.schema == expected.schema
    wanted = [as_pyfunc_gives(row["ner"].asDict(recursive=True)) for row in expected.collect()]
    assert [row["ner"].asDict(recursive=True) for row in got.collect()] == wanted
    # without result_type MLflow infers it from the signature (entity fields in alphabetical order): same values
    inferred = mlflow.pyfunc.spark_udf(spark, registered["pyfunc"], env_manager="local")
    rows = frame.select("doc_id", inferred("text").alias("ner")).orderBy("doc_id").collect()
    assert [row["ner"].asDict(recursive=True) for row in rows] == wanted


def as_pyfunc_gives(ner: dict) -> dict:
    """ner_udf's struct as the pyfunc gives it: an empty list where ner_udf has null (a null text)."""
    return {**ner, "entities": ner["entities"] or []}


def test_job_runs_the_alias_and_records_the_version(spark, registered, real_model, tmp_path):
    out = tmp_path / "out"
    code = job_main([
        "--input", str(SAMPLE_DOCS), "--input-format", "json", "--id-col", "doc_id", "--output", str(out),
        "--mode", "overwrite", "--model", registered["hf"], "--model-cache-dir", str(tmp_path / "cache"),
        "--runtime", "torch", "--dtype", "float32",
    ])  # fmt: skip
    assert code == 0
    rows = spark.read.parquet(str(out)).orderBy("doc_id").collect()
    reference = entities_in_spark(spark, ner_udf(str(real_model), runtime="torch", dtype="float32"))
    assert len(rows) == len(reference)
    for row, expected in zip(rows, reference):  # the job batches rows its own way: scores equal to float noise
        assert (row["entities"] is None) == (expected is None)
        assert_same_entities(
            [e.asDict() for e in row["entities"] or []], [e.asDict() for e in expected or []], row["doc_id"]
        )
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["model"] == "models:/ner-hf/1" and summary["model_requested"] == "models:/ner-hf@champion"


def _copy_in_a_new_process(args: tuple[str, str, str]) -> str:
    return str(local_copy(*args[:2], None, args[2]))


def test_workers_starting_together_download_once(registered, server, tmp_path):
    """Four processes ask for the same model on a cold cache: one downloads, the others wait for it."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        folders = pool.map(_copy_in_a_new_process, [("models:/ner-hf/1", server.url, str(tmp_path))] * 4)
    assert len(set(folders)) == 1 and (Path(folders[0]) / "config.json").is_file()
    assert downloads(tmp_path) == ["models:/ner-hf/1"]
    assert not [p for p in cache_root(str(tmp_path)).iterdir() if p.name.startswith(".")], (
        "no staging folder left behind"
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("models:/ner-hf@nope", "'ner-hf' has no alias 'nope' (its aliases: @champion -> version 1)"),
        ("models:/no-such-model@champion", "there is no registered model named 'no-such-model'"),
        ("models:/ner-hf/99", "Model Version (name=ner-hf, version=99) not found"),
    ],
)
def test_unknown_model_alias_or_version_named_on_the_driver(registered, model, expected, tmp_path):
    with pytest.raises(LookupError, match=re.escape(f"MLflow model {model!r}")) as error:
        ner_udf(model, model_cache_dir=str(tmp_path))
    assert expected in str(error.value)


def test_a_run_artifact_without_a_model_is_named(registered, tmp_path):
    with pytest.raises(ModelLoadError, match="holds no Hugging Face model") as error:
        ner_udf(registered["no_model_run"], model_cache_dir=str(tmp_path))
    assert registered["no_model_run"] in str(error.value) and "notes.txt" in str(error.value)


def test_no_tracking_server_fails_in_seconds(tmp_path):
    from cluster import free_port

    started = time.monotonic()
    with pytest.raises(
        ConnectionError, match=r"tracking server http://127.0.0.1:\d+ cannot be reached.*MLFLOW_TRACKING_URI"
    ):
        ner_udf("models:/ner@champion", tracking_uri=f"http://127.0.0.1:{free_port()}", model_cache_dir=str(tmp_path))
    assert time.monotonic() - started < 10
