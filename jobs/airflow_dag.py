"""An Airflow DAG that runs sparkner's batch job on Databricks, nightly, as a Python-wheel task on a new
job cluster (`apache-airflow-providers-databricks`'s `DatabricksSubmitRunOperator`).

Copy this file into your DAGs folder, set the Airflow connection `databricks_default` (host and token)
and the wheel's path on a volume below, and adjust the variables. The task's parameters are the flags of
`sparkner-job --help`; tests/test_bundle.py checks them against the job's parser and the entry point
against the wheel. The model's token, if it needs one, comes from a Databricks secret into HF_TOKEN.
"""

from __future__ import annotations

import datetime

from airflow import DAG
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator

WHEEL = "/Volumes/main/default/wheels/sparkner-0.1.0-py3-none-any.whl"
INPUT_TABLE = "main.default.documents"
OUTPUT_TABLE = "main.default.document_entities"
MODEL = "dslim/bert-base-NER"

CLUSTER = {
    "spark_version": "16.4.x-scala2.12",
    "node_type_id": "i3.xlarge",
    "num_workers": 2,
    "spark_conf": {
        "spark.task.cpus": "1",
        "spark.python.worker.reuse": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    },
}

PARAMETERS = [
    "--input-table", INPUT_TABLE,
    "--output-table", OUTPUT_TABLE,
    "--output-format", "delta",
    "--id-col", "doc_id",
    "--text-col", "text",
    "--mode", "incremental",
    "--model", MODEL,
    "--aggregation-strategy", "first",
]  # fmt: skip

with DAG(
    dag_id="sparkner_ner_batch",
    schedule="0 2 * * *",
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    tags=["sparkner", "ner"],
) as dag:
    DatabricksSubmitRunOperator(
        task_id="ner",
        databricks_conn_id="databricks_default",
        json={
            "run_name": "sparkner NER (batch, incremental)",
            "tasks": [
                {
                    "task_key": "ner",
                    "new_cluster": CLUSTER,
                    "libraries": [{"whl": WHEEL}],
                    "python_wheel_task": {
                        "package_name": "sparkner",
                        "entry_point": "sparkner-job",
                        "parameters": PARAMETERS,
                    },
                }
            ],
        },
    )
