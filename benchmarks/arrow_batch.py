"""Arrow batch size: how `spark.sql.execution.arrow.maxRecordsPerBatch` changes sparkner's speed.

    .venv/bin/python benchmarks/arrow_batch.py [--sizes 64 256 1000 10000] [--document-sizes 4 16 10000]

An Arrow batch is the unit sparkner sorts by length and batches for the model: small ones leave
fewer texts of similar length to group (more padding) and cost more round trips; large ones hold
more text and results in the Python worker at once (its model inputs are bounded anyway: texts go
through the model in groups of about a million characters). Same Spark `local[2]` session, data and
model as `bench.py` (sparkner's `ner_udf`, `simple`, `noop` sink, medians after a warm-up); for each
size the padded share is computed the way the engine batches (per Arrow batch, windows sorted by
length, the CPU defaults of 64 windows and 1,024 tokens per call).
"""

from __future__ import annotations

import argparse
import json
import os

from bench import (  # noqa: E402
    PARTITIONS,
    SHARED,
    count_tokens,
    long_documents,
    median_time,
    real_and_padded_tokens,
    run_sparkner,
    spark_session,
)
from common import sentence_texts  # noqa: E402

from sparkner.options.runtimes import RUNTIMES  # noqa: E402

CPU_BATCH_TOKENS = RUNTIMES["torch"].batch_limits("cpu")[1]

ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


def padding_ratio(tokenizer, texts: list[str], stride: int | None, arrow_batch: int) -> float:
    """Real / padded tokens when each partition (rows dealt round-robin) is cut into Arrow batches."""
    real = padded = 0
    for partition in range(PARTITIONS):
        rows = texts[partition::PARTITIONS]
        for start in range(0, len(rows), arrow_batch):
            batch_real, batch_padded = real_and_padded_tokens(
                tokenizer, rows[start : start + arrow_batch], CPU_BATCH_TOKENS, stride
            )
            real, padded = real + batch_real, padded + batch_padded
    return real / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHARED / "models" / "conll03-minilm-ner"))
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[64, 256, 1000, 10000],
        help="rows per Arrow batch for sentences (10,000 is Spark's default)",
    )
    parser.add_argument(
        "--document-sizes", type=int, nargs="+", default=[4, 16, 10000], help="rows per Arrow batch for documents"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--documents", type=int, default=120)
    args = parser.parse_args()
    if not SHARED.exists():
        raise SystemExit(f"the benchmark reads data from {SHARED}, which is not here")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    spark = spark_session()
    rows = []
    workloads = [
        ("CoNLL-2003 sentences", sentence_texts(), None, args.sizes),
        ("CoNLL-2003 documents, stride 128", long_documents(args.documents), 128, args.document_sizes),
    ]
    for workload, texts, stride, sizes in workloads:
        tokens = count_tokens(tokenizer, texts)
        run = run_sparkner(spark, texts, args.model, stride)
        for size in sizes:
            spark.conf.set(ARROW_BATCH_CONF, str(size))
            seconds = median_time(run, args.repeats)
            rows.append(
                {
                    "workload": workload,
                    "arrow_batch": size,
                    "texts": len(texts),
                    "arrow_batches": PARTITIONS * -(-len(texts) // PARTITIONS // size),
                    "tokens_per_second": round(tokens / seconds),
                    "padding_ratio": round(padding_ratio(tokenizer, texts, stride, size), 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    spark.conf.unset(ARROW_BATCH_CONF)
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    lines = [
        "| workload | texts | rows per Arrow batch | Arrow batches | tokens/s | vs. 10,000 rows | padding ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        default = next((r for r in rows if r["workload"] == row["workload"] and r["arrow_batch"] == 10000), row)
        lines.append(
            f"| {row['workload']} | {row['texts']:,} | {row['arrow_batch']:,} | {row['arrow_batches']} | "
            f"{row['tokens_per_second']:,} | "
            f"{row['tokens_per_second'] / default['tokens_per_second']:.2f} | {row['padding_ratio']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
