"""`runtime="auto"`, `dtype="auto"` (the defaults) and the OpenVINO runtime: what each kind of hardware
gets, OpenVINO's results against torch float32 on every tokenizer family, the conversion cache shared
by the workers of a machine, and the defaults through Spark and SQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from parity import EXACT, assert_same_results, assert_tokens_close
from texts import ALL_TEXTS, LONG_TEXTS, SHORT_TEXTS
from tiny_models import FAMILIES

import sparkner
from sparkner import TokenClassifier
from sparkner.options import runtimes
from sparkner.options.runtimes import Choice, choose
from sparkner.sources import disk_cache, hardware, openvino_runtime
from sparkner.worker_cache import WORKER_CACHE

AMX = frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx512f", "avx512_bf16", "avx512_vnni"})
AVX2 = frozenset({"avx2", "fma"})
EVERYTHING = lambda name: True  # noqa: E731 - every runtime installed
TORCH_ONLY = lambda name: False  # noqa: E731


# -- what auto chooses, hardware faked ------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "flags", "gpu_bf16", "available", "expected"),
    [
        ("cuda", frozenset(), True, EVERYTHING, ("torch", "bfloat16")),  # A100, H100, L4...
        ("cuda", frozenset(), False, EVERYTHING, ("torch", "float16")),  # T4, V100
        ("cpu", AMX, False, EVERYTHING, ("openvino", "bfloat16")),  # Xeon Sapphire Rapids and later
        ("cpu", ZEN4, False, EVERYTHING, ("openvino", "bfloat16")),  # AMD Zen 4, Xeon Cooper Lake
        ("cpu", ZEN4, False, TORCH_ONLY, ("torch", "bfloat16")),
        ("cpu", AVX2, False, EVERYTHING, ("openvino", "float32")),
        ("cpu", AVX2, False, lambda name: name == "onnx", ("onnx", "float32")),
        ("cpu", AVX2, False, TORCH_ONLY, ("torch", "float32")),
        ("cpu", frozenset(), False, EVERYTHING, ("openvino", "float32")),  # no /proc/cpuinfo: no flags known
    ],
    ids=[
        "gpu-bf16",
        "gpu-fp16",
        "amx",
        "avx512-bf16",
        "avx512-bf16-torch-only",
        "avx2",
        "avx2-onnx",
        "avx2-torch",
        "unknown",
    ],
)
def test_auto_picks_for_the_hardware(device, flags, gpu_bf16, available, expected):
    choice = choose("auto", "auto", device_type=device, cpu_flags=flags, gpu_bf16=gpu_bf16, available=available)
    assert (choice.runtime, choice.dtype) == expected
    assert choice.why and choice.describe().startswith(runtimes.RUNTIMES[expected[0]].title)


def test_what_is_given_is_kept_and_only_auto_is_chosen():
    def pick(runtime, dtype, flags=ZEN4, device="cpu"):
        choice = choose(runtime, dtype, device_type=device, cpu_flags=flags, available=EVERYTHING)
        return choice.runtime, choice.dtype

    assert pick("torch", "float32") == ("torch", "float32"), "the exact switch"
    assert pick("torch", "auto") == ("torch", "bfloat16")
    assert pick("torch", "auto", AVX2) == ("torch", "float32")
    assert pick("onnx", "auto") == ("onnx", "float32"), "ONNX Runtime has no bfloat16 here"
    assert pick("auto", "float32") == ("openvino", "float32")
    assert pick("auto", "int8") == ("onnx", "int8"), "int8 stays opt-in, and ONNX Runtime's is the faster"
    assert pick("auto", None) == ("openvino", None)
    assert pick("torch", "auto", device="cuda") == ("torch", "float16"), "a GPU without bfloat16"


def test_flags_are_read_from_cpuinfo():
    text = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"
    found = hardware.read_cpuinfo(text)
    assert found.cpu_model == "AMD EPYC 9R14" and "avx512_bf16" in found.cpu_flags
    assert runtimes.fast_half_precision("bfloat16", found.cpu_flags) == "avx512_bf16"
    assert runtimes.fast_half_precision("bfloat16", AVX2) is None


def test_the_worker_says_what_it_runs_and_why(tiny_models, monkeypatch):
    monkeypatch.setattr(hardware, "this_machine", lambda: hardware.Hardware("a CPU", AVX2))
    engine = TokenClassifier(tiny_models["bert-cased"], device="cpu").engine
    assert engine.runs_on() == "OpenVINO float32 (a CPU without fast bfloat16) on cpu"
    monkeypatch.setattr(hardware, "this_machine", lambda: hardware.Hardware("a CPU", AMX))
    engine = TokenClassifier(tiny_models["bert-cased"], device="cpu").engine
    assert engine.runs_on() == "OpenVINO bfloat16 (a CPU with amx_bf16) on cpu"


def test_a_model_openvino_cannot_convert_runs_on_torch(tiny_models, monkeypatch, tmp_path, caplog):
    """Auto falls back to torch with a warning; `runtime="openvino"` asked for says what failed."""

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operation aten::custom")

    monkeypatch.setattr(openvino_runtime, "convert", refuse)
    monkeypatch.setattr(hardware, "this_machine", lambda: hardware.Hardware("a CPU", AVX2))
    options = {"model_cache_dir": str(tmp_path), "device": "cpu"}
    with caplog.at_level("WARNING", logger="sparkner"):
        engine = TokenClassifier(tiny_models["roberta"], **options).engine
        assert engine.runs_on().startswith("transformers on torch float32")
    assert any("OpenVINO could not run" in record.getMessage() for record in caplog.records)
    with pytest.raises(RuntimeError, match="unsupported operation aten::custom"):
        TokenClassifier(tiny_models["roberta"], runtime="openvino", **options)(["Paris"])


def test_a_missing_package_is_one_driver_side_error(tiny_models, monkeypatch):
    monkeypatch.setattr(
        runtimes.Runtime, "missing_packages", lambda self: ["openvino"] if self.name == "openvino" else []
    )
    with pytest.raises(ImportError, match=r"^runtime 'openvino' needs openvino: pip install 'sparkner\[openvino\]'$"):
        sparkner.ner_udf(str(tiny_models["bert-cased"]), runtime="openvino")
    assert choose("auto", "auto", device_type="cpu", cpu_flags=AVX2) == Choice(
        "onnx", "float32", "a CPU without fast bfloat16"
    ), "auto picks among what is installed"


# -- OpenVINO against torch float32 ---------------------------------------------------------


def _tokens(path, texts, **options):
    return TokenClassifier(str(path), aggregation_strategy="none", ignore_labels=[], **options)(texts)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_openvino_float32_gives_torchs_entities_and_scores(tiny_models, family):
    """Every token of every text, long ones in windows (stitched, and with an explicit stride)."""
    exact = _tokens(tiny_models[family], ALL_TEXTS, **EXACT)
    openvino = _tokens(tiny_models[family], ALL_TEXTS, runtime="openvino", dtype="float32")
    assert_same_results(openvino, exact, f"{family} OpenVINO float32")
    grouped = {"aggregation_strategy": "first", "stride": 8}
    assert_same_results(
        TokenClassifier(tiny_models[family], runtime="openvino", dtype="float32", **grouped)(LONG_TEXTS),
        TokenClassifier(tiny_models[family], **grouped, **EXACT)(LONG_TEXTS),
        f"{family} long texts, stride 8",
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_openvino_bfloat16_keeps_the_labels(tiny_models, family):
    """bfloat16 keeps nearly every token's label and moves scores a little (on a CPU without bfloat16
    instructions OpenVINO emulates it, slowly but with the same rounding)."""
    exact = _tokens(tiny_models[family], ALL_TEXTS, **EXACT)
    half = _tokens(tiny_models[family], ALL_TEXTS, runtime="openvino", dtype="bfloat16")
    assert_tokens_close(exact, half, score_gap=0.1)


def test_bfloat16_after_float32_computes_in_bfloat16(tiny_models, tmp_path):
    """A machine's workers share the compiled models: one that ran `dtype="float32"` (the exact switch)
    must not hand what it compiled to the next one's bfloat16 (OpenVINO's cache ignores the precision;
    on transformers 4.57's BERT graph that gave NaN scores and labels all "O")."""

    def tokens(dtype: str, cache: str) -> list:
        WORKER_CACHE.clear()  # each run loads and compiles, as a new worker would
        return _tokens(tiny_models["bert-cased"], SHORT_TEXTS, runtime="openvino", dtype=dtype, model_cache_dir=cache)

    alone = tokens("bfloat16", str(tmp_path / "alone"))
    tokens("float32", str(tmp_path / "shared"))
    assert tokens("bfloat16", str(tmp_path / "shared")) == alone


def test_empty_and_hostile_texts_with_the_defaults(tiny_models):
    texts = ["", "   ", None, *SHORT_TEXTS, "\x00" * 50, "😀" * 300]
    found = TokenClassifier(tiny_models["xlm-roberta"])(texts)
    assert found[0] == [] and found[1] == [] and found[2] is None and len(found) == len(texts)


# -- the conversion cache -------------------------------------------------------------------

CONVERT = """
import sys
from sparkner import TokenClassifier
TokenClassifier(sys.argv[1], runtime="openvino", model_cache_dir=sys.argv[2]).load()
"""


@pytest.mark.processes
def test_workers_of_a_machine_convert_once_and_a_corrupt_entry_is_made_again(tiny_models, tmp_path):
    cache = tmp_path / "cache"
    model = str(tiny_models["deberta-v2"])
    workers = [subprocess.Popen([sys.executable, "-c", CONVERT, model, str(cache)]) for _ in range(2)]
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0]
    log = cache / "openvino" / disk_cache.MADE_LOG
    assert len(log.read_text().splitlines()) == 1, "two workers started together, one conversion"
    [entry] = [path for path in (cache / "openvino").iterdir() if path.is_dir() and not path.name.startswith(".")]
    (entry / "model.bin").write_bytes(b"\0" * 100)  # a disk that lost most of the weights
    shutil.rmtree(entry / "compiled")  # and OpenVINO's compiled copy beside them
    again = TokenClassifier(model, runtime="openvino", dtype="float32", model_cache_dir=str(cache))
    WORKER_CACHE.clear()
    assert_same_results(again(SHORT_TEXTS), TokenClassifier(model, **EXACT)(SHORT_TEXTS), "after converting again")
    assert len(log.read_text().splitlines()) == 2, "the corrupt entry was made again"


def test_onnx_exports_go_to_the_same_cache(tiny_models, tmp_path):
    model = str(tiny_models["bert-cased"])
    for _ in range(2):
        WORKER_CACHE.clear()
        TokenClassifier(model, runtime="onnx", model_cache_dir=str(tmp_path)).load()
    assert len((tmp_path / "onnx" / disk_cache.MADE_LOG).read_text().splitlines()) == 1


# -- the defaults through Spark, SQL and the job --------------------------------------------


def test_the_defaults_through_spark_and_sql(spark, tiny_models, tmp_path):
    """`ner_udf` and SQL with no options: what the worker runs is the machine's choice, and the
    entities are those of the same choice in process."""
    path = str(tiny_models["bert-cased"])
    texts = [text for text in ALL_TEXTS if text.strip()]
    df = spark.createDataFrame(list(enumerate(texts)), "id int, text string").repartition(3)
    df.createOrReplaceTempView("runtime_docs")
    sparkner.register(spark, "ner_auto", path)
    got = {
        row["id"]: [e.asDict() for e in row["entities"]]
        for row in spark.sql("SELECT id, ner_auto(text) AS entities FROM runtime_docs").collect()
    }
    expected = TokenClassifier(path)(texts)
    assert_same_results([got[i] for i in range(len(texts))], expected, "SQL, default runtime")


def test_the_job_records_what_ran_the_model(spark, tmp_path):
    from sparkner.cli.job import main

    out = tmp_path / "out"
    flags = ["--input", sparkner.SAMPLE_DOCS, "--input-format", "json", "--output", str(out)]
    assert main(flags) == 0
    summary = json.loads(Path(out / "_sparkner_summary.json").read_text())
    choice = TokenClassifier(sparkner.DEMO_MODEL).engine.runs_on()
    assert summary["runs_on"] == [choice], "every worker of this machine runs what the driver would"
