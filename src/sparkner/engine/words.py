"""Words from the text itself, the same way for every tokenizer (`word_boundaries="text"`).

A word is a maximal run of characters that are neither whitespace (`str.isspace`, and control or
format characters other than the joiners) nor punctuation; each punctuation character (Unicode
category P*, plus the ASCII symbols BERT's basic tokenizer also splits off, such as `$`, `+`, `|`)
and each CJK ideograph is a word of its own. This is how BERT's basic tokenizer finds words before
WordPiece, applied to the original text, so offsets stay character offsets into it.

`TextLayout` holds a batch's texts as one array of code points, with the words and
the non-space characters found once, so trimming tokens (a `searchsorted`) and finding
the words a token overlaps (a lookup of the word each character is in) are array
operations over the whole batch.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np

WORD, SPACE, ALONE = 0, 1, 2  # character classes: part of a word, whitespace, a word by itself

# CJK ideograph blocks, as BERT's `_is_chinese_char`.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
MAX_CODEPOINT = 0x110000
CLASSIFIED = 0x30000  # code points above the supplementary planes count as word characters


# Format characters that join the letters around them (zero-width non-joiner and joiner, soft hyphen).
JOINERS = frozenset({0x200C, 0x200D, 0x00AD})


def character_class(codepoint: int) -> int:
    character = chr(codepoint)
    category = unicodedata.category(character)
    # Control and format characters (escape codes, NUL, zero-width spaces, byte order marks) separate
    # words as whitespace does, so no span starts or ends with one; the joiners stay inside words.
    if character.isspace() or category == "Cc" or (category == "Cf" and codepoint not in JOINERS):
        return SPACE
    if 33 <= codepoint <= 47 or 58 <= codepoint <= 64 or 91 <= codepoint <= 96 or 123 <= codepoint <= 126:
        return ALONE
    if category.startswith("P"):
        return ALONE
    if any(low <= codepoint <= high for low, high in CJK_RANGES):
        return ALONE
    return WORD


@functools.lru_cache(maxsize=1)
def class_table() -> np.ndarray:
    """The class of every code point (built once per process, 1 MB, a fraction of a second)."""
    table = np.full(MAX_CODEPOINT, WORD, dtype=np.uint8)
    table[:CLASSIFIED] = np.fromiter((character_class(c) for c in range(CLASSIFIED)), dtype=np.uint8, count=CLASSIFIED)
    return table


def codepoints_of(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The texts' code points laid end to end, and each text's length in characters."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    # A str's code points (lone surrogates included) are all below MAX_CODEPOINT, the class table's size.
    return np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), lengths


@dataclass
class TextLayout:
    """A batch of texts as one array of code points, with its words and non-space characters."""

    codepoints: np.ndarray
    lengths: np.ndarray  # characters per text
    base: np.ndarray  # where each text starts in `codepoints`
    classes: np.ndarray
    word_start: np.ndarray  # global positions, sorted; words never cross texts
    word_end: np.ndarray
    begins: np.ndarray  # True on each word's first character

    @functools.cached_property
    def non_space(self) -> np.ndarray:
        """Global positions of non-space characters (only tokens that need trimming read them)."""
        return np.flatnonzero(self.classes != SPACE)

    @functools.cached_property
    def word_of(self) -> np.ndarray:
        """The word each character is in (for a space, the word before it): a lookup instead of two
        binary searches per token."""
        return np.cumsum(self.begins, dtype=np.int64) - 1

    @classmethod
    def of(cls, texts: list[str]) -> TextLayout:
        codepoints, lengths = codepoints_of(texts)
        return cls.from_classes(codepoints, lengths, class_table()[codepoints])

    @classmethod
    def from_classes(cls, codepoints: np.ndarray, lengths: np.ndarray, classes: np.ndarray) -> TextLayout:
        """The layout of texts laid end to end (`lengths` characters each), their characters classed."""
        base = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=base[1:])
        # Text edges count as whitespace on the outside.
        previous = np.empty_like(classes)
        following = np.empty_like(classes)
        if len(classes):
            previous[0], previous[1:] = SPACE, classes[:-1]
            following[-1], following[:-1] = SPACE, classes[1:]
            starts, ends = base[lengths > 0], (base + lengths)[lengths > 0]
            previous[starts] = SPACE
            following[ends - 1] = SPACE
        in_word = classes != SPACE
        begins = in_word & ((previous == SPACE) | (classes == ALONE) | (previous == ALONE))
        finishes = in_word & ((following == SPACE) | (classes == ALONE) | (following == ALONE))
        return cls(codepoints, lengths, base, classes, np.flatnonzero(begins), np.flatnonzero(finishes) + 1, begins)

    @property
    def size(self) -> int:
        return len(self.codepoints)

    def codepoint_at(self, positions: np.ndarray) -> np.ndarray:
        return self.codepoints[np.clip(positions, 0, len(self.codepoints) - 1)]

    def trim(self, text: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token offsets (into their texts) shrunk to their first and last non-space character;
        a span with none comes back with `start >= end`."""
        if self.size == 0:
            return start, end
        begin, finish = self.base[text] + start, self.base[text] + end
        # Most tokens already begin and end on a non-space character: only the others are searched.
        last = self.size - 1
        trimmed = (
            (begin < finish)
            & (self.classes[np.minimum(begin, last)] != SPACE)
            & (self.classes[np.clip(finish - 1, 0, last)] != SPACE)
        )
        if trimmed.all():
            return start, end
        todo = np.flatnonzero(~trimmed)
        # Sentinels on both sides: a batch may hold no non-space character at all.
        padded = np.concatenate(([-1], self.non_space, [self.size]))
        begin[todo] = padded[np.searchsorted(self.non_space, begin[todo], side="left") + 1]
        finish[todo] = padded[np.searchsorted(self.non_space, finish[todo], side="left")] + 1
        return begin - self.base[text], finish - self.base[text]

    def words_overlapping(self, text: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and last word (global indices) each non-empty, trimmed span overlaps: the words
        its first and last characters are in, as neither is a space."""
        begin = self.base[text] + start
        return self.word_of[begin], self.word_of[begin + (end - start - 1)]

    def word_span(self, word: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Words' offsets into `text`, the texts they are in."""
        return self.word_start[word] - self.base[text], self.word_end[word] - self.base[text]
