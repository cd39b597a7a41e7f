"""The batch and streaming job's settings (`JobConfig`), its config file, and their checks.

A config file holds the same settings as the job's flags (`cli.job`; dashes or underscores in
the keys); flags given on the command line win over the file. sparkner's own options
(`options.settings.OPTIONS`) are config keys here without being listed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sparkner.demo import MODEL_PATH
from sparkner.masking import Masker
from sparkner.options.masking import mask_settings
from sparkner.options.settings import OPTIONS, Settings, comma_list, unknown_option_message
from sparkner.sources.settings import build_settings

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
    """The job's own settings; `options` holds sparkner's options (`options.settings.OPTIONS`) as given."""

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
    token: str | None = field(default=None, repr=False)  # read by the command line from --hf-token-file or HF_TOKEN
    explode: bool = False
    keep_text: bool = False
    mask: bool = False  # write the text with its entities masked (`masked_text`), not the text or entities
    mask_labels: list[str] | None = None
    mask_operators: str | None = None  # a JSON or YAML file of operators (see options.masking)
    keep_entities: bool = False  # with --mask: write the entities too (they hold the words masked)
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
        if self.token is not None:
            options["token"] = self.token
        return build_settings(self.model_or_demo, **options)

    def masker(self, settings: Settings) -> Masker | None:
        """The masker of `--mask` (its operators file read and its keys loaded, on the driver), or None."""
        if not self.mask:
            return None
        operators = read_mapping_file(self.mask_operators, "--mask-operators file") if self.mask_operators else None
        try:
            return Masker(mask_settings(self.mask_labels, operators), settings.min_score)
        except ValueError as error:
            raise JobError(str(error)) from None

    def requested_model(self, settings: Settings) -> str | None:
        """`--model` as written, when the settings run something more precise (an MLflow alias pinned to a version)."""
        return self.model_or_demo if self.model_or_demo != settings.model else None


def read_mapping_file(path: str, what: str = "config file") -> dict[str, Any]:
    """A YAML or JSON file holding a mapping."""
    file = Path(path)
    if not file.is_file():
        raise JobError(f"{what} {path!r} does not exist")
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    elif file.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise JobError(f"{what} {path!r} is not valid JSON: {error}") from None
    else:
        raise JobError(f"{what} {path!r} must end in .yaml, .yml or .json")
    if not isinstance(data, dict):
        raise JobError(f"{what} {path!r} must hold a mapping")
    return data


def read_config_file(path: str) -> dict[str, Any]:
    """The job's settings from a YAML or JSON file (keys checked)."""
    data = read_mapping_file(path)
    settings = {key.replace("-", "_"): value for key, value in data.items()}
    if "token" in settings:
        raise JobError(
            f"config file {path!r} holds a token; put it in its own file and give hf_token_file (or set HF_TOKEN)"
        )
    known = sorted(JOB_FIELDS | CONFIG_FILE_KEYS | {name for name, declared in OPTIONS.items() if not declared.secret})
    for key in settings:
        if key not in known:
            raise JobError(f"config file {path!r}: " + unknown_option_message(key, known, "setting"))
    for key in ("partition_by", "ignore_labels"):
        if isinstance(settings.get(key), str):
            settings[key] = comma_list(settings[key])
    return settings


JOB_FIELDS = {f.name for f in fields(JobConfig)} - {"options", "token"}
# Config-file keys that are no JobConfig field: the file holding the token (and its old name).
CONFIG_FILE_KEYS = {"token_file", "hf_token_file"}


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
    if config.mask and config.explode:
        raise JobError("--mask writes one masked text per document; --explode writes entities: choose one")
    for flag, value in (
        ("--mask-labels", config.mask_labels),
        ("--mask-operators", config.mask_operators),
        ("--keep-entities", config.keep_entities),
    ):
        if value and not config.mask:
            raise JobError(f"{flag} is for --mask")


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
    raise JobError(
        f"--trigger {text!r} is not one of available-now, once, processing-time=<interval> (e.g. processing-time='30 "
        "seconds')"
    )


def check_stream(config: JobConfig) -> None:
    if not config.checkpoint:
        raise JobError("--stream needs --checkpoint PATH: the folder where the stream records what it has processed")
    if config.mode != "error":
        raise JobError("--stream appends what arrived since its checkpoint; drop --mode (it is for batch runs)")
    for flag, value in (("--chunk-rows", config.chunk_rows), ("--gold-col", config.gold_col), ("--show", config.show)):
        if value:
            raise JobError(f"{flag} is for batch runs, not --stream")
    parse_trigger(config.trigger)
