"""Pinning an MLflow model to one version, on the driver, before any task starts.

An alias (`@champion`) or a stage can move while a job runs; every executor must run
the version the driver saw. So the driver turns the URI into `models:/<name>/<version>`
here, once, and executors only ever see pinned URIs (see `artifacts.local_copy`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlparse

from sparkner.sources.mlflow.uris import MlflowModelUri, parse, registry_uri_for

T = TypeVar("T")


class PinnedModel(NamedTuple):
    """What the workers are given: a URI that always names the same files, and where to ask for it."""

    uri: str
    tracking_uri: str | None
    registry_uri: str | None


def require_mlflow(model: str) -> Any:
    """The `mlflow` module, or an error saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise ImportError(
            f"model {model!r} is an MLflow model URI; reading it needs MLflow: pip install 'sparkner[mlflow]'"
        ) from None
    return mlflow


def pin(model: str, tracking_uri: str | None, registry_uri: str | None) -> PinnedModel:
    """`model` with its alias or stage replaced by the version it points at now, and the
    tracking and registry URIs the driver uses (so executors ask the same servers)."""
    uri = parse(model)
    mlflow = require_mlflow(model)
    registry_uri = registry_uri_for(uri, tracking_uri, registry_uri)
    tracking_uri = tracking_uri or mlflow.get_tracking_uri()
    if uri.is_pinned:
        return PinnedModel(model, tracking_uri, registry_uri)
    check_reachable(model, registry_uri or tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    where = registry_uri or tracking_uri
    if uri.kind == "alias":
        version = _ask(
            model, where, lambda: client.get_model_version_by_alias(uri.name, uri.reference), _alias_hint(client, uri)
        )
    else:
        stages = None if uri.reference.lower() == "latest" else [uri.reference]
        versions = _ask(model, where, lambda: client.get_latest_versions(uri.name, stages=stages), _model_hint(uri))
        if not versions:
            raise LookupError(
                f"MLflow model {model!r}: no version of {uri.name!r} is in stage {uri.reference!r} in the registry at "
                f"{where}"
            )
        version = max(versions, key=lambda v: int(v.version))
    return PinnedModel(uri.at_version(str(version.version)), tracking_uri, registry_uri)


def check_reachable(model: str, server: str | None, timeout: float = 3.0) -> None:
    """Fail in seconds, naming the server, when an HTTP tracking server does not answer (MLflow's
    client would retry for minutes)."""
    url = urlparse(server or "")
    if url.scheme not in ("http", "https"):
        return
    try:
        with socket.create_connection(
            (url.hostname or "", url.port or (443 if url.scheme == "https" else 80)), timeout=timeout
        ):
            return
    except OSError as error:
        raise ConnectionError(
            f"MLflow model {model!r}: the tracking server {server} cannot be reached from this machine ({error}); "
            "start it, or point MLFLOW_TRACKING_URI (or the tracking_uri option) at the server that holds the model"
        ) from None


def _ask(model: str, where: str | None, call: Callable[[], T], hint: Callable[[], str]) -> T:
    """The registry's answer, or an error naming the URI and what exists instead."""
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise LookupError(f"MLflow model {model!r} is not in the registry at {where}: {hint()}") from None
        raise


def _model_hint(uri: MlflowModelUri) -> Callable[[], str]:
    return lambda: (
        f"check the name {uri.name!r} (MlflowClient().search_registered_models() lists them) and that "
        "MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI point at the registry it was registered in"
    )


def _alias_hint(client: Any, uri: MlflowModelUri) -> Callable[[], str]:
    def hint() -> str:
        from mlflow.exceptions import MlflowException

        try:
            aliases = client.get_registered_model(uri.name).aliases or {}
        except MlflowException:
            return f"there is no registered model named {uri.name!r}; " + _model_hint(uri)()
        known = ", ".join(f"@{alias} -> version {version}" for alias, version in sorted(aliases.items())) or "none"
        return (
            f"{uri.name!r} has no alias {uri.reference!r} (its aliases: {known}); set it with "
            f"MlflowClient().set_registered_model_alias({uri.name!r}, {uri.reference!r}, <version>)"
        )

    return hint
