"""Does a run's cost follow its new rows? 10 successive runs, each adding 10% new rows to a growing input.

    .venv/bin/python benchmarks/incremental_runs.py [--start-rows 50000] [--runs 10] [--modes batch stream]

Input: CoNLL-2003 train, WNUT-17 dev and BC5CDR dev sentences (cycled to the size needed, unique
ids), as parquet files, one file per run's new rows. Run 1 processes `--start-rows`; each later run
adds 10% of that. `batch` is `--mode incremental`, `stream` is `--stream --trigger available-now`;
each run is the job's own body (`run_job` / `run_stream`) in one SparkSession on local[2], timed from
its call to its return (the model stays loaded between runs, as Spark's Python workers are reused).
Prints each run's wall seconds and run 10 / run 2 per mode. To measure another checkout (e.g. the code
before a change), copy this file into its `benchmarks/` and run it there.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import DATA


def sentences() -> list[str]:
    from sparkner.metrics.conll import read_conll_file

    paths = [DATA / "conll2003" / "train.txt", DATA / "wnut17" / "emerging.dev.conll", DATA / "bc5cdr" / "devel.tsv"]
    return [sentence.text for path in paths for sentence in read_conll_file(path) if sentence.text.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--modes", nargs="+", default=["batch", "stream"], choices=["batch", "stream"])
    args = parser.parse_args()
    from sparkner.cli.common import local_session
    from sparkner.jobs.config import JobConfig
    from sparkner.jobs.run import run_job

    spark = local_session("incremental-runs-benchmark", "local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    texts = sentences()
    step = args.start_rows // 10
    wall: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes:
            source = Path(folder) / mode / "input"
            wall[mode] = []
            for run in range(args.runs):
                first, count = (0, args.start_rows) if run == 0 else (args.start_rows + (run - 1) * step, step)
                rows = [(f"d{i}", texts[i % len(texts)]) for i in range(first, first + count)]
                spark.createDataFrame(rows, "doc_id string, text string").coalesce(1).write.mode("append").parquet(
                    str(source)
                )
                config = JobConfig(input=str(source), id_col="doc_id", output=str(Path(folder) / mode / "output"))
                started = time.time()
                if mode == "batch":
                    config.mode = "incremental"
                    summary = run_job(spark, config, config.ner_settings())
                else:
                    from sparkner.jobs.stream import run_stream

                    config.stream, config.checkpoint = True, str(Path(folder) / mode / "checkpoint")
                    summary = run_stream(spark, config, config.ner_settings())
                seconds = time.time() - started
                wall[mode].append(seconds)
                print(f"{mode} run {run + 1}: {summary.rows_processed:,} new rows, {seconds:.1f} s", flush=True)
    print(f"\nwall seconds per run ({args.start_rows:,} rows, then +{step:,} per run):")
    print("| run | " + " | ".join(wall) + " |\n|---|" + "---|" * len(wall))
    for run in range(args.runs):
        print(f"| {run + 1} | " + " | ".join(f"{wall[mode][run]:.1f}" for mode in wall) + " |")
    print("| run 10 / run 2 | " + " | ".join(f"{wall[mode][-1] / wall[mode][1]:.2f}" for mode in wall) + " |")


if __name__ == "__main__":
    main()
