"""The Spark type of the entities column, one per aggregation strategy.

Field names and order follow the task's output: grouped strategies return
`entity_group`; `none` returns the raw per-token `entity` plus its `index`.
"""

from __future__ import annotations

from typing import Any, get_type_hints

from pyspark.sql.types import ArrayType, FloatType, IntegerType, StringType, StructField, StructType

from sparkner.engine.results import GROUPED_FIELDS, TOKEN_FIELDS, GroupedEntity, TokenEntity
from sparkner.options.settings import AggregationStrategy, parse_strategy

# Python field types of the entity shapes (sparkner.engine.results), as Spark types.
_SPARK_TYPES = {str: StringType(), float: FloatType(), int: IntegerType()}
_FIELD_TYPES = {
    name: _SPARK_TYPES[kind] for shape in (GroupedEntity, TokenEntity) for name, kind in get_type_hints(shape).items()
}


def entity_fields(aggregation_strategy: Any) -> tuple[str, ...]:
    """The keys of each entity dict, in output order."""
    strategy = parse_strategy(aggregation_strategy)
    return TOKEN_FIELDS if strategy is AggregationStrategy.NONE else GROUPED_FIELDS


def entity_schema(aggregation_strategy: Any = "simple") -> ArrayType:
    """`array<struct<...>>` for the strategy, e.g. `entity_schema("first")`."""
    struct = StructType([StructField(name, _FIELD_TYPES[name], True) for name in entity_fields(aggregation_strategy)])
    return ArrayType(struct, containsNull=False)
