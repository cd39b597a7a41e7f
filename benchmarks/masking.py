"""Masking: what it costs on top of NER, how fast it runs alone, and how much personal data it catches.

    .venv/bin/python benchmarks/masking.py [--repeats 3]

In one run, with the real MiniLM NER model (../shared) and its default options:
1. Through Spark (`local[2]`), on the natural-punctuation CoNLL-2003 test documents: `ner_udf`
   alone against `mask_udf` (NER and masking in one pass), medians of `--repeats` after a warm-up.
2. `sparkner.mask` over entities already computed (no model): rows/s.
3. On the same documents and their gold spans: per label, the share of gold characters masked
   (recall) and the share of masked characters outside any gold entity of that label (over-masking).
"""

from __future__ import annotations

import argparse
import json

from bench import PARTITIONS, median_time, spark_session
from common import REAL_MODEL, natural_docs

import sparkner
from sparkner import TokenClassifier
from sparkner.masking import Masker
from sparkner.options.masking import mask_settings

LABELS = ("PER", "ORG", "LOC")


def spark_costs(spark, texts: list[str], repeats: int) -> dict:
    df = spark.createDataFrame([(t,) for t in texts], "text string").repartition(PARTITIONS).cache()
    df.count()
    ner = sparkner.ner_udf(str(REAL_MODEL))
    masked = sparkner.mask_udf(str(REAL_MODEL), labels=list(LABELS))
    alone = median_time(lambda: df.select(ner("text")).write.format("noop").mode("overwrite").save(), repeats)
    both = median_time(lambda: df.select(masked("text")).write.format("noop").mode("overwrite").save(), repeats)
    found = df.withColumn("entities", ner("text")).cache()
    found.count()
    rows = found.count()
    only = median_time(
        lambda: (
            found.select(sparkner.mask("text", "entities", list(LABELS))).write.format("noop").mode("overwrite").save()
        ),
        repeats,
    )
    return {
        "documents": len(texts),
        "ner_seconds": round(alone, 2),
        "ner_and_masking_seconds": round(both, 2),
        "masking_adds": f"{both / alone - 1:+.1%}",
        "masking_alone_rows_per_second": round(rows / only),
    }


def quality(docs) -> dict:
    """Per label: gold characters masked, and masked characters outside gold, over all documents."""
    found = TokenClassifier(str(REAL_MODEL))([doc.text for doc in docs])
    masker = Masker(mask_settings(list(LABELS)))
    totals = {label: {"gold": 0, "gold_masked": 0, "masked": 0, "masked_outside": 0} for label in LABELS}
    for doc, entities in zip(docs, found):
        for label in LABELS:
            gold = {i for start, end, kind in doc.spans if kind == label for i in range(start, end)}
            chosen = masker.chosen(e for e in entities if e["entity_group"] == label)
            masked = {i for e in chosen for i in range(e["start"], e["end"])}
            counts = totals[label]
            counts["gold"] += len(gold)
            counts["gold_masked"] += len(gold & masked)
            counts["masked"] += len(masked)
            counts["masked_outside"] += len(masked - gold)
    return {
        label: {
            "recall_of_gold_characters": round(c["gold_masked"] / max(1, c["gold"]), 4),
            "masked_characters_outside_gold": round(c["masked_outside"] / max(1, c["masked"]), 4),
            "gold_characters": c["gold"],
        }
        for label, c in totals.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    docs = natural_docs("test")
    spark = spark_session()
    result = {
        "spark": spark_costs(spark, [doc.text for doc in docs] * 4, args.repeats),
        "quality_natural_docs_test": quality(docs),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
