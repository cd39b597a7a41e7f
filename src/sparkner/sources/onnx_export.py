"""The ONNX Runtime runtime (`runtime="onnx"`): float32, or int8 (the faster, more accurate CPU int8).

The model is exported to ONNX once per machine (eager attention, so the graph is plain
MatMul/Softmax) into the disk cache (`disk_cache`, keyed by the model's files and the versions
of torch and ONNX Runtime), and each worker runs it in an ONNX Runtime session whose graph
optimizer fuses the rest. With `dtype="int8"` the MatMul weights are first quantized:

torch's dynamic quantization (`dtype="int8"`) only swaps the Linear layers; softmax,
layer norms and GELU stay in eager torch, which caps its speed-up on a small encoder
(1.3-1.4x on the CoNLL model, F1 -0.005). Here the MatMul weights are quantized to int8
per output channel with ONNX Runtime's dynamic quantization (docs/benchmarks.md).

`reduce_range` keeps weights to 7 bits: CPUs without VNNI (AVX2 only) multiply u8 x s8
pairs with an instruction that saturates at 16 bits, and full-range weights lost
0.012 F1 that way where 7-bit ones lost none (measured on an AMD EPYC without VNNI).

In int8, activations are quantized per call, so a text's scores depend slightly on the
texts batched with it, as with torch's dynamic quantization. Needs `pip install
"sparkner[onnx]"` (onnxruntime, onnx) on the workers.
"""

from __future__ import annotations

import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sparkner.sources import disk_cache
from sparkner.sources.converted import ConvertedModel

logger = logging.getLogger("sparkner")


class OnnxTokenClassifier(ConvertedModel):
    """An ONNX Runtime session called like a transformers model."""

    def __init__(self, path: Path, threads: int, vocab_size: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One Spark task per core slot: the session uses the threads the task was given.
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        super().__init__([node.name for node in self.session.get_inputs()], vocab_size)

    def run(self, feed: dict[str, Any]) -> Any:
        return self.session.run(["logits"], feed)[0]


def session(
    identity: str,
    readable: str,
    load_torch_model: Callable[[], Any],
    input_names: list[str],
    threads: int,
    *,
    quantize: bool,
    cache_dir: str | None,
    vocab_size: int | None = None,
) -> OnnxTokenClassifier:
    """An ONNX Runtime session of the model (`identity`: its files' fingerprint), exported (and quantized)
    once per machine into the disk cache; `load_torch_model` (float32, eager attention) is called only
    when no exported copy is there.

    `input_names` are the tensors the predictor passes: `input_ids`, `attention_mask` and the
    tokenizer's other model inputs.
    """
    import onnxruntime
    import torch

    entry = disk_cache.cache_root(cache_dir, "onnx") / disk_cache.entry_name(
        readable, identity, torch.__version__, onnxruntime.__version__, ",".join(input_names), quantize
    )
    name = "int8.onnx" if quantize else "model.onnx"
    started = time.perf_counter()
    opened = disk_cache.opened_once(
        entry,
        lambda staging: _export_into(staging, load_torch_model(), input_names, quantize),
        lambda found: (found / name).is_file() and (found / name).stat().st_size > 0,
        lambda folder: OnnxTokenClassifier(folder / name, threads, vocab_size),
        (Exception,),  # onnxruntime raises its own types for a corrupt file
        what="ONNX model",
        note=readable,
    )
    logger.info("sparkner: ONNX model ready in %.1f s (from %s)", time.perf_counter() - started, entry)
    return opened


def _export_into(folder: Path, model: Any, input_names: list[str], quantize: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exported = folder / "model.onnx"
    try:
        export(model, input_names, exported)
    except Exception as error:  # noqa: BLE001 - any exporter failure means the same to the user
        raise RuntimeError(
            f"runtime 'onnx' could not export {type(model).__name__} to ONNX ({type(error).__name__}: {error}); "
            "use runtime='torch' (with dtype='int8' for torch quantization) for this model"
        ) from error
    if quantize:
        with _quiet_root_logger():  # its "consider pre-processing" advice is for static quantization
            quantize_dynamic(
                exported, folder / "int8.onnx", weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
            )


def example_inputs(input_names: list[str]) -> tuple[Any, ...]:
    """Tensors to trace the model with: a padded second row, so the traced graph keeps the attention
    mask (an all-ones mask lets transformers skip masking, and a trace would bake that in)."""
    import torch

    mask = torch.tensor([[1] * 8, [1] * 4 + [0] * 4])
    return tuple(
        mask if name == "attention_mask" else torch.full((2, 8), 5 if name == "input_ids" else 0)
        for name in input_names
    )


def export(model: Any, input_names: list[str], path: Path) -> None:
    """The float32 `model` as ONNX with dynamic batch and sequence axes, output `logits`."""
    import torch

    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "logits"]}
    options: dict[str, Any] = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False  # the TorchScript exporter: no onnxscript needed, any torch >= 2.4
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on shape-dependent Python code in modeling files
        torch.onnx.export(
            logits_only(model, input_names),
            example_inputs(input_names),
            str(path),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            **options,
        )


def logits_only(model: Any, input_names: list[str]) -> Any:
    """The model behind the exporters' calling convention: positional tensors in, logits out."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(input_names, tensors)), return_dict=True)["logits"]

    return LogitsOnly()


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization warns through the root logger itself; keep that out of the worker log.

    A filter on the root logger sees only records logged on it directly, so other
    libraries' warnings (which propagate to its handlers) still get through.
    """
    root = logging.getLogger()
    below_error = logging.Filter()
    below_error.filter = lambda record: record.levelno >= logging.ERROR  # type: ignore[method-assign]
    root.addFilter(below_error)
    try:
        yield
    finally:
        root.removeFilter(below_error)
