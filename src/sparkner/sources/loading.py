"""Loading the model and tokenizer (from wherever `locations.resolve` says they are).

The driver loads only the tokenizer and config (cheap) to validate parameters
against the model's real window; each executor Python worker loads the weights
once and keeps them in the bounded worker cache (`cache.WORKER_CACHE`), keyed by
what changes the weights in memory (model, revision, runtime, device, dtype), so
batches, tasks and UDFs that share a key share one copy. Tokenizers are cached there too.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any

from sparkner.options.runtimes import RUNTIMES, half_precision_on_cpu
from sparkner.options.settings import LoadOptions
from sparkner.sources import hardware
from sparkner.sources import locations as sources
from sparkner.sources.locations import ModelLoadError, short_name
from sparkner.sources.model_files import TOKENIZER_FILES, fingerprint
from sparkner.worker_cache import WORKER_CACHE

__all__ = [
    "ModelLoadError",
    "TokenizerInfo",
    "cached_model",
    "cached_tokenizer",
    "load_config",
    "load_tokenizer",
    "resolve_device",
]

logger = logging.getLogger("sparkner")

# Model families whose position ids start after the padding index (RoBERTa's
# `create_position_ids_from_input_ids`): they fit pad_token_id + 1 fewer tokens
# than max_position_embeddings.
_PADDING_OFFSET_MODEL_TYPES = frozenset(
    {
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "camembert",
        "longformer",
        "data2vec-text",
        "ibert",
        "markuplm",
        "roberta-prelayernorm",
        "xmod",
        "luke",
        "mpnet",
        "esm",
    }
)


@dataclass(frozen=True)
class TokenizerInfo:
    """What cutting windows and aggregation need to know about a tokenizer and its model."""

    window: int  # tokens per model call, special tokens included
    num_special: int  # special tokens the tokenizer adds around one text
    num_leading_special: int  # of which before the text ([CLS], <s>)
    labels: tuple[str, ...]  # id2label as a tuple indexed by label id


def _not_found_message(model: str, error: Exception) -> str:
    local = os.path.exists(model)
    where = (
        f"the local path {model!r} exists but holds no loadable model"
        if local
        else f"{model!r} is not a local directory and could not be fetched from the Hugging Face Hub"
    )
    return (
        f"Could not load model {model!r}: {where} ({type(error).__name__}: {error}). "
        "Point `model` at a local copy (a directory with config.json and the weights, e.g. made with "
        "`huggingface-cli download MODEL --local-dir DIR`), or, for a private or gated model, pass "
        "token=... with a Hugging Face access token that may read it."
    )


@functools.lru_cache(maxsize=32)
def _location(model: str, options: LoadOptions) -> str:
    """What `from_pretrained` is given, failing fast for a Hub model that cannot be had.

    Resolved once per process and model (the tokenizer, the config and the weights all load from
    it; an MLflow model is looked up in this machine's cache once); a failure is not remembered."""
    source = sources.resolve(model, options)
    sources.check_hub_reachable(source, options)
    return source.location


def load_tokenizer(model: str, options: LoadOptions) -> Any:
    """The fast tokenizer of `model`; slow (Python) tokenizers are refused.

    sparkner needs character offsets for `start`/`end`, overflowing windows for long
    texts and word ids for first/average/max: only fast tokenizers provide them.
    """
    from transformers import AutoTokenizer

    location = _location(model, options)
    is_model_folder = os.path.isfile(os.path.join(location, "config.json"))
    if is_model_folder and not any(os.path.isfile(os.path.join(location, name)) for name in TOKENIZER_FILES):
        raise ModelLoadError(_tokenizer_files_message(model, "it has no tokenizer files"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, use_fast=True, **options.as_kwargs())
    except (OSError, ValueError) as error:
        raise ModelLoadError(_not_found_message(model, error)) from error
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"model {model!r} has only a slow (Python) tokenizer ({type(tokenizer).__name__}); sparkner needs a fast "
            "tokenizer (a tokenizer.json) for character offsets, long-text windows and word boundaries. Convert it "
            "once with transformers (AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(DIR)) "
            "and point `model` at DIR."
        )
    return tokenizer


def load_config(model: str, options: LoadOptions) -> Any:
    """The model config, checked to be a token-classification model."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(_location(model, options), **options.as_kwargs())
    except (OSError, ValueError) as error:
        raise ModelLoadError(_not_found_message(model, error)) from error
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(name.endswith("ForTokenClassification") for name in architectures):
        raise ValueError(
            f"model {model!r} has no token-classification head (its architectures are {', '.join(architectures)}); "
            "use a model fine-tuned for token classification (NER, PoS), whose architecture ends in "
            "ForTokenClassification"
        )
    return config


def position_limit(config: Any) -> int | None:
    """How many tokens the model's position embeddings can take, if it has a limit."""
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if getattr(config, "model_type", None) in _PADDING_OFFSET_MODEL_TYPES:
        pad = getattr(config, "pad_token_id", None)
        limit -= (pad if isinstance(pad, int) else 1) + 1
    return limit


def tokenizer_info(tokenizer: Any, config: Any) -> TokenizerInfo:
    """The window length: `model_max_length`, capped by the model's position limit.

    Some tokenizers report a huge `model_max_length` (a "no limit" sentinel); the
    position embeddings are then the real bound.
    """
    candidates = [n for n in (tokenizer.model_max_length, position_limit(config)) if isinstance(n, int) and n > 0]
    window = min(candidates) if candidates else 512
    num_special = tokenizer.num_special_tokens_to_add(pair=False)
    if window <= num_special:
        raise ValueError(
            f"the model's window of {window} tokens leaves no room for text after {num_special} special tokens"
        )
    probe = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)["special_tokens_mask"]
    num_leading = probe.index(0) if 0 in probe else num_special
    labels = tuple(str(config.id2label[i]) for i in range(len(config.id2label)))
    return TokenizerInfo(window=window, num_special=num_special, num_leading_special=num_leading, labels=labels)


def check_vocabulary(model: str, tokenizer: Any, config: Any) -> None:
    """Refuse a tokenizer that cannot be the model's: one with no tokens beyond its special
    tokens (what transformers builds from a folder without tokenizer files), or one that
    covers less than half of the model's vocabulary (models pad their embeddings a little
    beyond the tokenizer, never by half)."""
    specials = set(tokenizer.all_special_ids)
    size = len(tokenizer)
    vocab_size = getattr(config, "vocab_size", None)
    too_small = isinstance(vocab_size, int) and size < vocab_size // 2
    if size > len(specials) + 1 and not too_small:
        return
    problem = (
        f"its tokenizer has only {size} tokens, all of them special"
        if size <= len(specials) + 1
        else f"its tokenizer has {size} tokens but the model's vocabulary has {vocab_size}"
    )
    raise ModelLoadError(_tokenizer_files_message(model, problem))


def _tokenizer_files_message(model: str, problem: str) -> str:
    source = None if sources.is_mlflow_uri(model) else sources.resolve(model)
    present = [
        name
        for name in TOKENIZER_FILES
        if source is not None and source.is_local and os.path.isfile(os.path.join(source.location, name))
    ]
    found = f"it holds {', '.join(present)}" if present else "it holds none of " + ", ".join(TOKENIZER_FILES)
    return (
        f"model {model!r}: {problem}, so the model would see nonsense ({found}). Save the model's own tokenizer "
        "next to it (AutoTokenizer.from_pretrained(ORIGINAL).save_pretrained(DIR)), so DIR holds tokenizer.json."
    )


def model_input_names(tokenizer: Any) -> list[str]:
    """The tensors the model is fed: `input_ids`, `attention_mask`, then the tokenizer's other
    model inputs (`token_type_ids`), which `encode_windows` flattens into `model_inputs`."""
    extra = [name for name in tokenizer.model_input_names if name not in ("input_ids", "attention_mask")]
    return ["input_ids", "attention_mask", *extra]


def _dtype_kwargs(dtype: str | None) -> dict[str, Any]:
    if dtype is None or dtype == "int8":  # int8: loaded in float32, then quantized
        return {}
    import torch
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    return {key: getattr(torch, dtype)}


def load_model(model: str, options: LoadOptions, device: str, dtype: str | None, runtime: str = "torch") -> Any:
    """The model ready to run on `device` by `runtime` in `dtype`: transformers' weights in eval mode
    (safetensors preferred, as transformers does), or converted once per machine for ONNX Runtime or
    OpenVINO (read back from the disk cache when converted before)."""
    if runtime == "torch":
        loaded = _from_pretrained(model, options, dtype)
        return quantize_int8(loaded) if dtype == "int8" else loaded.to(device)
    folder = model_folder(model, options)
    identity = fingerprint(folder) if folder is not None else f"{model}@{options.revision}"
    readable, names = short_name(model), model_input_names(cached_tokenizer(model, options))
    vocab_size = getattr(load_config(model, options), "vocab_size", None)
    if runtime == "openvino":
        from sparkner.sources import openvino_runtime

        return openvino_runtime.load(
            identity,
            readable,
            lambda: _from_pretrained(model, options, None),
            names,
            dtype=dtype,
            threads=cpu_threads(),
            cache_dir=options.model_cache_dir,
            vocab_size=vocab_size,
        )
    from sparkner.sources import onnx_export

    return onnx_export.session(
        identity,
        readable,
        lambda: _from_pretrained(model, options, None, attn_implementation="eager"),  # plain MatMul/Softmax
        names,
        cpu_threads(),
        quantize=dtype == "int8",
        cache_dir=options.model_cache_dir,
        vocab_size=vocab_size,
    )


def _from_pretrained(model: str, options: LoadOptions, dtype: str | None, **extra: Any) -> Any:
    from transformers import AutoModelForTokenClassification

    kwargs = {**options.as_kwargs(), **_dtype_kwargs(dtype), **extra}
    try:
        return AutoModelForTokenClassification.from_pretrained(_location(model, options), **kwargs).eval()
    except (OSError, ValueError) as error:
        raise ModelLoadError(_not_found_message(model, error)) from error


def model_folder(model: str, options: LoadOptions) -> str | None:
    """The local folder holding the model's files: itself, or a Hub model's snapshot in the Hugging Face
    cache (None when it is not there and cannot be had)."""
    location = _location(model, options)
    if os.path.isdir(location):
        return location
    from transformers.utils import cached_file

    try:
        return os.path.dirname(cached_file(location, "config.json", **options.as_kwargs()))
    except (OSError, ValueError):
        return None


def cpu_threads() -> int:
    """The threads this worker's model may use: the task's CPU share (`spark.task.cpus`) in a Spark task,
    else torch's count."""
    import torch

    try:
        from pyspark import TaskContext

        context = TaskContext.get()
    except ImportError:  # TokenClassifier runs without pyspark too
        context = None
    return max(1, int(context.cpus())) if context is not None else torch.get_num_threads()


def quantize_int8(model: Any) -> Any:
    """torch dynamic quantization: the encoder's Linear weights in int8 per output channel,
    activations quantized per batch (CPU only). The classification head stays float32.
    Measured on the MiniLM NER model: per-channel int8 lost 0.005 F1 where per-tensor lost 0.011,
    and quantizing the tiny head saved nothing (docs/benchmarks.md). Changes scores: opt-in."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    head = getattr(model, "classifier", None)
    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's deprecation notice for quantized tensors
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def resolve_device(requested: str | None, cpu_only: bool = False) -> str:
    """The device this worker runs on.

    CPU-only runtimes and dtypes (ONNX Runtime, int8) run on the CPU. Explicit choices win. Otherwise:
    the GPU Spark assigned to this task (its `resources()["gpu"]`), else the first CUDA device, else the CPU.
    A task Spark gave a GPU that torch cannot see fails at once, naming the fix: running it on the CPU
    instead would hide a cluster set up wrong behind a job many times slower.
    """
    import torch

    if cpu_only:
        return "cpu"
    if requested is not None:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {requested!r} was asked for but CUDA is not available on this worker")
        return "cuda:0" if requested == "cuda" else requested
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
    except ImportError:  # pragma: no cover - pyspark is a dependency
        context = None
    gpu = context.resources().get("gpu") if context is not None else None
    if gpu is not None and gpu.addresses:
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"Spark assigned this task GPU {gpu.addresses[0]} (spark.task.resource.gpu.amount) but torch "
                f"{torch.__version__} on "
                "this executor sees no CUDA device; install a CUDA build of torch on the executors (and check the "
                "driver with "
                'nvidia-smi), or pass device="cpu" to run on the CPU'
            )
        return f"cuda:{gpu.addresses[0]}"
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def cached_tokenizer(model: str, options: LoadOptions) -> Any:
    """Tokenizers are cheap but not free to load: once per process per model."""
    key = (model, options.revision, options.trust_remote_code)
    return WORKER_CACHE.get("tokenizer", key, lambda: load_tokenizer(model, options))


def cached_model(model: str, options: LoadOptions, device: str, dtype: str | None, runtime: str = "torch") -> Any:
    """Load once per Python worker; later calls with the same key reuse the weights."""
    key = (model, options.revision, options.trust_remote_code, runtime, device, dtype)

    def load() -> Any:
        logger.info(
            "sparkner: loading model %s (revision %s) with %s on %s",
            model,
            options.revision,
            RUNTIMES[runtime].describe(dtype),
            device,
        )
        slow = half_precision_on_cpu(dtype, hardware.this_machine().cpu_flags) if device == "cpu" else None
        if slow:
            logger.warning("sparkner: %s", slow)
        return load_model(model, options, device, dtype, runtime)

    return WORKER_CACHE.get("model", key, load)
