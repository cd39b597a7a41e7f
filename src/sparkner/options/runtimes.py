"""What runs the model: one table row per runtime.

A runtime says which precisions it runs, on which devices, with which extra
packages, and its default batch sizes per device kind (measured in
docs/benchmarks.md). `sources.settings.check_runtime` validates a choice on the driver against
this table; `sources.loading.load_model` dispatches on it; `engine.forward.Predictor` takes its
batch defaults from it. A new runtime is a new row plus its loader.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Runtime:
    name: str
    title: str
    dtypes: tuple[str | None, ...]  # None: as the runtime loads the model by default (float32 here)
    devices: tuple[str, ...]  # device types it runs on
    packages: tuple[str, ...] = ()  # importable modules it needs beyond sparkner's dependencies
    extra: str | None = None  # the pip extra that installs them
    cpu_only_dtypes: tuple[str, ...] = ()
    # (windows, padded tokens) per model call, by device type ("cpu", "gpu").
    batch_defaults: dict[str, tuple[int, int]] = field(default_factory=dict)

    def cpu_only(self, dtype: str | None) -> bool:
        """Whether this runtime runs `dtype` on the CPU only."""
        return self.devices == ("cpu",) or dtype in self.cpu_only_dtypes

    def missing_packages(self) -> list[str]:
        return [name for name in self.packages if importlib.util.find_spec(name) is None]

    def describe(self, dtype: str | None) -> str:
        return f"{self.title} {dtype or 'float32'}"

    def batch_limits(self, device_type: str) -> tuple[int, int]:
        return self.batch_defaults["cpu" if device_type == "cpu" else "gpu"]


RUNTIMES: dict[str, Runtime] = {
    "torch": Runtime(
        name="torch",
        title="transformers on torch",
        dtypes=(None, "float32", "float16", "bfloat16", "int8"),
        devices=("cpu", "cuda", "mps"),
        cpu_only_dtypes=("int8",),  # torch's dynamic quantization has CPU kernels only
        batch_defaults={"cpu": (64, 1024), "gpu": (256, 65536)},
    ),
    "onnx": Runtime(
        name="onnx",
        title="ONNX Runtime",
        dtypes=(None, "float32", "int8"),
        devices=("cpu",),
        packages=("onnxruntime", "onnx"),
        extra="onnx",
        cpu_only_dtypes=("int8",),
        batch_defaults={"cpu": (256, 2048)},
    ),
}

# Every dtype some runtime runs (None aside), in the table's order: the `dtype` option's choices.
DTYPES: tuple[str, ...] = tuple(
    dict.fromkeys(d for runtime in RUNTIMES.values() for d in runtime.dtypes if d is not None)
)

# Half precision has no fast matrix kernels on the CPUs measured so far (docs/benchmarks.md).
HALF_PRECISION = ("float16", "bfloat16")


def half_precision_on_cpu(dtype: str | None) -> str | None:
    """What to tell a user who runs `dtype` on a CPU, or None when there is nothing to say."""
    if dtype not in HALF_PRECISION:
        return None
    return (
        f"dtype {dtype} on a CPU is about 4x slower than float32 (no fast half-precision CPU kernels); "
        "use it on a GPU, or dtype=None (float32) or 'int8' on a CPU"
    )
