"""The real fine-tuned model in ../shared on real CoNLL-2003 text: parity row for row."""

from __future__ import annotations

import json
from itertools import islice

import pytest
from parity import PIPELINE_WORDS, assert_same_results, pipeline_results
from paths import SHARED

from sparkner import TokenClassifier
from sparkner.metrics.conll import read_conll_file

CONLL_TEST = SHARED / "data" / "conll2003" / "test.txt"
LONG_DOCS = SHARED / "data" / "long_docs" / "conll2003_en_test_docs.jsonl"


@pytest.fixture(scope="module")
def sentences():
    if not CONLL_TEST.exists():
        pytest.skip(f"CoNLL-2003 is not here ({CONLL_TEST}); it lives in the project's shared/ folder")
    return [sentence.text for sentence in islice(read_conll_file(CONLL_TEST), 80)]


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_conll_sentences_match_the_pipeline(real_model, sentences, strategy):
    ours = TokenClassifier(real_model, aggregation_strategy=strategy, **PIPELINE_WORDS)(sentences)
    assert_same_results(ours, pipeline_results(real_model, sentences, aggregation_strategy=strategy), strategy)
    assert sum(map(len, ours)) > 60, "the real model finds entities in news text"


def test_long_documents_with_stride_match_the_pipeline(real_model):
    if not LONG_DOCS.exists():
        pytest.skip(f"long documents are not here ({LONG_DOCS})")
    docs = [json.loads(line)["text"] for line in LONG_DOCS.open()]
    long_docs = sorted(docs, key=len)[-4:]  # the longest: more than one 512-token window each
    classifier = TokenClassifier(real_model, aggregation_strategy="first", stride=128, **PIPELINE_WORDS)
    assert min(len(classifier.engine.tokenizer(doc)["input_ids"]) for doc in long_docs) > 512
    reference = pipeline_results(real_model, long_docs, aggregation_strategy="first", stride=128)
    assert_same_results(classifier(long_docs), reference, "long docs")
