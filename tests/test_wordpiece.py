"""BERT's offsets computed from ids and text (`wordpiece.WordPieceOffsets`) equal the tokenizer's own,
for the real bert-base-NER tokenizer and an uncased variant of it; texts it cannot place are handed
back to the tokenizer, ordinary ones are not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from texts import ALL_TEXTS

from sparkner.engine.wordpiece import WordPieceOffsets

ORDINARY = [
    "Angela Merkel met Emmanuel Macron in Berlin.",
    "O'Neil's café, naïve résumé: 3.5% on 2024-01-02!!!",
    "Dr. Jürgen Müller works for Siemens AG in São Paulo.",
    "Emoji 😀 party 🎉 in Rome",
    "multiple    spaces \t between\nwords",
    "x" * 150,  # longer than WordPiece's 100 characters: one [UNK] for the whole word
    "Zzyzxqwv ❖ Ŋ ﬁne İstanbul",
    "",
    "   ",
]
UNUSUAL = [
    "control\x07chars\x00and\x1bescapes",  # removed by the normalizer
    "soft\xadhyphen and zero\u200bwidth",
    "東京 and 大阪",  # CJK ideographs are padded with spaces
    "a [MASK] here",
]
UNUSUAL_UNCASED = [
    "Cafe\u0301 with a combining accent",  # stripped
    "the [cls] token",  # matches "[CLS]" once lowercased
]


def bert_tokenizer(shared, *, lowercase: bool):
    from tokenizers import Tokenizer

    spec = json.loads((shared / "data" / "tokenizers" / "bert-base-NER" / "tokenizer.json").read_text(encoding="utf-8"))
    spec["normalizer"].update(lowercase=lowercase, strip_accents=None)
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module", params=["cased", "uncased"])
def bert(request):
    from paths import SHARED

    if not (SHARED / "data" / "tokenizers").exists():
        pytest.skip(f"the real tokenizers live in the project's shared/ folder ({SHARED})")
    tokenizer = bert_tokenizer(SHARED, lowercase=request.param == "uncased")
    return (
        tokenizer,
        WordPieceOffsets.for_backend(tokenizer, json.loads(tokenizer.to_str())),
        UNUSUAL + (UNUSUAL_UNCASED if request.param == "uncased" else []),
    )


def offsets_both_ways(bert, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    tokenizer, helper, _ = bert
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    per_text = np.array([len(encoding) for encoding in encodings], dtype=np.int64)
    ids = np.array([i for encoding in encodings for i in encoding.ids], dtype=np.int64)
    theirs = np.array([pair for encoding in encodings for pair in encoding.offsets], dtype=np.int64).reshape(-1, 2)
    ours, layout = helper.offsets(texts, ids, per_text)
    assert layout.size == sum(map(len, texts))
    return ours, theirs


def test_offsets_equal_the_tokenizers(bert):
    for texts in (ORDINARY + UNUSUAL + UNUSUAL_UNCASED + ALL_TEXTS, UNUSUAL + UNUSUAL_UNCASED, [""], []):
        ours, theirs = offsets_both_ways(bert, texts)
        np.testing.assert_array_equal(ours, theirs)


def test_only_texts_it_cannot_place_go_back_to_the_tokenizer(bert, monkeypatch):
    handed_back: list[str] = []
    _, helper, unusual = bert
    original = helper._from_tokenizer
    monkeypatch.setattr(
        helper,
        "_from_tokenizer",
        lambda texts, which, *rest: (handed_back.extend(texts[i] for i in which), original(texts, which, *rest)),
    )
    offsets_both_ways(bert, ORDINARY + UNUSUAL + UNUSUAL_UNCASED)
    assert handed_back == unusual


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=200), min_size=1, max_size=6))
def test_any_text(bert, texts):
    ours, theirs = offsets_both_ways(bert, texts)
    np.testing.assert_array_equal(ours, theirs)


def test_other_families_keep_the_tokenizers_offsets(tiny_models):
    from sparkner import TokenClassifier

    for family, path in tiny_models.items():
        encoder = TokenClassifier(str(path)).engine.encoder
        assert (encoder.wordpiece is not None) == family.startswith("bert"), family
