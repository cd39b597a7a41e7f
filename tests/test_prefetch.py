"""Tokenizing the next group of texts while the current one runs (`overlap.prepared_ahead`),
checked on the CPU: same results in the same order, errors raised or isolated as without it,
and CUDA out-of-memory halving still works."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import RunsOutOfMemory
from parity import EXACT, assert_same_entities
from texts import ALL_TEXTS

import sparkner.engine.classifier
from sparkner import TokenClassifier
from sparkner.engine.forward import out_of_memory_type
from sparkner.engine.prefetch import prepared_ahead

TEXTS = [f"{text} ({copy})" for copy in range(12) for text in ALL_TEXTS]


@pytest.fixture(autouse=True)
def small_groups(monkeypatch):
    """Many groups, the same with and without overlap (so batches, and scores, are identical)."""
    monkeypatch.setattr(sparkner.engine.classifier, "GROUP_CHARACTERS", 2_000)
    monkeypatch.setattr(sparkner.engine.classifier, "PREFETCH_GROUP_CHARACTERS", 2_000)


def prefetching(path, **options) -> TokenClassifier:
    classifier = TokenClassifier(str(path), **EXACT, **options)
    classifier.engine.prepare_ahead = True
    return classifier


def test_same_results_in_the_same_order_with_tokenizing_in_the_background(tiny_models):
    for family, path in tiny_models.items():
        expected = TokenClassifier(str(path), **EXACT)(TEXTS)
        classifier = prefetching(path)
        prepared_at, finished_at, threads = [], [], set()
        prepare, finish = classifier.engine.prepare, classifier.engine.finish

        def logged_prepare(texts, prepare=prepare, prepared_at=prepared_at, threads=threads):
            prepared_at.append(time.perf_counter())
            threads.add(threading.current_thread().name)
            return prepare(texts)

        def logged_finish(prepared, finish=finish, finished_at=finished_at):
            assert threading.current_thread() is threading.main_thread()
            time.sleep(0.01)  # a device's forward pass: the next group is tokenized meanwhile
            results = finish(prepared)
            finished_at.append(time.perf_counter())
            return results

        classifier.engine.prepare, classifier.engine.finish = logged_prepare, logged_finish
        assert classifier(TEXTS) == expected, family
        assert len(prepared_at) == len(finished_at) > 3 and all(name.startswith("sparkner-prepare") for name in threads)
        assert all(prepared_at[k + 1] < finished_at[k] for k in range(len(finished_at) - 1)), (
            "group k+1 tokenized during group k"
        )


def tokenizing_fails_on_boom(classifier: TokenClassifier, monkeypatch) -> TokenClassifier:
    """The classifier's tokenizing step raises for any group holding a text with "boom" in it."""
    encode = classifier.engine.encoder.encode

    def failing(texts):
        if any("boom" in text for text in texts):
            raise ValueError("tokenizer failed on a text")
        return encode(texts)

    monkeypatch.setattr(classifier.engine.encoder, "encode", failing)
    return classifier


def test_an_error_while_tokenizing_propagates(tiny_models, monkeypatch):
    classifier = tokenizing_fails_on_boom(prefetching(tiny_models["bert-cased"]), monkeypatch)
    with pytest.raises(ValueError, match="tokenizer failed on a text"):
        classifier([*TEXTS[:100], "boom", *TEXTS[100:]])


def test_on_error_null_still_isolates_the_failing_text(tiny_models, monkeypatch):
    classifier = tokenizing_fails_on_boom(prefetching(tiny_models["bert-cased"], on_error="null"), monkeypatch)
    reference = TokenClassifier(str(tiny_models["bert-cased"]), **EXACT)
    texts = [*TEXTS[:100], "boom", *TEXTS[100:]]
    results = classifier.classify(texts)
    assert results[100].entities is None and results[100].error == "ValueError: tokenizer failed on a text"
    others = [r.entities for i, r in enumerate(results) if i != 100]
    expected = reference(TEXTS)
    for i, (mine, theirs) in enumerate(zip(others, expected)):  # the failing group was redone text by text
        assert_same_entities(mine, theirs, f"text {i}")


def test_out_of_memory_halving_still_works(tiny_models):
    expected = TokenClassifier(str(tiny_models["bert-cased"]), stride=8, **EXACT)(TEXTS)
    classifier = prefetching(tiny_models["bert-cased"], stride=8, batch_size=10_000, max_batch_tokens=1_000_000)
    predictor = classifier.engine.predictor
    predictor.model = RunsOutOfMemory(predictor.model, limit=200)
    found = classifier(TEXTS)
    assert max(predictor.model.sizes) > 200 and predictor.max_tokens < 1_000_000
    for i, (mine, theirs) in enumerate(zip(found, expected)):
        assert_same_entities(mine, theirs, f"text {i}")
    predictor.model.limit = 1
    with pytest.raises(out_of_memory_type()):
        classifier(TEXTS[:30])


def test_a_consumer_that_stops_early_leaves_nothing_running():
    started = []

    def prepare(item):
        started.append(item)
        time.sleep(0.05)
        return item * 2

    futures = prepared_ahead(list(range(10)), prepare)
    assert next(futures).result() == 0
    futures.close()
    assert started == [0, 1], "only the next item was started, and it finished before close returned"
    assert [f.result() for f in prepared_ahead([1, 2, 3], prepare)] == [2, 4, 6]


def test_softmax_on_the_device_equals_the_host_softmax(tiny_models):
    """A GPU computes the softmax batch by batch on the device, the CPU once in numpy: same probabilities."""
    import numpy as np

    from sparkner.engine.batching import PaddedBatch
    from sparkner.engine.forward import softmax

    engine = TokenClassifier(str(tiny_models["roberta"]), **EXACT).engine  # torch's device, as on a GPU
    windows = engine.encoder.encode(ALL_TEXTS)
    batch = PaddedBatch.of(windows.row_start, np.arange(len(windows.row_text)))
    predictor = engine.predictor
    on_device = predictor._forward(windows, batch, softmax=True)[batch.mask]
    on_host = softmax(predictor._forward(windows, batch, softmax=False)[batch.mask])
    np.testing.assert_allclose(on_device, on_host, rtol=1e-6, atol=1e-7)
    # in the predictor's own (smaller) batches: the same to the model's padding noise
    probabilities = engine.predictor.probabilities(windows, len(engine.info.labels))
    np.testing.assert_allclose(probabilities, on_host[np.argsort(batch.positions)], atol=1e-5)
