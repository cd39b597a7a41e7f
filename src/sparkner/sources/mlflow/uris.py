"""MLflow model URIs, read without MLflow: which model, which version, which registry.

Kept free of network and of the `mlflow` package so that the rules (what a URI means,
which registry serves it, whether it is pinned to one version) can be checked anywhere,
including offline for Unity Catalog names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

UNITY_CATALOG = "databricks-uc"
_VERSION = re.compile(r"^[1-9][0-9]*$")
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")  # MLflow 3's logged-model ids
_STAGES = ("latest", "none", "staging", "production", "archived")


class MlflowUriError(ValueError):
    """A `models:/` or `runs:/` URI that cannot name a model; the message says how to write it."""


@dataclass(frozen=True)
class MlflowModelUri:
    """One parsed URI. `kind` is "version", "alias", "stage", "model_id" or "run"."""

    text: str
    kind: str
    name: str = ""  # the registered model's name (catalog.schema.model in Unity Catalog)
    reference: str = ""  # the version, alias, stage, logged-model id or run id
    path: str = ""  # the artifact path inside a run

    @property
    def is_pinned(self) -> bool:
        """Whether the URI always names the same files (an alias or a stage can move)."""
        return self.kind in ("version", "model_id", "run")

    @property
    def is_unity_catalog_name(self) -> bool:
        return self.name.count(".") == 2

    def at_version(self, version: str) -> str:
        return f"models:/{self.name}/{version}"


def is_mlflow_uri(model: str) -> bool:
    return model.startswith(("models:/", "runs:/"))


def parse(model: str) -> MlflowModelUri:
    """`models:/<name>/<version>`, `models:/<name>@<alias>`, `models:/<name>/<stage>`,
    `models:/<model id>` or `runs:/<run id>/<path>`."""
    if model.startswith("runs:/"):
        run_id, _, path = model.removeprefix("runs:/").strip("/").partition("/")
        if not run_id:
            raise MlflowUriError(
                f"{model!r} names no run; write runs:/<run id>/<artifact path>, e.g. runs:/0a1b2c.../ner"
            )
        return MlflowModelUri(model, "run", reference=run_id, path=path)
    rest = model.removeprefix("models:/").strip("/")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not name or not alias or "/" in alias or "/" in name:
            raise MlflowUriError(f"{model!r} is not models:/<name>@<alias>, e.g. models:/ner@champion")
        return MlflowModelUri(model, "alias", name=name, reference=alias)
    name, _, version = rest.partition("/")
    if not version:
        if _MODEL_ID.match(name):
            return MlflowModelUri(model, "model_id", reference=name)
        raise MlflowUriError(
            f"{model!r} names a registered model but no version: write models:/{name}/<version> or "
            f"models:/{name}@<alias>"
        )
    if _VERSION.match(version):
        return MlflowModelUri(model, "version", name=name, reference=version)
    if version.lower() in _STAGES:
        return MlflowModelUri(model, "stage", name=name, reference=version)
    raise MlflowUriError(
        f"{model!r}: {version!r} is neither a version number nor a stage; write models:/{name}/<version> "
        f"or models:/{name}@<alias>"
    )


def registry_uri_for(uri: MlflowModelUri, tracking_uri: str | None, registry_uri: str | None) -> str | None:
    """The registry that serves `uri`: the option, else `MLFLOW_REGISTRY_URI`, else Unity Catalog
    for a tracking URI on Databricks (as MLflow 3 does), else None (the tracking server's own).

    Unity Catalog has no stages and only three-level names, so those are refused here,
    before anything is contacted.
    """
    registry = registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or None
    tracking = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if registry is None and tracking.startswith("databricks") and uri.kind != "run":
        registry = UNITY_CATALOG + tracking.removeprefix("databricks")
    if registry and registry.startswith(UNITY_CATALOG) and uri.name:
        if not uri.is_unity_catalog_name:
            raise MlflowUriError(
                f"{uri.text!r}: Unity Catalog models are named catalog.schema.model (e.g. "
                f"models:/main.ml.{uri.name}@champion); "
                f"for a model in the workspace registry set registry_uri='databricks' (or MLFLOW_REGISTRY_URI)"
            )
        if uri.kind == "stage":
            raise MlflowUriError(
                f"{uri.text!r}: Unity Catalog has no stages; use an alias (models:/{uri.name}@champion) or a version "
                "number"
            )
    return registry
