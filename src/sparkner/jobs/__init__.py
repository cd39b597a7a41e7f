"""The lakehouse batch and streaming job: read a table or files, add entities, write, summarise.

`config` holds the job's settings and their checks, `run` the batch work, `stream` the streaming
work, `summary` the run summary, `progress` the progress display and `signals` a clean stop on
Ctrl-C or SIGTERM. Its command line is `sparkner.cli.job` (`sparkner-job`, `python -m sparkner.jobs`,
`spark-submit jobs/ner_job.py`, or a Databricks Python-wheel task with entry point `sparkner-job`).
"""
