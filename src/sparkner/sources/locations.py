"""Where a model comes from: one resolver for every loader.

`resolve(model)` turns what the user wrote into what the loaders take: a local
directory or file (also `file:` URIs, `dbfs:/` paths read through Databricks'
`/dbfs/` mount, Unity Catalog volume paths `/Volumes/...`), a Hugging Face Hub
id, or an MLflow model URI (downloaded into this machine's cache, see `sparkner.mlflow`).
The tokenizer, config, model and Flair loaders, and the `backend="auto"` choice, all go
through it, so a new kind of source is added here once.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sparkner.options.settings import Backend, LoadOptions

DBFS_MOUNT = "/dbfs"


class ModelLoadError(OSError):
    """The model or tokenizer could not be loaded; the message says how to fix it."""


@dataclass(frozen=True)
class ModelSource:
    """`location` is what `from_pretrained` / `SequenceTagger.load` are given."""

    given: str
    location: str
    kind: str  # "directory", "file", "hub" or "mlflow" (a downloaded folder)

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"


def resolve(model: str, options: LoadOptions | None = None) -> ModelSource:
    """Map `model` to a local path or a Hub id (no loading; the network only to download a pinned
    MLflow model into this machine's cache, see `sparkner.sources.mlflow.artifacts`)."""
    if is_mlflow_uri(model):
        return _mlflow_source(model, options or LoadOptions())
    location = _local_spelling(model)
    if location is not None or os.path.exists(model):
        location = location or model
        if not os.path.exists(location):
            raise ModelLoadError(_missing_local_message(model, location))
        return ModelSource(model, location, "file" if os.path.isfile(location) else "directory")
    return ModelSource(model, model, "hub")


def short_name(model: str) -> str:
    """A name for `model` that reads well in a URL path or a title: a local path's last part (the
    model's folder, or a Flair file's name without its suffix); Hub ids and MLflow URIs as they are."""
    location = _local_spelling(model) or (model if os.path.exists(model) else None)
    if location is None:
        return model
    path = Path(location.rstrip("/") or "/")
    return (path.stem if path.is_file() else path.name) or model


def is_mlflow_uri(model: str) -> bool:
    """`models:/...` or `runs:/...` (read by `sparkner.mlflow`, which needs `sparkner[mlflow]`)."""
    from sparkner.sources.mlflow.uris import is_mlflow_uri as check

    return check(model)


def pin_mlflow_model(
    model: str, tracking_uri: str | None, registry_uri: str | None
) -> tuple[str, str | None, str | None]:
    """On the driver: `model` pinned to one version, and the tracking and registry URIs to ask."""
    from sparkner.sources.mlflow.registry import pin

    return tuple(pin(model, tracking_uri, registry_uri))  # type: ignore[return-value]


def _mlflow_source(model: str, options: LoadOptions) -> ModelSource:
    from sparkner.sources.mlflow.artifacts import NotATokenClassifier, local_copy

    try:
        folder = local_copy(model, options.tracking_uri, options.registry_uri, options.model_cache_dir)
    except NotATokenClassifier as error:
        raise ModelLoadError(str(error)) from None
    return ModelSource(model, str(folder), "mlflow")


def _local_spelling(model: str) -> str | None:
    """The local path a URI-like spelling stands for, or None when `model` is no such spelling."""
    if model.startswith("dbfs:/"):
        return DBFS_MOUNT + "/" + model.removeprefix("dbfs:").lstrip("/")
    if model.startswith("file:"):
        return urlparse(model).path
    if model.startswith(("/", "./", "../", "~")):  # absolute paths include Unity Catalog's /Volumes/...
        return os.path.expanduser(model)
    return None


def _missing_local_message(model: str, location: str) -> str:
    if model.startswith("dbfs:/"):
        where = (
            f"dbfs: paths are read through the {DBFS_MOUNT}/ mount on Databricks, and {location!r} does not exist here"
        )
    elif location.startswith("/Volumes/"):
        where = (
            f"{location!r} (a Unity Catalog volume path) does not exist on this machine; check the catalog, "
            "schema and volume names and that the cluster may read the volume"
        )
    else:
        where = f"the local path {location!r} does not exist"
    return (
        f"Could not load model {model!r}: {where}. Point `model` at a directory with config.json, the weights "
        "and the tokenizer files (or at a Flair model file)."
    )


def default_backend(model: str) -> Backend:
    """`backend="auto"`: Flair for a local model file or a Hub id under `flair/` (Flair models are one
    file; transformers models are directories); transformers otherwise."""
    if is_mlflow_uri(model):
        return Backend.TRANSFORMERS
    source = resolve(model)
    if source.kind == "file" or (source.kind == "hub" and model.lower().startswith("flair/")):
        return Backend.FLAIR
    return Backend.TRANSFORMERS


def check_hub_reachable(source: ModelSource, options: LoadOptions) -> None:
    """Fail at once, saying how to use a local copy, when a Hub model is neither cached nor reachable.

    Without this, transformers retries for most of a minute before giving up.
    """
    if source.is_local or _in_hub_cache(source.location, options.revision):
        return
    if options.local_files_only or _offline():
        reason = "HF_HUB_OFFLINE is set" if _offline() else "local_files_only=True"
    elif not _hub_reachable():
        reason = f"the Hub ({_endpoint()}) cannot be reached from this machine"
    else:
        return
    raise ModelLoadError(
        f"Could not load model {source.given!r}: it is not in the local Hugging Face cache and {reason}. Download a "
        "local copy where the Hub is reachable (`huggingface-cli download MODEL --local-dir DIR`) and point `model` "
        "at DIR "
        "(a local path, a dbfs:/ path or a /Volumes/ path)."
    )


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _in_hub_cache(repo_id: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a transformers dependency
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an id the cache cannot even parse is not cached
        return False
    return isinstance(found, str) and Path(found).is_file()


@functools.cache
def _hub_reachable(timeout: float = 3.0) -> bool:
    """A TCP connection to the Hub's host (skipped behind a proxy, which only the HTTP client can use)."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(_endpoint())
    try:
        with socket.create_connection(
            (url.hostname or "", url.port or (443 if url.scheme == "https" else 80)), timeout=timeout
        ):
            return True
    except OSError:
        return False
