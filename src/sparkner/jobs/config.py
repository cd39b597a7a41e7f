"""Job settings: command-line flags, optionally over a YAML or JSON config file.

A config file holds the same settings as the flags (dashes or underscores in the
keys); flags given on the command line win over the file. sparkner's own options
(`params.OPTIONS`) become flags and config keys here without being listed again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sparkner.demo import MODEL_PATH
from sparkner.params import OPTIONS, Option, Settings, build_settings, comma_list, read_secret, unknown_option_message

INPUT_FORMATS = ("parquet", "json", "csv", "text")
MODES = ("error", "overwrite", "append", "incremental")
# Incremental mode's commit size: each chunk costs a few Spark jobs of its own (write, counts);
# docs/benchmarks.md ("Incremental chunk size") has the measurement behind this default.
DEFAULT_CHUNK_ROWS = 10_000


class JobError(Exception):
    """A problem with the job's input or settings: printed as is, exit status 2."""


def demo_model_path() -> str:
    """The small NER model bundled with sparkner (the default when no --model is given)."""
    return MODEL_PATH


@dataclass
class JobConfig:
    """The job's own settings; `options` holds sparkner's options (`params.OPTIONS`) as given."""

    input: str | None = None
    input_table: str | None = None
    input_format: str = "parquet"
    text_col: str = "text"
    id_col: str | None = None
    gold_col: str | None = None
    output: str | None = None
    output_table: str | None = None
    output_format: str = "parquet"
    partition_by: list[str] | None = None
    mode: str = "error"
    model: str | None = None
    token_file: str | None = None
    explode: bool = False
    keep_text: bool = False
    chunk_rows: int | None = None
    summary_path: str | None = None
    show: int = 0
    progress_interval: float | None = None
    stream: bool = False
    checkpoint: str | None = None
    trigger: str = "available-now"
    schema: str | None = None
    max_files_per_trigger: int | None = None
    max_bytes_per_trigger: str | None = None
    master: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def model_or_demo(self) -> str:
        return self.model or demo_model_path()

    def ner_settings(self) -> Settings:
        """The engine's settings, validated (raises ValueError naming the bad value)."""
        options = dict(self.options)
        token = read_secret(self.token_file)  # without --token-file, transformers reads HF_TOKEN itself
        if token is not None:
            options["token"] = token
        return build_settings(self.model_or_demo, **options)

    def requested_model(self, settings: Settings) -> str | None:
        """`--model` as written, when the settings run something more precise (an MLflow alias pinned to a version)."""
        return self.model_or_demo if self.model_or_demo != settings.model else None


def option_help(declared: Option) -> str:
    """An option's flag help: its README text, its allowed values and its default."""
    text = declared.help.replace("`", "")
    if declared.choices:
        text += f" [one of: {', '.join(declared.choices)}]"
    if declared.cli_type is not None and declared.default is not None:
        text += f" (default: {declared.default})"
    return text.replace("%", "%%")


def add_option_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per option of `params.OPTIONS` (secrets excepted: see --token-file)."""
    for declared in OPTIONS.values():
        if declared.secret:
            continue
        if declared.cli_type is None:
            group.add_argument(declared.flag, dest=declared.name, action="store_true", help=option_help(declared))
        else:
            group.add_argument(declared.flag, dest=declared.name, type=declared.cli_type, metavar=declared.name.upper(), help=option_help(declared))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparkner-job",
        description="Add named entities to a table of texts with a Hugging Face token-classification model.",
        argument_default=argparse.SUPPRESS,  # only flags actually given override the config file
        allow_abbrev=False,  # "--token hf_..." must not be read as --token-file
    )
    source = parser.add_argument_group("input")
    source.add_argument("--input", help="input path (files or a folder)")
    source.add_argument("--input-table", help="input catalog table, instead of --input")
    source.add_argument("--input-format", choices=INPUT_FORMATS, help="format of --input (default parquet)")
    source.add_argument("--text-col", help="column holding the text (default 'text'; for --input-format text the lines)")
    source.add_argument("--id-col", help="document id column (needed for --mode incremental)")
    source.add_argument("--gold-col", help="gold entities column (array<struct<start, end, label>>): span metrics go into the run summary")
    sink = parser.add_argument_group("output")
    sink.add_argument("--output", help="output path")
    sink.add_argument("--output-table", help="output catalog table, instead of --output")
    sink.add_argument("--output-format", help="Spark writer format (default parquet; 'delta' needs Delta Lake on the cluster)")
    sink.add_argument("--partition-by", type=comma_list, help="comma-separated output partition columns")
    sink.add_argument("--mode", choices=MODES, help="error (default: refuse existing output), overwrite, append, incremental")
    sink.add_argument("--explode", action="store_true", help="one row per entity (with the id) instead of one array per document")
    sink.add_argument("--keep-text", action="store_true", help="with --explode: keep the text column, so text[start:end] can be read from the output")
    sink.add_argument(
        "--chunk-rows", type=int, help=f"incremental mode: commit every N new documents, so a stopped run keeps its progress (default {DEFAULT_CHUNK_ROWS}; 0: one commit)"
    )
    sink.add_argument("--summary-path", help="where to write the run summary JSON (default: inside a path output)")
    sink.add_argument("--show", type=int, help="print a table of the first N entities found at the end")
    sink.add_argument(
        "--progress-interval", type=float, help="seconds between progress log lines when stderr is not a terminal (default 10; a terminal gets a live bar)"
    )
    streaming = parser.add_argument_group("streaming (--stream)")
    streaming.add_argument("--stream", action="store_true", help="read the input as a Structured Streaming source: each run processes what arrived since the last (needs --checkpoint)")
    streaming.add_argument("--checkpoint", help="the stream's checkpoint folder: what was processed and committed")
    streaming.add_argument("--trigger", help="available-now (default: what is there, then stop), once, or processing-time=<interval> (e.g. processing-time='30 seconds': keep running)")
    streaming.add_argument("--schema", help="the input's schema as a DDL string (default: read from the input's files when the stream starts)")
    streaming.add_argument("--max-files-per-trigger", type=int, help="file sources: at most N new files per micro-batch")
    streaming.add_argument("--max-bytes-per-trigger", help="file sources that support it: about this many bytes per micro-batch")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="Hub id, local directory (also dbfs:/ and /Volumes/ paths) or Flair model file (default: sparkner's bundled demo model)")
    model.add_argument("--token-file", help="file holding the Hugging Face access token for a private or gated model (or set HF_TOKEN); never give the token itself on the command line")
    add_option_flags(parser.add_argument_group("sparkner options (see the README's option table)"))
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
    settings = {key.replace("-", "_"): value for key, value in data.items()}
    if "token" in settings:
        raise JobError(f"config file {path!r} holds a token; put it in its own file and give token_file (or set HF_TOKEN)")
    known = sorted(JOB_FIELDS | {name for name, declared in OPTIONS.items() if not declared.secret})
    for key in settings:
        if key not in known:
            raise JobError(f"config file {path!r}: " + unknown_option_message(key, known, "setting"))
    for key in ("partition_by", "ignore_labels"):
        if isinstance(settings.get(key), str):
            settings[key] = comma_list(settings[key])
    return settings


JOB_FIELDS = {f.name for f in fields(JobConfig)} - {"options"}


def parse_args(argv: list[str] | None = None) -> JobConfig:
    given = vars(build_parser().parse_args(argv))
    settings = read_config_file(given.pop("config")) if "config" in given else {}
    settings.update(given)
    options = {name: settings.pop(name) for name in list(settings) if name in OPTIONS}
    config = JobConfig(**settings, options=options)
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
    if config.stream:
        check_stream(config)
    elif config.checkpoint:
        raise JobError("--checkpoint is for --stream; a batch job keeps its place with --mode incremental")
    if config.progress_interval is not None and config.progress_interval <= 0:
        raise JobError(f"--progress-interval must be a positive number of seconds, got {config.progress_interval}")
    if config.chunk_rows is not None and config.chunk_rows < 0:
        raise JobError(f"--chunk-rows must be a positive number (or 0 for one commit), got {config.chunk_rows}")
    if config.input and config.output and Path(config.input).resolve() == Path(config.output).resolve():
        raise JobError("--output must differ from --input")


def parse_trigger(text: str) -> dict[str, Any]:
    """`--trigger` as `DataStreamWriter.trigger` keyword arguments."""
    if text == "available-now":
        return {"availableNow": True}
    if text == "once":
        return {"once": True}
    if text.startswith("processing-time="):
        interval = text.removeprefix("processing-time=").strip()
        if interval:
            return {"processingTime": interval}
    raise JobError(f"--trigger {text!r} is not one of available-now, once, processing-time=<interval> (e.g. processing-time='30 seconds')")


def check_stream(config: JobConfig) -> None:
    if not config.checkpoint:
        raise JobError("--stream needs --checkpoint PATH: the folder where the stream records what it has processed")
    if config.mode != "error":
        raise JobError("--stream appends what arrived since its checkpoint; drop --mode (it is for batch runs)")
    for flag, value in (("--chunk-rows", config.chunk_rows), ("--gold-col", config.gold_col), ("--show", config.show)):
        if value:
            raise JobError(f"{flag} is for batch runs, not --stream")
    parse_trigger(config.trigger)
