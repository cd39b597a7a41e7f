"""What every backend provides, declared once (as transformers' `Pipeline` declares its stages).

A backend splits a group of distinct texts' work into two stages: `prepare` (the host's work
before the model, such as tokenizing; safe in a background thread) and `finish` (the model, then
turning its output into entities). `TokenClassifier` calls `classify_unique`, or, when `prefetches`
is on, prepares the next group while the current one finishes (`prefetch`).
"""

from __future__ import annotations

import abc
from typing import Any

from sparkner.engine.results import TextResult
from sparkner.options.settings import Settings


class Engine(abc.ABC):
    """A backend: its settings, its device, and results for distinct texts in their order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    @abc.abstractmethod
    def device(self) -> Any:
        """The torch device the model runs on (loads the weights)."""

    @abc.abstractmethod
    def load(self) -> Any:
        """Load the weights (once per worker process) and return what runs them."""

    @abc.abstractmethod
    def prepare(self, texts: list[str]) -> Any:
        """The host's work before the model (no model needed; safe in a background thread)."""

    @abc.abstractmethod
    def finish(self, prepared: Any) -> list[TextResult]:
        """The model over what `prepare` made, then the entities of each text."""

    @abc.abstractmethod
    def runs_on(self) -> str:
        """What runs the model here and why, for logs and run summaries (loads the weights)."""

    @property
    def prefetches(self) -> bool:
        """Whether `prepare` of the next group should run while the current group finishes."""
        return False

    def classify_unique(self, texts: list[str]) -> list[TextResult]:
        """Entities for distinct, non-null texts, in their order."""
        return self.finish(self.prepare(texts))
