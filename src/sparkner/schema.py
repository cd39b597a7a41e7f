"""The Spark type of the entities column, one per aggregation strategy.

Field names and order follow the task's output: grouped strategies return
`entity_group`; `none` returns the raw per-token `entity` plus its `index`.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql.types import ArrayType, FloatType, IntegerType, StringType, StructField, StructType

from sparkner.params import AggregationStrategy, parse_strategy

GROUPED_FIELDS = ("entity_group", "score", "word", "start", "end")
TOKEN_FIELDS = ("entity", "score", "index", "word", "start", "end")

_FIELD_TYPES = {
    "entity_group": StringType(),
    "entity": StringType(),
    "score": FloatType(),
    "index": IntegerType(),
    "word": StringType(),
    "start": IntegerType(),
    "end": IntegerType(),
}


def entity_fields(aggregation_strategy: Any) -> tuple[str, ...]:
    """The keys of each entity dict, in output order."""
    strategy = parse_strategy(aggregation_strategy)
    return TOKEN_FIELDS if strategy is AggregationStrategy.NONE else GROUPED_FIELDS


def entity_schema(aggregation_strategy: Any = "simple") -> ArrayType:
    """`array<struct<...>>` for the strategy, e.g. `entity_schema("first")`."""
    struct = StructType([StructField(name, _FIELD_TYPES[name], True) for name in entity_fields(aggregation_strategy)])
    return ArrayType(struct, containsNull=False)
