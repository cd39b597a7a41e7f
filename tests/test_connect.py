"""ner_udf and register on a Spark Connect session (as on Databricks serverless and shared clusters).

Runs in its own process: a local Connect server (`SparkSession.builder.remote("local[2]")`) cannot
share a process with the classic session the other tests use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from parity import EXACT, assert_same_entities
from texts import SHORT_TEXTS

import sparkner
from sparkner import TokenClassifier

pytestmark = pytest.mark.connect

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pyspark.sql import SparkSession
    import sparkner

    texts = json.loads(sys.argv[1])
    spark = SparkSession.builder.remote("local[2]").getOrCreate()
    assert type(spark).__module__.startswith("pyspark.sql.connect"), type(spark)
    df = spark.createDataFrame(list(enumerate(texts)), "id int, text string").repartition(3)
    ner = sparkner.ner_udf(sparkner.DEMO_MODEL, aggregation_strategy="first", runtime="torch", dtype="float32")
    frame = {r.id: r.e for r in df.withColumn("e", ner("text")).collect()}
    sparkner.register(spark, "ner", sparkner.DEMO_MODEL, aggregation_strategy="first", runtime="torch", dtype="float32")
    df.createOrReplaceTempView("docs")
    sql = {r.id: r.e for r in spark.sql("SELECT id, ner(text) AS e FROM docs").collect()}
    plain = lambda rows: [None if rows[i] is None else [e.asDict() for e in rows[i]] for i in range(len(texts))]
    from pyspark.ml import Pipeline, PipelineModel
    from sparkner.ml import EntityRecognizer
    stage = EntityRecognizer(model=sparkner.DEMO_MODEL, aggregationStrategy="first", runtime="torch", dtype="float32")
    fitted = Pipeline(stages=[stage.setOutputCol("e")]).fit(df)
    ml = {r.id: r.e for r in fitted.transform(df).collect()}
    try:
        fitted.write().overwrite().save(sys.argv[2])
        loaded = {r.id: r.e for r in PipelineModel.load(sys.argv[2]).transform(df).collect()}
        saved = "saved and loaded"
    except Exception as error:
        loaded, saved = ml, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    result = {"frame": plain(frame), "sql": plain(sql), "ml": plain(ml), "loaded": plain(loaded), "saved": saved}
    print("RESULT " + json.dumps(result))
    spark.stop()
    """
)


def test_ner_udf_register_and_the_ml_stage_on_spark_connect(tmp_path):
    texts = [None, *SHORT_TEXTS]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(texts), str(tmp_path / "pipeline")],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    results = json.loads(line[len("RESULT ") :])
    expected = TokenClassifier(sparkner.DEMO_MODEL, aggregation_strategy="first", **EXACT)(texts)
    print("Spark Connect, a pipeline with EntityRecognizer:", results["saved"])
    for kind in ("frame", "sql", "ml", "loaded"):
        for i, (mine, theirs) in enumerate(zip(results[kind], expected)):
            if theirs is None:
                assert mine is None
            else:
                assert_same_entities(mine, theirs, f"{kind} row {i}")
