"""Entity quality where the data lives: span precision, recall and F1 computed in Spark.

`evaluate(df, predictions, gold)` counts, per row and label, the predicted spans, the
gold spans and the matches (in a pandas UDF, distributed), sums the counts per label
in Spark, and only then brings the per-label sums (one row per label) to the driver
for the arithmetic, so no data row is ever collected. The arithmetic is seqeval's
`classification_report`: micro average from the summed counts, macro average the
unweighted mean over labels, F1 0 where precision and recall are both 0.

`mode="exact"`: a prediction counts when start, end and label equal a gold span
(seqeval's definition when spans follow word boundaries). `mode="overlap"`: same label
and overlapping characters, each gold span matched at most once (a lenient view).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sparkner.spark.session import workers_on_this_interpreter

Span = tuple[int, int, str]  # (start, end, label)
MODES = ("exact", "overlap")
METRIC_COLUMNS = ("label", "precision", "recall", "f1", "support", "predicted", "true_positives")
METRICS_SCHEMA = (
    "label string, precision double, recall double, f1 double, support long, predicted long, true_positives long"
)
COUNTS_TYPE = "array<struct<label:string, predicted:long, gold:long, true_positives:long>>"


# -- per row: spans in, counts out ----------------------------------------------------------


def tag_spans(starts: Sequence[int], ends: Sequence[int], tags: Sequence[str], indexes: Sequence[int]) -> list[Span]:
    """Spans of per-token IOB/IOBES tags (`aggregation_strategy="none"` output), grouped the way
    seqeval groups tags: B-/S- start an entity, I-/E- continue one of the same type, a token that
    is not the next token (`index` gap: an ignored `O` between) ends it, and so does E-/S-."""
    spans: list[list] = []
    open_span = False
    previous_index = None
    for start, end, tag, index in zip(starts, ends, tags, indexes):
        prefix, _, kind = tag.partition("-") if "-" in tag else ("I", "", tag)
        adjacent = previous_index is not None and index == previous_index + 1
        if prefix in ("B", "S") or not (open_span and adjacent and spans[-1][2] == kind):
            spans.append([start, end, kind])
        else:
            spans[-1][1] = end
        open_span = prefix not in ("E", "S")
        previous_index = index
    return [(s, e, k) for s, e, k in spans]


def overlap_matches(predicted: list[Span], gold: list[Span]) -> int:
    """Predictions that overlap an unmatched gold span of their label (each gold span used once)."""
    free = sorted(gold)
    matched = 0
    for start, end, label in sorted(predicted):
        for i, (gold_start, gold_end, gold_label) in enumerate(free):
            if gold_label == label and gold_start < end and start < gold_end:
                del free[i]
                matched += 1
                break
    return matched


def row_counts(predicted: Iterable[Span], gold: Iterable[Span], mode: str = "exact") -> dict[str, tuple[int, int, int]]:
    """Per label: (predicted, gold, true positives) for one row. Repeated spans count once, as in seqeval."""
    predicted, gold = set(predicted), set(gold)
    by_label: dict[str, list[list[Span]]] = {}
    for side, spans in enumerate((predicted, gold)):
        for span in spans:
            by_label.setdefault(span[2], [[], []])[side].append(span)
    counts = {}
    for label, (mine, theirs) in by_label.items():
        hits = len(set(mine) & set(theirs)) if mode == "exact" else overlap_matches(mine, theirs)
        counts[label] = (len(mine), len(theirs), hits)
    return counts


# -- the arithmetic, on per-label sums --------------------------------------------------------


@dataclass(frozen=True)
class LabelCounts:
    predicted: int = 0
    gold: int = 0
    true_positives: int = 0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def metrics_rows(counts: Mapping[str, LabelCounts]) -> list[dict[str, Any]]:
    """One row per label (sorted), then `micro avg` and `macro avg`, as seqeval reports them."""
    rows = []
    for label in sorted(counts):
        c = counts[label]
        precision, recall = _ratio(c.true_positives, c.predicted), _ratio(c.true_positives, c.gold)
        rows.append(
            {
                "label": label,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
                "support": c.gold,
                "predicted": c.predicted,
                "true_positives": c.true_positives,
            }
        )
    predicted = sum(c.predicted for c in counts.values())
    gold = sum(c.gold for c in counts.values())
    hits = sum(c.true_positives for c in counts.values())
    micro_p, micro_r = _ratio(hits, predicted), _ratio(hits, gold)
    totals = {"support": gold, "predicted": predicted, "true_positives": hits}
    rows.append({"label": "micro avg", "precision": micro_p, "recall": micro_r, "f1": _f1(micro_p, micro_r), **totals})
    per_label = rows[:-1]
    mean = (lambda key: sum(r[key] for r in per_label) / len(per_label)) if per_label else (lambda key: 0.0)
    rows.append(
        {"label": "macro avg", "precision": mean("precision"), "recall": mean("recall"), "f1": mean("f1"), **totals}
    )
    return rows


# -- in Spark -------------------------------------------------------------------------------


def _span_fields(data_type: Any, column: str, role: str) -> tuple[str, bool]:
    """(label field, has index) of an array<struct<start, end, ...>> column, or a clear error."""
    from pyspark.sql.types import ArrayType, StructType

    element = data_type.elementType if isinstance(data_type, ArrayType) else None
    names = set(element.fieldNames()) if isinstance(element, StructType) else set()
    for label in ("label", "entity_group", "entity"):
        if {"start", "end", label} <= names:
            return label, label == "entity" and "index" in names
    raise ValueError(
        f"{role} column {column!r} is {data_type.simpleString()}; it must be a sparkner entities column or an "
        "array<struct<start:int, end:int, label:string>>"
    )


def label_counts(
    df: Any,
    predictions: str = "entities",
    gold: str = "gold",
    *,
    mode: str = "exact",
    label_map: Mapping[str, str] | None = None,
    ignore_labels: Iterable[str] | None = None,
) -> Any:
    """A Spark DataFrame `label, predicted, gold, true_positives` summed over every row (lazy)."""
    from pyspark.sql import functions as F

    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if isinstance(ignore_labels, str):
        raise ValueError(f"ignore_labels must be a list of labels, got the string {ignore_labels!r}")
    for column, role in ((predictions, "predictions"), (gold, "gold")):
        if column not in df.columns:
            raise ValueError(
                f"{role} column {column!r} is not in the DataFrame; its columns are {', '.join(df.columns)}"
            )
    predicted_label, has_index = _span_fields(df.schema[predictions].dataType, predictions, "predictions")
    gold_label, _ = _span_fields(df.schema[gold].dataType, gold, "gold")
    counts_udf = _counts_udf(mode, dict(label_map or {}), frozenset(ignore_labels or ()), has_index)
    workers_on_this_interpreter(df.sparkSession)  # the counts are made in Spark's Python workers

    def field_of(name: str) -> Any:
        return lambda element: element[name]

    def fields(column: str, label: str, with_index: bool = False) -> list[Any]:
        array = F.col(column)  # a null array counts as no spans (the UDF reads None as empty)
        names = ["start", "end", label] + (["index"] if with_index else [])
        return [F.transform(array, field_of(name)) for name in names]

    index = [] if has_index else [F.lit(None).cast("array<int>")]
    counted = df.select(
        counts_udf(*fields(predictions, predicted_label, has_index), *index, *fields(gold, gold_label)).alias("c")
    )
    # explode_outer, then the filter: for `explode` Spark infers a filter on the array's size and pushes it
    # below the UDFs, copying them, so `predictions` made by `ner_udf` would run the model twice.
    exploded = counted.select(F.explode_outer("c").alias("c")).select("c.*").where(F.col("label").isNotNull())
    return exploded.groupBy("label").agg(
        F.sum("predicted").alias("predicted"),
        F.sum("gold").alias("gold"),
        F.sum("true_positives").alias("true_positives"),
    )


def _counts_udf(mode: str, label_map: dict[str, str], ignored: frozenset[str], has_index: bool) -> Any:
    from pyspark.sql.functions import pandas_udf

    def spans(starts: Any, ends: Any, labels: Any) -> list[Span]:
        if starts is None:
            return []
        return [(int(s), int(e), str(label)) for s, e, label in zip(starts, ends, labels) if label is not None]

    def count(
        p_start: pd.Series,
        p_end: pd.Series,
        p_label: pd.Series,
        p_index: pd.Series,
        g_start: pd.Series,
        g_end: pd.Series,
        g_label: pd.Series,
    ) -> pd.Series:
        out = []
        for row in zip(p_start, p_end, p_label, p_index, g_start, g_end, g_label):
            predicted = (
                tag_spans(row[0], row[1], row[2], row[3])
                if has_index and row[0] is not None
                else spans(row[0], row[1], row[2])
            )
            gold = [(s, e, label_map.get(label, label)) for s, e, label in spans(row[4], row[5], row[6])]
            counts = row_counts(
                [p for p in predicted if p[2] not in ignored], [g for g in gold if g[2] not in ignored], mode
            )
            out.append(
                [
                    {"label": label, "predicted": c[0], "gold": c[1], "true_positives": c[2]}
                    for label, c in counts.items()
                ]
            )
        return pd.Series(out, dtype=object)

    return pandas_udf(count, returnType=COUNTS_TYPE)  # type: ignore[call-overload]


def collect_counts(counts_df: Any) -> dict[str, LabelCounts]:
    """The per-label sums (one small row per label) on the driver."""
    return {
        row["label"]: LabelCounts(int(row["predicted"]), int(row["gold"]), int(row["true_positives"]))
        for row in counts_df.collect()
    }


def add_counts(total: dict[str, LabelCounts], more: Mapping[str, LabelCounts]) -> dict[str, LabelCounts]:
    merged = dict(total)
    for label, c in more.items():
        before = merged.get(label, LabelCounts())
        merged[label] = LabelCounts(
            before.predicted + c.predicted, before.gold + c.gold, before.true_positives + c.true_positives
        )
    return merged


def evaluate(
    df: Any,
    predictions: str = "entities",
    gold: str = "gold",
    *,
    mode: str = "exact",
    label_map: Mapping[str, str] | None = None,
    ignore_labels: Iterable[str] | None = None,
) -> Any:
    """Per-label and averaged span metrics of `predictions` against `gold`, as a Spark DataFrame.

    >>> sparkner.evaluate(df.withColumn("entities", ner("text")), gold="gold").show()  # doctest: +SKIP

    `predictions`: a sparkner entities column (`entity_group`; for `none` the `entity` tags are
    grouped into spans as seqeval groups IOB tags) or any `array<struct<start, end, label>>`.
    `gold`: `array<struct<start, end, label>>` (extra fields allowed). `label_map` renames gold
    labels; `ignore_labels` drops labels on both sides. Columns: `label, precision, recall, f1,
    support, predicted, true_positives`; rows: each label, then `micro avg` and `macro avg`.
    """
    counts = collect_counts(
        label_counts(df, predictions, gold, mode=mode, label_map=label_map, ignore_labels=ignore_labels)
    )
    return df.sparkSession.createDataFrame(metrics_rows(counts), METRICS_SCHEMA)
