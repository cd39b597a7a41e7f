"""MLflow model URIs without a server: parsing, Unity Catalog names and registry URIs, pinning
through the registry client, and the message when MLflow is not installed."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from sparkner.sources.mlflow.uris import MlflowUriError, is_mlflow_uri, parse, registry_uri_for


@pytest.mark.parametrize(
    ("text", "kind", "name", "reference", "path"),
    [
        ("models:/ner/3", "version", "ner", "3", ""),
        ("models:/ner@champion", "alias", "ner", "champion", ""),
        ("models:/ner/Production", "stage", "ner", "Production", ""),
        ("models:/ner/latest", "stage", "ner", "latest", ""),
        ("models:/main.ml.ner@champion", "alias", "main.ml.ner", "champion", ""),
        ("models:/main.ml.ner/12", "version", "main.ml.ner", "12", ""),
        ("models:/m-0123456789abcdef0123456789abcdef", "model_id", "", "m-0123456789abcdef0123456789abcdef", ""),
        ("runs:/0a1b2c/ner/model", "run", "", "0a1b2c", "ner/model"),
    ],
)
def test_uri_forms(text, kind, name, reference, path):
    uri = parse(text)
    assert (uri.kind, uri.name, uri.reference, uri.path) == (kind, name, reference, path)
    assert uri.is_pinned == (kind in ("version", "model_id", "run"))
    assert is_mlflow_uri(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:/ner", "names a registered model but no version"),
        ("models:/ner/v2", "neither a version number nor a stage"),
        ("models:/ner@", "is not models:/<name>@<alias>"),
        ("runs:/", "names no run"),
    ],
)
def test_bad_uris_say_how_to_write_them(text, message):
    with pytest.raises(MlflowUriError, match=message):
        parse(text)


@pytest.fixture
def no_mlflow_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def test_unity_catalog_is_the_registry_for_databricks_tracking(no_mlflow_env):
    assert registry_uri_for(parse("models:/main.ml.ner@champion"), "databricks", None) == "databricks-uc"
    assert registry_uri_for(parse("models:/main.ml.ner/3"), "databricks://prod", None) == "databricks-uc://prod"
    assert registry_uri_for(parse("models:/ner@champion"), "databricks", "databricks") == "databricks", (
        "the workspace registry"
    )
    assert registry_uri_for(parse("models:/ner@champion"), "http://127.0.0.1:5000", None) is None, (
        "the tracking server's own"
    )
    assert registry_uri_for(parse("runs:/0a1b/ner"), "databricks", None) is None, "runs live in the tracking server"


def test_registry_and_tracking_uris_come_from_the_environment(no_mlflow_env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    assert registry_uri_for(parse("models:/main.ml.ner@champion"), None, None) == "databricks-uc"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    assert registry_uri_for(parse("models:/main.ml.ner@champion"), "http://elsewhere", None) == "databricks-uc"
    assert registry_uri_for(parse("models:/main.ml.ner@champion"), None, "http://mine") == "http://mine", (
        "the option wins"
    )


def test_unity_catalog_refuses_two_level_names_and_stages(no_mlflow_env):
    with pytest.raises(MlflowUriError, match=r"catalog\.schema\.model .*registry_uri='databricks'"):
        registry_uri_for(parse("models:/ner@champion"), None, "databricks-uc")
    with pytest.raises(MlflowUriError, match="Unity Catalog has no stages; use an alias"):
        registry_uri_for(parse("models:/main.ml.ner/Production"), "databricks", None)


def test_pinning_a_unity_catalog_alias_asks_unity_catalog_once(no_mlflow_env, monkeypatch):
    """The driver asks the registry (here a stand-in for Databricks') for the alias's version and
    hands executors `models:/catalog.schema.model/<version>` and the registry URI to download from."""
    mlflow = pytest.importorskip("mlflow")
    from sparkner.sources.mlflow import registry

    calls = []

    class Client:
        def __init__(self, tracking_uri=None, registry_uri=None):
            calls.append(("client", tracking_uri, registry_uri))

        def get_model_version_by_alias(self, name, alias):
            calls.append(("alias", name, alias))
            return SimpleNamespace(version="7")

    monkeypatch.setattr(mlflow, "MlflowClient", Client)
    pinned = registry.pin("models:/main.ml.ner@champion", "databricks", None)
    assert pinned == ("models:/main.ml.ner/7", "databricks", "databricks-uc")
    assert calls == [("client", "databricks", "databricks-uc"), ("alias", "main.ml.ner", "champion")]
    assert registry.pin("models:/main.ml.ner/7", "databricks", None) == pinned, "a version is pinned already: no call"
    assert len(calls) == 2


def test_without_mlflow_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    from sparkner import TokenClassifier

    with pytest.raises(
        ImportError, match=r"MLflow model URI; reading it needs MLflow: pip install 'sparkner\[mlflow\]'"
    ):
        TokenClassifier("models:/ner@champion")
