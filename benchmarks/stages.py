"""Where the time goes: sparkner's stages timed one by one on the same texts.

    .venv/bin/python benchmarks/stages.py [--sentences 2000] [--documents 60]

The engine's stages: tokenize (`prepare`: the windows), forward (`forward`: the model and the
softmax), aggregate (`postprocess`: entities, the window merge and filters) and Arrow (turning the results into the
UDF's Arrow column, as pyspark does), with 1 torch thread as in a Spark task.
Medians of 3 runs after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import pyarrow as pa
import torch
from common import SHARED  # noqa: E402 - also puts src/ on the path

from sparkner import TokenClassifier  # noqa: E402
from sparkner.metrics.conll import read_conll_file  # noqa: E402


def stage_times(classifier: TokenClassifier, texts: list[str]) -> dict[str, float]:
    """The engine's own stages, one by one, as `TokenClassifier` runs them."""
    engine = classifier.engine
    times: dict[str, float] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        value = function(*args)
        times[name] = time.perf_counter() - started
        return value

    prepared = timed("tokenize", engine.prepare, texts)
    probs = timed("forward", engine.forward, prepared)
    results = timed("aggregate", engine.postprocess, prepared, probs)
    try:
        from pyspark.sql.pandas.types import to_arrow_type

        from sparkner.spark.schema import entity_schema
    except ImportError:  # a GPU box without Spark: the three model stages only
        return times

    arrow_type = to_arrow_type(entity_schema(classifier.settings.aggregation_strategy))
    timed("arrow", pa.array, [result.entities for result in results], arrow_type)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--documents", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = str(SHARED / "models" / "conll03-minilm-ner")
    sentences = [s.text for s in read_conll_file(SHARED / "data" / "conll2003" / "test.txt")][: args.sentences]
    documents = [
        json.loads(line)["text"] for line in (SHARED / "data" / "long_docs" / "conll2003_en_test_docs.jsonl").open()
    ][: args.documents]
    for name, texts in (("sentences", sentences), ("documents", documents)):
        for strategy in ("simple", "first"):
            classifier = TokenClassifier(model, aggregation_strategy=strategy, device="cpu")
            stage_times(classifier, texts)  # warm-up
            runs = [stage_times(classifier, texts) for _ in range(3)]
            medians = {stage: statistics.median(run[stage] for run in runs) for stage in runs[0]}
            total = sum(medians.values())
            shares = ", ".join(f"{stage} {seconds:.2f}s ({seconds / total:.0%})" for stage, seconds in medians.items())
            print(f"{name} ({len(texts)}), {strategy}: total {total:.2f}s: {shares}", flush=True)


if __name__ == "__main__":
    main()
