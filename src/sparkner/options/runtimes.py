"""What runs the model: one table row per runtime, and the rule `runtime="auto"`/`dtype="auto"` follow.

A runtime says which precisions it runs, on which devices, with which extra packages, and its
default batch sizes per device kind (measured in docs/benchmarks.md). `sources.settings.check_runtime`
validates a choice on the driver against this table; each worker settles "auto" for the hardware it
runs on with `choose`; `sources.loading.load_model` dispatches on the result; `engine.forward.Predictor`
takes its batch defaults from it. A new runtime is a new row, its loader, and its place in the
orders below.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

AUTO = "auto"  # runtime and dtype: decided per worker, for its hardware (`choose`)


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
    "openvino": Runtime(
        name="openvino",
        title="OpenVINO",
        dtypes=(None, "float32", "bfloat16"),
        devices=("cpu",),
        packages=("openvino",),
        extra="openvino",
        batch_defaults={"cpu": (64, 1024)},
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

# What `runtime="auto"` runs on a CPU, fastest first, among the runtimes installed that run the dtype
# (no dtype: float32's).
# Each keeps the entities (F1 within 0.002 of torch float32, float32 scores within the parity
# tolerance); the order is measured in docs/benchmarks.md ("Choosing for the hardware").
CPU_ORDER: dict[str, tuple[str, ...]] = {
    "bfloat16": ("openvino", "torch"),
    "float32": ("openvino", "onnx", "torch"),
    "int8": ("onnx", "torch"),
    "float16": ("torch",),
}

# The CPU instructions that make a half precision fast (cpuinfo flag names): bfloat16 matrix products
# on AMX (Intel Xeon since Sapphire Rapids) or AVX-512 BF16 (Cooper Lake, AMD Zen 4 and later);
# float16 only on AMX-FP16 (Granite Rapids).
FAST_ON_CPU = {"bfloat16": ("amx_bf16", "avx512_bf16"), "float16": ("amx_fp16",)}


def fast_half_precision(dtype: str | None, cpu_flags: frozenset[str]) -> str | None:
    """The CPU flag that makes `dtype` fast on this CPU, or None."""
    return next((flag for flag in FAST_ON_CPU.get(dtype or "", ()) if flag in cpu_flags), None)


@dataclass(frozen=True)
class Choice:
    """What a worker runs: a runtime of the table, a precision it runs, and why (for the log and summary)."""

    runtime: str
    dtype: str | None
    why: str

    def describe(self) -> str:
        return f"{RUNTIMES[self.runtime].describe(self.dtype)} ({self.why})"


def installed(name: str) -> bool:
    return not RUNTIMES[name].missing_packages()


def choose(
    runtime: str,
    dtype: str | None,
    *,
    device_type: str,
    cpu_flags: frozenset[str],
    gpu_bf16: bool = False,
    available: Callable[[str], bool] = installed,
) -> Choice:
    """Settle `runtime` and `dtype` ("auto" or given) for a worker on `device_type` ("cpu", "cuda", "mps").

    - a GPU: torch, in bfloat16 where the GPU has it, else float16;
    - a CPU with fast bfloat16 (AMX, AVX-512 BF16): the fastest bfloat16 runtime installed;
    - any other CPU: the fastest float32 runtime installed.

    A given runtime or dtype is kept; only what is "auto" is chosen, among the combinations the table
    allows (`available` says which runtimes are installed).
    """
    if device_type != "cpu":
        if dtype == AUTO:
            dtype, why = ("bfloat16", "a GPU with bfloat16") if gpu_bf16 else ("float16", "a GPU without bfloat16")
        else:
            why = "dtype as given, on a GPU"
        return Choice("torch" if runtime == AUTO else runtime, dtype, why)
    if dtype == AUTO:
        fast = fast_half_precision("bfloat16", cpu_flags)
        if runtime != AUTO:
            bf16 = fast is not None and "bfloat16" in RUNTIMES[runtime].dtypes
            return Choice(runtime, "bfloat16" if bf16 else "float32", f"a CPU with {fast}" if bf16 else _no_bf16(fast))
        if fast is not None:
            return Choice(_first(CPU_ORDER["bfloat16"], available), "bfloat16", f"a CPU with {fast}")
        return Choice(_first(CPU_ORDER["float32"], available), "float32", _no_bf16(fast))
    if runtime == AUTO:
        order = CPU_ORDER.get(dtype or "float32", ("torch",))
        return Choice(_first(order, available), dtype, f"the fastest runtime installed for {dtype or 'float32'}")
    return Choice(runtime, dtype, "as given")


def _no_bf16(fast: str | None) -> str:
    return "a CPU without fast bfloat16" if fast is None else f"a CPU with {fast}, but the runtime has no bfloat16"


def _first(order: tuple[str, ...], available: Callable[[str], bool]) -> str:
    return next((name for name in order if name == "torch" or available(name)), "torch")


def half_precision_on_cpu(dtype: str | None, cpu_flags: frozenset[str]) -> str | None:
    """What to tell a user who runs `dtype` on a CPU that lacks the instructions for it, or None."""
    if dtype not in FAST_ON_CPU or fast_half_precision(dtype, cpu_flags):
        return None
    needs = " or ".join(FAST_ON_CPU[dtype])
    return (
        f"dtype {dtype} on this CPU is several times slower than float32: it has no {needs} instructions; "
        "use dtype='auto' (the fastest precision this CPU runs well), 'float32' or 'int8' here"
    )
