"""The Spark glue: a vectorized iterator pandas UDF, and its SQL registration.

Shaped like `pyspark.ml.functions.predict_batch_udf`: the factory validates on the
driver (parameters, tokenizer, window) and ships only the validated `Settings`;
each executor Python worker builds its `TokenClassifier` once, from a module-level
cache, and streams Arrow batches through it.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from sparkner.engine.classifier import TokenClassifier
from sparkner.engine.results import TextResult
from sparkner.masking import Masker
from sparkner.options.settings import OnError, Settings
from sparkner.sources.settings import build_settings
from sparkner.spark.schema import entity_schema
from sparkner.spark.session import workers_on_this_interpreter
from sparkner.worker_cache import WORKER_CACHE

logger = logging.getLogger("sparkner")


def worker_classifier(settings: Settings) -> TokenClassifier:
    """One engine per (settings) per Python worker, in the bounded worker cache; the weights
    are shared further between engines of the same model (`sources.loading.cached_model`)."""
    return WORKER_CACHE.get("classifier", settings, lambda: TokenClassifier.from_settings(settings))


def _limit_cpu_threads() -> None:
    """Give torch and the Rust tokenizer the task's CPU share (`spark.task.cpus`), so concurrent
    tasks on an executor do not oversubscribe its cores."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None:
        return
    import torch

    cpus = max(1, int(context.cpus()))
    if torch.get_num_threads() != cpus:
        torch.set_num_threads(cpus)
    share_cpus_with_the_tokenizer(cpus)


def share_cpus_with_the_tokenizer(cpus: int) -> None:
    """The Rust tokenizer encodes a batch on `cpus` threads (one: serially). Left alone it starts a
    thread per core of the machine in every task. A user's own settings of these variables win;
    `RAYON_NUM_THREADS` counts only before the process first tokenizes in parallel."""
    os.environ.setdefault("RAYON_NUM_THREADS", str(cpus))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if cpus > 1 else "false")


def as_text(value: Any) -> str | None:
    """A column value as text, as `CAST(value AS STRING)` would give it.

    Arrow nulls arrive as None (or NaN for an all-null batch): both mean no text.
    Numbers, booleans and dates become their text; binary is decoded as UTF-8.
    Arrays, maps and structs are refused: which text to read there is the user's call.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (int, float, decimal.Decimal, np.integer, np.floating, datetime.date)):
        return str(value)
    raise TypeError(
        f"sparkner needs a string column, but a value is a {type(value).__name__} ({value!r:.60}); "
        "pass a string column, e.g. concat_ws(' ', col) for an array or col.field for a struct"
    )


def _texts(batch: pd.Series) -> list[str | None]:
    return [as_text(value) for value in batch]


def _quiet_worker() -> None:
    """No transformers progress bars ("Loading weights") from the workers: they would interleave with
    Spark's own progress on the driver's terminal."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def address_space_limit() -> int | None:
    """This process's address-space limit in bytes (Spark sets one from `spark.executor.pyspark.memory`)."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if limit == resource.RLIM_INFINITY else limit


# Two small models in one Spark Python worker peaked at 2.3 GiB of address space (560 MiB resident;
# README, "Running on a cluster"); under 1 GiB importing torch failed or hung, so below this the
# worker refuses at once.
MIN_ADDRESS_SPACE = 2 * 2**30


def address_space_error(settings: Settings, limit: int, cause: BaseException | None = None) -> RuntimeError:
    because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return RuntimeError(
        f"the Python worker cannot load {settings.model!r} within its address-space limit of {limit / 2**30:.1f} GiB, "
        "which "
        "Spark sets from spark.executor.pyspark.memory (it caps virtual memory, not resident memory; torch and "
        "transformers "
        "map about 1 GiB before any model): raise spark.executor.pyspark.memory to at least 3g, or leave it unset and "
        f"size spark.executor.memoryOverhead instead{because}"
    )


def _load_in_worker(settings: Settings) -> TokenClassifier:
    """The worker's classifier, loaded now. Under an address-space limit too small for torch, a clear
    error instead of an ImportError about mapping a shared library, or a worker that hangs."""
    limit = address_space_limit()
    if limit is not None and limit < MIN_ADDRESS_SPACE:
        raise address_space_error(settings, limit)
    try:
        _quiet_worker()
        return worker_classifier(settings).load()
    except (ImportError, MemoryError, OSError, SystemError) as error:
        if limit is None:
            raise
        raise address_space_error(settings, limit, error) from error


def _worker_setup(settings: Settings) -> TokenClassifier:
    classifier = _load_in_worker(settings)
    if classifier.device.type == "cpu":
        _limit_cpu_threads()
    return classifier


# What a UDF gives per text besides its entities (fields of `TextResult`, and `masked`: the text with its
# entities masked), and their Spark types.
ENTITIES_AND_ERROR = ("entities", "error")
ENTITIES_AND_STATS = ("entities", "tokens", "windows", "error")
FIELD_TYPES = {"tokens": IntegerType(), "windows": IntegerType(), "error": StringType(), "masked": StringType()}


def result_schema(settings: Settings, fields: tuple[str, ...] | None = None) -> Any:
    """`array<struct<...>>` (the entities alone), `string` (`("masked",)`: the masked text alone), or
    `struct<fields>` for a UDF that says more per text (with `on_error="null"`, why a failed text has
    null entities)."""
    entities = entity_schema(settings.aggregation_strategy)
    if fields is None:
        return entities
    if fields == ("masked",):
        return StringType()
    return StructType([StructField(name, entities if name == "entities" else FIELD_TYPES[name]) for name in fields])


def classify_udf(
    settings: Settings, fields: tuple[str, ...] | None = None, counters: Any = None, masker: Masker | None = None
) -> Any:
    """The one UDF factory: an iterator pandas UDF whose worker builds its classifier once (the
    worker cache) and turns each Arrow batch of texts into a column of results. `fields` (see
    `result_schema`) picks what each row holds; `counters` (`jobs.progress.Counters`) hear of each
    batch's results, for the job's progress line and a stream's summary; `masker` masks each text
    with its entities (the `masked` field)."""

    # pyspark reads the kind of UDF from these hints; a struct's batches are DataFrames all the same.
    def classify(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        classifier = _worker_setup(settings)
        for batch in batches:
            texts = _texts(batch)
            results = classifier.classify(texts)
            if counters is not None:
                counters.add(results)
            yield _column(results, texts, batch.index, fields, masker)

    return pandas_udf(classify, returnType=result_schema(settings, fields))  # type: ignore[call-overload]


def _column(
    results: list[TextResult], texts: list[str | None], index: pd.Index, fields: tuple[str, ...] | None, masker: Any
) -> pd.Series | pd.DataFrame:
    """A batch's results aligned with it: the entities, the masked texts, or one column per field of the
    struct. A text that failed (null entities) is masked to null: its entities are not known."""

    def values(name: str) -> list[Any]:
        if name == "masked":
            return [None if r.entities is None else masker.mask(text, r.entities) for r, text in zip(results, texts)]
        return [getattr(result, name) for result in results]

    if fields is None:
        return pd.Series(values("entities"), index=index, dtype=object)
    if fields == ("masked",):
        return pd.Series(values("masked"), index=index, dtype=object)
    return pd.DataFrame({name: pd.Series(values(name), index=index, dtype=object) for name in fields}, index=index)


def settings_udf(settings: Settings) -> Any:
    """The entities UDF of already validated settings (see `ner_udf`)."""
    return classify_udf(settings, None if settings.on_error is OnError.FAIL else ENTITIES_AND_ERROR)


def runs_on_udf(settings: Settings) -> Any:
    """For the job's warm-up: each worker loads the model and says what runs it (`Engine.runs_on`)."""

    def runs_on(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        engine = _worker_setup(settings).engine
        for batch in batches:
            yield pd.Series([engine.runs_on()] * len(batch), index=batch.index, dtype=object)

    return pandas_udf(runs_on, returnType=StringType())  # type: ignore[call-overload]


def ner_stats_udf(settings: Settings, counters: Any = None, masker: Masker | None = None) -> Any:
    """For the batch job: entities plus each text's tokens and windows, for the run summary (and the
    masked text, with a `masker`)."""
    return classify_udf(settings, ENTITIES_AND_STATS + (("masked",) if masker else ()), counters, masker)


def ner_udf(model: Any, **options: Any) -> Any:
    """A Spark function from a text column to an entities column.

    >>> df.withColumn("entities", ner_udf("dslim/bert-base-NER")("text"))  # doctest: +SKIP

    Takes the same options as `TokenClassifier`; all are validated here, on the
    driver, before any job starts. The result is an iterator pandas UDF returning
    `entity_schema(aggregation_strategy)`, or with `on_error="null"` a
    `struct<entities, error>` (see `result_schema`).
    """
    settings = build_settings(model, **options)
    TokenClassifier.from_settings(settings)  # tokenizer, config and stride checked now, not on a worker
    workers_on_this_interpreter()
    return settings_udf(settings)


def register(spark: SparkSession, name: str, model: Any, **options: Any) -> Any:
    """Register `ner_udf(model, **options)` for Spark SQL as `name`: `SELECT name(text) FROM docs`."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"function name {name!r} must be a SQL identifier such as 'ner'")
    udf = ner_udf(model, **options)
    spark.udf.register(name, udf)
    return udf
