"""spark-submit entry point for the sparkner batch job.

    spark-submit jobs/ner_job.py --input docs.parquet --text-col text --output entities/

Takes the same flags as `sparkner-job --help`; sparkner must be installed on the
driver and executors (e.g. `pip install sparkner` or `--py-files`).
"""

from sparkner.cli.job import main

if __name__ == "__main__":
    raise SystemExit(main())
