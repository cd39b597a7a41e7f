"""Through Spark: DataFrame and SQL, several partitions, 3-row Arrow batches, nulls."""

from __future__ import annotations

import os

import pytest
from parity import EXACT, PIPELINE_WORDS, assert_same_entities, pipeline_results
from texts import ALL_TEXTS, SHORT_TEXTS

import sparkner
from sparkner import TokenClassifier


def _rows(texts):
    return [(i, text) for i, text in enumerate(texts)]


def _collect(df, column="entities"):
    return {
        row["id"]: (None if row[column] is None else [entity.asDict() for entity in row[column]])
        for row in df.collect()
    }


@pytest.fixture(scope="module")
def docs(spark):
    texts = [None] + SHORT_TEXTS + [None, ""] + SHORT_TEXTS[:5]  # nulls, empties and repeats
    return texts, spark.createDataFrame(_rows(texts), "id int, text string").repartition(4)


@pytest.mark.parametrize("strategy", ["simple", "none", "first"])
def test_dataframe_matches_the_pipeline(spark, tiny_models, docs, strategy):
    path = tiny_models["bert-cased"]
    texts, df = docs
    result = df.withColumn(
        "entities", sparkner.ner_udf(str(path), aggregation_strategy=strategy, **PIPELINE_WORDS)("text")
    )
    assert result.schema["entities"].dataType == sparkner.entity_schema(strategy)
    got = _collect(result)
    assert sorted(got) == list(range(len(texts))), "one output row per input row"
    fitting = [
        text
        for text in texts
        if text is not None and len(TokenClassifier(path).engine.tokenizer(text)["input_ids"]) <= 32
    ]
    reference = dict(zip(fitting, pipeline_results(path, fitting, aggregation_strategy=strategy)))
    for i, text in enumerate(texts):
        if text is None:
            assert got[i] is None
        elif text in reference:
            assert_same_entities(got[i], reference[text], f"row {i}")


def test_sql_function_with_parameters_object(spark, tiny_models, docs):
    path = tiny_models["xlm-roberta"]
    texts, df = docs
    df.createOrReplaceTempView("docs")
    parameters = {
        "aggregation_strategy": "average",
        "ignore_labels": ["O"],
        "stride": 10,
        "word_boundaries": "pipeline",
    }
    sparkner.register(spark, "ner", str(path), parameters=parameters, **EXACT)
    got = _collect(spark.sql("SELECT id, ner(text) AS entities FROM docs"))
    expected = TokenClassifier(path, parameters=parameters, **EXACT)(texts)
    for i, text in enumerate(texts):
        if text is None:
            assert got[i] is None
        else:
            assert_same_entities(got[i], expected[i], f"row {i}")
    plain = [t for t in texts if t is not None]
    task = {
        name: value for name, value in parameters.items() if name != "word_boundaries"
    }  # sparkner's, not the pipeline's
    assert_same_entities(got[1], pipeline_results(path, plain[:1], **task)[0], "row 1 vs pipeline")


def test_long_documents_through_spark(spark, tiny_models):
    path = tiny_models["deberta-v2"]
    df = spark.createDataFrame(_rows(ALL_TEXTS), "id int, text string").repartition(3)
    got = _collect(
        df.select(
            "id",
            sparkner.ner_udf(str(path), aggregation_strategy="simple", stride=8, **PIPELINE_WORDS)("text").alias(
                "entities"
            ),
        )
    )
    reference = pipeline_results(path, ALL_TEXTS, aggregation_strategy="simple", stride=8)
    for i in range(len(ALL_TEXTS)):
        assert_same_entities(got[i], reference[i], f"row {i}")


def test_hostile_texts_through_spark(spark, tiny_models):
    """Every kind of text, many partitions, 3-row Arrow batches: one row out per row in, in
    order, offsets inside the text, the same entities as in-process, nothing raises."""
    texts = [
        *SHORT_TEXTS,
        None,
        "x" * 5_000,  # one "word" of thousands of characters
        " ".join(SHORT_TEXTS[:3] + ["東京 😀 مرحبا"]) * 2_500,  # ~330,000 characters
        "\u200b\ufeff\x00",
        "é",
    ]
    df = spark.createDataFrame(_rows(texts), "id int, text string").repartition(8)
    path = tiny_models["roberta"]
    result = df.select(
        "id", sparkner.ner_udf(str(path), aggregation_strategy="first", **EXACT)("text").alias("entities")
    )
    got = _collect(result)
    assert sorted(got) == list(range(len(texts))) and result.count() == len(texts)
    expected = TokenClassifier(path, aggregation_strategy="first", **EXACT)(texts)
    assert len(texts[-3]) > 300_000 and len(got[len(texts) - 3]) > 1_000
    for i, text in enumerate(texts):
        if text is None:
            assert got[i] is None
            continue
        assert all(0 <= e["start"] < e["end"] <= len(text) for e in got[i])
        assert_same_entities(got[i], expected[i], f"row {i}")


def test_the_tokenizer_gets_the_tasks_cpu_share(monkeypatch):
    """Left alone, the Rust tokenizer would start a thread per core of the machine in every task."""
    from sparkner.spark.udf import share_cpus_with_the_tokenizer

    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    share_cpus_with_the_tokenizer(4)
    assert os.environ["RAYON_NUM_THREADS"] == "4" and os.environ["TOKENIZERS_PARALLELISM"] == "true"
    monkeypatch.delenv("RAYON_NUM_THREADS")
    monkeypatch.delenv("TOKENIZERS_PARALLELISM")
    share_cpus_with_the_tokenizer(1)
    assert os.environ["RAYON_NUM_THREADS"] == "1" and os.environ["TOKENIZERS_PARALLELISM"] == "false"
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    share_cpus_with_the_tokenizer(1)
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true", "a user's own setting wins"
