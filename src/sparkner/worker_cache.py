"""One bounded cache per Python worker for everything that is loaded: models, Flair
taggers, tokenizers and the classifiers built on them.

Shaped like `pyspark.ml.model_cache.ModelCache`: one place, one lock, least recently
used entries evicted past a small capacity per kind. A notebook that tries float32,
bfloat16 and int8 one after the other therefore keeps about `CAPACITY["model"]`
copies of weights alive in each worker, not one per try. Engines look their model up
here on every batch (a dict lookup) and let go of an evicted one on their next batch;
a worker's classifiers (`spark.worker_classifier`) are cached here under the same bound,
so an evicted classifier no longer holds its model either.

The lock is re-entrant: loading an ONNX model reads the cached tokenizer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
logger = logging.getLogger("sparkner")

# Entries kept per kind. Models and taggers hold the weights (hundreds of MB each);
# tokenizers are small. A classifier keeps its model while it is cached, so classifiers are
# bounded like models. SPARKNER_CACHE_MODELS (on the executors:
# spark.executorEnv.SPARKNER_CACHE_MODELS) raises the count for a process that really
# alternates between more models; past it, the least recently used one is loaded again
# when its turn comes.
MODELS = int(os.environ.get("SPARKNER_CACHE_MODELS", "2"))
CAPACITY = {"model": MODELS, "tagger": MODELS, "classifier": MODELS, "tokenizer": 8}


class WorkerCache:
    def __init__(self, capacity: dict[str, int]) -> None:
        self.capacity = dict(capacity)
        self._entries: dict[str, OrderedDict[Hashable, Any]] = {kind: OrderedDict() for kind in capacity}
        self._lock = threading.RLock()
        self.loads: Counter[str] = Counter()  # per kind: how often this process loaded one (misses)

    def get(self, kind: str, key: Hashable, load: Callable[[], T]) -> T:
        """The entry for `key`, loaded by `load()` on a miss; the least recently used one past capacity goes."""
        entries = self._entries[kind]
        with self._lock:
            if key in entries:
                entries.move_to_end(key)
                return entries[key]
            value = load()
            self.loads[kind] += 1
            entries[key] = value
            while len(entries) > self.capacity[kind]:
                dropped, _ = entries.popitem(last=False)
                logger.info(
                    "sparkner: worker cache holds %d %ss at most; dropped the least recently used %s",
                    self.capacity[kind],
                    kind,
                    dropped,
                )
            return value

    def keys(self, kind: str) -> list[Hashable]:
        with self._lock:
            return list(self._entries[kind])

    def clear(self) -> None:
        with self._lock:
            for entries in self._entries.values():
                entries.clear()


WORKER_CACHE = WorkerCache(CAPACITY)
