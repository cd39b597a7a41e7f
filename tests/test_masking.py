"""Masking personal data: Presidio's operators per label, the edges of texts and entities, keys that
never show, pseudonyms stable across partitions and runs, reversible encryption, and the same masked
text from the DataFrame function, SQL and the job."""

from __future__ import annotations

import json
import logging

import pytest
from samples import SAMPLE, json_input

import sparkner
from sparkner import DEMO_MODEL, TokenClassifier
from sparkner.cli.job import main
from sparkner.masking import Masker, read_key, unmask
from sparkner.options.masking import mask_settings

KEY = "0123456789abcdef0123456789abcdef"  # 32 characters: an AES-256 key, and a salt Presidio accepts
OTHER_KEY = "fedcba9876543210fedcba9876543210"
TEXT = "Angela Merkel met Emmanuel Macron in Paris."
ENTITIES = [
    {"entity_group": "PER", "score": 0.99, "word": "Angela Merkel", "start": 0, "end": 13},
    {"entity_group": "PER", "score": 0.98, "word": "Emmanuel Macron", "start": 18, "end": 33},
    {"entity_group": "LOC", "score": 0.97, "word": "Paris", "start": 37, "end": 42},
]


@pytest.fixture()
def key(monkeypatch):
    monkeypatch.setenv("MASK_KEY", KEY)
    return "MASK_KEY"


def masked(text, entities, labels=None, operators=None, min_score=None):
    return Masker(mask_settings(labels, operators), min_score).mask(text, entities)


# -- the operators --------------------------------------------------------------------------


def test_each_operator_and_per_label_maps(key):
    assert masked(TEXT, ENTITIES) == "<PER> met <PER> in <LOC>.", "Presidio's replace default"
    assert masked(TEXT, ENTITIES, ["LOC"]) == "Angela Merkel met Emmanuel Macron in <LOC>."
    operators = {
        "PER": {"type": "mask", "masking_char": "*", "chars_to_mask": 4, "from_end": True},
        "DEFAULT": {"type": "replace", "new_value": "[place]"},
    }
    assert masked(TEXT, ENTITIES, None, operators) == "Angela Me**** met Emmanuel Ma**** in [place]."
    assert masked(TEXT, ENTITIES, None, {"DEFAULT": {"type": "redact"}}) == " met  in ."
    assert masked(TEXT, ENTITIES, None, {"PER": {"type": "keep"}}) == "Angela Merkel met Emmanuel Macron in <LOC>."
    hashed = masked(TEXT, ENTITIES, ["PER"], {"PER": {"type": "hash", "key_env": key}})
    tokens = hashed.replace(" met ", "|").replace(" in Paris.", "").split("|")
    assert len(tokens) == 2 and all(len(token) == 64 for token in tokens) and tokens[0] != tokens[1]


def test_bad_operators_are_refused_on_the_driver_with_the_fix(key):
    with pytest.raises(ValueError, match="type is one of replace, redact, mask, hash, encrypt, keep"):
        mask_settings(None, {"PER": {"type": "scramble"}})
    with pytest.raises(ValueError, match="give the key as key_env or key_file, never in the options"):
        mask_settings(None, {"PER": {"type": "hash", "salt": KEY}})
    with pytest.raises(ValueError, match="needs its key from one place: key_env"):
        mask_settings(None, {"PER": {"type": "encrypt"}})
    with pytest.raises(ValueError, match="mask operator 'mask' for 'PER': Expected parameter from_end"):
        Masker(mask_settings(None, {"PER": {"type": "mask", "masking_char": "*", "chars_to_mask": 2}}))
    with pytest.raises(ValueError, match="the environment variable NOT_SET is not set"):
        Masker(mask_settings(None, {"PER": {"type": "hash", "key_env": "NOT_SET"}}))


# -- edges ----------------------------------------------------------------------------------


def test_nulls_empty_edges_adjacent_and_overlapping():
    assert masked(None, ENTITIES) is None and masked("", []) == "" and masked("Paris", None) == "Paris"
    edges = [
        {"entity_group": "LOC", "score": 0.9, "start": 0, "end": 5},
        {"entity_group": "LOC", "score": 0.9, "start": 10, "end": 16},
    ]
    assert masked("Paris and Berlin", edges) == "<LOC> and <LOC>", "entities at both edges of the text"
    adjacent = [
        {"entity_group": "PER", "score": 0.9, "start": 0, "end": 3},
        {"entity_group": "ORG", "score": 0.9, "start": 3, "end": 6},
    ]
    assert masked("AnnIBM", adjacent) == "<PER><ORG>"
    overlapping = [
        {"entity_group": "PER", "score": 0.6, "start": 0, "end": 11},  # "Jean Dupont"
        {"entity_group": "ORG", "score": 0.99, "start": 5, "end": 14},  # "Dupont SA"
    ]
    assert masked("Jean Dupont SA.", overlapping) == "<PER>.", "their union, named after the longer"
    tie = [
        {"entity_group": "PER", "score": 0.6, "start": 0, "end": 4},
        {"entity_group": "ORG", "score": 0.9, "start": 2, "end": 6},
    ]
    assert masked("abcdefg", tie) == "<ORG>g", "as long: the higher score names it"


def test_offsets_are_code_points_emoji_combining_marks_and_cjk():
    text = "😀 Zoë Cafe\u0301 met 東京 in 🇫🇷 Paris."
    entities = [
        {"entity_group": "PER", "score": 0.9, "start": text.index("Zoë"), "end": text.index("Zoë") + 3},
        {"entity_group": "ORG", "score": 0.9, "start": text.index("Cafe"), "end": text.index("Cafe") + 5},
        {"entity_group": "LOC", "score": 0.9, "start": text.index("東京"), "end": text.index("東京") + 2},
        {"entity_group": "LOC", "score": 0.9, "start": text.index("Paris"), "end": text.index("Paris") + 5},
    ]
    assert masked(text, entities) == "😀 <PER> <ORG> met <LOC> in 🇫🇷 <LOC>."
    found = TokenClassifier(DEMO_MODEL)([text])[0]
    expected = text
    for entity in sorted(found, key=lambda e: -e["start"]):  # the model's spans, replaced by string slicing
        expected = expected[: entity["start"]] + f"<{entity['entity_group']}>" + expected[entity["end"] :]
    assert found and "Paris" not in masked(text, found) and masked(text, found) == expected


def test_min_score_drops_entities_everywhere(spark):
    assert masked(TEXT, ENTITIES, min_score=0.98) == "<PER> met <PER> in Paris."
    low = TokenClassifier(DEMO_MODEL)([TEXT])[0]
    floor = sorted(e["score"] for e in low)[len(low) // 2]
    kept = TokenClassifier(DEMO_MODEL, min_score=floor)([TEXT])[0]
    assert kept == [e for e in low if e["score"] >= floor] and len(kept) < len(low)
    df = spark.createDataFrame([(TEXT,)], "text string")
    ((through_spark,),) = df.select(sparkner.ner_udf(DEMO_MODEL, min_score=floor)("text")).collect()
    assert [e.asDict() for e in through_spark] == kept
    with pytest.raises(ValueError, match="min_score must be a number between 0 and 1"):
        TokenClassifier(DEMO_MODEL, min_score=2)


def test_a_long_document_with_stride():
    text = " ".join(["Angela Merkel met Emmanuel Macron in Paris on Monday."] * 1_900)
    assert len(text) > 100_000
    entities = TokenClassifier(DEMO_MODEL, stride=64)([text])[0]
    result = masked(text, entities, ["PER", "LOC"])
    assert "Merkel" not in result and "Paris" not in result and result.count("<LOC>") >= 1_800
    assert result.endswith("<LOC> on Monday.")


# -- keys -------------------------------------------------------------------------------------


def test_encrypt_and_unmask_round_trip(key, tmp_path):
    operators = {"DEFAULT": {"type": "encrypt", "key_env": key}}
    hidden = masked(TEXT, ENTITIES, None, operators)
    assert "Merkel" not in hidden and hidden.count("<ENC:PER:") == 2 and "<ENC:LOC:" in hidden
    assert unmask(hidden, read_key({"key_env": key})) == TEXT
    (tmp_path / "other").write_text(OTHER_KEY)
    assert unmask(hidden, read_key({"key_file": str(tmp_path / "other")})) == hidden, "another key opens nothing"


def test_pseudonyms_are_equal_across_partitions_and_runs_and_differ_under_another_key(spark, key, monkeypatch):
    texts = [TEXT, "Yesterday Angela Merkel flew to Paris.", TEXT]
    df = spark.createDataFrame(list(enumerate(texts)), "id int, text string").repartition(3)
    operators = {"PER": {"type": "hash", "key_env": key}}

    def merkel_tokens():
        udf = sparkner.mask_udf(DEMO_MODEL, ["PER"], operators)
        rows = df.select("id", udf("text").alias("masked")).orderBy("id").collect()
        return [row["masked"].split()[0 if row["id"] != 1 else 1] for row in rows]

    first, second = merkel_tokens(), merkel_tokens()
    assert first == second and len(set(first)) == 1 and len(first[0]) == 64, "one person, one token, every run"
    monkeypatch.setenv(key, OTHER_KEY)
    assert merkel_tokens()[0] != first[0], "another key, another token"


def test_the_key_never_shows_in_logs_plans_or_the_summary(spark, key, tmp_path, caplog, capsys):
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    operators = {"PER": {"type": "hash", "key_file": str(key_file)}, "LOC": {"type": "encrypt", "key_env": key}}
    (tmp_path / "operators.json").write_text(json.dumps(operators))
    with caplog.at_level(logging.DEBUG):
        udf = sparkner.mask_udf(DEMO_MODEL, operators=operators)
        frame = spark.createDataFrame([(TEXT,)], "text string").select(udf("text").alias("m"))
        frame.explain(extended=True)
        frame.collect()
        out = tmp_path / "out"
        flags = ["--output", str(out), "--mask", "--mask-operators", str(tmp_path / "operators.json")]
        assert main([*json_input(str(SAMPLE)), *flags]) == 0
    shown = capsys.readouterr()
    summary = (out / "_sparkner_summary.json").read_text()
    for place in (shown.out, shown.err, caplog.text, summary, repr(udf), str(frame.schema)):
        assert KEY not in place
    assert json.loads(summary)["masking"]["operators"] == {"LOC": "encrypt", "PER": "hash"}


# -- the same through SQL and the job ----------------------------------------------------------


def test_sql_dataframe_and_the_job_mask_alike(spark, tmp_path):
    docs = spark.read.json(str(SAMPLE))
    operators = {"PER": {"type": "replace", "new_value": "[person]"}}
    frame = {
        row["doc_id"]: row["m"]
        for row in docs.select(
            "doc_id", sparkner.mask_udf(DEMO_MODEL, ["PER", "LOC"], operators)("text").alias("m")
        ).collect()
    }
    sparkner.register_mask(spark, "ner_mask", DEMO_MODEL, labels=["PER", "LOC"], operators=operators)
    docs.createOrReplaceTempView("mask_docs")
    sql = {row["doc_id"]: row["m"] for row in spark.sql("SELECT doc_id, ner_mask(text) AS m FROM mask_docs").collect()}
    computed = docs.withColumn("entities", sparkner.ner_udf(DEMO_MODEL)("text"))
    precomputed = {
        row["doc_id"]: row["m"]
        for row in computed.select(
            "doc_id", sparkner.mask("text", "entities", ["PER", "LOC"], operators).alias("m")
        ).collect()
    }
    (tmp_path / "operators.yaml").write_text("PER:\n  type: replace\n  new_value: '[person]'\n")
    out = tmp_path / "out"
    flags = ["--mask", "--mask-labels", "PER,LOC", "--mask-operators", str(tmp_path / "operators.yaml")]
    assert main([*json_input(str(SAMPLE)), "--output", str(out), *flags]) == 0
    written = spark.read.parquet(str(out))
    assert written.columns == ["doc_id", "masked_text"], "no text and no entities unless asked for"
    job = {row["doc_id"]: row["masked_text"] for row in written.collect()}
    assert frame == sql == precomputed == job
    assert "[person]" in job["doc-001"] and "Olaf Scholz" not in job["doc-001"] and job["doc-035"] is None
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["written"] == "masked_text (each text with its entities masked), no original text, no entities"


def test_the_job_keeps_text_and_entities_only_when_asked(spark, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*json_input(str(SAMPLE)), "--output", str(out), "--mask", "--keep-text", "--keep-entities"]) == 0
    assert spark.read.parquet(str(out)).columns == ["doc_id", "text", "masked_text", "entities"]
    assert main([*json_input(str(SAMPLE)), "--output", str(tmp_path / "o"), "--mask", "--explode"]) == 2
    assert "--mask writes one masked text per document; --explode writes entities" in capsys.readouterr().err
    assert main([*json_input(str(SAMPLE)), "--output", str(tmp_path / "o"), "--mask-labels", "PER"]) == 2
    assert "--mask-labels is for --mask" in capsys.readouterr().err
