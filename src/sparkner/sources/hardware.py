"""What the machine a worker runs on can do: its CPU's instruction flags, its GPU's bfloat16.

`runtime="auto"` and `dtype="auto"` are settled per worker from this (`options.runtimes.choose`):
the executors of a cluster need not be the driver's kind of machine, nor each other's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hardware:
    cpu_model: str
    cpu_flags: frozenset[str]


def read_cpuinfo(text: str) -> Hardware:
    """The CPU's model name and flags from `/proc/cpuinfo`'s text (its first processor's)."""
    model, flags = "unknown", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return Hardware(model, flags)


@functools.lru_cache(maxsize=1)
def this_machine() -> Hardware:
    """This machine's CPU (Linux; elsewhere no flags are known, so no half precision is thought fast)."""
    try:
        return read_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:
        import platform

        return Hardware(platform.processor() or "unknown", frozenset())


def gpu_has_bfloat16(device: str) -> bool:
    """Whether the CUDA device computes in bfloat16 natively (compute capability 8.0, Ampere, or later)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(torch.device(device))[0] >= 8
