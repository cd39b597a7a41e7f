"""sparkner: Hugging Face token classification (NER, PoS) over Spark DataFrames.

Same entities as `transformers.pipeline("token-classification")`, computed in
vectorized pandas UDFs with the model loaded once per executor worker.

The Spark glue (`ner_udf`, `register`, `entity_schema`, `evaluate`, `read_conll`,
`read_spans`, and masking: `mask_udf`, `register_mask`, `mask`, `unmask`) is imported on first use,
so `TokenClassifier` also runs where pyspark is not installed (a GPU box without
Java, a plain Python service).
"""

from __future__ import annotations

import importlib
from typing import Any

from sparkner.demo import MODEL_PATH as DEMO_MODEL
from sparkner.demo import SAMPLE_DOCS, SAMPLE_GOLD
from sparkner.engine.classifier import TokenClassifier
from sparkner.options.settings import AggregationStrategy
from sparkner.sources.loading import ModelLoadError
from sparkner.spark.session import default_worker_interpreter

_SPARK_NAMES = {
    "ner_udf": "sparkner.spark.udf",
    "register": "sparkner.spark.udf",
    "entity_schema": "sparkner.spark.schema",
    "evaluate": "sparkner.metrics.spans",
    "read_conll": "sparkner.metrics.gold",
    "read_spans": "sparkner.metrics.gold",
    "mask_udf": "sparkner.spark.masking",
    "register_mask": "sparkner.spark.masking",
    "mask": "sparkner.spark.masking",
    "unmask": "sparkner.spark.masking",
}

__all__ = [
    "DEMO_MODEL",
    "SAMPLE_DOCS",
    "SAMPLE_GOLD",
    "AggregationStrategy",
    "ModelLoadError",
    "TokenClassifier",
    "entity_schema",
    "evaluate",
    "mask",
    "mask_udf",
    "ner_udf",
    "read_conll",
    "read_spans",
    "register",
    "register_mask",
    "unmask",
]
__version__ = "0.1.0"

default_worker_interpreter()  # `.venv/bin/python script.py`: Spark's workers find sparkner too


def __getattr__(name: str) -> Any:
    if name in _SPARK_NAMES:
        return getattr(importlib.import_module(_SPARK_NAMES[name]), name)
    raise AttributeError(f"module 'sparkner' has no attribute {name!r}")
