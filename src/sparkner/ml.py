"""Spark ML pipeline stages: `EntityRecognizer` and `MaskRecognizer` (see `sparkner.spark.stages`).

from pyspark.ml import Pipeline
from sparkner.ml import EntityRecognizer

pipeline = Pipeline(stages=[EntityRecognizer(inputCol="text", outputCol="entities", model="dslim/bert-base-NER")])
"""

from sparkner.spark.stages import EntityRecognizer, MaskRecognizer

__all__ = ["EntityRecognizer", "MaskRecognizer"]
