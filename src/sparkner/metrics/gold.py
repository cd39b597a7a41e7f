"""Gold data as Spark DataFrames `(id, text, gold)`, ready for `sparkner.evaluate`.

`gold` is `array<struct<start:int, end:int, label:string>>`, character spans into `text`.
CoNLL/IOB files are read with Spark's text reader (one row per file, parsed on the
executors); JSON lines with character spans (the `long_docs` / `natural_docs` format:
`doc_id`, `text`, `entities` with `start`, `end`, `label`) with Spark's JSON reader, so
the spans are kept exactly as written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sparkner.metrics.conll import gold_spans, joined, parse_conll
from sparkner.spark.session import workers_on_this_interpreter

GOLD_TYPE = "array<struct<start:int, end:int, label:string>>"
GOLD_SCHEMA = f"id string, text string, gold {GOLD_TYPE}"
UNITS = ("sentence", "document")


def read_conll(spark: Any, path: str, *, unit: str = "sentence", tag_column: int = -1) -> Any:
    """CoNLL/IOB files (a token per line, the tag in `tag_column`, blank lines between sentences,
    `-DOCSTART-` between documents) as one row per sentence or per document. A sentence's tokens
    are joined with single spaces, and so are a document's sentences. Ids: `FILE:N`."""
    import pandas as pd

    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {', '.join(UNITS)}")

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for content, file in zip(batch["value"], batch["file"]):
                name = file.rsplit("/", 1)[-1]
                units = (
                    s
                    for document in parse_conll(content.splitlines(), tag_column=tag_column)
                    for s in ([joined(document)] if unit == "document" else document)
                )
                for n, sentence in enumerate(units):
                    spans = [{"start": s, "end": e, "label": k} for s, e, k in gold_spans(sentence)]
                    rows.append({"id": f"{name}:{n}", "text": sentence.text, "gold": spans})
            yield pd.DataFrame(rows, columns=["id", "text", "gold"])

    workers_on_this_interpreter(spark)  # `parse` runs in Spark's Python workers, which need sparkner
    files = spark.read.text(path, wholetext=True).selectExpr("value", "_metadata.file_path AS file")
    return files.mapInPandas(parse, GOLD_SCHEMA)


def read_spans(spark: Any, path: str) -> Any:
    """JSON lines with `doc_id`, `text` and `entities` (`start`, `end`, `label`, extra fields ignored)."""
    schema = f"doc_id string, text string, entities {GOLD_TYPE}"
    return spark.read.schema(schema).json(path).selectExpr("doc_id AS id", "text", "entities AS gold")
