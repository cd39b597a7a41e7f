"""sparkner and MLflow: registered models as `model=`, and sparkner models logged as pyfuncs.

`model="models:/ner@champion"` (or `models:/ner/3`, `runs:/<id>/<path>`, Unity Catalog's
`models:/catalog.schema.ner@champion`) works wherever a Hub id does: the alias is pinned
to a version on the driver (`registry.pin`) and each machine downloads that version once
(`artifacts.local_copy`). `log_model` logs a model with its sparkner options as a pyfunc.
Needs `pip install 'sparkner[mlflow]'`.
"""

from __future__ import annotations

from typing import Any

from sparkner.sources.mlflow.registry import require_mlflow
from sparkner.sources.mlflow.uris import is_mlflow_uri

__all__ = ["log_model", "result_type", "signature"]

EXAMPLE_TEXT = "George Washington went to Washington."
_MLFLOW_TYPES = {"string": "string", "float": "float", "integer": "integer", "long": "long", "double": "double"}


def result_type(aggregation_strategy: Any = "first") -> Any:
    """The Spark type of the pyfunc's output: `struct<entities, error>`, as `ner_udf(..., on_error="null")`
    returns. Give it to `mlflow.pyfunc.spark_udf(..., result_type=...)`.

    MLflow's spark_udf turns a pyfunc's output into an `array<struct>` column position by
    position, which cannot hold a variable number of entities; a struct column it fills by name.
    """
    from pyspark.sql.types import (  # URIs are read without Spark (sparkner.sources.locations)
        StringType,
        StructField,
        StructType,
    )

    from sparkner.spark.schema import entity_schema

    return StructType(
        [StructField("entities", entity_schema(aggregation_strategy)), StructField("error", StringType())]
    )


def signature(aggregation_strategy: Any = "first") -> Any:
    """The MLflow model signature: a string column `text` in; `entities` (array of objects) and `error` out."""
    require_mlflow("a sparkner pyfunc")
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Object, Property, Schema

    from sparkner.spark.schema import entity_schema

    entity = entity_schema(aggregation_strategy).elementType
    properties = [Property(f.name, _MLFLOW_TYPES[f.dataType.typeName()]) for f in entity.fields]
    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        outputs=Schema([ColSpec(Array(Object(properties)), "entities"), ColSpec("string", "error", required=False)]),
    )


def log_model(
    model: str,
    name: str,
    *,
    registered_model_name: str | None = None,
    pip_requirements: list[str] | None = None,
    **options: Any,
) -> Any:
    """Log `model` (a Hub-format folder or an MLflow model URI) with sparkner `options` as an MLflow pyfunc.

    `mlflow.pyfunc.load_model(uri).predict(pandas_df)` then returns the entities with spans, and
    `mlflow.pyfunc.spark_udf(spark, uri, result_type=sparkner.mlflow.result_type(strategy))` what
    `ner_udf(model, on_error="null", **options)` returns. Logs into the active run (or a new one);
    returns MLflow's `ModelInfo`.
    """
    mlflow = require_mlflow(str(model))
    import pandas as pd

    from sparkner import __version__
    from sparkner.engine.classifier import TokenClassifier
    from sparkner.mlflow.pyfunc import MODEL_ARTIFACT, SparknerModel
    from sparkner.options.settings import Backend
    from sparkner.sources import locations as sources

    model = str(model)
    if not (is_mlflow_uri(model) or sources.resolve(model).kind == "directory"):
        raise ValueError(
            f"log_model takes a local Hugging Face model folder or an MLflow model URI, got {model!r}; download a Hub "
            "model first (huggingface-cli download MODEL --local-dir DIR)"
        )
    classifier = TokenClassifier(model, **options)  # every option validated, the tokenizer loaded, before logging
    if classifier.settings.backend is not Backend.TRANSFORMERS:
        raise ValueError("log_model logs transformers models; Flair models are not supported")
    folder = sources.resolve(classifier.settings.model, classifier.settings.load).location
    if pip_requirements is None:
        import transformers

        pip_requirements = [
            f"sparkner=={__version__}",
            f"transformers=={transformers.__version__}",
            "torch",
            f"mlflow-skinny=={mlflow.__version__}",
        ]
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=SparknerModel(),
        artifacts={MODEL_ARTIFACT: folder},
        model_config=_options_config(options),
        signature=signature(classifier.settings.aggregation_strategy),
        input_example=pd.DataFrame({"text": [EXAMPLE_TEXT]}),
        registered_model_name=registered_model_name,
        pip_requirements=pip_requirements,
    )


def _options_config(options: dict[str, Any]) -> dict[str, Any]:
    """The options as logged (JSON-able); the token is never logged."""
    if "token" in options:
        raise ValueError("log_model does not log an access token; the logged model folder needs none")
    from sparkner.options.settings import OPTIONS

    logged = {name: value for name, value in options.items() if OPTIONS[name].group != "loading"}  # the folder is local
    return {name: list(value) if isinstance(value, tuple) else value for name, value in logged.items()}
