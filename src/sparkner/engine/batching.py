"""Group windows into model batches: sorted by length, bounded by a token budget.

As in `SentenceTransformer.encode`, sorting by length first means each batch pads
only to its own longest window, so short and long texts in one Arrow batch do not
pay for each other. The budget bounds `rows * longest row` (the padded tensor
size), which is what costs time and memory, rather than the row count alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


def length_sorted_batches(lengths: np.ndarray, max_rows: int, max_tokens: int) -> Iterator[np.ndarray]:
    """Yield arrays of row numbers, longest rows first, each within both limits.

    A single row longer than `max_tokens` still forms a batch of its own.
    """
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        rows = max(1, min(max_rows, max_tokens // longest))
        yield order[start : start + rows]
        start += rows


@dataclass
class PaddedBatch:
    """Some windows as a right-padded (rows, longest) matrix: where each real token sits.

    `mask` marks real tokens; `positions` are those tokens' places in the windows' flat
    arrays, in the mask's (row-major) order, so `matrix[mask] = flat[positions]` pads with
    no loop over rows. Unpadding (`unpad`) copies row by row instead: the model's output has
    a few labels per token, and one slice per window moves it faster than a gather per token.
    """

    rows: np.ndarray
    mask: np.ndarray
    positions: np.ndarray

    @classmethod
    def of(cls, row_start: np.ndarray, rows: np.ndarray) -> PaddedBatch:
        lengths = row_start[rows + 1] - row_start[rows]
        columns = np.arange(int(lengths.max()) if len(rows) else 0)
        mask = columns[None, :] < lengths[:, None]
        return cls(rows, mask, (row_start[rows][:, None] + columns[None, :])[mask])

    def pad(self, flat: np.ndarray, pad_value: int) -> np.ndarray:
        """The (rows, longest) matrix of `flat`'s tokens, right-padded with `pad_value`."""
        matrix = np.full(self.mask.shape, pad_value, dtype=flat.dtype)
        matrix[self.mask] = flat[self.positions]
        return matrix

    def unpad(self, output: np.ndarray, into: np.ndarray, row_start: list[int]) -> None:
        """Each row's real tokens of `output` (rows, longest, ...) into their windows' places in
        `into` (window `r` owns `row_start[r]:row_start[r + 1]`)."""
        for padded, row in zip(output, self.rows.tolist()):
            start, end = row_start[row], row_start[row + 1]
            into[start:end] = padded[: end - start]
