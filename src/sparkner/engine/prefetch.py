"""Preparing the next group of texts while the current one runs on the device.

On a GPU the forward pass leaves the CPU idle (PyTorch releases the GIL while it
waits for the device) and tokenizing leaves the GPU idle. `prepared_ahead` hands
out the groups' preparations in order while the next one is already being made in
a background thread, so the two overlap; the caller's own work (forward pass,
aggregation) stays on its thread, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
P = TypeVar("P")


def prepared_ahead(items: Sequence[T], prepare: Callable[[T], P]) -> Iterator[Future[P]]:
    """`prepare(item)` for each item as a future, in order; the next item's preparation starts
    before the current one is handed out. An error surfaces from that item's `.result()`."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparkner-prepare")
    try:
        upcoming = pool.submit(prepare, items[0]) if items else None
        for index in range(len(items)):
            current = upcoming
            upcoming = pool.submit(prepare, items[index + 1]) if index + 1 < len(items) else None
            yield current  # type: ignore[misc]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a consumer that stopped early leaves nothing running
