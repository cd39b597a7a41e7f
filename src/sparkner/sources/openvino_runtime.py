"""The OpenVINO runtime (`runtime="openvino"`): the model in float32 or bfloat16 on the CPU.

A worker converts the transformers model to OpenVINO's form (`openvino.convert_model` over the
PyTorch module, inputs of any batch size and length) once per machine: the converted model is
kept in the disk cache (`disk_cache`), keyed by the model's files and OpenVINO's version, and the
other workers of the machine, and later runs, read it instead of loading the PyTorch model. The
precision is a compile-time hint (`INFERENCE_PRECISION_HINT`), so one converted model (its weights
in float32) serves both; OpenVINO's own cache of compiled models sits beside it, one folder per
precision: OpenVINO names its compiled entries without the hint, so a shared folder hands a
bfloat16 worker what a float32 one compiled, which on some graphs computes NaN (transformers 4.57's
BERT and RoBERTa exports, OpenVINO 2026.4).

The hint is always given: left out, OpenVINO computes in bfloat16 on CPUs that have it, and
`dtype="float32"` would quietly not be float32.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparkner.sources import disk_cache
from sparkner.sources.converted import ConvertedModel

logger = logging.getLogger("sparkner")

PRECISION_HINTS = {None: "f32", "float32": "f32", "bfloat16": "bf16"}
MODEL_FILE = "model.xml"  # and model.bin beside it


class OpenVinoTokenClassifier(ConvertedModel):
    """A compiled OpenVINO model called like a transformers model."""

    def __init__(self, compiled: Any, input_names: list[str], vocab_size: int | None = None) -> None:
        super().__init__(input_names, vocab_size)
        self.request = compiled.create_infer_request()

    def run(self, feed: dict[str, Any]) -> Any:
        self.request.infer(feed, share_inputs=True)
        return self.request.get_output_tensor(0).data.copy()


def load(
    identity: str,
    readable: str,
    load_torch_model: Callable[[], Any],
    input_names: list[str],
    *,
    dtype: str | None,
    threads: int,
    cache_dir: str | None,
    vocab_size: int | None = None,
) -> OpenVinoTokenClassifier:
    """The model (`identity`: its files' fingerprint) converted once per machine and compiled for this
    worker's `threads` in `dtype`; `load_torch_model` is called only when no converted copy is there."""
    import openvino

    entry = disk_cache.cache_root(cache_dir, "openvino") / disk_cache.entry_name(
        readable, identity, openvino.__version__, ",".join(input_names)
    )
    started = time.perf_counter()

    def compiled_once(folder: Path) -> Any:
        # One worker at a time fills OpenVINO's compiled-model cache; with it filled, compiling is quick.
        with disk_cache.locked(disk_cache.lock_of(folder)):
            return compile_for_cpu(folder, dtype, threads)

    compiled = disk_cache.opened_once(
        entry,
        lambda staging: convert(load_torch_model(), input_names, staging),
        _is_whole,
        compiled_once,
        (RuntimeError,),
        what="OpenVINO model",
        note=readable,
    )
    logger.info(
        "sparkner: OpenVINO model ready in %.1f s (%s, %d threads, from %s)",
        time.perf_counter() - started,
        PRECISION_HINTS[dtype],
        threads,
        entry,
    )
    return OpenVinoTokenClassifier(compiled, input_names, vocab_size)


def _is_whole(folder: Path) -> bool:
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in (MODEL_FILE, "model.bin"))


def convert(model: Any, input_names: list[str], folder: Path) -> None:
    """The float32 PyTorch `model` as an OpenVINO model in `folder`: inputs named as the tokenizer names
    them, of any batch size and length, and one output, the logits."""
    import openvino
    import torch
    from transformers.utils import logging as transformers_logging

    from sparkner.sources.onnx_export import example_inputs, logits_only

    started = time.perf_counter()
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # notes on attributes the trace touches ("loss_type=None ...")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape-dependent Python code in modeling files
            converted = openvino.convert_model(
                logits_only(model, input_names), example_input=example_inputs(input_names), verbose=False
            )
    finally:
        transformers_logging.set_verbosity(verbosity)
    for name, port in zip(input_names, converted.inputs):
        port.get_tensor().set_names({name})
    converted.reshape({port: openvino.PartialShape([-1, -1]) for port in converted.inputs})
    openvino.save_model(converted, str(folder / MODEL_FILE), compress_to_fp16=False)
    logger.info("sparkner: model converted to OpenVINO in %.1f s", time.perf_counter() - started)


def compile_for_cpu(folder: Path, dtype: str | None, threads: int) -> Any:
    """The converted model compiled for this CPU, computing in `dtype` on `threads` threads (one stream:
    Spark runs one task per CPU share and batches the work itself). Threads are not pinned to cores:
    OpenVINO would pin every worker process's threads to the same first cores, and Spark's workers
    on one machine would take turns on them."""
    import openvino

    core = openvino.Core()
    config = {
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[dtype],
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": False,
        "CACHE_DIR": str(folder / "compiled" / PRECISION_HINTS[dtype]),
    }
    return core.compile_model(str(folder / MODEL_FILE), "CPU", config)
