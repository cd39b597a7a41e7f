"""sparkner as an MLflow pyfunc: a registered model that keeps spans, scores and offsets.

MLflow's transformers flavor turns each text into a string of labels; this pyfunc returns
what `ner_udf(model, on_error="null")` returns — per text its entities and, when a text
failed on its own, why — so `mlflow.pyfunc.spark_udf` gives the same column as sparkner.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

TEXT_COLUMN = "text"
MODEL_ARTIFACT = "model"


class SparknerModel(mlflow.pyfunc.PythonModel):
    """Loads the Hugging Face files logged beside it with the sparkner options logged as its model config."""

    def load_context(self, context: Any) -> None:
        from sparkner.engine.classifier import TokenClassifier

        self.classifier = TokenClassifier(context.artifacts[MODEL_ARTIFACT], **(context.model_config or {}))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per input text: `entities` (a list of dicts with spans) and `error`.

        A null or failed text gets an empty list, not null: MLflow's spark_udf cannot write a
        null list inside its struct column (it fails the task).
        """
        results = self.classifier.classify(_texts(model_input))
        return pd.DataFrame({"entities": [r.entities or [] for r in results], "error": [r.error for r in results]})


def _texts(model_input: Any) -> list[str | None]:
    if isinstance(model_input, pd.DataFrame):
        column = model_input[TEXT_COLUMN] if TEXT_COLUMN in model_input.columns else model_input.iloc[:, 0]
        values = column.tolist()
    elif isinstance(model_input, pd.Series):
        values = model_input.tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        values = list(model_input)
    return [None if value is None or (isinstance(value, float) and value != value) else value for value in values]
