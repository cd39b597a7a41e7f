"""`sparkner.evaluate` and the gold readers: seqeval's numbers, computed in Spark."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pyspark.sql.functions import pandas_udf

import sparkner
from sparkner.metrics.conll import Sentence, gold_spans, tags_from_entities
from sparkner.metrics.spans import metrics_rows, row_counts, tag_spans

SPANS = "array<struct<start:int, end:int, label:string>>"


def _table(df) -> dict[str, dict]:
    return {row["label"]: row.asDict() for row in df.collect()}


def test_row_counts_exact_and_overlap():
    predicted = [(0, 5, "PER"), (10, 14, "LOC"), (20, 25, "ORG")]
    gold = [(0, 5, "PER"), (10, 15, "LOC"), (20, 25, "PER")]
    assert row_counts(predicted, gold, "exact") == {"PER": (1, 2, 1), "LOC": (1, 1, 0), "ORG": (1, 0, 0)}
    assert row_counts(predicted, gold, "overlap") == {"PER": (1, 2, 1), "LOC": (1, 1, 1), "ORG": (1, 0, 0)}
    # Each gold span is matched once, however many predictions overlap it.
    assert row_counts([(0, 3, "PER"), (2, 5, "PER")], [(0, 5, "PER")], "overlap") == {"PER": (2, 1, 1)}


def test_none_strategy_tags_are_grouped_as_seqeval_groups_them():
    # B-PER I-PER | (O dropped) I-PER | B-LOC B-LOC | I-ORG after I-LOC
    starts, ends = [0, 6, 20, 30, 35, 40], [5, 12, 25, 34, 39, 44]
    tags = ["B-PER", "I-PER", "I-PER", "B-LOC", "B-LOC", "I-ORG"]
    indexes = [1, 2, 4, 5, 6, 7]
    assert tag_spans(starts, ends, tags, indexes) == [
        (0, 12, "PER"),
        (20, 25, "PER"),
        (30, 34, "LOC"),
        (35, 39, "LOC"),
        (40, 44, "ORG"),
    ]


def test_metrics_rows_follow_seqeval_on_word_tags():
    from seqeval.metrics import classification_report

    sentences = [
        Sentence(["Angela", "Merkel", "visited", "New", "York", "."], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]),
        Sentence(["Siemens", "AG", "in", "Munich"], ["B-ORG", "I-ORG", "O", "B-LOC"]),
    ]
    predicted_tags = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "I-ORG", "O", "B-PER"]]
    report = classification_report([s.tags for s in sentences], predicted_tags, output_dict=True, zero_division=0)
    counts = {}
    for sentence, tags in zip(sentences, predicted_tags):
        found = gold_spans(Sentence(sentence.tokens, tags))
        for label, c in row_counts(found, gold_spans(sentence)).items():
            counts.setdefault(label, [0, 0, 0])
            counts[label] = [a + b for a, b in zip(counts[label], c)]
    from sparkner.metrics.spans import LabelCounts

    rows = {r["label"]: r for r in metrics_rows({k: LabelCounts(*v) for k, v in counts.items()})}
    for label in ("PER", "LOC", "ORG", "micro avg", "macro avg"):
        for key in ("precision", "recall", "f1-score", "support"):
            ours = rows[label]["f1" if key == "f1-score" else key]
            assert ours == pytest.approx(report[label][key], abs=1e-12), (label, key)


def test_evaluate_in_spark_edge_cases(spark):
    rows = [
        (1, [(0, 5, "PER"), (10, 14, "LOC")], [(0, 5, "PER"), (10, 15, "LOC")]),
        (2, [], [(0, 3, "ORG")]),  # nothing predicted
        (3, [(0, 3, "MISC")], []),  # no gold: a label only on the predicted side
        (4, None, None),  # nulls count as no spans
    ]
    df = spark.createDataFrame(rows, f"id int, entities {SPANS}, gold {SPANS}").repartition(3)
    metrics = sparkner.evaluate(df)
    table = _table(metrics)
    assert table["PER"]["f1"] == 1.0 and table["LOC"]["f1"] == 0.0 and table["ORG"]["recall"] == 0.0
    assert table["MISC"]["support"] == 0 and table["MISC"]["predicted"] == 1 and table["MISC"]["precision"] == 0.0
    assert (
        table["micro avg"]["true_positives"] == 1
        and table["micro avg"]["support"] == 3
        and table["micro avg"]["predicted"] == 3
    )
    lenient = _table(sparkner.evaluate(df, mode="overlap"))
    assert lenient["LOC"]["f1"] == 1.0
    assert list(metrics.columns) == [
        "label",
        "precision",
        "recall",
        "f1",
        "support",
        "predicted",
        "true_positives",
    ]
    renamed = _table(sparkner.evaluate(df, label_map={"ORG": "COMPANY"}, ignore_labels=["MISC"]))
    assert "MISC" not in renamed and renamed["COMPANY"]["support"] == 1 and "ORG" not in renamed
    empty = _table(sparkner.evaluate(df.where("id = 4")))
    assert list(empty) == ["micro avg", "macro avg"] and empty["micro avg"]["f1"] == 0.0


def test_bad_columns_are_named(spark):
    df = spark.createDataFrame([(1, "x")], "id int, text string")
    with pytest.raises(
        ValueError, match="predictions column 'entities' is not in the DataFrame; its columns are id, text"
    ):
        sparkner.evaluate(df)
    with pytest.raises(ValueError, match="gold column 'text' is string; it must be a sparkner entities column"):
        sparkner.evaluate(df.selectExpr("id", f"CAST(array() AS {SPANS}) AS entities", "text"), gold="text")
    with pytest.raises(ValueError, match="mode 'fuzzy' is not one of exact, overlap"):
        sparkner.evaluate(df, mode="fuzzy")


def test_none_strategy_column_through_spark(spark, tiny_models):
    texts = ["Angela Merkel met Emmanuel Macron in Berlin.", "Apple Inc. opened an office in São Paulo."]
    classifier = sparkner.TokenClassifier(tiny_models["bert-cased"], aggregation_strategy="none")
    df = spark.createDataFrame([(t, []) for t in texts], f"text string, gold {SPANS}")
    df = df.withColumn(
        "entities", sparkner.ner_udf(str(tiny_models["bert-cased"]), aggregation_strategy="none")("text")
    )
    expected = sum(
        len(
            tag_spans([e["start"] for e in f], [e["end"] for e in f], [e["entity"] for e in f], [e["index"] for e in f])
        )
        for f in classifier(texts)
    )
    assert _table(sparkner.evaluate(df))["micro avg"]["predicted"] == expected > 0


def test_predictions_made_by_a_udf_are_made_once_per_row(spark):
    """`evaluate(df.withColumn("entities", ner("text")))` runs the model once per row. (An `explode` of the
    counts made Spark infer a filter and push it below the UDFs, copying them: the model ran twice.)"""
    calls = spark.sparkContext.accumulator(0)

    @pandas_udf(SPANS)
    def predict(texts: pd.Series) -> pd.Series:
        calls.add(len(texts))
        return pd.Series([[{"start": 0, "end": len(text), "label": "PER"}] for text in texts])

    df = spark.createDataFrame([("Angela", [(0, 6, "PER")]), ("Merkel", [])], f"text string, gold {SPANS}")
    table = _table(sparkner.evaluate(df.withColumn("entities", predict("text"))))
    assert table["PER"]["true_positives"] == 1 and table["PER"]["predicted"] == 2
    assert calls.value == 2, f"the predictions were made {calls.value} times for 2 rows"


def test_readers_give_exact_gold_spans(spark, tmp_path):
    conll = tmp_path / "gold.conll"
    conll.write_text(
        "-DOCSTART- O\n\nAngela B-PER\nMerkel I-PER\nvisited O\nBerlin B-LOC\n\nHi O\n\n-DOCSTART- O\n\nParis B-LOC\n"
    )
    rows = {r["id"]: r for r in sparkner.read_conll(spark, str(conll)).collect()}
    assert rows["gold.conll:0"]["text"] == "Angela Merkel visited Berlin"
    assert [tuple(g) for g in rows["gold.conll:0"]["gold"]] == [(0, 13, "PER"), (22, 28, "LOC")]
    assert len(rows) == 3 and rows["gold.conll:2"]["gold"][0]["label"] == "LOC"
    documents = sparkner.read_conll(spark, str(conll), unit="document").collect()
    assert [d["text"] for d in documents] == ["Angela Merkel visited Berlin Hi", "Paris"]
    spans = tmp_path / "docs.jsonl"
    spans.write_text(
        json.dumps(
            {
                "doc_id": 7,
                "text": "Paris, France",
                "entities": [{"start": 0, "end": 5, "label": "LOC", "text": "Paris"}],
            }
        )
        + "\n"
    )
    (row,) = sparkner.read_spans(spark, str(spans)).collect()
    assert row["id"] == "7" and [tuple(g) for g in row["gold"]] == [(0, 5, "LOC")]


def test_equal_to_seqeval_on_conll_test_with_the_real_model(spark, real_model):
    """CoNLL-2003 test (its first 1,000 sentences), the real model, `first`, several partitions: the same
    per-label numbers as seqeval's classification_report on the corresponding word tags (to 1e-9)."""
    from itertools import islice

    from paths import SHARED
    from seqeval.metrics import classification_report

    from sparkner.metrics.conll import read_conll_file

    sentences = list(islice(read_conll_file(SHARED / "data" / "conll2003" / "test.txt"), 1000))
    found = sparkner.TokenClassifier(real_model, aggregation_strategy="first")([s.text for s in sentences])
    word_tags = [tags_from_entities(s, entities) for s, entities in zip(sentences, found)]
    # The predictions snapped to words, as seqeval sees them.
    snapped = spark.createDataFrame(
        [
            (
                s.text,
                [{"start": a, "end": b, "label": k} for a, b, k in gold_spans(Sentence(s.tokens, tags))],
                [{"start": a, "end": b, "label": k} for a, b, k in gold_spans(s)],
            )
            for s, tags in zip(sentences, word_tags)
        ],
        f"text string, entities {SPANS}, gold {SPANS}",
    ).repartition(4)
    ours = _table(sparkner.evaluate(snapped))
    report = classification_report([s.tags for s in sentences], word_tags, output_dict=True, zero_division=0)
    for label in ("PER", "LOC", "ORG", "MISC", "micro avg", "macro avg"):
        for key, mine in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1"), ("support", "support")):
            assert ours[label][mine] == pytest.approx(report[label][key], abs=1e-9), (label, key)
    assert 0.7 < ours["micro avg"]["f1"] < 0.9


def test_the_eval_command_prints_and_writes_the_metrics(spark, tmp_path, capsys):
    from sparkner.cli.eval import main

    gold = tmp_path / "gold.txt"
    gold.write_text(
        "German B-MISC\nChancellor O\nOlaf B-PER\nScholz I-PER\narrived O\nin O\nParis B-LOC\n.\tO\n\n"
        "Apple B-ORG\nsaid O\nTim B-PER\nCook I-PER\nwould O\nvisit O\nIndia B-LOC\n"
    )
    out = tmp_path / "eval"
    assert main(["--gold", str(gold), "--out", str(out), "--aggregation-strategy", "first"]) == 0
    captured = capsys.readouterr()
    assert "micro avg" in captured.out and "PER" in captured.out
    assert "on 2 texts of" in captured.err, "it says what it is evaluating before the work starts"
    written = json.loads((out / "metrics.json").read_text())
    assert written["model"] == sparkner.DEMO_MODEL and written["gold"] == [str(gold)] and written["mode"] == "exact"
    assert written["options"]["aggregation_strategy"] == "first" and "token" not in written["options"]
    assert written["sparkner_version"] == sparkner.__version__ and written["unit"] == "sentence"
    rows = {row["label"]: row for row in written["metrics"]}
    assert rows["PER"]["support"] == 2 and rows["micro avg"]["support"] == 6
    assert (out / "metrics.csv").read_text().startswith("label,precision,recall,f1,support,predicted,true_positives")
    assert (out / "f1_per_label.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["--gold", str(tmp_path / "missing.txt")]) == 2
    assert "gold file" in capsys.readouterr().err


def test_the_chart_is_titled_with_model_and_data_and_shows_each_value(tmp_path, monkeypatch):
    import matplotlib.figure

    from sparkner.cli.eval import f1_chart

    drawn = {}

    def record(figure, path, *args, **kwargs):
        axes = figure.axes[0]
        drawn.update(title=axes.get_title(), values=[text.get_text() for text in axes.texts])

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    rows = [{"label": "PER", "f1": 0.8291}, {"label": "LOC", "f1": 0.8224}, {"label": "micro avg", "f1": 0.7712}]
    f1_chart({"exact spans": rows}, tmp_path / "chart.png", title="Span F1 per label: model on test.txt")
    assert drawn["title"] == "Span F1 per label: model on test.txt"
    assert drawn["values"] == ["0.829", "0.822", "0.771"]
