"""ONNX Runtime (`runtime="onnx"`, float32 or int8; the old `dtype="onnx-int8"` spelling): the exported
graph is the model, and quantized it stays close to float32, for every tokenizer family, in process and
through Spark."""

from __future__ import annotations

import pytest
import torch
from parity import EXACT, assert_tokens_close
from texts import ALL_TEXTS, SHORT_TEXTS
from tiny_models import FAMILIES

import sparkner
from sparkner import TokenClassifier
from sparkner.options import runtimes
from sparkner.sources import onnx_export as onnx_runtime
from sparkner.sources.loading import model_input_names
from sparkner.worker_cache import WORKER_CACHE


@pytest.mark.parametrize("family", list(FAMILIES))
def test_exported_graph_computes_the_models_logits(tiny_models, family, tmp_path):
    """Before quantization the ONNX graph (eager attention, traced on a padded batch) gives the
    logits of the model as transformers loads it by default, on a padded batch of other lengths."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = tiny_models[family]
    tokenizer = AutoTokenizer.from_pretrained(path)
    names = model_input_names(tokenizer)
    eager = AutoModelForTokenClassification.from_pretrained(path, attn_implementation="eager").eval()
    onnx_runtime.export(eager, names, tmp_path / "model.onnx")
    session = onnx_runtime.OnnxTokenClassifier(tmp_path / "model.onnx", threads=1)

    batch = tokenizer(SHORT_TEXTS[:7], padding=True, truncation=True, return_tensors="pt")
    inputs = {name: batch[name] for name in names}
    with torch.no_grad():
        expected = AutoModelForTokenClassification.from_pretrained(path).eval()(**inputs).logits
    got = session(**inputs)["logits"]
    real = batch["attention_mask"].bool()
    assert got.shape == expected.shape
    assert torch.allclose(got[real], expected[real], atol=1e-4)


def _token_labels(path, texts, **options):
    """Every token's label and score (`none`, nothing ignored); torch float32 unless `options` say otherwise."""
    options = {**EXACT, **options}
    return TokenClassifier(str(path), aggregation_strategy="none", ignore_labels=[], **options)(texts)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_int8_stays_close_to_float32(tiny_models, family):
    """Every token of every text (long ones in windows): labels mostly unchanged, scores near."""
    exact = _token_labels(tiny_models[family], ALL_TEXTS)
    int8 = _token_labels(tiny_models[family], ALL_TEXTS, runtime="onnx", dtype="int8")
    assert_tokens_close(exact, int8, score_gap=0.15)


def test_int8_runs_on_the_cpu_in_an_onnx_session(tiny_models):
    with pytest.warns(FutureWarning, match="dtype='int8-onnx' is deprecated: write runtime='onnx', dtype='int8'"):
        classifier = TokenClassifier(tiny_models["bert-cased"], dtype="int8-onnx")
    assert (classifier.settings.runtime, classifier.settings.dtype) == ("onnx", "int8")
    assert classifier.device.type == "cpu"
    assert isinstance(classifier.engine.predictor.model, onnx_runtime.OnnxTokenClassifier)


@pytest.mark.parametrize("family", ["bert-cased", "xlm-roberta"])
def test_onnx_float32_gives_the_torch_entities(tiny_models, family):
    """runtime="onnx" without quantization: the same entities as torch, scores within 1e-4."""
    exact = _token_labels(tiny_models[family], ALL_TEXTS)
    onnx = _token_labels(tiny_models[family], ALL_TEXTS, runtime="onnx", dtype="float32")
    for ours, theirs in zip(onnx, exact):
        assert [(e["entity"], e["start"], e["end"]) for e in ours] == [
            (e["entity"], e["start"], e["end"]) for e in theirs
        ]
        assert all(abs(a["score"] - b["score"]) <= 1e-4 for a, b in zip(ours, theirs))


def test_int8_through_spark(spark, tiny_models):
    """In Spark's Python workers: rows come back in order, close to float32."""
    path = str(tiny_models["roberta"])
    df = spark.createDataFrame([(i, text) for i, text in enumerate(SHORT_TEXTS)], "id int, text string").repartition(2)
    udf = sparkner.ner_udf(path, aggregation_strategy="none", ignore_labels=[], runtime="onnx", dtype="int8")
    rows = sorted(df.select("id", udf("text").alias("entities")).collect())
    exact = _token_labels(path, SHORT_TEXTS)
    assert [row["id"] for row in rows] == list(range(len(SHORT_TEXTS)))
    for row, expected in zip(rows, exact):
        got = [entity.asDict() for entity in row["entities"]]
        assert [(e["start"], e["end"]) for e in got] == [(e["start"], e["end"]) for e in expected]
        assert all(abs(a["score"] - b["score"]) < 0.15 for a, b in zip(got, expected))


def test_missing_onnxruntime_is_reported_before_a_job_starts(monkeypatch, tiny_models):
    monkeypatch.setattr(runtimes.Runtime, "missing_packages", lambda self: list(self.packages[:1]))
    with pytest.raises(ImportError, match=r"runtime 'onnx' needs onnxruntime: pip install 'sparkner\[onnx\]'"):
        sparkner.ner_udf(str(tiny_models["bert-cased"]), runtime="onnx", dtype="int8")


def test_a_model_that_does_not_export_names_the_way_out(monkeypatch, tiny_models, tmp_path):
    def refuse(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::custom_op' to ONNX opset version 17 is not supported")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    WORKER_CACHE.clear()  # load afresh, not the session an earlier test made
    # A cache of its own: the machine's may hold this model's export from an earlier test.
    classifier = TokenClassifier(
        tiny_models["bert-uncased"], runtime="onnx", dtype="int8", model_cache_dir=str(tmp_path)
    )
    with pytest.raises(
        RuntimeError, match="runtime 'onnx' could not export BertForTokenClassification to ONNX .*use runtime='torch'"
    ):
        classifier(["Paris"])
