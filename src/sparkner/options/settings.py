"""Every option, declared once, and validated on the driver before any Spark job starts.

Each option is one field of `Settings`, declared with `option(...)`: its default, its
parser (which validates and normalises a value, naming the allowed ones when it
refuses), its help text and where else it appears (the task's `parameters` JSON, the
command lines). `parse_options`, the command lines' flags (`cli.common`), the job's config
file and the README's option tables (`options.readme`) are all derived from these
declarations (as Spark ML derives setters and docs from its `Param`s), so an option added
here reaches every entry point.

Everything here is pure: no disk, no network. `sources.settings.build_settings` adds what
depends on the model (its source, an MLflow pin, `backend="auto"`, the runtime's packages)
once; the `Settings` are then pickled to the executors, so a typo fails on the driver with a
message that names the value and the allowed ones, never as a worker traceback.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sparkner.options.runtimes import AUTO, DTYPES, RUNTIMES


class AggregationStrategy(str, enum.Enum):
    """How token predictions are fused into entities (as in transformers)."""

    NONE = "none"
    SIMPLE = "simple"
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"

    @property
    def uses_words(self) -> bool:
        """First, average and max force one label per word before grouping."""
        return self in (AggregationStrategy.FIRST, AggregationStrategy.AVERAGE, AggregationStrategy.MAX)


class WordBoundaries(str, enum.Enum):
    """Where words and spans begin and end."""

    TEXT = "text"  # words from the text itself, for every tokenizer; spans trimmed to non-space characters
    PIPELINE = "pipeline"  # exactly the pipeline's rules (subword prefix or its whitespace heuristic)


class Backend(str, enum.Enum):
    """Which library runs the model."""

    TRANSFORMERS = "transformers"
    FLAIR = "flair"


AUTO_BACKEND = "auto"  # resolved against the model when settings are built
BACKEND_CHOICES: tuple[str, ...] = (AUTO_BACKEND, *(backend.value for backend in Backend))


class OnError(str, enum.Enum):
    """What a text that fails on its own (not through the user's parameters) does."""

    FAIL = "fail"  # the task fails, as Spark would for any worker exception
    NULL = "null"  # null entities and the error message in an `error` field


# -- parsers: one per option, each names the allowed values when it refuses one ---------------


def _enum_parser(kind: type[enum.Enum], name: str, hint: str = "") -> Callable[[Any], Any]:
    allowed = ", ".join(member.value for member in kind)

    def parse(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        text = getattr(value, "value", value)  # e.g. transformers' own AggregationStrategy enum
        if isinstance(text, str):
            try:
                return kind(text.lower())
            except ValueError:
                pass
        raise ValueError(f"{name} {value!r} is not one of {allowed}{hint}")

    parse.__doc__ = f"{name}: one of {allowed}, in any case."
    return parse


parse_strategy = _enum_parser(AggregationStrategy, "aggregation_strategy")
parse_word_boundaries = _enum_parser(WordBoundaries, "word_boundaries")
parse_on_error = _enum_parser(
    OnError,
    "on_error",
    " ('null' gives a null result and an error message for a text that fails, instead of failing the task)",
)


def parse_ignore_labels(value: Any) -> tuple[str, ...]:
    """`None` means the task's default `["O"]`; otherwise a list of label strings."""
    if value is None:
        return DEFAULT_IGNORE_LABELS
    if isinstance(value, str):
        raise ValueError(
            f"ignore_labels must be a list of label strings such as ['O'], got the string {value!r}; write [{value!r}]"
        )
    if not isinstance(value, Sequence) and not isinstance(value, (set, frozenset)):
        raise ValueError(f"ignore_labels must be a list of label strings such as ['O'], got {value!r}")
    labels = tuple(value)
    bad = [label for label in labels if not isinstance(label, str)]
    if bad:
        raise ValueError(f"ignore_labels must hold label strings only; {bad!r} are not strings")
    return labels


def parse_stride(value: Any) -> int | None:
    """`None` (windows overlap by sparkner's default) or a non-negative token count."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"stride must be a non-negative whole number of tokens or None, got {value!r}")
    if value < 0:
        raise ValueError(f"stride must be a non-negative whole number of tokens, got {value}")
    return value


def parse_min_score(value: Any) -> float | None:
    """`None` keeps every entity; else the lowest score kept, between 0 and 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"min_score must be a number between 0 and 1 (or None), got {value!r}")
    return float(value)


def parse_backend(value: Any) -> str:
    """'auto' is resolved against the model in `sources.settings.build_settings`
    (see `sources.locations.default_backend`)."""
    if isinstance(value, Backend):
        return value.value
    name = value.lower() if isinstance(value, str) else None
    if name not in BACKEND_CHOICES:
        raise ValueError(f"backend {value!r} is not one of {', '.join(BACKEND_CHOICES)}")
    return name


_DEVICE_PATTERN = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")


def parse_device(value: Any) -> str | None:
    """`None` (automatic), 'cpu', 'cuda', 'cuda:N', 'mps', an int (-1 CPU, N GPU) or a torch.device."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"device {value!r} is not valid; use None, 'cpu', 'cuda', 'cuda:N', 'mps' or a GPU index")
    if isinstance(value, int):
        return "cpu" if value < 0 else f"cuda:{value}"
    text = str(value).strip().lower()  # torch.device prints as 'cuda:0'
    if _DEVICE_PATTERN.match(text):
        return text
    raise ValueError(f"device {value!r} is not valid; use None, 'cpu', 'cuda', 'cuda:N', 'mps' or a GPU index")


# dtype spellings users write, mapped to one name each.
DTYPE_ALIASES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "int8": "int8",
    "qint8": "int8",
}
# Spellings from before `runtime` existed: dtype -> (runtime, dtype).
DEPRECATED_DTYPES = {"onnx-int8": ("onnx", "int8"), "int8-onnx": ("onnx", "int8")}


def parse_dtype(value: Any) -> str | None:
    """`"auto"`: the fastest precision the worker's hardware runs well (see `runtimes.choose`); `None`
    loads the model as its runtime does by default (for torch: as transformers does); float16/bfloat16;
    int8 is dynamic quantization."""
    if value is None:
        return None
    name = str(value).removeprefix("torch.").lower()
    if name == AUTO:
        return AUTO
    if name in DTYPE_ALIASES:
        return DTYPE_ALIASES[name]
    if name in DEPRECATED_DTYPES:
        return name  # split into runtime + dtype by build_settings, with a deprecation warning
    allowed = ", ".join([AUTO, *sorted(DTYPE_ALIASES)])
    raise ValueError(f"dtype {value!r} is not one of {allowed} (or None to load the model as its runtime does)")


def parse_runtime(value: Any) -> str:
    name = value.lower() if isinstance(value, str) else None
    if name != AUTO and name not in RUNTIMES:
        raise ValueError(f"runtime {value!r} is not one of {', '.join([AUTO, *RUNTIMES])}")
    return name


def _positive_int_or_none(name: str) -> Callable[[Any], int | None]:
    def parse(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        return value

    return parse


def _flag(name: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
        return value

    return parse


def _optional_text(name: str) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or None, got {value!r}")
        return value

    return parse


def _token(value: Any) -> str | bool | None:
    if value is not None and not isinstance(value, (str, bool)):
        raise ValueError("token must be a Hugging Face access token string, True (use the saved login) or None")
    return value


def comma_list(text: str) -> list[str]:
    """A list given on a command line or in a config file: 'a,b' -> ['a', 'b']; a JSON list is
    accepted too; '' -> []."""
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [part.strip() for part in text.split(",") if part.strip()]


# -- the declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One option: how it is parsed, what it means, and which entry points take it."""

    name: str
    default: Any  # as the user would write it (parsed into the Settings field's default)
    parse: Callable[[Any], Any]
    help: str
    group: str  # "task" (the spec's parameters), "engine" or "loading"
    choices: tuple[str, ...] = ()
    in_parameters: bool = False  # accepted inside the task's `parameters` JSON
    cli_type: Callable[[str], Any] | None = str  # how the job's flag reads its text; None: a switch
    secret: bool = False  # never on a command line, never in a repr or log: its flag names a file
    environment: str | None = None  # a secret's environment variable, read when no file is given
    cli_flag: str | None = None  # the flag when it is not `--name-with-dashes` (a secret's names its file)

    @property
    def flag(self) -> str:
        return self.cli_flag or "--" + self.name.replace("_", "-")


def option(default: Any, parse: Callable[[Any], Any], help: str, group: str, **details: Any) -> Any:
    """A `Settings` field carrying its `Option` (the name is filled in from the field)."""
    declared = Option("", default, parse, help, group, **details)
    return field(default=parse(default), metadata={"option": declared}, repr=not declared.secret)


DEFAULT_IGNORE_LABELS: tuple[str, ...] = ("O",)


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to rebuild the engine: validated, picklable, hashable."""

    model: str
    # The task's parameters (the spec's `parameters` object).
    aggregation_strategy: AggregationStrategy = option(
        "first",
        parse_strategy,
        "`none`: one result per token. `simple`: adjacent tokens with the same tag grouped (B-/I- aware). "
        "`first`, `average`, `max`: each word gets one label (its first token's, the average over its tokens, "
        "or its most confident token's), then words are grouped.",
        "task",
        choices=tuple(s.value for s in AggregationStrategy),
        in_parameters=True,
    )
    word_boundaries: WordBoundaries = option(
        "text",
        parse_word_boundaries,
        "`text`: words split at whitespace and punctuation of the text itself, for every tokenizer; spans never "
        "start or end with whitespace and `word` is `text[start:end]`. `pipeline`: the pipeline's own rules and "
        '`word` as the tokenizer decodes it (with `aggregation_strategy="simple"`: the hosted API\'s answers).',
        "task",
        choices=tuple(w.value for w in WordBoundaries),
        in_parameters=True,
    )
    ignore_labels: tuple[str, ...] = option(
        None,
        parse_ignore_labels,
        "labels dropped from the output (compared with `entity_group` after grouping, with `entity` for `none`); "
        'default `["O"]`',
        "task",
        in_parameters=True,
        cli_type=comma_list,
    )
    stride: int | None = option(
        None,
        parse_stride,
        "tokens shared by consecutive windows of a long text (see Long texts)",
        "task",
        in_parameters=True,
        cli_type=int,
    )
    min_score: float | None = option(
        None,
        parse_min_score,
        "entities scoring below it are dropped (tokens, for `none`), everywhere: the UDFs, SQL, the job, "
        "`sparkner serve` and masking",
        "task",
        in_parameters=True,
        cli_type=float,
    )
    # The engine.
    device: str | None = option(
        None,
        parse_device,
        '`None`: the GPU Spark assigned to the task (`TaskContext.resources()["gpu"]`), else `cuda:0` if CUDA is '
        'available, else CPU. Or `"cpu"`, `"cuda"`, `"cuda:N"`, `"mps"`, an int.',
        "engine",
    )
    runtime: str = option(
        AUTO,
        parse_runtime,
        "what runs the model: `auto` (each worker picks the fastest runtime installed for its hardware, see "
        "Runtimes), `torch` (transformers' model, any device), `openvino` (converted once per machine, CPU) or "
        "`onnx` (exported once per machine, run by ONNX Runtime on the CPU; needs `pip install 'sparkner[onnx]'`). "
        '`runtime="torch", dtype="float32"` computes exactly as the pipeline does.',
        "engine",
        choices=(AUTO, *RUNTIMES),
    )
    dtype: str | None = option(
        AUTO,
        parse_dtype,
        "`auto`: bfloat16 on a GPU that has it (else float16) and on a CPU with AMX or AVX-512 BF16, float32 on "
        "other CPUs; `float32`, `bfloat16`, `float16`; `int8`: dynamic quantization on the CPU (opt-in, changes "
        "scores); `None` loads the model as its runtime does. Softmax always runs in float32. `onnx-int8` "
        '(deprecated) means `runtime="onnx", dtype="int8"`.',
        "engine",
        choices=(AUTO, *DTYPES),
    )
    batch_size: int | None = option(
        None,
        _positive_int_or_none("batch_size"),
        "windows per model call at most (default: the runtime's, see Runtimes)",
        "engine",
        cli_type=int,
    )
    max_batch_tokens: int | None = option(
        None,
        _positive_int_or_none("max_batch_tokens"),
        "padded tokens (`windows × longest window`) per model call at most (default: the runtime's)",
        "engine",
        cli_type=int,
    )
    backend: str = option(
        AUTO_BACKEND,
        parse_backend,
        "`transformers` or `flair` (see Flair models); `auto` picks Flair for a local model *file* or a Hub id "
        "under `flair/`, transformers otherwise",
        "engine",
        choices=BACKEND_CHOICES,
    )
    on_error: OnError = option(
        "fail",
        parse_on_error,
        "`null`: a text that fails on its own gives null entities and the error message instead of failing the "
        "task (see Failure behaviour)",
        "engine",
        choices=tuple(o.value for o in OnError),
    )
    # Finding the model (passed to `from_pretrained`).
    revision: str | None = option(None, _optional_text("revision"), "a branch, tag or commit of a Hub model", "loading")
    token: str | bool | None = option(
        None,
        _token,
        "access token for a private or gated model; never logged. The command lines read it from a file "
        "(`--hf-token-file`) or the `HF_TOKEN` environment variable, never from their arguments.",
        "loading",
        secret=True,
        environment="HF_TOKEN",
        cli_flag="--hf-token-file",
    )
    local_files_only: bool = option(
        False,
        _flag("local_files_only"),
        "never contact the Hub: use the local cache or a local directory only",
        "loading",
        cli_type=None,
    )
    trust_remote_code: bool = option(
        False,
        _flag("trust_remote_code"),
        "allow a model's own Python code from the Hub (only for models you trust)",
        "loading",
        cli_type=None,
    )
    tracking_uri: str | None = option(
        None,
        _optional_text("tracking_uri"),
        "the MLflow tracking server of a `models:/` or `runs:/` model (default: `MLFLOW_TRACKING_URI`); see "
        "Registered models",
        "loading",
    )
    registry_uri: str | None = option(
        None,
        _optional_text("registry_uri"),
        "the MLflow model registry (default: `MLFLOW_REGISTRY_URI`, else `databricks-uc` when the tracking URI is "
        "Databricks, else the tracking server); `databricks-uc` for Unity Catalog",
        "loading",
    )
    model_cache_dir: str | None = option(
        None,
        _optional_text("model_cache_dir"),
        "where each machine keeps what it makes once from a model: MLflow downloads, OpenVINO conversions, ONNX "
        "exports (default: `SPARKNER_CACHE_DIR`, else `~/.cache/sparkner`)",
        "loading",
    )

    @property
    def load(self) -> LoadOptions:
        return LoadOptions(
            self.revision,
            self.token,
            self.local_files_only,
            self.trust_remote_code,
            self.tracking_uri,
            self.registry_uri,
            self.model_cache_dir,
        )


OPTIONS: dict[str, Option] = {
    f.name: replace(f.metadata["option"], name=f.name) for f in fields(Settings) if "option" in f.metadata
}
TASK_PARAMETER_NAMES = tuple(name for name, declared in OPTIONS.items() if declared.in_parameters)


@dataclass(frozen=True)
class LoadOptions:
    """What `from_pretrained` needs to find the model; the token never appears in repr."""

    revision: str | None = None
    token: str | bool | None = field(default=None, repr=False)
    local_files_only: bool = False
    trust_remote_code: bool = False
    # Where an MLflow model comes from and where it is kept (not passed to `from_pretrained`).
    tracking_uri: str | None = None
    registry_uri: str | None = None
    model_cache_dir: str | None = None

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "local_files_only": self.local_files_only,
            "trust_remote_code": self.trust_remote_code,
        }
        if self.revision is not None:
            kwargs["revision"] = self.revision
        if self.token is not None:
            kwargs["token"] = self.token
        return kwargs


def unknown_option_message(name: str, known: Sequence[str], where: str = "option") -> str:
    """'unknown option ...; did you mean ...?' with the closest known names."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
    return f"unknown {where} {name!r}; {hint}"


def parse_task_parameters(parameters: Any) -> dict[str, Any]:
    """The spec's `parameters` JSON object (a dict or its JSON text), keys checked."""
    if parameters is None:
        return {}
    if isinstance(parameters, (str, bytes)):
        try:
            parameters = json.loads(parameters)
        except json.JSONDecodeError as error:
            raise ValueError(f"parameters is not valid JSON: {error}") from None
    if not isinstance(parameters, Mapping):
        raise ValueError(
            f'parameters must be a JSON object such as {{"aggregation_strategy": "first"}}, got {parameters!r}'
        )
    unknown = sorted(set(parameters) - set(TASK_PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"parameters has unknown keys {unknown}; allowed: {', '.join(TASK_PARAMETER_NAMES)}")
    return dict(parameters)


def parse_options(model: Any, parameters: Any = None, **options: Any) -> dict[str, Any]:
    """Every option validated and normalised, the spec's `parameters` merged in (pure: no disk,
    no network). `sources.settings.build_settings` resolves what needs the world (the model's
    source, an MLflow alias, the backend for `auto`, the runtime's packages).

    A task parameter given both as a keyword and inside `parameters` with a different
    value is refused rather than silently resolved; an unknown keyword names the
    closest known option.
    """
    if not isinstance(model, str) and not hasattr(model, "__fspath__"):
        raise ValueError(f"model must be a Hugging Face Hub id, a local path or an MLflow model URI, got {model!r}")
    for name in options:
        if name not in OPTIONS:
            raise ValueError(unknown_option_message(name, [*OPTIONS, "parameters"]))
    for name, value in parse_task_parameters(parameters).items():
        if name in options and options[name] != value:
            raise ValueError(
                f"{name} is given twice, as {options[name]!r} and in parameters as {value!r}; give it once"
            )
        options[name] = value
    values = {name: declared.parse(options.get(name, declared.default)) for name, declared in OPTIONS.items()}
    if values["dtype"] in DEPRECATED_DTYPES:
        values["runtime"], values["dtype"] = _split_deprecated_dtype(values["dtype"], options.get("runtime"))
    return values


def _split_deprecated_dtype(dtype: str, runtime: Any) -> tuple[str, str]:
    new_runtime, new_dtype = DEPRECATED_DTYPES[dtype]
    if runtime is not None and parse_runtime(runtime) != new_runtime:
        raise ValueError(
            f"dtype {dtype!r} means runtime={new_runtime!r}, but runtime={runtime!r} was given; write runtime and dtype"
        )
    warnings.warn(
        f"dtype={dtype!r} is deprecated: write runtime={new_runtime!r}, dtype={new_dtype!r}",
        FutureWarning,
        stacklevel=5,
    )
    return new_runtime, new_dtype


def with_task_parameters(settings: Settings, parameters: Any) -> Settings:
    """`settings` with a request's task parameters (the spec's `parameters` object) applied: pure,
    since the model was resolved when `settings` were built (what a server does per request)."""
    given = parse_task_parameters(parameters)
    return (
        replace(settings, **{name: OPTIONS[name].parse(value) for name, value in given.items()}) if given else settings
    )
