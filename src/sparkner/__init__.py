"""sparkner: Hugging Face token classification (NER, PoS) over Spark DataFrames.

Same entities as `transformers.pipeline("token-classification")`, computed in
vectorized pandas UDFs with the model loaded once per executor worker.
"""

from sparkner.classifier import TokenClassifier
from sparkner.demo import MODEL_PATH as DEMO_MODEL
from sparkner.loading import ModelLoadError
from sparkner.params import AggregationStrategy
from sparkner.schema import entity_schema
from sparkner.spark import ner_udf, register

__all__ = ["DEMO_MODEL", "AggregationStrategy", "ModelLoadError", "TokenClassifier", "entity_schema", "ner_udf", "register"]
__version__ = "0.1.0"
