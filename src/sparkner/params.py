"""The task's parameters, validated on the driver before any Spark job starts.

The token-classification task takes three parameters (`aggregation_strategy`,
`ignore_labels`, `stride`); sparkner adds the engine's own settings (device, dtype,
batch sizes) and the model-loading options. Everything here is plain data: it is
checked once, then pickled to the executors, so a typo fails on the driver with a
message that names the value and the allowed ones, never as a worker traceback.
"""

from __future__ import annotations

import enum
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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


class Backend(str, enum.Enum):
    """Which library runs the model."""

    TRANSFORMERS = "transformers"
    FLAIR = "flair"


class OnError(str, enum.Enum):
    """What a text that fails on its own (not through the user's parameters) does."""

    FAIL = "fail"  # the task fails, as Spark would for any worker exception
    NULL = "null"  # null entities and the error message in an `error` field


STRATEGY_NAMES = ", ".join(s.value for s in AggregationStrategy)
DEFAULT_STRATEGY = AggregationStrategy.SIMPLE
DEFAULT_IGNORE_LABELS: tuple[str, ...] = ("O",)
TASK_PARAMETER_NAMES = ("aggregation_strategy", "ignore_labels", "stride")

# dtype spellings users write, mapped to torch's attribute names.
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
    "onnx-int8": "onnx-int8",
    "int8-onnx": "onnx-int8",
}
# Quantized modes: CPU kernels only.
CPU_DTYPES = {"int8": "dynamic quantization", "onnx-int8": "ONNX Runtime int8"}
_DEVICE_PATTERN = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")


def parse_strategy(value: Any) -> AggregationStrategy:
    """Accept a strategy name in any case (as the pipeline does) or the enum itself."""
    if isinstance(value, AggregationStrategy):
        return value
    name = getattr(value, "value", value)  # transformers' own AggregationStrategy enum
    if isinstance(name, str):
        try:
            return AggregationStrategy(name.lower())
        except ValueError:
            pass
    raise ValueError(f"aggregation_strategy {value!r} is not one of {STRATEGY_NAMES}")


def parse_ignore_labels(value: Any) -> tuple[str, ...]:
    """`None` means the task's default `["O"]`; otherwise a list of label strings."""
    if value is None:
        return DEFAULT_IGNORE_LABELS
    if isinstance(value, str):
        raise ValueError(
            f"ignore_labels must be a list of label strings such as ['O'], got the string {value!r}; "
            f"write [{value!r}]"
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


def parse_backend(value: Any, model: str) -> Backend:
    """'auto' picks Flair for a local file or a Hub id under `flair/` (Flair models are one
    file; transformers models are directories); everything else is transformers."""
    if isinstance(value, Backend):
        return value
    name = str(value).lower() if isinstance(value, str) else None
    if name == "auto":
        return Backend.FLAIR if os.path.isfile(model) or model.lower().startswith("flair/") else Backend.TRANSFORMERS
    try:
        return Backend(name)
    except ValueError:
        raise ValueError(f"backend {value!r} is not one of auto, transformers, flair") from None


def parse_on_error(value: Any) -> OnError:
    try:
        return OnError(getattr(value, "value", value))
    except ValueError:
        raise ValueError(
            f"on_error {value!r} is not one of fail, null ('null' gives a null result and an error message "
            "for a text that fails, instead of failing the task)"
        ) from None


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


def parse_dtype(value: Any) -> str | None:
    """`None` loads the model as transformers does (so results match the pipeline);
    float16/bfloat16 are opt-in, for GPUs; int8 (torch) and onnx-int8 (ONNX Runtime) are
    opt-in dynamic quantization, for CPUs."""
    if value is None:
        return None
    name = str(value).removeprefix("torch.").lower()
    if name in DTYPE_ALIASES:
        return DTYPE_ALIASES[name]
    allowed = ", ".join(sorted(DTYPE_ALIASES))
    raise ValueError(f"dtype {value!r} is not one of {allowed} (or None to load the model as transformers does)")


def _check_cpu_dtype(dtype: str | None, device: str | None) -> None:
    """Quantized dtypes run on the CPU, and onnx-int8 needs its packages (checked before a job starts)."""
    if dtype not in CPU_DTYPES:
        return
    if (device or "cpu") != "cpu":
        raise ValueError(f"dtype {dtype!r} ({CPU_DTYPES[dtype]}) runs on the CPU only; use device='cpu' or a float dtype on {device!r}")
    if dtype == "onnx-int8":
        from sparkner.onnx_int8 import INSTALL_HINT, missing_modules

        missing = missing_modules()
        if missing:
            raise ImportError(f"dtype 'onnx-int8' needs {', '.join(missing)}: {INSTALL_HINT}")


def _positive_int(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return value


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
        raise ValueError(f"parameters must be a JSON object such as {{\"aggregation_strategy\": \"first\"}}, got {parameters!r}")
    unknown = sorted(set(parameters) - set(TASK_PARAMETER_NAMES))
    if unknown:
        raise ValueError(f"parameters has unknown keys {unknown}; allowed: {', '.join(TASK_PARAMETER_NAMES)}")
    return dict(parameters)


@dataclass(frozen=True)
class LoadOptions:
    """What `from_pretrained` needs to find the model; the token never appears in repr."""

    revision: str | None = None
    token: str | bool | None = field(default=None, repr=False)
    local_files_only: bool = False
    trust_remote_code: bool = False

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


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to rebuild the engine: validated, picklable, hashable."""

    model: str
    aggregation_strategy: AggregationStrategy = DEFAULT_STRATEGY
    ignore_labels: tuple[str, ...] = DEFAULT_IGNORE_LABELS
    stride: int | None = None
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_batch_tokens: int | None = None
    backend: Backend = Backend.TRANSFORMERS
    on_error: OnError = OnError.FAIL
    load: LoadOptions = LoadOptions()


def build_settings(
    model: Any,
    *,
    aggregation_strategy: Any = DEFAULT_STRATEGY.value,
    ignore_labels: Any = None,
    stride: Any = None,
    device: Any = None,
    dtype: Any = None,
    batch_size: Any = None,
    max_batch_tokens: Any = None,
    backend: Any = "auto",
    on_error: Any = "fail",
    parameters: Any = None,
    revision: str | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    trust_remote_code: bool = False,
) -> Settings:
    """Validate every option; `parameters` (the spec's JSON object) fills the task parameters.

    A task parameter given both as a keyword (with a non-default value) and inside
    `parameters` with a different value is refused rather than silently resolved.
    """
    if not isinstance(model, str) and not hasattr(model, "__fspath__"):
        raise ValueError(f"model must be a Hugging Face Hub id or a local path, got {model!r}")
    keywords = {"aggregation_strategy": aggregation_strategy, "ignore_labels": ignore_labels, "stride": stride}
    defaults = {"aggregation_strategy": DEFAULT_STRATEGY.value, "ignore_labels": None, "stride": None}
    for name, value in parse_task_parameters(parameters).items():
        given = keywords[name]
        if given != defaults[name] and given != value:
            raise ValueError(f"{name} is given twice, as {given!r} and in parameters as {value!r}; give it once")
        keywords[name] = value
    for name in ("local_files_only", "trust_remote_code"):
        if not isinstance(locals()[name], bool):
            raise ValueError(f"{name} must be True or False, got {locals()[name]!r}")
    _check_cpu_dtype(parse_dtype(dtype), parse_device(device))
    return Settings(
        model=str(model),
        aggregation_strategy=parse_strategy(keywords["aggregation_strategy"]),
        ignore_labels=parse_ignore_labels(keywords["ignore_labels"]),
        stride=parse_stride(keywords["stride"]),
        device=parse_device(device),
        dtype=parse_dtype(dtype),
        batch_size=_positive_int("batch_size", batch_size, allow_none=True),
        max_batch_tokens=_positive_int("max_batch_tokens", max_batch_tokens, allow_none=True),
        backend=parse_backend(backend, str(model)),
        on_error=parse_on_error(on_error),
        load=LoadOptions(revision, token, local_files_only, trust_remote_code),
    )
