"""Parity with transformers' TokenClassificationPipeline on every tokenizer family.

The reference is the real pipeline, loaded from the same directory, called with
the same parameters; sparkner must give the same entities in the same order,
with scores within 1e-4.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from parity import EXACT, PIPELINE_WORDS, assert_same_results, pipeline_results, reference_pipeline
from texts import ALL_TEXTS, LONG_TEXTS, SHORT_TEXTS
from tiny_models import FAMILIES, build_tiny_model

from sparkner import TokenClassifier

STRATEGIES = ["none", "simple", "first", "average", "max"]
IGNORE_CHOICES = [None, [], ["O", "PER", "B-LOC"]]


def fitting(path: Path, texts: list[str]) -> list[str]:
    """The texts the pipeline does not truncate (they fit one window)."""
    tokenizer = reference_pipeline(str(path)).tokenizer
    return [text for text in texts if len(tokenizer(text)["input_ids"]) <= tokenizer.model_max_length]


@pytest.mark.parametrize("ignore_labels", IGNORE_CHOICES, ids=["default", "none-ignored", "several"])
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_texts_that_fit_one_window(tiny_models, family, strategy, ignore_labels):
    path = tiny_models[family]
    texts = fitting(path, ALL_TEXTS)
    assert len(texts) >= 10, "the test needs texts that fit the window"
    ours = TokenClassifier(path, aggregation_strategy=strategy, ignore_labels=ignore_labels, **PIPELINE_WORDS)(texts)
    reference = pipeline_results(path, texts, aggregation_strategy=strategy, ignore_labels=ignore_labels)
    assert_same_results(ours, reference, f"{family}/{strategy}/{ignore_labels}")


# No overlap, a small and a large overlap; `ignore_labels=[]` keeps the `O` groups, which the pipeline
# filters before it merges the windows' entities.
STRIDES = [(0, None), (7, []), (20, None)]


@pytest.mark.parametrize(("stride", "ignore_labels"), STRIDES, ids=["stride-0", "stride-7-none-ignored", "stride-20"])
@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_long_texts_with_stride_follow_the_pipeline(tiny_models, family, strategy, stride, ignore_labels):
    path = tiny_models[family]
    # A word repeated many times is left out here: windows one token apart then yield
    # overlapping entities equal up to float rounding, and which one the merge keeps
    # depends on that rounding (the batch shapes), in the pipeline as in sparkner.
    texts = [text for text in ALL_TEXTS if not text.startswith("Supercalifragilistic")]
    ours = TokenClassifier(
        path, aggregation_strategy=strategy, stride=stride, ignore_labels=ignore_labels, **PIPELINE_WORDS
    )(texts)
    reference = pipeline_results(path, texts, aggregation_strategy=strategy, stride=stride, ignore_labels=ignore_labels)
    assert_same_results(ours, reference, f"{family}/{strategy}/stride={stride}/{ignore_labels}")


def test_largest_stride_advances_one_token(tiny_models):
    """The largest stride the tokenizer allows (window - specials - 1) still matches the pipeline."""
    path = tiny_models["bert-cased"]
    stride = TokenClassifier(path).engine.info.window - 3
    texts = [LONG_TEXTS[0][:300]]
    ours = TokenClassifier(path, aggregation_strategy="first", stride=stride, **PIPELINE_WORDS)(texts)
    assert_same_results(ours, pipeline_results(path, texts, aggregation_strategy="first", stride=stride), "max stride")


@pytest.fixture(scope="module")
def context_free_models(tmp_path_factory):
    """A BERT whose predictions ignore context: same weights, 24-token vs 4096-token windows."""
    root = tmp_path_factory.mktemp("context-free")
    small = build_tiny_model(
        root / "small", "bert-cased", model_max_length=24, max_positions=4096, layers=0, context_free=True
    )
    large = root / "large"
    shutil.copytree(small, large)  # the very same tokenizer and weights, only a larger window
    config = json.loads((large / "tokenizer_config.json").read_text())
    config["model_max_length"] = 4096
    (large / "tokenizer_config.json").write_text(json.dumps(config))
    return small, large


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_long_texts_without_stride_are_covered_whole(context_free_models, strategy):
    """With stride=None a long text is split into windows and stitched back token by token.

    For a model whose predictions do not depend on context, that must equal the
    pipeline run on the whole text in one window: every token once, the same
    entities, and for `none` the same `index` (the position in the whole text).
    """
    small, large = context_free_models
    ours = TokenClassifier(small, aggregation_strategy=strategy, ignore_labels=[], **PIPELINE_WORDS)(
        LONG_TEXTS + SHORT_TEXTS
    )
    reference = pipeline_results(large, LONG_TEXTS + SHORT_TEXTS, aggregation_strategy=strategy, ignore_labels=[])
    assert_same_results(ours, reference, f"stitched/{strategy}")
    assert max(entity["end"] for entity in ours[0]) == len(LONG_TEXTS[0].rstrip(".")) + 1


def test_stitched_tokens_keep_context_on_both_sides(tiny_models):
    """In the overlap of two windows each token comes from the window where it is more central."""
    from sparkner.engine import windows as windowing

    classifier = TokenClassifier(tiny_models["bert-cased"])
    info, stride = classifier.engine.info, classifier.engine.stride
    windows = windowing.encode_windows(classifier.engine.tokenizer, info, LONG_TEXTS, stride)
    selection = windowing.stitched(windows, info, stride)
    full = classifier.engine.tokenizer(LONG_TEXTS, add_special_tokens=False)["input_ids"]
    for text, ids in enumerate(full):
        mine = selection.token[selection.sequence == text]
        assert windows.input_ids[mine].tolist() == ids, "each token of the text exactly once, in order"
    row = windows.token_row[selection.token]
    position = selection.token - windows.row_start[row]
    length = windows.row_lengths[row]
    has_previous = windows.row_number[row] > 0
    has_next = windows.row_number[row] < (windows.row_number + 1).max() - 1
    has_next = [r + 1 < len(windows.row_text) and windows.row_text[r + 1] == windows.row_text[r] for r in row]
    for pos, size, previous, following in zip(position, length, has_previous, has_next):
        if previous:
            assert pos - info.num_leading_special >= stride // 2
        if following:
            assert size - 1 - pos >= (stride - 1) // 2


def test_repeated_texts_are_independent_copies(tiny_models):
    classifier = TokenClassifier(tiny_models["bert-cased"], ignore_labels=[])
    first, second, third = classifier(["Angela Merkel", None, "Angela Merkel"])
    assert first == third and second is None
    first[0]["word"] = "changed"
    assert third[0]["word"] != "changed"


def test_window_is_capped_by_position_embeddings(tmp_path):
    """A tokenizer that reports a 'no limit' model_max_length is bounded by the model's positions."""
    path = build_tiny_model(tmp_path / "huge", "roberta", model_max_length=int(1e30), max_positions=40)
    classifier = TokenClassifier(path, ignore_labels=[], **EXACT)  # the window does not depend on the runtime
    assert classifier.engine.info.window == 40
    [entities] = classifier([LONG_TEXTS[0]])
    assert entities[-1]["end"] >= len(LONG_TEXTS[0]) - 2
    # Byte-level BPE can emit a lone "Ġ" token with an empty span: the pipeline reports it as is.
    assert all(0 <= e["start"] < e["end"] <= len(LONG_TEXTS[0]) for e in entities)


def test_classify_reports_tokens_and_windows(tiny_models):
    classifier = TokenClassifier(tiny_models["roberta"], stride=5, **EXACT)
    texts = [LONG_TEXTS[0], "", None, "Paris"]
    results = classifier.classify(texts)
    own_tokens = [
        len(classifier.engine.tokenizer(t, add_special_tokens=False)["input_ids"]) if t is not None else 0
        for t in texts
    ]
    assert [r.tokens for r in results] == own_tokens
    assert results[0].windows > 1 and [r.windows for r in results[1:]] == [1, 0, 1]


@pytest.mark.parametrize("strategy", ["none", "simple", "first"])
def test_entities_that_cover_no_character_are_dropped(tiny_models, strategy):
    """Byte-level BPE: the pipeline reports lone whitespace tokens as empty-span entities;
    sparkner leaves exactly those out (the reference filter above is not vacuous)."""
    path = tiny_models["roberta"]
    texts = ["\t\n x  \u3000 y", "multiple    spaces   between   words", "a  b   c    d  e"]
    raw = [reference_pipeline(str(path))(text, aggregation_strategy=strategy) for text in texts]
    assert any(entity["start"] == entity["end"] for found in raw for entity in found)
    ours = TokenClassifier(path, aggregation_strategy=strategy, **PIPELINE_WORDS)(texts)
    assert all(entity["start"] < entity["end"] for found in ours for entity in found)
    assert_same_results(ours, pipeline_results(path, texts, aggregation_strategy=strategy), strategy)
