"""`TokenClassifier`: the in-process engine, usable with or without Spark.

It validates options, picks the backend (a transformers model, see `transformers_backend`, or a
Flair tagger, see `flair_backend`; both are `base.Engine`s) and adds what every backend shares: repeated
texts in a batch computed once, texts processed in bounded groups, input order
restored, and per-row failures turned into null results when `on_error="null"`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sparkner.engine.base import Engine
from sparkner.engine.prefetch import prepared_ahead
from sparkner.engine.results import Entity, TextResult
from sparkner.options.settings import Backend, OnError, Settings
from sparkner.sources.settings import build_settings

logger = logging.getLogger("sparkner")

# Texts are processed in groups of about this many characters so the per-token
# probability matrix of a huge Arrow batch never has to exist all at once; smaller
# groups when the next one is prepared while the current one runs (see `prefetch`).
GROUP_CHARACTERS = 1_000_000
PREFETCH_GROUP_CHARACTERS = 200_000

__all__ = ["Entity", "TextResult", "TokenClassifier"]


def make_engine(settings: Settings) -> Engine:
    """The backend the settings name (each imported only when used: Flair is an optional extra)."""
    if settings.backend is Backend.FLAIR:
        from sparkner.engine.flair_backend import FlairEngine

        return FlairEngine(settings)
    from sparkner.engine.transformers_backend import TransformersEngine

    return TransformersEngine(settings)


class TokenClassifier:
    """Token classification with the semantics of transformers' pipeline.

    >>> clf = TokenClassifier("dslim/bert-base-NER", aggregation_strategy="simple")  # doctest: +SKIP
    >>> clf(["My name is Wolfgang and I live in Berlin"])  # doctest: +SKIP
    [[{'entity_group': 'PER', 'score': 0.99, 'word': 'Wolfgang', 'start': 11, 'end': 19},
      {'entity_group': 'LOC', 'score': 0.99, 'word': 'Berlin', 'start': 34, 'end': 40}]]

    Parameters are validated (and the tokenizer loaded) when the object is made;
    the weights load on first use, once per process, on `device` (default: the
    task's GPU, else CUDA, else CPU). `backend="flair"` (or a Flair model file)
    runs a Flair `SequenceTagger` instead; `engine` is the backend doing the work.
    """

    def __init__(self, model: Any, **options: Any) -> None:
        self.settings: Settings = build_settings(model, **options)
        self.engine: Engine = make_engine(self.settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenClassifier:
        """Rebuild from already validated settings (how Spark workers make theirs)."""
        classifier = cls.__new__(cls)
        classifier.settings = settings
        classifier.engine = make_engine(settings)
        return classifier

    @property
    def device(self) -> Any:
        """The torch device the model runs on (loads the weights on first use)."""
        return self.engine.device

    def load(self) -> TokenClassifier:
        """Load the weights now rather than on the first batch; returns self."""
        self.engine.load()
        return self

    def __call__(self, texts: Sequence[str | None] | Iterable[str | None]) -> list[list[Entity] | None]:
        """Entities for each text, in input order; `None` for a `None` text."""
        return [result.entities for result in self.classify(texts)]

    def classify(self, texts: Sequence[str | None] | Iterable[str | None]) -> list[TextResult]:
        """Entities plus the work each text took (its tokens and windows), in input order."""
        with garbage_collection_paused():
            results = self._classify(list(texts))
        floor = self.settings.min_score
        if floor is None:
            return results
        return [
            result
            if result.entities is None
            else result._replace(entities=[e for e in result.entities if e["score"] >= floor])
            for result in results
        ]

    def _classify(self, texts: list[str | None]) -> list[TextResult]:
        for position, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise TypeError(
                    f"texts must be strings or None, but item {position} is a {type(text).__name__} ({text!r:.60}); "
                    "cast the column to string first"
                )
        unique = list(dict.fromkeys(text for text in texts if text is not None))
        if unique and self.settings.on_error is OnError.NULL:
            self.engine.load()  # a model that cannot load fails the task, whatever on_error says
        found: dict[str, TextResult] = {}
        prefetching = self.engine.prefetches
        groups = list(_character_groups(unique, PREFETCH_GROUP_CHARACTERS if prefetching else GROUP_CHARACTERS))
        for group, group_results in zip(groups, self._classify_groups(groups, prefetching)):
            found.update(zip(group, group_results))
        if len(unique) == len(texts):  # no null and no repeated text: the common case
            return [found[text] for text in texts]
        results: list[TextResult] = []
        seen: set[str] = set()
        for text in texts:
            if text is None:
                results.append(TextResult(None, 0, 0))
            elif text in seen:  # a repeated text gets its own copies
                result = found[text]
                copies = None if result.entities is None else [dict(entity) for entity in result.entities]
                results.append(result._replace(entities=copies))
            else:
                seen.add(text)
                results.append(found[text])
        return results

    def _classify_groups(self, groups: list[list[str]], prefetching: bool) -> Iterable[list[TextResult]]:
        """Each group's results in order; when `prefetching`, each next group is tokenized in a
        background thread while the current one runs (`prefetch.prepared_ahead`)."""
        if not prefetching or len(groups) < 2:
            yield from map(self._classify_group, groups)
            return
        engine = self.engine
        for group, prepared in zip(groups, prepared_ahead(groups, engine.prepare)):
            try:
                results = engine.finish(prepared.result())
            except Exception:
                if self.settings.on_error is OnError.FAIL:
                    raise
                results = None
            yield results if results is not None else self._classify_group(group)  # text by text, as below

    def _classify_group(self, texts: list[str]) -> list[TextResult]:
        """One engine call; with `on_error="null"` a failing group is retried text by text
        so only the texts that fail on their own come back null, with the error."""
        if self.settings.on_error is OnError.FAIL:
            return self.engine.classify_unique(texts)
        try:
            return self.engine.classify_unique(texts)
        except Exception as error:
            if len(texts) == 1:
                message = f"{type(error).__name__}: {error}"
                logger.warning(
                    "sparkner: a text of %d characters failed (%s); its result is null", len(texts[0]), message
                )
                return [TextResult(None, 0, 0, message)]
        return [result for text in texts for result in self._classify_group([text])]


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is classified.

    A batch makes a few Python objects per token (the tokenizer's ids and offsets, the
    entities) that reference counting frees; meanwhile Python's collector would run every
    few hundred allocations and now and then walk every object of the process (torch and
    transformers hold millions), stalling a batch for tens of milliseconds. Cycles made
    meanwhile are collected once it is back on. A collector the caller had turned off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _character_groups(texts: list[str], budget: int) -> Iterable[list[str]]:
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) > budget:
            yield group
            group, size = [], 0
        group.append(text)
        size += len(text)
    if group:
        yield group
