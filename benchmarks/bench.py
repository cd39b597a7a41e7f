"""Throughput of sparkner against the usual recipe and the hardware ceiling, in one run.

    make benchmark            # or: .venv/bin/python benchmarks/bench.py --out docs/benchmarks.md

Methods, on the same model and data, Spark `local[2]`, medians of `--repeats` runs after a warm-up:

1. sparkner: `ner_udf` over a DataFrame (written to Spark's `noop` sink).
2. recipe: an iterator pandas UDF that builds `pipeline("token-classification")` once per worker and
   calls it on each Arrow batch, with `batch_size=1` and with larger batch sizes.
3. ceiling: one Python process, no Spark, no aggregation: tokenize, sort windows by length, batch by
   a token budget, forward, softmax, with the same 2 threads; the best of a few budgets.

Workloads: CoNLL-2003 test sentences, whole CoNLL-2003 documents (windows of 512 with stride 128),
and a synthetic length sweep (one model, sparkner vs. ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import SHARED, sentence_texts

from sparkner.engine.batching import length_sorted_batches
from sparkner.metrics.conll import read_conll_file

SWEEP_LENGTHS = (100, 500, 2000, 5000, 20000)
# One partition per core: measured here, 8 partitions ran 35% slower on sentences (per-task overhead).
PARTITIONS = 2


def median_time(run: Callable[[], object], repeats: int, synchronize: Callable[[], object] = lambda: None) -> float:
    """Median wall time of `repeats` runs after a warm-up; `synchronize` waits for a GPU's queued work."""
    run()  # warm-up: workers start, models load
    times = []
    for _ in range(repeats):
        synchronize()
        started = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def count_tokens(tokenizer, texts: list[str]) -> int:
    """The texts' own tokens (no special tokens, no window overlap): what tokens/s counts."""
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])


# -- workloads ------------------------------------------------------------------------------------


def long_documents(limit: int) -> list[str]:
    path = SHARED / "data" / "long_docs" / "conll2003_en_test_docs.jsonl"
    return [json.loads(line)["text"] for line in path.open()][:limit]


def sweep_documents(tokenizer, length: int, total_tokens: int) -> list[str]:
    """Documents of about `length` tokens made of consecutive CoNLL sentences."""
    sentences = [s.text for s in read_conll_file(SHARED / "data" / "conll2003" / "train.txt")]
    counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
    docs, current, size, i = [], [], 0, 0
    while len(docs) < max(4, total_tokens // length):  # at least 4, so both cores have work
        current.append(sentences[i % len(sentences)])
        size += counts[i % len(counts)]
        i += 1
        if size >= length:
            docs.append(" ".join(current))
            current, size = [], 0
    return docs


# -- the three methods ----------------------------------------------------------------------------


def spark_session():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("sparkner-benchmark")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_sparkner(spark, texts: list[str], model: str, stride: int | None) -> Callable[[], None]:
    from sparkner import ner_udf

    df = spark.createDataFrame([(t,) for t in texts], "text string").repartition(PARTITIONS).cache()
    df.count()
    udf = ner_udf(
        model, aggregation_strategy="simple", word_boundaries="pipeline", stride=stride
    )  # the recipe's output
    return lambda: df.select(udf("text")).write.format("noop").mode("overwrite").save()


def run_recipe(spark, texts: list[str], model: str, stride: int | None, batch_size: int) -> Callable[[], None]:
    from pyspark.sql.functions import pandas_udf

    df = spark.createDataFrame([(t,) for t in texts], "text string").repartition(PARTITIONS).cache()
    df.count()

    @pandas_udf("string")
    def recipe(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        import transformers

        # Once per worker, as the recipe intends (cached where the worker keeps it between tasks).
        cache = transformers.__dict__.setdefault("_recipe_pipelines", {})
        if model not in cache:
            cache[model] = transformers.pipeline(
                "token-classification", model=model, aggregation_strategy="simple", device="cpu"
            )
        pipe = cache[model]
        options = {"stride": stride} if stride else {}
        for batch in batches:
            results = pipe(batch.tolist(), batch_size=batch_size, **options)
            yield pd.Series([json.dumps([{**e, "score": float(e["score"])} for e in r]) for r in results])

    return lambda: df.select(recipe("text")).write.format("noop").mode("overwrite").save()


def run_ceiling(
    texts: list[str],
    model_dir: str,
    stride: int | None,
    budget: int,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    threads: int = 2,
) -> Callable[[], None]:
    """The model-only ceiling: the engine's own `prepare` (the windows) and `forward` (sort, batch by
    `budget` padded tokens, the model, softmax to numpy), and nothing else (no aggregation, no Spark)."""
    from sparkner import TokenClassifier

    engine = TokenClassifier(
        model_dir, device=device, dtype=dtype, stride=stride, batch_size=10_000, max_batch_tokens=budget
    ).engine
    engine.load()

    def run() -> None:
        torch.set_num_threads(threads)
        engine.forward(engine.prepare(texts))

    return run


def real_and_padded_tokens(tokenizer, texts: list[str], budget: int, stride: int | None = None) -> tuple[int, int]:
    """Real tokens, and tokens after padding, of `texts`' windows in sparkner's length-sorted CPU batches."""
    rows = tokenizer(texts, truncation=True, max_length=512, stride=stride or 0, return_overflowing_tokens=True)[
        "input_ids"
    ]
    lengths = np.array([len(r) for r in rows])
    padded = sum(len(b) * lengths[b].max() for b in length_sorted_batches(lengths, 64, budget))
    return int(lengths.sum()), int(padded)


def padding_ratio(tokenizer, texts: list[str], budget: int) -> float:
    """Real tokens / padded tokens for sparkner's length-sorted batches."""
    real, padded = real_and_padded_tokens(tokenizer, texts, budget)
    return real / padded


# -- the run --------------------------------------------------------------------------------------


def bert_base_model(directory: Path, tokenizer_source: Path = SHARED / "models" / "conll03-minilm-ner") -> str:
    """A BERT-base-shaped token classifier (random weights) with the real model's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    config = BertConfig(vocab_size=len(tokenizer), num_labels=9)  # 12 layers, hidden 768
    config.id2label = {
        i: label
        for i, label in enumerate(["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"])
    }
    config.label2id = {label: i for i, label in config.id2label.items()}
    torch.manual_seed(0)
    BertForTokenClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def measure(
    spark, name: str, model: str, texts: list[str], stride: int | None, repeats: int, recipe_sizes: tuple[int, ...]
) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokens = count_tokens(tokenizer, texts)
    result = {"workload": name, "texts": len(texts), "tokens": tokens}
    result["sparkner_s"] = median_time(run_sparkner(spark, texts, model, stride), repeats)
    ceilings = {
        budget: median_time(run_ceiling(texts, model, stride, budget), repeats) for budget in (512, 1024, 2048, 4096)
    }
    best_budget = min(ceilings, key=ceilings.get)
    result.update(ceiling_s=ceilings[best_budget], ceiling_budget=best_budget)
    for size in recipe_sizes:
        result[f"recipe_bs{size}_s"] = median_time(run_recipe(spark, texts, model, stride, size), repeats)
    result["padding_ratio"] = padding_ratio(tokenizer, texts, 1024)
    print(json.dumps(result), flush=True)
    return result


def sweep(spark, model: str, repeats: int, total_tokens: int) -> list[dict]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    rows = []
    for length in SWEEP_LENGTHS:
        docs = sweep_documents(tokenizer, length, total_tokens)
        tokens = count_tokens(tokenizer, docs)
        ours = median_time(run_sparkner(spark, docs, model, None), repeats)
        ceiling = median_time(run_ceiling(docs, model, 128, 1024), repeats)
        rows.append(
            {
                "length": length,
                "docs": len(docs),
                "tokens": tokens,
                "sparkner_tok_s": tokens / ours,
                "ceiling_tok_s": tokens / ceiling,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def recipe_times(result: dict) -> dict[int, float]:
    """The recipe's median seconds by `batch_size`."""
    return {int(key[len("recipe_bs") : -2]): value for key, value in result.items() if key.startswith("recipe_bs")}


def markdown(results: list[dict], sweep_rows: list[dict], machine: str) -> str:
    lines = [
        f"Machine: {machine}. Spark `local[2]`, {PARTITIONS} partitions; sparkner with 1 torch thread per task",
        "(2 tasks at a time), the recipe with torch's default threads, the ceiling one process with 2 threads.",
        "Medians of the repeats after a warm-up; all numbers from one run of `make benchmark` (`benchmarks/bench.py`).",
        "",
        "| model | workload | texts | tokens | sparkner texts/s | sparkner tokens/s | ceiling tokens/s (budget) | "
        "sparkner / ceiling | recipe bs=1 tokens/s | sparkner / recipe bs=1 | best recipe (bs) | sparkner / best "
        "recipe | padding ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        recipes = recipe_times(r)
        best_size = min(recipes, key=recipes.get)
        lines.append(
            f"| {r['model']} | {r['workload']} | {r['texts']} | {r['tokens']} | {r['texts'] / r['sparkner_s']:.1f} | "
            f"{r['tokens'] / r['sparkner_s']:.0f} | {r['tokens'] / r['ceiling_s']:.0f} ({r['ceiling_budget']}) | "
            f"{r['ceiling_s'] / r['sparkner_s']:.2f} | {r['tokens'] / recipes[1]:.0f} | "
            f"{recipes[1] / r['sparkner_s']:.2f} | "
            f"{r['tokens'] / recipes[best_size]:.0f} ({best_size}) | {recipes[best_size] / r['sparkner_s']:.2f} | "
            f"{r['padding_ratio']:.2f} |"
        )
    if sweep_rows:
        lines += [
            "",
            "Length sweep (MiniLM, stride=None for sparkner, 128 for the ceiling):",
            "",
            "| tokens per document | documents | sparkner tokens/s | ceiling tokens/s | sparkner / ceiling |",
            "|---|---|---|---|---|",
        ]
        for row in sweep_rows:
            lines.append(
                f"| {row['length']} | {row['docs']} | {row['sparkner_tok_s']:.0f} | {row['ceiling_tok_s']:.0f} | "
                f"{row['sparkner_tok_s'] / row['ceiling_tok_s']:.2f} |"
            )
    return "\n".join(lines + ["", *target_lines(results, sweep_rows)]) + "\n"


def target_lines(results: list[dict], sweep_rows: list[dict]) -> list[str]:
    """The issue's targets checked against this run's numbers, each with the bound the ceiling sets.

    Where sparkner already runs at the ceiling, a recipe ratio below target is the model's
    arithmetic, not sparkner's overhead: the ceiling's own ratio to the recipe says so.
    """

    def verdict(value: float, target: float) -> str:
        return "met" if value >= target else "**not met**"

    lines = ["Targets, checked on the numbers above:", ""]
    for r in results:
        recipes = recipe_times(r)
        best = min(recipes.values())
        ceiling = r["ceiling_s"] / r["sparkner_s"]
        checks = [f"sparkner / ceiling {ceiling:.2f} (≥ 0.85: {verdict(ceiling, 0.85)})"]
        if "sentences" in r["workload"]:
            for name, seconds, target in (("recipe bs=1", recipes[1], 2.0), ("best recipe", best, 1.5)):
                ratio = seconds / r["sparkner_s"]
                checks.append(
                    f"sparkner / {name} {ratio:.2f} (≥ {target}: {verdict(ratio, target)}; "
                    f"ceiling / {name} {seconds / r['ceiling_s']:.2f})"
                )
        lines.append(f"- {r['model']}, {r['workload']}: " + "; ".join(checks))
    if sweep_rows:
        spreads = {}
        for who in ("sparkner", "ceiling"):
            rates = [row[f"{who}_tok_s"] for row in sweep_rows]
            mean = statistics.mean(rates)
            spreads[who] = (min(rates) / mean - 1, max(rates) / mean - 1)
        low, high = spreads["sparkner"]
        met = "met" if max(-low, high) <= 0.20 else "**not met**"
        ratios = [row["sparkner_tok_s"] / row["ceiling_tok_s"] for row in sweep_rows]
        lines.append(
            f"- Length sweep: sparkner tokens/s {low:+.0%} / {high:+.0%} around its mean (within ±20%: {met}); "
            f"the ceiling's own spread {spreads['ceiling'][0]:+.0%} / {spreads['ceiling'][1]:+.0%}; "
            f"sparkner / ceiling {min(ratios):.2f}–{max(ratios):.2f} across lengths"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=3453, help="CoNLL-2003 test sentences (3,453: all of them)")
    parser.add_argument("--documents", type=int, default=120)
    parser.add_argument("--sweep-tokens", type=int, default=20000)
    parser.add_argument("--bert-base", action="store_true", help="also the BERT-base-shaped model (slow on CPU)")
    parser.add_argument("--bert-base-sentences", type=int, default=300, help="sentences for the BERT-base-shaped model")
    parser.add_argument("--bert-base-documents", type=int, default=20, help="documents for the BERT-base-shaped model")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args()
    if not SHARED.exists():
        raise SystemExit(f"the benchmark reads data from {SHARED}, which is not here")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spark = spark_session()
    real = str(SHARED / "models" / "conll03-minilm-ner")
    results = []
    for model_name, model in [("MiniLM-L6 (real)", real)]:
        for workload, texts, stride in [
            ("CoNLL-2003 sentences", sentence_texts(limit=args.sentences), None),
            ("CoNLL-2003 documents, stride 128", long_documents(args.documents), 128),
        ]:
            results.append(
                {"model": model_name, **measure(spark, workload, model, texts, stride, args.repeats, (1, 8, 32))}
            )
    if args.bert_base:
        with tempfile.TemporaryDirectory() as tmp:
            model = bert_base_model(Path(tmp))
            for workload, texts, stride in [
                ("CoNLL-2003 sentences", sentence_texts(limit=args.bert_base_sentences), None),
                ("CoNLL-2003 documents, stride 128", long_documents(args.bert_base_documents), 128),
            ]:
                results.append(
                    {
                        "model": "BERT-base shape (random)",
                        **measure(spark, workload, model, texts, stride, args.repeats, (1, 8, 32)),
                    }
                )
    sweep_rows = sweep(spark, real, args.repeats, args.sweep_tokens)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}"
    )
    table = markdown(results, sweep_rows, machine)
    print(table)
    if args.out:
        write_results(args.out, table)


START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_results(path: Path, table: str) -> None:
    """Replace the generated part of the doc, keeping the hand-written analysis around it."""
    text = path.read_text() if path.exists() else f"{START}\n{END}\n"
    if START not in text:
        text = f"{START}\n{END}\n" + text
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{START}\n{table}{END}{tail}")


if __name__ == "__main__":
    main()
