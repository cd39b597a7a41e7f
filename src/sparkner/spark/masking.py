"""Masking personal data in Spark: NER and masking in one pass (`mask_udf`, SQL `register_mask`),
masking with entities already computed (`mask`), and decrypting `encrypt`'s output (`unmask`).

Everything is validated and every key read on the driver, when the function is made; the workers
get a `masking.Masker` whose keys never print (nor appear in a plan: a UDF's closure is not shown).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import Column, SparkSession
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import StringType

from sparkner.engine.classifier import TokenClassifier
from sparkner.masking import Masker, Secret, read_key
from sparkner.masking import unmask as unmask_text
from sparkner.options.masking import mask_settings
from sparkner.options.settings import parse_min_score
from sparkner.sources.settings import build_settings
from sparkner.spark.session import workers_on_this_interpreter
from sparkner.spark.udf import classify_udf


def mask_udf(model: Any, labels: Any = None, operators: Any = None, **options: Any) -> Any:
    """A Spark function from a text column to the text with its entities masked, NER and masking in one
    pass: `df.withColumn("masked", sparkner.mask_udf("dslim/bert-base-NER")("text"))`.

    `labels`: the entity groups to mask (default: every group found). `operators`: a label (or
    "DEFAULT") mapped to an operator in Presidio's form, e.g. `{"type": "replace", "new_value": "<PER>"}`,
    `{"type": "mask", "masking_char": "*", "chars_to_mask": 4, "from_end": True}`, `{"type": "hash",
    "key_env": "MASK_KEY"}`; default `<LABEL>`. The other options are `ner_udf`'s (`min_score` among
    them). A text that fails on its own with `on_error="null"` gives null, never the unmasked text.
    """
    settings = build_settings(model, **options)
    TokenClassifier.from_settings(settings)  # tokenizer, config and stride checked now, not on a worker
    masker = Masker(mask_settings(labels, operators), settings.min_score)
    workers_on_this_interpreter()
    return classify_udf(settings, ("masked",), masker=masker)


def register_mask(
    spark: SparkSession, name: str, model: Any, labels: Any = None, operators: Any = None, **options: Any
) -> Any:
    """Register `mask_udf(model, labels, operators, **options)` for Spark SQL: `SELECT name(text) FROM docs`."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"function name {name!r} must be a SQL identifier such as 'ner_mask'")
    udf = mask_udf(model, labels, operators, **options)
    spark.udf.register(name, udf)
    return udf


def mask(
    text: Column | str, entities: Column | str, labels: Any = None, operators: Any = None, min_score: Any = None
) -> Column:
    """The text masked with entities already computed (a sparkner entities column, `entity` or
    `entity_group`, or any `array<struct<start, end, label, score>>`), no model involved."""
    masker = Masker(mask_settings(labels, operators), parse_min_score(min_score))
    workers_on_this_interpreter()

    @pandas_udf(StringType())  # type: ignore[call-overload]
    def masked(texts: pd.Series, found: pd.Series) -> pd.Series:
        return pd.Series([masker.mask(t, _entities(e)) for t, e in zip(texts, found)], index=texts.index, dtype=object)

    return masked(text, entities)


def _entities(value: Any) -> list[dict[str, Any]]:
    """An Arrow array of structs as dicts (a null array as no entities); a missing score counts as 1."""
    if value is None:
        return []
    return [{"score": 1.0, **dict(entity)} for entity in value]


def unmask(masked: Column | str, key_env: str | None = None, key_file: str | None = None) -> Column:
    """`encrypt`'s output (`<ENC:LABEL:ciphertext>`) decrypted back with its key, from the environment
    variable `key_env` or the file `key_file` (read here, on the driver)."""
    if (key_env is None) == (key_file is None):
        raise ValueError("unmask needs its key from one place: key_env or key_file")
    key: Secret = read_key({"key_env": key_env} if key_env else {"key_file": key_file})

    def decrypt(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        for texts in batches:
            yield pd.Series([unmask_text(t, key) for t in texts], index=texts.index, dtype=object)

    return pandas_udf(decrypt, returnType=StringType())(masked)  # type: ignore[call-overload]
