"""Property-based: random Unicode text gives the pipeline's entities, with offsets inside the text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parity import EXACT, PIPELINE_WORDS, assert_same_entities, pipeline_results
from texts import TEXT, WORDS

from sparkner import TokenClassifier


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    text=st.one_of(TEXT, WORDS),
    strategy=st.sampled_from(["simple", "first", "average", "max"]),
    family=st.sampled_from(["bert-cased", "roberta"]),
)
def test_random_text_matches_the_pipeline(tiny_models, text, strategy, family):
    """With a stride the pipeline covers the whole text too, so any length compares.

    (Absolute-position models only: a model whose predictions do not change when a
    window shifts can produce exact ties between windows, broken by float noise.)
    """
    path = tiny_models[family]
    [ours] = TokenClassifier(path, aggregation_strategy=strategy, stride=6, **PIPELINE_WORDS)([text])
    [reference] = pipeline_results(path, [text], aggregation_strategy=strategy, stride=6)
    assert_same_entities(ours, reference, f"{family}/{strategy}: {text!r}")
    assert all(0 <= e["start"] < e["end"] <= len(text) for e in ours)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(texts=st.lists(st.one_of(st.none(), TEXT, WORDS), max_size=12))
def test_one_result_per_text_in_order(tiny_models, texts):
    """Batching, sorting by length and de-duplication never mix up or change results."""
    classifier = TokenClassifier(tiny_models["xlm-roberta"], aggregation_strategy="first", **EXACT)
    results = classifier(texts)
    assert len(results) == len(texts)
    for text, entities in zip(texts, results):
        assert (entities is None) == (text is None)
        if text is not None:
            assert_same_entities(entities, classifier([text])[0], f"batched vs alone: {text!r}")
            assert all(0 <= e["start"] < e["end"] <= len(text) for e in entities)
