"""spark-submit entry point for the sparkner batch job (the Databricks bundle, databricks.yml, and the
Airflow DAG, airflow_dag.py, run the wheel's `sparkner-job` instead).

    spark-submit jobs/ner_job.py --input docs.parquet --text-col text --output entities/

Takes the same flags as `sparkner-job --help`; sparkner must be installed on the
driver and executors (e.g. `pip install sparkner` or `--py-files`).
"""

from sparkner.cli.job import main

if __name__ == "__main__":
    raise SystemExit(main())
