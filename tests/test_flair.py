"""Flair sequence taggers: sparkner's output against Flair's own `predict`, directly and through Spark.

The reference is what the inference API does for a Flair model: one `Sentence` per
text, `predict`, one entity per label of `sentence.get_labels()`. These tests need
flair, which needs transformers < 5: they run in the LTS environment (`make test-lts`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from samples import json_input
from texts import SHORT_TEXTS
from tiny_models import build_tiny_flair_tagger

import sparkner
from sparkner import TokenClassifier
from sparkner.cli.job import main

pytestmark = pytest.mark.flair

# Flair's own scores for a text move by up to ~2e-4 with what it is batched with (padding in the
# transformer embeddings and the LSTM), so batched sparkner vs. one-text-per-call Flair compares to 1e-3.
FLAIR_SCORE_TOLERANCE = 1e-3

LONG_TEXT = " ".join(["Angela Merkel met Emmanuel Macron in Berlin on Tuesday."] * 400)  # ~4,400 tokens
FLAIR_TEXTS = [
    *[text for text in SHORT_TEXTS if text is not None],
    "Zero\u200bwidth and BOM\ufeff characters: Angela\u200b Merkel met Macron in Berlin.",
    "Windows-1252 quotes \u0093Berlin\u0094 and a lone \u0081 byte in Paris.",
    LONG_TEXT,
]


@pytest.fixture(scope="module")
def taggers(tiny_models, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("flair")
    return {
        "spans": build_tiny_flair_tagger(root / "ner-tagger.pt", tiny_models["bert-cased"], spans=True),
        "tokens": build_tiny_flair_tagger(root / "pos-tagger.pt", tiny_models["bert-cased"], spans=False),
    }


def flair_reference(path: Path, texts: list[str], ignore_labels=("O",)) -> list[list[dict]]:
    """The inference API's Flair pipeline, one text per call."""
    from flair.data import Sentence
    from flair.models import SequenceTagger

    tagger = SequenceTagger.load(str(path))
    results = []
    for text in texts:
        sentence = Sentence(text)
        tagger.predict(sentence)
        results.append(
            [
                {
                    "entity_group": label.value,
                    "word": label.data_point.text,
                    "start": label.data_point.start_position,
                    "end": label.data_point.end_position,
                    "score": label.score,
                }
                for label in sentence.get_labels()
                if label.value not in ignore_labels
            ]
        )
    return results


def assert_same_as_flair(ours: list[dict], reference: list[dict], text: str) -> None:
    """Same labels, words and scores; offsets equal to Flair's, or, where Flair deleted
    characters before tokenizing, Flair's offsets mapped back onto the caller's text."""
    assert len(ours) == len(reference), f"{text[:60]!r}: {len(ours)} vs {len(reference)} entities"
    from flair.data import Sentence

    cleaned = Sentence._handle_problem_characters(text)
    for mine, theirs in zip(ours, reference):
        assert (mine["entity_group"], mine["word"]) == (theirs["entity_group"], theirs["word"])
        assert abs(mine["score"] - theirs["score"]) <= FLAIR_SCORE_TOLERANCE
        assert 0 <= mine["start"] < mine["end"] <= len(text)
        if cleaned == text:
            assert (mine["start"], mine["end"]) == (theirs["start"], theirs["end"])
        else:
            assert (
                Sentence._handle_problem_characters(text[mine["start"] : mine["end"]])
                == cleaned[theirs["start"] : theirs["end"]]
            )


@pytest.mark.parametrize("kind", ["spans", "tokens"])
def test_flair_parity_in_process(taggers, kind):
    path = taggers[kind]
    ours = TokenClassifier(str(path))(FLAIR_TEXTS)  # auto-detected: a model file is a Flair model
    for text, mine, theirs in zip(FLAIR_TEXTS, ours, flair_reference(path, FLAIR_TEXTS)):
        assert_same_as_flair(mine, theirs, text)
    assert sum(len(found) for found in ours) > 50


def test_long_texts_are_read_whole(taggers):
    """Flair reads a text whole: the entities reach the end of a ~4,400-token text."""
    (entities,) = TokenClassifier(str(taggers["spans"]), backend="flair")([LONG_TEXT])
    assert max(entity["end"] for entity in entities) > len(LONG_TEXT) - 60
    assert len(entities) > 400


def test_ignore_labels_and_batch_size(taggers):
    path = taggers["spans"]
    ours = TokenClassifier(str(path), ignore_labels=["O", "MISC", "ORG"], batch_size=2)(FLAIR_TEXTS)
    reference = flair_reference(path, FLAIR_TEXTS, ignore_labels=("O", "MISC", "ORG"))
    for text, mine, theirs in zip(FLAIR_TEXTS, ours, reference):
        assert_same_as_flair(mine, theirs, text)
    assert {entity["entity_group"] for found in ours for entity in found} <= {"PER", "LOC"}


def test_flair_through_spark_and_sql(spark, taggers):
    path = taggers["spans"]
    texts = [*FLAIR_TEXTS[:-1], None]
    df = spark.createDataFrame(list(enumerate(texts)), "id int, text string").repartition(3)
    udf = sparkner.ner_udf(str(path))
    assert udf.returnType == sparkner.entity_schema("simple")
    got = sorted(df.select("id", udf("text").alias("entities")).collect(), key=lambda row: row["id"])
    sparkner.register(spark, "flair_ner", str(path))
    df.createOrReplaceTempView("flair_docs")
    by_sql = {row["id"]: row["e"] for row in spark.sql("SELECT id, flair_ner(text) AS e FROM flair_docs").collect()}
    reference = flair_reference(path, [text for text in texts if text is not None])
    for (row, text), expected in zip(zip(got, texts), [*reference, None]):
        if text is None:
            assert row["entities"] is None and by_sql[row["id"]] is None
            continue
        assert_same_as_flair([e.asDict() for e in row["entities"]], expected, text)
        assert [e.asDict() for e in by_sql[row["id"]]] == [e.asDict() for e in row["entities"]]


def test_flair_job(spark, taggers, tmp_path):
    source = tmp_path / "in.jsonl"
    texts = FLAIR_TEXTS[:6]
    source.write_text("".join(json.dumps({"doc_id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out"
    assert (
        main(
            [
                *json_input(str(source)),
                "--output",
                str(out),
                "--model",
                str(taggers["spans"]),
            ]
        )
        == 0
    )
    written = {row["doc_id"]: row["entities"] for row in spark.read.parquet(str(out)).collect()}
    for i, expected in enumerate(flair_reference(taggers["spans"], texts)):
        assert_same_as_flair([e.asDict() for e in written[i]], expected, texts[i])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"aggregation_strategy": "average"},
            "does not take aggregation_strategy 'average' \\(a Flair tagger predicts whole spans",
        ),
        ({"stride": 16}, "does not take stride 16 \\(Flair reads each text whole"),
        ({"dtype": "bf16"}, "does not take dtype 'bfloat16'"),
        ({"max_batch_tokens": 512}, "does not take max_batch_tokens"),
    ],
)
def test_parameters_that_do_not_apply_are_refused_on_the_driver(taggers, options, message):
    with pytest.raises(ValueError, match=message):
        sparkner.ner_udf(str(taggers["spans"]), **options)


def test_backend_choice(taggers, tiny_models, tmp_path):
    assert TokenClassifier(str(taggers["spans"])).settings.backend.value == "flair"
    assert TokenClassifier(str(tiny_models["bert-cased"])).settings.backend.value == "transformers"
    with pytest.raises(sparkner.ModelLoadError, match="is not a file; a Flair model is one file"):
        TokenClassifier(str(tmp_path / "missing.pt"), backend="flair")
    with pytest.raises(sparkner.ModelLoadError):
        TokenClassifier(str(taggers["spans"]), backend="transformers")
