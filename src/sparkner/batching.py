"""Group windows into model batches: sorted by length, bounded by a token budget.

As in `SentenceTransformer.encode`, sorting by length first means each batch pads
only to its own longest window, so short and long texts in one Arrow batch do not
pay for each other. The budget bounds `rows * longest row` (the padded tensor
size), which is what costs time and memory, rather than the row count alone.
"""

from __future__ import annotations

from collections.abc import Iterator

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


def pad_rows(flat: np.ndarray, row_start: np.ndarray, rows: np.ndarray, pad_value: int) -> np.ndarray:
    """A (len(rows), longest) matrix of the rows' tokens, right-padded with `pad_value`."""
    lengths = row_start[rows + 1] - row_start[rows]
    width = int(lengths.max()) if len(rows) else 0
    matrix = np.full((len(rows), width), pad_value, dtype=flat.dtype)
    columns = np.arange(width)
    mask = columns[None, :] < lengths[:, None]
    source = row_start[rows][:, None] + columns[None, :]
    matrix[mask] = flat[source[mask]]
    return matrix
