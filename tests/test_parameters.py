"""Every bad option fails on the driver, naming the value and what is allowed."""

from __future__ import annotations

import json

import pytest

import sparkner
from sparkner import ModelLoadError, TokenClassifier
from sparkner.sources.settings import build_settings


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"aggregation_strategy": "firts"},
            "aggregation_strategy 'firts' is not one of none, simple, first, average, max",
        ),
        ({"aggregation_strategy": 3}, "aggregation_strategy 3 is not one of"),
        ({"stride": -1}, "stride must be a non-negative whole number of tokens, got -1"),
        ({"stride": 2.5}, "stride must be a non-negative whole number"),
        ({"stride": True}, "stride must be a non-negative whole number"),
        ({"ignore_labels": "O"}, "got the string 'O'; write \\['O'\\]"),
        ({"ignore_labels": ["O", 1]}, "ignore_labels must hold label strings only; \\[1\\]"),
        ({"ignore_labels": 5}, "ignore_labels must be a list of label strings"),
        (
            {"dtype": "int4"},
            "dtype 'int4' is not one of auto, bf16, bfloat16, float, float16, float32, fp16, fp32, half, int8, qint8",
        ),
        ({"dtype": "int8", "device": "cuda"}, r"dtype 'int8' runs on the CPU only; use device='cpu'"),
        (
            {"runtime": "torch", "dtype": "int8", "device": "cuda"},
            r"dtype 'int8' \(transformers on torch int8\) runs on the CPU only",
        ),
        (
            {"dtype": "onnx-int8", "device": "cuda:1"},
            r"dtype 'int8' \(ONNX Runtime int8\) runs on the CPU only; use device='cpu'",
        ),
        ({"runtime": "onnx", "device": "cuda"}, r"runtime 'onnx' \(ONNX Runtime\) runs on the CPU only"),
        ({"runtime": "openvino", "device": "cuda:0"}, r"runtime 'openvino' \(OpenVINO\) runs on the CPU only"),
        (
            {"runtime": "onnx", "dtype": "bf16"},
            "runtime 'onnx' does not run dtype 'bfloat16'; it runs auto, None, float32, int8",
        ),
        ({"runtime": "tensorrt"}, "runtime 'tensorrt' is not one of auto, torch, openvino, onnx"),
        ({"runtime": "openvino", "dtype": "int8"}, "runtime 'openvino' does not run dtype 'int8'"),
        (
            {"aggregation_stratgy": "first"},
            "unknown option 'aggregation_stratgy'; did you mean aggregation_strategy\\?",
        ),
        ({"word_boundaries": "words"}, "word_boundaries 'words' is not one of text, pipeline"),
        ({"backend": "onnx"}, "backend 'onnx' is not one of auto, transformers, flair"),
        ({"on_error": "ignore"}, "on_error 'ignore' is not one of fail, null"),
        ({"device": "gpu"}, "device 'gpu' is not valid; use None, 'cpu', 'cuda', 'cuda:N', 'mps'"),
        ({"batch_size": 0}, "batch_size must be a positive whole number, got 0"),
        ({"max_batch_tokens": -5}, "max_batch_tokens must be a positive whole number"),
        ({"parameters": {"aggregation_strategy": "first", "strid": 3}}, "parameters has unknown keys \\['strid'\\]"),
        ({"parameters": "{not json"}, "parameters is not valid JSON"),
        ({"parameters": [1]}, "parameters must be a JSON object"),
        ({"stride": 4, "parameters": {"stride": 8}}, "stride is given twice, as 4 and in parameters as 8"),
        ({"trust_remote_code": "yes"}, "trust_remote_code must be True or False"),
    ],
)
def test_bad_options_are_refused_with_the_allowed_values(options, message):
    with pytest.raises(ValueError, match=message):
        build_settings("some/model", **options)


def test_parameters_object_as_dict_or_json_text():
    spec = {"aggregation_strategy": "FIRST", "ignore_labels": ["O", "MISC"], "stride": 32}
    for parameters in (spec, json.dumps(spec)):
        settings = build_settings("m", parameters=parameters)
        assert settings.aggregation_strategy.value == "first"
        assert settings.ignore_labels == ("O", "MISC")
        assert settings.stride == 32
    assert build_settings("m").ignore_labels == ("O",)
    assert build_settings("m").aggregation_strategy.value == "first"
    assert build_settings("m").word_boundaries.value == "text"


def test_token_is_never_in_the_repr():
    settings = build_settings("m", token="hf_secret_value")
    assert "hf_secret_value" not in repr(settings)
    assert settings.load.as_kwargs()["token"] == "hf_secret_value"


def test_stride_too_large_for_the_window(tiny_models):
    with pytest.raises(
        ValueError,
        match="stride 30 is too large .* windows hold 32 tokens, 2 of them special, so stride must be at most 29",
    ):
        TokenClassifier(tiny_models["bert-cased"], stride=30)


def test_validation_happens_when_the_udf_is_made(tiny_models):
    """No SparkSession needed: ner_udf checks before any job can start."""
    with pytest.raises(ValueError, match="stride must be at most 29"):
        sparkner.ner_udf(str(tiny_models["bert-cased"]), stride=100)
    with pytest.raises(ValueError, match="not one of none, simple"):
        sparkner.ner_udf(str(tiny_models["bert-cased"]), aggregation_strategy="all")


def test_missing_model_names_it_and_the_fix(tmp_path):
    with pytest.raises(ModelLoadError, match="(?s)Could not load model 'no-such-org/no-such-model'.*local copy"):
        TokenClassifier("no-such-org/no-such-model", local_files_only=True)
    with pytest.raises(ModelLoadError, match="exists but holds no loadable model"):
        TokenClassifier(str(tmp_path))


def test_model_without_token_classification_head(tmp_path, tiny_models):
    from transformers import AutoTokenizer, BertConfig, BertModel

    config = BertConfig(
        vocab_size=300, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    BertModel(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_models["bert-cased"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has no token-classification head \\(its architectures are BertModel\\)"):
        TokenClassifier(str(tmp_path))


def test_slow_tokenizers_are_refused(monkeypatch, tiny_models):
    import transformers

    class Slow:
        is_fast = False

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Slow())
    from sparkner.worker_cache import WORKER_CACHE

    WORKER_CACHE.clear()  # load afresh, not the tokenizer an earlier test cached
    with pytest.raises(ValueError, match="has only a slow \\(Python\\) tokenizer \\(Slow\\); sparkner needs a fast"):
        TokenClassifier(tiny_models["bert-cased"])


def test_entity_schema_per_strategy():
    assert (
        sparkner.entity_schema("simple").simpleString()
        == "array<struct<entity_group:string,score:float,word:string,start:int,end:int>>"
    )
    assert (
        sparkner.entity_schema("none").simpleString()
        == "array<struct<entity:string,score:float,index:int,word:string,start:int,end:int>>"
    )
    for strategy in ("first", "average", "max"):
        assert sparkner.entity_schema(strategy) == sparkner.entity_schema("simple")
    with pytest.raises(ValueError, match="not one of"):
        sparkner.entity_schema("grouped")


def test_none_and_empty_texts(tiny_models):
    classifier = TokenClassifier(tiny_models["bert-cased"])
    assert classifier([None, "", "   "]) == [None, [], []]
    assert classifier([]) == []
    with pytest.raises(TypeError, match="item 1 is a int .*cast the column to string"):
        classifier(["ok", 3])


def test_flair_backend_without_flair_says_how_to_install_it(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "flair", None)  # as where flair is not installed
    tagger = tmp_path / "tagger.pt"
    tagger.write_bytes(b"")
    with pytest.raises(
        ImportError, match="backend='flair' needs the flair package .*pip install 'sparkner\\[flair\\]'"
    ):
        TokenClassifier(str(tagger))


def test_int8_quantizes_the_linear_layers_on_the_cpu(tiny_models):
    """Opt-in int8: entities stay well formed; the weights are quantized, on the CPU."""
    classifier = TokenClassifier(tiny_models["bert-cased"], runtime="torch", dtype="int8")
    results = classifier(["Angela Merkel met Emmanuel Macron in Berlin.", "Paris"])
    assert classifier.device.type == "cpu"
    assert "DynamicQuantizedLinear" in repr(classifier.engine.predictor.model)
    assert all(0 <= e["start"] < e["end"] for found in results for e in found)


@pytest.mark.processes
def test_token_classifier_runs_without_pyspark(tiny_models):
    """A GPU box or a plain Python service may have no Spark: only the Spark glue needs pyspark."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "import sparkner\n"
        "print(len(sparkner.TokenClassifier(sys.argv[1])(['Angela Merkel met Emmanuel Macron in Berlin.'])))\n"
        "try:\n    sparkner.ner_udf\nexcept ImportError as error:\n    print('no pyspark:', error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_models["bert-cased"])], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1"
    assert "no pyspark" in done.stdout and "pyspark" in done.stdout.splitlines()[1]
