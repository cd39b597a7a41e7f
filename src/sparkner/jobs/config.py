"""Job settings: command-line flags, optionally over a YAML or JSON config file.

A config file holds the same settings as the flags (dashes or underscores in the
keys); flags given on the command line win over the file.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sparkner.demo import MODEL_PATH
from sparkner.params import Settings, build_settings

INPUT_FORMATS = ("parquet", "json", "csv", "text")
MODES = ("error", "overwrite", "append", "incremental")


class JobError(Exception):
    """A problem with the job's input or settings: printed as is, exit status 2."""


def demo_model_path() -> str:
    """The small NER model bundled with sparkner (the default when no --model is given)."""
    return MODEL_PATH


@dataclass
class JobConfig:
    input: str | None = None
    input_table: str | None = None
    input_format: str = "parquet"
    text_col: str = "text"
    id_col: str | None = None
    output: str | None = None
    output_table: str | None = None
    output_format: str = "parquet"
    partition_by: list[str] | None = None
    mode: str = "error"
    model: str | None = None
    aggregation_strategy: str = "simple"
    ignore_labels: list[str] | None = None
    stride: int | None = None
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_batch_tokens: int | None = None
    backend: str = "auto"
    on_error: str = "fail"
    explode: bool = False
    chunk_rows: int | None = None
    summary_path: str | None = None
    show: int = 0
    master: str | None = None

    @property
    def model_or_demo(self) -> str:
        return self.model or demo_model_path()

    def ner_settings(self) -> Settings:
        """The engine's settings, validated (raises ValueError naming the bad value)."""
        return build_settings(
            self.model_or_demo,
            aggregation_strategy=self.aggregation_strategy,
            ignore_labels=self.ignore_labels,
            stride=self.stride,
            device=self.device,
            dtype=self.dtype,
            batch_size=self.batch_size,
            max_batch_tokens=self.max_batch_tokens,
            backend=self.backend,
            on_error=self.on_error,
        )


def _list(value: str) -> list[str]:
    """'a,b' -> ['a', 'b']; a JSON list is accepted too; '' -> []."""
    value = value.strip()
    if value.startswith("["):
        return list(json.loads(value))
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkner-job",
        description="Add named entities to a table of texts with a Hugging Face token-classification model.",
        argument_default=argparse.SUPPRESS,  # only flags actually given override the config file
    )
    source = parser.add_argument_group("input")
    source.add_argument("--input", help="input path (files or a folder)")
    source.add_argument("--input-table", help="input catalog table, instead of --input")
    source.add_argument("--input-format", choices=INPUT_FORMATS, help="format of --input (default parquet)")
    source.add_argument("--text-col", help="column holding the text (default 'text'; for --input-format text the lines)")
    source.add_argument("--id-col", help="document id column (needed for --mode incremental)")
    sink = parser.add_argument_group("output")
    sink.add_argument("--output", help="output path")
    sink.add_argument("--output-table", help="output catalog table, instead of --output")
    sink.add_argument("--output-format", help="Spark writer format (default parquet; 'delta' needs Delta Lake on the cluster)")
    sink.add_argument("--partition-by", type=_list, help="comma-separated output partition columns")
    sink.add_argument("--mode", choices=MODES, help="error (default: refuse existing output), overwrite, append, incremental")
    sink.add_argument("--explode", action="store_true", help="one row per entity (with the id) instead of one array per document")
    sink.add_argument("--chunk-rows", type=int, help="incremental mode: commit every N new documents, so a killed run keeps its progress")
    sink.add_argument("--summary-path", help="where to write the run summary JSON (default: inside a path output)")
    sink.add_argument("--show", type=int, help="print a table of the first N entities found at the end")
    model = parser.add_argument_group("model and task parameters")
    model.add_argument("--model", help="Hub id, local directory or Flair model file (default: sparkner's bundled demo model)")
    model.add_argument("--aggregation-strategy", help="none, simple (default), first, average, max")
    model.add_argument("--ignore-labels", type=_list, help="comma-separated labels to drop (default O)")
    model.add_argument("--stride", type=int, help="overlap in tokens between windows of a long text")
    model.add_argument("--device", help="cpu, cuda, cuda:N (default: the task's GPU if any, else CPU)")
    model.add_argument("--dtype", help="float32, float16, bfloat16 (default: as the model is stored)")
    model.add_argument("--batch-size", type=int, help="windows per model call at most")
    model.add_argument("--max-batch-tokens", type=int, help="padded tokens per model call at most")
    model.add_argument("--backend", help="auto (default), transformers, flair")
    model.add_argument(
        "--on-error",
        help="fail (default): a text that fails fails the job; null: its entities are null, the reason is in an "
        "'error' column and the summary counts it",
    )
    parser.add_argument("--config", help="YAML or JSON file with any of these settings; flags win")
    parser.add_argument("--master", help="Spark master when not launched by spark-submit (e.g. local[2])")
    return parser


def read_config_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise JobError(f"config file {path!r} does not exist")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    elif file.suffix == ".json":
        data = json.loads(text)
    else:
        raise JobError(f"config file {path!r} must end in .yaml, .yml or .json")
    if not isinstance(data, dict):
        raise JobError(f"config file {path!r} must hold a mapping of settings")
    known = {f.name for f in fields(JobConfig)}
    settings = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise JobError(f"config file {path!r} has unknown settings {unknown}; known: {', '.join(sorted(known))}")
    for key in ("partition_by", "ignore_labels"):
        if isinstance(settings.get(key), str):
            settings[key] = _list(settings[key])
    return settings


def parse_args(argv: list[str] | None = None) -> JobConfig:
    given = vars(build_parser().parse_args(argv))
    settings = read_config_file(given.pop("config")) if "config" in given else {}
    settings.update(given)
    config = JobConfig(**settings)
    check(config)
    return config


def check(config: JobConfig) -> None:
    """Settings that contradict each other, before Spark starts."""
    if bool(config.input) == bool(config.input_table):
        raise JobError("give exactly one of --input PATH or --input-table NAME")
    if bool(config.output) == bool(config.output_table):
        raise JobError("give exactly one of --output PATH or --output-table NAME")
    if config.input_format not in INPUT_FORMATS:
        raise JobError(f"input format {config.input_format!r} is not one of {', '.join(INPUT_FORMATS)}")
    if config.mode not in MODES:
        raise JobError(f"mode {config.mode!r} is not one of {', '.join(MODES)}")
    if config.mode == "incremental" and not config.id_col:
        raise JobError("--mode incremental needs --id-col: it skips the ids already in the output")
    if config.chunk_rows is not None and config.chunk_rows < 1:
        raise JobError(f"--chunk-rows must be a positive number, got {config.chunk_rows}")
    if config.input and config.output and Path(config.input).resolve() == Path(config.output).resolve():
        raise JobError("--output must differ from --input")
