"""Tokenize a batch of texts into model windows, and stitch windows back into texts.

One fast-tokenizer call encodes the whole batch with offsets, exactly as the
pipeline encodes one text (`truncation=True` with overflowing windows of
`window` tokens that overlap by `stride` tokens). The result is kept flat: one
numpy array per field over all tokens of all windows, plus where each window
starts, so later stages slice instead of looping per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np

from sparkner.loading import TokenizerInfo


@dataclass
class Windows:
    """All windows of a batch of texts, flattened token by token.

    `row_*` arrays have one entry per window (row); token arrays one per token;
    window `r` owns tokens `row_start[r]:row_start[r + 1]`.
    """

    row_text: np.ndarray  # index of the text each window came from
    row_number: np.ndarray  # 0 for a text's first window, 1 for the next, ...
    row_start: np.ndarray  # n_rows + 1 token offsets
    input_ids: np.ndarray
    model_inputs: dict[str, np.ndarray]  # extra inputs the model takes (token_type_ids)
    offsets: np.ndarray  # (n_tokens, 2) character offsets into the text
    special: np.ndarray  # True for [CLS]/[SEP]/<s>/</s> added by the tokenizer

    @property
    def row_lengths(self) -> np.ndarray:
        return np.diff(self.row_start)

    @cached_property
    def row_is_last(self) -> np.ndarray:
        """True for each text's last window."""
        return np.append(self.row_text[1:] != self.row_text[:-1], True)

    @cached_property
    def token_row(self) -> np.ndarray:
        """The window of each token."""
        return np.repeat(np.arange(len(self.row_text)), self.row_lengths)


def default_stride(info: TokenizerInfo) -> int:
    """Overlap used when the user gives none: a quarter of the text part of a window.

    128 tokens for a 512-token BERT window: every token near a window edge is also
    seen with at least that much context in the neighbouring window.
    """
    return (info.window - info.num_special) // 4


def max_stride(info: TokenizerInfo) -> int:
    """The tokenizer needs each window to advance by at least one text token."""
    return info.window - info.num_special - 1


def _flat(nested: list[list[Any]], count: int, dtype: Any) -> np.ndarray:
    return np.fromiter(chain.from_iterable(nested), dtype=dtype, count=count)


def model_input_names(tokenizer: Any) -> list[str]:
    """The tensors the model is fed: `input_ids`, `attention_mask`, then the tokenizer's other
    model inputs (`token_type_ids`), which `encode_windows` flattens into `model_inputs`."""
    extra = [name for name in tokenizer.model_input_names if name not in ("input_ids", "attention_mask")]
    return ["input_ids", "attention_mask", *extra]


def encode_windows(tokenizer: Any, info: TokenizerInfo, texts: list[str], stride: int) -> Windows:
    """Tokenize `texts` into overlapping windows of at most `info.window` tokens."""
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=info.window,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_attention_mask=False,
    )
    ids = encoded["input_ids"]
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    row_start = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=row_start[1:])
    total = int(row_start[-1])
    row_text = np.asarray(encoded["overflow_to_sample_mapping"], dtype=np.int64)
    # Windows of one text are consecutive: number them by distance to the text's first one.
    first_row = np.searchsorted(row_text, row_text, side="left")
    offsets = _flat((chain.from_iterable(row) for row in encoded["offset_mapping"]), 2 * total, np.int64)
    extra = {name: _flat(encoded[name], total, np.int64) for name in model_input_names(tokenizer)[2:] if name in encoded}
    return Windows(
        row_text=row_text,
        row_number=np.arange(len(ids)) - first_row,
        row_start=row_start,
        input_ids=_flat(ids, total, np.int64),
        model_inputs=extra,
        offsets=offsets.reshape(total, 2),
        special=_flat(encoded["special_tokens_mask"], total, np.bool_),
    )


def text_token_counts(windows: Windows, info: TokenizerInfo, stride: int) -> np.ndarray:
    """Each text's own token count: its last window's start plus that window's text tokens."""
    content = np.bincount(windows.token_row, weights=~windows.special, minlength=len(windows.row_text)).astype(np.int64)
    last = windows.row_is_last
    step = info.window - info.num_special - stride
    return (windows.row_number[last] * step + content[last]).astype(np.int64)


@dataclass
class Selection:
    """Which tokens form each sequence that aggregation sees, and their token `index`."""

    token: np.ndarray  # positions into the Windows' token arrays
    sequence: np.ndarray  # sequence number of each selected token (non-decreasing)
    sequence_text: np.ndarray  # text of each sequence
    index: np.ndarray  # the token's index as the pipeline reports it for `none`


def per_window(windows: Windows) -> Selection:
    """Pipeline semantics: each window is aggregated on its own (special tokens dropped)."""
    token = np.flatnonzero(~windows.special)
    row = windows.token_row[token]
    return Selection(
        token=token,
        sequence=row,
        sequence_text=windows.row_text,
        index=token - windows.row_start[row],
    )


def stitched(windows: Windows, info: TokenizerInfo, stride: int) -> Selection:
    """One sequence per text: each token taken once, from the window where it is most central.

    Window `w` of a text starts at text-token `w * step` (`step = window - specials -
    stride`, how the tokenizer advances). In the `stride` tokens two neighbouring
    windows share, the first half stays with the earlier window and the second half
    goes to the later one, so every token keeps at least `stride // 2` tokens of
    context on both sides. `index` is the token's position in the whole text's
    tokenization, counting the leading special token(s) as the pipeline does; for a
    text that fits one window it equals the pipeline's index.
    """
    step = info.window - info.num_special - stride
    row = windows.token_row
    number = windows.row_number[row]
    position = number * step + (np.arange(len(row)) - windows.row_start[row]) - info.num_leading_special
    owned_from = np.where(number > 0, number * step + stride // 2, np.iinfo(np.int64).min)
    last = windows.row_is_last[row]
    owned_until = np.where(last, np.iinfo(np.int64).max, (number + 1) * step + stride // 2)
    keep = ~windows.special & (position >= owned_from) & (position < owned_until)
    token = np.flatnonzero(keep)
    return Selection(
        token=token,
        sequence=windows.row_text[row[token]],
        sequence_text=np.arange(int(windows.row_text.max()) + 1 if len(windows.row_text) else 0),
        index=position[token] + info.num_leading_special,
    )
