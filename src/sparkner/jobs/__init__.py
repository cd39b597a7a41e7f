"""The lakehouse batch job: read a table or files, add entities, write, summarise.

Run it as `python -m sparkner.jobs`, as the console script `sparkner-job`
(also the Databricks Python-wheel task entry point), or with
`spark-submit jobs/ner_job.py`. `config` parses flags and config files, `run`
holds the Spark work, `summary` the run summary.
"""

from sparkner.jobs.cli import main

__all__ = ["main"]
