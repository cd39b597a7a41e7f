"""BERT's token offsets from the ids and the text, without asking the tokenizer for them.

Tracking offsets costs the Rust tokenizer about a sixth of its time, and handing them
to Python as tuples a little more (docs/benchmarks.md, "BERT's offsets from the text"). For
BERT's tokenizers (`BertNormalizer`, `BertPreTokenizer`, `WordPiece`) the offsets
follow from what is cheap to get:

- the pre-tokenizer's words are the text's words as `words.TextLayout` finds them
  (whitespace splits, each punctuation character stands alone);
- a word's tokens cover it end to end, in order: the first is a vocabulary entry
  without the continuing prefix, each next one a `##` entry covering its string less
  the prefix, and `[UNK]` stands for the whole word.

That holds for every text whose characters the normalizer maps one to one and the
pre-tokenizer classes as `TextLayout` does (checked per code point, with the
tokenizer's own normalizer and pre-tokenizer, once per process) and that holds no
added token's text. The others (control characters, CJK ideographs, combining marks,
"[MASK]" written in the text), and any text whose token lengths do not add up to its
words, are tokenized again with offsets: the offsets are always the tokenizer's.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import numpy as np

from sparkner.engine import words

UNCHECKED = 255  # in `WordPieceOffsets.kinds`: a code point not met yet
UNUSUAL = 4  # added to a code point's class when the normalizer does not map it one to one


class WordPieceOffsets:
    """Offsets of a BERT tokenizer's tokens, computed in numpy for a batch at a time."""

    def __init__(self, backend: Any, spec: dict[str, Any]) -> None:
        self.backend = backend
        normalizer = spec["normalizer"]
        self.lowercases = bool(normalizer.get("lowercase"))
        strip_accents = normalizer.get("strip_accents")
        self.reorders = bool(self.lowercases if strip_accents is None else strip_accents)  # NFD runs first
        prefix = spec["model"]["continuing_subword_prefix"]
        vocabulary = backend.get_vocab(with_added_tokens=True)
        self.unk_id = vocabulary.get(spec["model"]["unk_token"], -1)
        self.length = np.zeros(max(vocabulary.values()) + 1, dtype=np.int64)
        self.starts_word = np.zeros(len(self.length), dtype=bool)
        for token, token_id in vocabulary.items():
            continues = token.startswith(prefix) and token_id != self.unk_id
            self.starts_word[token_id] = not continues
            self.length[token_id] = len(token) - (len(prefix) if continues else 0)
        added = {token.content for token in backend.get_added_tokens_decoder().values()}
        self.added = sorted(token.lower() for token in added) if self.lowercases else sorted(added)
        self.kinds = np.full(words.MAX_CODEPOINT, UNCHECKED, dtype=np.uint8)

    @classmethod
    def for_backend(cls, backend: Any, spec: dict[str, Any]) -> WordPieceOffsets | None:
        """The helper for a BERT tokenizer (with tokenizers' `encode_batch_fast`, ≥ 0.21), else None;
        `spec` is the backend's JSON, parsed."""
        normalizer, pre_tokenizer, model = (
            spec.get("normalizer") or {},
            spec.get("pre_tokenizer") or {},
            spec.get("model") or {},
        )
        if (
            normalizer.get("type") != "BertNormalizer"
            or pre_tokenizer.get("type") != "BertPreTokenizer"
            or model.get("type") != "WordPiece"
            or not model.get("continuing_subword_prefix")
            or not hasattr(backend, "encode_batch_fast")
        ):
            return None
        return cls(backend, spec)

    def offsets(self, texts: list[str], ids: np.ndarray, per_text: np.ndarray) -> tuple[np.ndarray, words.TextLayout]:
        """(n, 2) character offsets of the texts' tokens, special tokens left out (`ids` laid end to
        end, `per_text` of them for each text), and the texts' layout."""
        layout, unusual = self.layout(texts)
        token_start = np.cumsum(per_text) - per_text
        offsets = np.zeros((len(ids), 2), dtype=np.int64)
        starts_word = self.starts_word[ids]
        if len(layout.word_start) == 0 or not starts_word.any():  # no word, so no token either (or a surprise)
            self._from_tokenizer(texts, np.flatnonzero(per_text), offsets, token_start, per_text)
            return offsets, layout
        # Each word's first token (its "head") is its text's next word.
        head_number = np.cumsum(starts_word) - 1  # of the token's word's head, counted over the batch
        heads_before = np.append(0, head_number + 1)[token_start]
        heads_per_text = np.append(0, head_number + 1)[token_start + per_text] - heads_before
        first_word = np.searchsorted(layout.word_start, layout.base)
        words_per_text = np.diff(np.append(first_word, len(layout.word_start)))
        opens_with_head = np.ones(len(texts), dtype=bool)
        opens_with_head[per_text > 0] = starts_word[token_start[per_text > 0]]
        placed = (heads_per_text == words_per_text) & opens_with_head & ~unusual
        head_text = np.repeat(np.arange(len(texts)), heads_per_text)
        word = np.arange(len(head_text)) + (first_word - heads_before)[head_text]
        np.clip(word, 0, len(layout.word_start) - 1, out=word)  # in range for texts not placed
        word_start = layout.word_start[word] - layout.base[head_text]
        word_end = layout.word_end[word] - layout.base[head_text]
        # A token starts where its word does, plus the lengths of the word's tokens before it.
        length = self.length[ids]
        unknown = np.flatnonzero(ids == self.unk_id)
        length[unknown] = (word_end - word_start)[head_number[unknown]]
        before = np.cumsum(length) - length
        heads = np.flatnonzero(starts_word)
        offsets[:, 0] = before + (word_start - before[heads])[head_number]
        offsets[:, 1] = offsets[:, 0] + length
        # A placed text's tokens tile each of its words: each word's last token ends where it does.
        ends_word = np.append(starts_word[1:], True)
        ends_word[(token_start + per_text - 1)[per_text > 0]] = True
        tails = np.flatnonzero(ends_word)
        short = tails[offsets[tails, 1] != word_end[head_number[tails]]]
        placed[np.searchsorted(token_start, short, side="right") - 1] = False
        retokenize = np.flatnonzero(~placed & (per_text > 0))
        if len(retokenize):
            self._from_tokenizer(texts, retokenize, offsets, token_start, per_text)
        return offsets, layout

    def layout(self, texts: list[str]) -> tuple[words.TextLayout, np.ndarray]:
        """The texts' layout, and which texts hold a character the normalizer does not map one to one
        or an added token's text."""
        codepoints, lengths = words.codepoints_of(texts)
        kinds = self.kinds[codepoints]
        if (kinds == UNCHECKED).any():
            for codepoint in np.unique(codepoints[kinds == UNCHECKED]).tolist():
                self.kinds[codepoint] = self._kind(codepoint)
            kinds = self.kinds[codepoints]
        layout = words.TextLayout.from_classes(codepoints, lengths, kinds & ~np.uint8(UNUSUAL))
        unusual = np.zeros(len(texts), dtype=bool)
        unusual[np.searchsorted(layout.base, np.flatnonzero(kinds & UNUSUAL), side="right") - 1] = True
        return layout, unusual | self._holds_added_token(texts)

    def _holds_added_token(self, texts: list[str]) -> np.ndarray:
        """Texts in which the tokenizer would match an added token ("[MASK]") before normalizing."""
        holds = np.zeros(len(texts), dtype=bool)
        joined = "\0".join(texts)
        haystack = joined.lower() if self.lowercases else joined
        for first in {token[0] for token in self.added if token}:  # one scan per first character, mostly absent
            if first in haystack:
                for token in (token for token in self.added if token.startswith(first)):
                    if token in haystack:
                        holds |= [token in (text.lower() if self.lowercases else text) for text in texts]
        return holds

    def _kind(self, codepoint: int) -> int:
        """The character's class (`words.character_class`), plus UNUSUAL unless the normalizer keeps it
        one character and the pre-tokenizer classes it the same (inside a word, whitespace, alone)."""
        character_class = words.character_class(codepoint)
        character = chr(codepoint)
        if self.reorders and unicodedata.combining(character):
            return character_class | UNUSUAL  # NFD may move it past its neighbours
        try:
            normalized = self.backend.normalizer.normalize_str(character)
        except UnicodeError:  # a lone surrogate
            return character_class | UNUSUAL
        if len(normalized) != 1:
            return character_class | UNUSUAL
        pieces = len(self.backend.pre_tokenizer.pre_tokenize_str(f"a{normalized}a"))
        same = {1: words.WORD, 2: words.SPACE, 3: words.ALONE}.get(pieces) == character_class
        return character_class if same else character_class | UNUSUAL

    def _from_tokenizer(
        self, texts: list[str], which: np.ndarray, offsets: np.ndarray, token_start: np.ndarray, per_text: np.ndarray
    ) -> None:
        """The tokenizer's own offsets for the texts `which`, written in place."""
        encodings = self.backend.encode_batch([texts[i] for i in which.tolist()], add_special_tokens=False)
        for i, encoding in zip(which.tolist(), encodings):
            if len(encoding) != per_text[i]:
                raise RuntimeError(
                    f"sparkner: text {i} came to {len(encoding)} tokens with offsets, {per_text[i]} without"
                )
            offsets[token_start[i] : token_start[i] + per_text[i]] = np.array(encoding.offsets, dtype=np.int64).reshape(
                -1, 2
            )
