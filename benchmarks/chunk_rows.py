"""What committing in chunks costs the incremental job: one run, several `--chunk-rows` settings.

    .venv/bin/python benchmarks/chunk_rows.py [--rows 30000] [--chunk-rows 0 5000 10000 20000] [--repeats 3]

Each run is the job in this process (one SparkSession on local[2], model already warm), writing a
fresh incremental output of `--rows` CoNLL-2003 train sentences. The settings take turns within
each repeat, so drift on a noisy machine spreads over all of them. Prints the median processing
seconds per setting, the spread, and the ratio to one commit (`--chunk-rows 0`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import conll_sentences

from sparkner.cli.common import local_session
from sparkner.jobs.config import JobConfig
from sparkner.jobs.run import run_job


def write_input(spark, rows: int, folder: Path) -> str:
    sentences = conll_sentences("train")
    texts = [(f"s{i}", sentences[i % len(sentences)].text) for i in range(rows)]
    path = str(folder / "input")
    spark.createDataFrame(texts, "doc_id string, text string").repartition(1).write.parquet(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--chunk-rows", type=int, nargs="+", default=[0, 5_000, 10_000, 20_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None, help="default: the bundled demo model")
    args = parser.parse_args()
    spark = local_session("chunk-rows-benchmark", "local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    seconds: dict[int, list[float]] = {size: [] for size in args.chunk_rows}
    with tempfile.TemporaryDirectory() as folder:
        source = write_input(spark, args.rows, Path(folder))
        for repeat in range(args.repeats):
            for size in args.chunk_rows:
                config = JobConfig(
                    input=source,
                    id_col="doc_id",
                    output=f"{folder}/out-{size}-{repeat}",
                    mode="incremental",
                    chunk_rows=size,
                    model=args.model,
                )
                summary = run_job(spark, config, config.ner_settings())
                assert summary.rows_processed == args.rows
                seconds[size].append(summary.processing_seconds)
                print(
                    f"repeat {repeat + 1}, chunk rows {size or 'all'}: {summary.processing_seconds:.1f} s, "
                    f"{summary.tokens_per_second:,.0f} tokens/s",
                    flush=True,
                )
    base = statistics.median(seconds[args.chunk_rows[0]])
    print(
        f"\n{args.rows:,} rows, {args.repeats} repeats; processing seconds (median, min-max), ratio to "
        f"{args.chunk_rows[0] or 'one commit'}:"
    )
    print("| --chunk-rows | chunks | seconds | spread | ratio |\n|---|---|---|---|---|")
    for size, values in seconds.items():
        median = statistics.median(values)
        chunks = -(-args.rows // size) if size else 1
        print(
            f"| {size or '0 (one commit)'} | {chunks} | {median:.1f} | "
            f"{min(values):.1f}–{max(values):.1f} | {median / base:.2f} |"
        )


if __name__ == "__main__":
    main()
