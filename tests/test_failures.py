"""Per-row failures (`on_error`), non-string columns, and the job's failure counts.

The failing texts here fail for a real reason users meet: a tokenizer that was
given an added token whose embedding row the model never got (added tokens without
`resize_token_embeddings`), so any text containing it makes the forward pass fail.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path

import pytest
from fakes import RunsOutOfMemory
from parity import EXACT, assert_same_entities
from samples import json_input
from texts import ALL_TEXTS

import sparkner
from sparkner import TokenClassifier
from sparkner.cli.job import main
from sparkner.engine.forward import out_of_memory_type

BROKEN_TOKEN = "<unembedded>"
TEXTS = [
    "Angela Merkel met Emmanuel Macron in Berlin.",
    f"Reuters reported {BROKEN_TOKEN} that shares fell.",
    None,
    "Tokyo and Kyoto are cities in Japan.",
    f"{BROKEN_TOKEN}",
    "",
    "Angela Merkel met Emmanuel Macron in Berlin.",
]


@pytest.fixture(scope="module")
def broken_model(tiny_models, tmp_path_factory) -> Path:
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("broken") / "model"
    shutil.copytree(tiny_models["bert-cased"], path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_tokens([BROKEN_TOKEN])  # the model's embeddings are not resized
    tokenizer.save_pretrained(path)
    return path


def _expected(tiny_models) -> list:
    """The good texts' entities, from the original (unbroken) model."""
    clean = TokenClassifier(tiny_models["bert-cased"], **EXACT)
    return [None if text is None or BROKEN_TOKEN in text else clean([text])[0] for text in TEXTS]


def test_on_error_fail_is_the_default(broken_model):
    with pytest.raises(IndexError):
        TokenClassifier(broken_model)(TEXTS)


def test_on_error_null_isolates_the_failing_texts(broken_model, tiny_models):
    results = TokenClassifier(broken_model, on_error="null", **EXACT).classify(TEXTS)
    for text, result, expected in zip(TEXTS, results, _expected(tiny_models)):
        if text is not None and BROKEN_TOKEN in text:
            assert result.entities is None
            assert result.error.startswith("IndexError: index out of range")
        else:
            assert result.error is None
            assert (result.entities is None) == (expected is None)
            if expected is not None:
                assert_same_entities(result.entities, expected, repr(text))


def test_on_error_null_through_spark(spark, broken_model, tiny_models):
    rows = [(i, text) for i, text in enumerate(TEXTS)]
    df = spark.createDataFrame(rows, "id int, text string").repartition(3)
    udf = sparkner.ner_udf(str(broken_model), on_error="null", **EXACT)
    assert udf.returnType.simpleString().startswith("struct<entities:array<struct<entity_group:string")
    got = sorted(df.select("id", udf("text").alias("r")).collect(), key=lambda row: row["id"])
    assert [row["id"] for row in got] == list(range(len(TEXTS)))  # one row out per row in
    for row, text, expected in zip(got, TEXTS, _expected(tiny_models)):
        if text is not None and BROKEN_TOKEN in text:
            assert row["r"]["entities"] is None and "IndexError" in row["r"]["error"]
        else:
            assert row["r"]["error"] is None
            if expected is not None:
                assert_same_entities([e.asDict() for e in row["r"]["entities"]], expected, repr(text))


def test_on_error_is_validated():
    with pytest.raises(ValueError, match="on_error 'skip' is not one of fail, null"):
        sparkner.ner_udf(sparkner.DEMO_MODEL, on_error="skip")


def test_the_job_counts_failed_texts(spark, broken_model, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"doc_id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "out"
    code = main(
        [
            *json_input(str(source)),
            "--output",
            str(out),
            "--model",
            str(broken_model),
            "--on-error",
            "null",
        ]
    )
    assert code == 0
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["failed_texts"] == 2 and summary["rows_processed"] == len(TEXTS)
    written = {row["doc_id"]: row for row in spark.read.parquet(str(out)).collect()}
    assert len(written) == len(TEXTS)
    assert "IndexError" in written[1]["error"] and written[1]["entities"] is None
    assert written[0]["error"] is None and written[0]["entities"]


def test_non_string_columns_are_read_as_their_text(spark):
    """Numbers, booleans, dates and binary are read as CAST(col AS STRING) would give them."""
    classifier = TokenClassifier(sparkner.DEMO_MODEL, **EXACT)
    udf = sparkner.ner_udf(sparkner.DEMO_MODEL, **EXACT)
    df = spark.createDataFrame(
        [(1, 42, 2.5, True, datetime.date(2024, 5, 1), bytearray(b"Paris"))],
        "id int, n int, x double, flag boolean, day date, raw binary",
    )
    texts = df.selectExpr(*[f"CAST({name} AS STRING) AS {name}" for name in ("n", "x", "flag", "day", "raw")]).first()
    # One iterator UDF per select (Spark 3.5 runs only one); collect, not first: a limit ends the task
    # before the UDF's output does, and Spark then discards the Python worker with its loaded model.
    for name in ("n", "x", "flag", "day", "raw"):
        ((entities,),) = df.select(udf(name)).collect()
        assert_same_entities([e.asDict() for e in entities], classifier([texts[name]])[0], name)


def test_array_columns_are_refused_with_a_message(spark):
    df = spark.createDataFrame([(1, ["Paris", "London"])], "id int, words array<string>")
    with pytest.raises(Exception, match="sparkner needs a string column, but a value is a ndarray"):
        df.select(sparkner.ner_udf(sparkner.DEMO_MODEL)("words")).collect()


def test_the_job_refuses_an_array_text_column(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"doc_id": 1, "text": ["a", "b"]}) + "\n")
    code = main(
        ["--input", str(source), "--input-format", "json", "--id-col", "doc_id", "--output", str(tmp_path / "o")]
    )
    assert code == 2
    assert "text column 'text' is array<string>, not a string column" in capsys.readouterr().err


def test_out_of_memory_halves_the_batch_and_keeps_every_result(tiny_models, caplog):
    texts = ALL_TEXTS
    expected = TokenClassifier(tiny_models["bert-cased"], stride=8, **EXACT)(texts)
    classifier = TokenClassifier(
        tiny_models["bert-cased"], stride=8, batch_size=10_000, max_batch_tokens=1_000_000, **EXACT
    )
    predictor = classifier.engine.predictor
    predictor.model = RunsOutOfMemory(predictor.model, limit=200)
    with caplog.at_level("WARNING", logger="sparkner"):
        found = classifier(texts)
    assert len(predictor.model.sizes) > 1 and max(predictor.model.sizes) > 200, "the first batch must have failed"
    assert predictor.max_tokens < 1_000_000
    assert [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()][0].startswith(
        "sparkner: out of memory"
    )
    assert sum("out of memory" in r.getMessage() for r in caplog.records) == 1, "warned once per worker"
    for i, (mine, theirs) in enumerate(zip(found, expected)):
        assert_same_entities(mine, theirs, f"text {i}")


def test_nan_scores_are_warned_about_once_with_the_way_out(tiny_models, tmp_path, caplog):
    """A model that computes NaN (an overflow in half precision, or broken weights) has meaningless
    labels: the worker says so, once, instead of leaving it to be found in the results."""
    from transformers import AutoModelForTokenClassification

    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["bert-cased"], broken)
    model = AutoModelForTokenClassification.from_pretrained(broken)
    model.classifier.bias.data[0] = float("nan")
    model.save_pretrained(broken)
    classifier = TokenClassifier(str(broken), **EXACT)
    with caplog.at_level("WARNING", logger="sparkner"):
        classifier(ALL_TEXTS[:3])
        classifier(ALL_TEXTS[3:6])
    [warning] = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    assert re.search(r"gave NaN scores for (\d+) of \1 tokens", warning), warning
    assert "try runtime='torch', dtype='float32'" in warning


def test_out_of_memory_on_a_single_window_is_raised(tiny_models):
    classifier = TokenClassifier(tiny_models["bert-cased"])
    classifier.engine.predictor.model = RunsOutOfMemory(classifier.engine.predictor.model, limit=1)
    with pytest.raises(out_of_memory_type()):
        classifier(["Angela Merkel met Emmanuel Macron in Berlin."])


class _TaskWithGpu:
    """What `TaskContext.get()` returns in a task Spark gave GPU 3 (see test_cluster for the real one)."""

    def resources(self):
        from pyspark.resource import ResourceInformation

        return {"gpu": ResourceInformation("gpu", ["3"])}


def test_a_task_given_a_gpu_runs_on_that_gpu_or_fails_naming_the_fix(monkeypatch):
    from unittest import mock

    import torch
    from pyspark import TaskContext

    from sparkner.sources.loading import resolve_device

    monkeypatch.setattr(TaskContext, "get", classmethod(lambda cls: _TaskWithGpu()))
    with mock.patch.object(torch.cuda, "is_available", return_value=True):
        assert resolve_device(None) == "cuda:3"
    with mock.patch.object(torch.cuda, "is_available", return_value=False):
        with pytest.raises(
            RuntimeError,
            match=r'Spark assigned this task GPU 3 .* sees no CUDA device; install a CUDA build .* device="cpu"',
        ):
            resolve_device(None)
        assert resolve_device("cpu") == "cpu"
        assert resolve_device(None, cpu_only=True) == "cpu"


def test_a_python_worker_with_too_little_address_space_refuses_naming_the_setting(monkeypatch):
    """spark.executor.pyspark.memory=1g: a message naming it, not an ImportError from torch (or a hang)."""
    from sparkner.sources.settings import build_settings
    from sparkner.spark import udf as glue

    monkeypatch.setattr(glue, "address_space_limit", lambda: 2**30)
    with pytest.raises(
        RuntimeError,
        match=r"address-space limit of 1.0 GiB, which Spark sets from spark.executor.pyspark.memory.*at least 3g",
    ):
        glue._worker_setup(build_settings(sparkner.DEMO_MODEL))
