"""Windows read straight from the Rust tokenizer's encodings (`windowing.WindowEncoder`) equal the
windows transformers' tokenizer call makes (truncation, overflow, stride, offsets, special-token
masks, token type ids), on every tokenizer family and the real tokenizers."""

from __future__ import annotations

import json
from itertools import chain

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from texts import ALL_TEXTS

from sparkner import TokenClassifier
from sparkner.engine import windows as windowing
from sparkner.engine.windows import Windows
from sparkner.sources.loading import model_input_names

REAL = ["bert-base-NER (cased WordPiece)", "roberta-base (byte-level BPE)", "deberta-v3 (SentencePiece unigram)"]


def windows_from_transformers(tokenizer, info, texts: list[str], stride: int) -> Windows:
    """What sparkner built before: transformers' tokenizer call, converted to flat arrays."""
    flags = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_attention_mask": False}
    encoded = tokenizer(
        texts, truncation=True, max_length=info.window, stride=stride, return_overflowing_tokens=True, **flags
    )
    ids = encoded["input_ids"]
    lengths = np.array([len(row) for row in ids], dtype=np.int64)
    row_text = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    extra = {
        name: np.fromiter(chain.from_iterable(encoded[name]), np.int64)
        for name in model_input_names(tokenizer)[2:]
        if name in encoded
    }
    return Windows(
        row_text=row_text,
        row_number=np.arange(len(ids)) - np.searchsorted(row_text, row_text, side="left"),
        row_start=np.concatenate([[0], np.cumsum(lengths)]),
        input_ids=np.fromiter(chain.from_iterable(ids), np.int64),
        model_inputs=extra,
        offsets=np.array([pair for row in encoded["offset_mapping"] for pair in row], dtype=np.int64).reshape(-1, 2),
        special=np.fromiter(chain.from_iterable(encoded["special_tokens_mask"]), np.bool_),
    )


def assert_same_windows(ours: Windows, theirs: Windows, context: str) -> None:
    for name in ("row_text", "row_number", "row_start", "input_ids", "offsets", "special"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=f"{context}: {name}")
    assert ours.model_inputs.keys() == theirs.model_inputs.keys(), context
    for name, values in theirs.model_inputs.items():
        np.testing.assert_array_equal(ours.model_inputs[name], values, err_msg=f"{context}: {name}")


def check(engine, texts: list[str], context: str) -> None:
    for stride in sorted({0, 1, engine.stride, windowing.max_stride(engine.info)}):
        ours = windowing.WindowEncoder(engine.tokenizer, engine.info, stride).encode(texts)
        assert_same_windows(
            ours, windows_from_transformers(engine.tokenizer, engine.info, texts, stride), f"{context}, stride {stride}"
        )


def test_every_tiny_family(tiny_models):
    for family, path in tiny_models.items():
        check(TokenClassifier(str(path)).engine, ALL_TEXTS, family)


@pytest.fixture(scope="module")
def real_engines(oracle_model):
    import oracle

    return {family: TokenClassifier(str(oracle_model(family))).engine for family in REAL}, oracle


def test_real_tokenizers_on_natural_documents(real_engines):
    engines, boundaries = real_engines
    texts = [doc.text for doc in boundaries.natural_docs("test", 20)] + ALL_TEXTS
    for family, engine in engines.items():
        check(engine, texts, family)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=6))
def test_any_text(real_engines, texts):
    for family, engine in real_engines[0].items():
        ours = engine.encoder.encode(texts)
        assert_same_windows(
            ours, windows_from_transformers(engine.tokenizer, engine.info, texts, engine.stride), family
        )


def test_the_parts_of_the_tokenizer_read_are_its_jsons(tiny_models, real_engines):
    """`backend_spec` reads the tokenizer part by part (not its whole JSON, vocabulary and all): the
    same normalizer, pre-tokenizer, post-processor and model fields as the JSON, for every family."""
    engines = {family: TokenClassifier(str(path)).engine for family, path in tiny_models.items()}
    for family, engine in {**engines, **real_engines[0]}.items():
        backend = engine.tokenizer.backend_tokenizer
        whole, parts = json.loads(backend.to_str()), windowing.backend_spec(backend)
        for name in ("normalizer", "pre_tokenizer", "post_processor"):
            assert parts[name] == whole[name], (family, name)
        assert parts["model"] == {
            key: whole["model"].get(key) for key in ("type", "continuing_subword_prefix", "unk_token")
        }, family


def test_the_shared_tokenizer_is_left_as_it_was(tiny_models):
    engine = TokenClassifier(str(tiny_models["bert-cased"])).engine
    before = engine.tokenizer.backend_tokenizer.truncation
    engine.encoder.encode(ALL_TEXTS)
    assert engine.tokenizer.backend_tokenizer.truncation == before


def test_which_windows_the_backend_cuts_itself(tiny_models):
    """sparkner cuts the windows for every family here; left truncation is left to the backend."""
    for family, path in tiny_models.items():
        engine = TokenClassifier(str(path)).engine
        assert not engine.encoder.backend_cuts, family
    engine = TokenClassifier(str(tiny_models["roberta"])).engine
    engine.tokenizer.truncation_side = "left"
    try:
        encoder = windowing.WindowEncoder(engine.tokenizer, engine.info, engine.stride)
        assert encoder.backend_cuts
        ours = encoder.encode(ALL_TEXTS)
        assert_same_windows(
            ours, windows_from_transformers(engine.tokenizer, engine.info, ALL_TEXTS, engine.stride), "left"
        )
    finally:
        engine.tokenizer.truncation_side = "right"


def test_the_windows_run_the_tokenizers_own_model(oracle_model):
    """The encoder's backend shares the tokenizer's model, normalizer and pre-tokenizer (a change to the
    model shows in the windows at once) instead of a copy rebuilt from the tokenizer's JSON, which can
    segment differently from the tokenizer (see `windowing.own_backend`)."""
    engine = TokenClassifier(str(oracle_model("roberta-base (byte-level BPE)"))).engine
    text = ["international relations between nations"]
    whole_words = engine.encoder.encode(text).input_ids.tolist()
    engine.tokenizer.backend_tokenizer.model.dropout = 1.0  # BPE applying no merge: one token per byte
    try:
        assert len(engine.encoder.encode(text).input_ids) > 3 * len(whole_words)
    finally:
        engine.tokenizer.backend_tokenizer.model.dropout = None
    assert engine.encoder.encode(text).input_ids.tolist() == whole_words


RUNS = [
    "Results for the quarter\n" + "-" * 25 + "\nRevenue rose 4% in Chicago.",
    "=" * 40 + " Apple Inc. " + "." * 30 + " Tim Cook " + "*" * 12,
    ("Section 1 " + "-" * 60 + " Berlin and Paris ") * 12,  # several windows
    "_" * 300 + " " + "~" * 99 + " Acme Corp.",
]


def test_a_unigram_tokenizer_converted_in_memory_gives_the_pipelines_windows_and_entities(oracle_model):
    """transformers builds this XLM-R-style tokenizer from its SentencePiece file at every load (no
    tokenizer.json): on long runs of one character, where segmentations tie, sparkner's windows,
    entities and scores are the pipeline's."""
    from parity import PIPELINE_WORDS, assert_same_results, pipeline_results

    path = oracle_model("SentencePiece unigram (built here, converted in memory)")
    assert not (path / "tokenizer.json").exists() and (path / "sentencepiece.bpe.model").exists()
    engine = TokenClassifier(str(path)).engine
    check(engine, RUNS, "unigram converted in memory")
    for strategy in ("simple", "first"):
        ours = TokenClassifier(str(path), aggregation_strategy=strategy, stride=64, **PIPELINE_WORDS)(RUNS)
        reference = pipeline_results(path, RUNS, aggregation_strategy=strategy, stride=64)
        assert_same_results(ours, reference, f"unigram converted in memory, {strategy}")
