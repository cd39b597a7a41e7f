"""Downloading a pinned MLflow model once per machine and finding its Hugging Face files.

Each executor downloads for itself (the driver's disk is not the executors'), into a
cache keyed by the pinned URI and the servers asked, under a file lock so that Python
workers starting together download once. A download goes to a temporary folder and is
renamed into place whole, so a killed worker leaves nothing half-written behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from sparkner.sources import disk_cache
from sparkner.sources.mlflow.registry import check_reachable, require_mlflow
from sparkner.sources.mlflow.uris import parse
from sparkner.sources.model_files import TOKENIZER_FILES, WEIGHTS_FILES

DOWNLOAD_LOG = disk_cache.MADE_LOG  # one line per download actually made (what the tests count)


class NotATokenClassifier(OSError):
    """The artifact holds no Hugging Face token-classification model."""


def cache_root(cache_dir: str | None) -> Path:
    """Where this machine keeps MLflow models (`disk_cache.cache_root`'s `mlflow/`)."""
    return disk_cache.cache_root(cache_dir, "mlflow")


def cache_key(uri: str, tracking_uri: str | None, registry_uri: str | None) -> str:
    """A readable, unique folder name for (URI, servers)."""
    return disk_cache.entry_name(uri.split(":/", 1)[-1], tracking_uri, registry_uri, uri)


def local_copy(uri: str, tracking_uri: str | None, registry_uri: str | None, cache_dir: str | None) -> Path:
    """The folder of Hugging Face files of the pinned model `uri` on this machine, downloaded if need be."""
    if not parse(uri).is_pinned:
        raise ValueError(
            f"{uri!r} is not pinned to one version; resolve it on the driver first (sparkner does, in build_settings)"
        )
    root = cache_root(cache_dir)
    entry = root / cache_key(uri, tracking_uri, registry_uri)

    def download(staging: Path) -> None:
        _download(uri, tracking_uri, registry_uri, staging)

    return disk_cache.made_once(entry, download, lambda found: (found / "hf").is_dir(), note=uri) / "hf"


def _download(uri: str, tracking_uri: str | None, registry_uri: str | None, staging: Path) -> None:
    """The artifact into `staging/artifacts`, and links to its Hugging Face files in `staging/hf`."""
    mlflow = require_mlflow(uri)
    from mlflow.exceptions import MlflowException

    check_reachable(uri, registry_uri or tracking_uri)
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri,
            dst_path=str(staging / "artifacts"),
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
        )
    except MlflowException as error:
        raise LookupError(
            f"MLflow model {uri!r} could not be downloaded from {registry_uri or tracking_uri}: {error.message}. "
            "Check that the "
            "model, version or run exists there (the MLflow UI or MlflowClient lists them)"
        ) from None
    link_hugging_face_files(uri, staging / "artifacts", staging / "hf")


def link_hugging_face_files(uri: str, artifacts: Path, target: Path) -> None:
    """`target` gets links to the model's config and weights and its tokenizer files, wherever the
    artifact keeps them: together (a Hub-format folder, sparkner's pyfunc) or apart (MLflow's
    transformers flavor: `model/` and `components/tokenizer/`)."""
    model_dir = _folder_with(artifacts, lambda files: "config.json" in files and any(w in files for w in WEIGHTS_FILES))
    if model_dir is None:
        found = sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file())[:12]
        raise NotATokenClassifier(
            f"MLflow model {uri!r} holds no Hugging Face model (no folder with config.json and weights; it has: "
            f"{', '.join(found) or 'nothing'}). Log the model with mlflow.transformers.log_model(..., "
            "task='token-classification') (with save_pretrained left True) or sparkner.mlflow.log_model"
        )
    tokenizer_dir = (
        model_dir
        if _has_tokenizer(model_dir)
        else _folder_with(artifacts, lambda files: any(t in files for t in TOKENIZER_FILES))
    )
    if tokenizer_dir is None:
        raise NotATokenClassifier(
            f"MLflow model {uri!r} has a model but no tokenizer files ({', '.join(TOKENIZER_FILES[:2])})"
        )
    target.mkdir()
    for folder in dict.fromkeys((tokenizer_dir, model_dir)):  # the model's own files win over a tokenizer's copy
        for file in folder.iterdir():
            if file.is_file():
                link = target / file.name
                link.unlink(missing_ok=True)
                link.symlink_to(os.path.relpath(file, target))


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def _folder_with(root: Path, test) -> Path | None:  # noqa: ANN001 - a predicate over file names
    """The shallowest folder under `root` (itself included) whose file names pass `test`."""
    for folder in sorted((p for p in [root, *root.rglob("*")] if p.is_dir()), key=lambda p: (len(p.parts), str(p))):
        if test({child.name for child in folder.iterdir() if child.is_file()}):
            return folder
    return None
