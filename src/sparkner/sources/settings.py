"""From what a user wrote to the `Settings` every worker runs: the one place options meet the world.

`options.settings.parse_options` validates the options as pure data; here the model's source is
looked at (a local path, the Hub, MLflow), an MLflow alias is pinned to one version on the driver,
`backend="auto"` is decided and the runtime's packages are checked. This runs once per UDF, job
or server start; the resulting `Settings` are shipped to the executors as they are.
"""

from __future__ import annotations

import warnings
from typing import Any

from sparkner.options.runtimes import AUTO, RUNTIMES, half_precision_on_cpu
from sparkner.options.settings import AUTO_BACKEND, Backend, Settings, parse_options
from sparkner.sources import hardware, locations


def build_settings(model: Any, *, parameters: Any = None, **options: Any) -> Settings:
    """Validate every option (see `parse_options`) and resolve what depends on the model."""
    values = parse_options(model, parameters, **options)
    model = str(model)
    if locations.is_mlflow_uri(model):  # an alias pinned to its version now, on the driver, for every executor
        model, values["tracking_uri"], values["registry_uri"] = locations.pin_mlflow_model(
            model, values["tracking_uri"], values["registry_uri"]
        )
    backend = values["backend"]
    values["backend"] = locations.default_backend(model) if backend == AUTO_BACKEND else Backend(backend)
    settings = Settings(model=model, **values)
    check_runtime(settings)
    return settings


def check_runtime(settings: Settings) -> None:
    """A runtime and dtype given together must go together, on the device given, and a runtime given
    must be installed (before a job starts); what is "auto" each worker settles for its hardware."""
    device_type = (settings.device or "cpu").split(":")[0]
    dtype = settings.dtype
    if settings.runtime != AUTO:
        runtime = RUNTIMES[settings.runtime]
        if dtype != AUTO and dtype not in runtime.dtypes:
            allowed = ", ".join(str(d) for d in (AUTO, *runtime.dtypes))
            raise ValueError(f"runtime {runtime.name!r} does not run dtype {dtype!r}; it runs {allowed}")
        if device_type != "cpu" and runtime.cpu_only(dtype):
            what = f"dtype {dtype!r}" if dtype in runtime.cpu_only_dtypes else f"runtime {runtime.name!r}"
            named = runtime.title if dtype == AUTO else runtime.describe(dtype)
            raise ValueError(
                f"{what} ({named}) runs on the CPU only; use device='cpu' or another runtime or dtype on "
                f"{settings.device!r}"
            )
        missing = runtime.missing_packages()
        if missing:
            raise ImportError(
                f"runtime {runtime.name!r} needs {', '.join(missing)}: pip install 'sparkner[{runtime.extra}]'"
            )
    elif device_type != "cpu" and dtype == "int8":
        raise ValueError(f"dtype 'int8' runs on the CPU only; use device='cpu' or a float dtype on {settings.device!r}")
    slow = half_precision_on_cpu(dtype, hardware.this_machine().cpu_flags) if settings.device == "cpu" else None
    if slow:
        warnings.warn(slow, UserWarning, stacklevel=3)
