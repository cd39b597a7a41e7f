"""Options are declared once (`params.OPTIONS`): the library, the job's flags and config file and
the README's tables are derived from the declarations and must agree; models come through one
resolver; workers keep what they load in one bounded cache."""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest

import sparkner
from sparkner import ModelLoadError, TokenClassifier
from sparkner.cli.job import build_parser, main, parse_args
from sparkner.options.readme import readme_blocks
from sparkner.options.settings import OPTIONS
from sparkner.sources import hardware
from sparkner.sources import locations as sources
from sparkner.sources.settings import build_settings
from sparkner.worker_cache import WorkerCache

README = Path(__file__).resolve().parents[1] / "README.md"
SAMPLE = Path(sparkner.SAMPLE_DOCS)
# One value per option other than its default, as a user would write it, and as a job flag.
EXAMPLES = {
    "aggregation_strategy": ("max", ["--aggregation-strategy", "max"]),
    "word_boundaries": ("pipeline", ["--word-boundaries", "pipeline"]),
    "ignore_labels": (["O", "MISC"], ["--ignore-labels", "O,MISC"]),
    "stride": (16, ["--stride", "16"]),
    "device": ("cpu", ["--device", "cpu"]),
    "runtime": ("onnx", ["--runtime", "onnx"]),
    "dtype": ("int8", ["--dtype", "int8"]),
    "batch_size": (8, ["--batch-size", "8"]),
    "max_batch_tokens": (512, ["--max-batch-tokens", "512"]),
    "backend": ("flair", ["--backend", "flair"]),
    "on_error": ("null", ["--on-error", "null"]),
    "revision": ("v1.0", ["--revision", "v1.0"]),
    "token": ("hf_from_a_file", ["--hf-token-file", "TOKEN_FILE"]),
    "local_files_only": (True, ["--local-files-only"]),
    "trust_remote_code": (True, ["--trust-remote-code"]),
    "tracking_uri": ("http://mlflow:5000", ["--tracking-uri", "http://mlflow:5000"]),
    "registry_uri": ("databricks-uc", ["--registry-uri", "databricks-uc"]),
    "model_cache_dir": ("/local_disk0/models", ["--model-cache-dir", "/local_disk0/models"]),
    "min_score": (0.5, ["--min-score", "0.5"]),
}


def test_every_option_has_an_example_here():
    assert set(EXAMPLES) == set(OPTIONS), "a new option needs a line in EXAMPLES"


def test_readme_tables_are_the_declarations():
    text = README.read_text()
    for group, block in readme_blocks().items():
        assert block in text, f"README's {group} option table differs from params.OPTIONS: run `make readme-options`"


def test_cli_help_lists_every_option_with_its_values():
    help_text = " ".join(build_parser().format_help().split())
    for declared in OPTIONS.values():
        flag = declared.flag
        assert flag in help_text, f"{declared.name} has no job flag"
        for choice in declared.choices:
            assert choice in help_text


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_option_reaches_the_job(name, tmp_path):
    value, flags = EXAMPLES[name]
    token_file = tmp_path / "token"
    token_file.write_text("hf_from_a_file\n")
    flags = [str(token_file) if flag == "TOKEN_FILE" else flag for flag in flags]
    config = parse_args(["--input", "in", "--output", "out", "--model", "some/model", *flags])
    from_job = config.ner_settings()
    assert getattr(from_job, name) == getattr(build_settings("some/model", **{name: value}), name)
    assert getattr(from_job, name) != getattr(build_settings("some/model"), name), "the example must change the option"


def test_the_job_takes_no_token_on_its_command_line(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--input", "in", "--output", "out", "--token", "hf_secret"])
    assert "hf_secret" not in repr(build_settings("m", token="hf_secret"))


def test_config_file_keys_are_the_options_too(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text("input: in\noutput: out\nword-boundaries: pipeline\nruntime: torch\n")
    settings = parse_args(["--config", str(config)]).ner_settings()
    assert settings.word_boundaries.value == "pipeline"
    config.write_text("input: in\noutput: out\nword_boundary: pipeline\n")
    with pytest.raises(Exception, match="unknown setting 'word_boundary'; did you mean word_boundaries\\?"):
        parse_args(["--config", str(config)])


@pytest.mark.parametrize(
    "command, required", [("job", ["--input", "in", "--output", "out"]), ("eval", ["--gold", "g"]), ("serve", [])]
)
def test_a_misspelled_flag_gets_one_line_naming_the_closest(command, required, capsys):
    """Every command line answers a typo with one line (not the usage), exit status 2."""
    from importlib import import_module

    main_of = import_module(f"sparkner.cli.{command}").main
    with pytest.raises(SystemExit) as exited:
        main_of(["--model", "m", *required, "--aggregation-stratgy", "first"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2
    assert err.count("\n") == 0 and "unknown flag --aggregation-stratgy; did you mean --aggregation-strategy?" in err


def test_old_token_flags_still_work_with_a_warning(tmp_path, capsys):
    """0.1.0's spellings, for one release: the job's --token-file is --hf-token-file now."""
    token = tmp_path / "token"
    token.write_text("hf_old_spelling\n")
    config = parse_args(["--input", "in", "--output", "out", "--token-file", str(token)])
    assert config.token == "hf_old_spelling"
    assert "--token-file is deprecated; use --hf-token-file" in capsys.readouterr().err
    from sparkner.cli.serve import build_parser as serve_parser

    args = vars(serve_parser().parse_args(["--model", "m", "--token-file", str(token)]))
    assert args["api_token_file"] == str(token) and "token_file" not in args
    assert "--token-file is deprecated; use --api-token-file" in capsys.readouterr().err


def test_a_misspelled_option_names_the_right_one():
    with pytest.raises(ValueError, match="unknown option 'aggregation_stratgy'; did you mean aggregation_strategy\\?"):
        TokenClassifier("some/model", aggregation_stratgy="first")


def test_onnx_without_its_packages_is_a_one_line_job_error(monkeypatch, capsys):
    from sparkner.options import runtimes

    monkeypatch.setattr(runtimes.Runtime, "missing_packages", lambda self: list(self.packages))
    code = main(["--input", str(SAMPLE), "--input-format", "json", "--output", "out", "--dtype", "onnx-int8"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "runtime 'onnx' needs onnxruntime, onnx: pip install 'sparkner[onnx]'" in err


# -- model sources ---------------------------------------------------------------------------


def test_sources_resolve_paths_and_uris(tiny_models, monkeypatch, tmp_path):
    path = str(tiny_models["bert-cased"])
    assert sources.resolve(path) == sources.ModelSource(path, path, "directory")
    assert sources.resolve("file:" + path).location == path
    assert sources.resolve("dslim/bert-base-NER").kind == "hub"
    monkeypatch.setattr(sources, "DBFS_MOUNT", str(tmp_path))
    (tmp_path / "models").mkdir()
    shutil.copytree(path, tmp_path / "models" / "ner")
    assert sources.resolve("dbfs:/models/ner").location == f"{tmp_path}/models/ner"
    assert TokenClassifier("dbfs:/models/ner").engine.info.window == 32
    with pytest.raises(ModelLoadError, match="dbfs: paths are read through the .* mount on Databricks"):
        sources.resolve("dbfs:/models/missing")
    with pytest.raises(ModelLoadError, match="a Unity Catalog volume path\\) does not exist on this machine"):
        sources.resolve("/Volumes/main/ner/models/bert")
    with pytest.raises(ValueError, match="is not pinned to one version; resolve it on the driver first"):
        sources.resolve("models:/ner@champion")  # build_settings pins it (tests/test_mlflow.py)


def test_an_offline_hub_id_fails_at_once_saying_how_to_use_a_local_copy(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(
        ModelLoadError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set.*local copy"
    ):
        TokenClassifier("some-org/not-downloaded-ner")
    assert time.perf_counter() - started < 5


def test_an_unreachable_hub_fails_at_once(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    sources._hub_reachable.cache_clear()
    try:
        with pytest.raises(
            ModelLoadError, match="the Hub \\(http://127.0.0.1:9\\) cannot be reached from this machine"
        ):
            TokenClassifier("some-org/not-downloaded-ner")
    finally:
        sources._hub_reachable.cache_clear()


def test_a_model_folder_without_tokenizer_files_is_refused(tiny_models, tmp_path):
    folder = tmp_path / "weights-only"
    shutil.copytree(tiny_models["bert-cased"], folder)
    for name in os.listdir(folder):
        if "token" in name or name.startswith("vocab") or name.startswith("special"):
            os.remove(folder / name)
    with pytest.raises(ModelLoadError, match="(?s)weights-only.*tokenizer"):
        TokenClassifier(str(folder))


@pytest.mark.parametrize(
    ("flags", "warned"), [(frozenset({"avx2"}), True), (frozenset({"avx2", "avx512_bf16"}), False)]
)
def test_half_precision_on_a_cpu_is_warned_about_where_the_cpu_lacks_it(
    tiny_models, caplog, monkeypatch, flags, warned
):
    """bfloat16 on a CPU without AMX or AVX-512 BF16 is several times slower than float32: said on the
    driver and in the worker's log; on a CPU with them it is the fast path, and nothing is said."""
    monkeypatch.setattr(hardware, "this_machine", lambda: hardware.Hardware("a CPU", flags))
    with caplog.at_level(logging.WARNING, logger="sparkner"), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        TokenClassifier(tiny_models["bert-cased"], runtime="torch", dtype="bfloat16", device="cpu").load()
    message = "dtype bfloat16 on this CPU is several times slower than float32: it has no amx_bf16 or avx512_bf16"
    assert any(message in str(w.message) for w in said) == warned
    assert any(message in r.getMessage() for r in caplog.records) == warned


# -- the worker cache ------------------------------------------------------------------------


def test_worker_cache_keeps_the_most_recent_entries_per_kind():
    cache = WorkerCache({"model": 2, "tokenizer": 1})
    loads = []
    load = lambda name: lambda: loads.append(name) or name  # noqa: E731
    assert cache.get("model", "a", load("a")) == "a"
    cache.get("model", "b", load("b"))
    cache.get("model", "a", load("a"))  # a hit: "a" becomes the most recent
    cache.get("model", "c", load("c"))  # evicts "b", the least recently used
    assert cache.keys("model") == ["a", "c"] and loads == ["a", "b", "c"]
    cache.get("tokenizer", "t", load("t"))
    assert cache.keys("model") == ["a", "c"], "kinds have their own capacity"


def test_trying_several_dtypes_keeps_two_models_in_a_worker(tiny_models):
    from sparkner.worker_cache import WORKER_CACHE

    WORKER_CACHE.clear()
    for dtype in (None, "bfloat16", "int8"):
        TokenClassifier(tiny_models["bert-cased"], dtype=dtype, device="cpu")(["Angela Merkel"])
    assert [key[-1] for key in WORKER_CACHE.keys("model")] == ["bfloat16", "int8"]
