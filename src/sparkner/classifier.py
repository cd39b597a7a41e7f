"""`TokenClassifier`: the in-process engine, usable with or without Spark.

One call runs the pipeline's three stages over a whole batch of texts:
preprocess (`chunking`: tokenize into windows), forward (`inference`: batched by
length under a token budget) and postprocess (`aggregation`), then restores the
input order. Repeated texts in a batch are computed once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from sparkner import chunking, loading
from sparkner.aggregation import Aggregator, merge_overlapping
from sparkner.inference import Predictor
from sparkner.params import AggregationStrategy, Settings, build_settings

logger = logging.getLogger("sparkner")

# Texts are processed in groups of about this many characters so the per-token
# probability matrix of a huge Arrow batch never has to exist all at once.
GROUP_CHARACTERS = 1_000_000

Entity = dict[str, Any]


class TextResult(NamedTuple):
    """One text's entities (`None` for a `None` text) and what it cost: its own
    tokens (special tokens and window overlaps not counted) and its windows."""

    entities: list[Entity] | None
    tokens: int
    windows: int


class TokenClassifier:
    """Token classification with the semantics of transformers' pipeline.

    >>> clf = TokenClassifier("dslim/bert-base-NER", aggregation_strategy="simple")  # doctest: +SKIP
    >>> clf(["My name is Wolfgang and I live in Berlin"])  # doctest: +SKIP
    [[{'entity_group': 'PER', 'score': 0.99, 'word': 'Wolfgang', 'start': 11, 'end': 19},
      {'entity_group': 'LOC', 'score': 0.99, 'word': 'Berlin', 'start': 34, 'end': 40}]]

    Parameters are validated (and the tokenizer loaded) when the object is made;
    the weights load on first use, once per process, on `device` (default: the
    task's GPU, else CUDA, else CPU).
    """

    def __init__(self, model: Any, **options: Any) -> None:
        self._setup(build_settings(model, **options))

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenClassifier:
        """Rebuild from already validated settings (how Spark workers make theirs)."""
        classifier = cls.__new__(cls)
        classifier._setup(settings)
        return classifier

    def _setup(self, settings: Settings) -> None:
        self.settings: Settings = settings
        self.tokenizer = cached_tokenizer(settings)
        config = loading.load_config(settings.model, settings.load)
        self.info = loading.tokenizer_info(self.tokenizer, config)
        validate_stride(settings, self.info)
        self.aggregator = Aggregator(self.tokenizer, self.info.labels, settings.aggregation_strategy, settings.ignore_labels)
        if settings.aggregation_strategy.uses_words and not self.aggregator.word_aware:
            logger.info(
                "sparkner: tokenizer of %s has no subword prefix; words for %r use the pipeline's "
                "whitespace heuristic",
                settings.model,
                settings.aggregation_strategy.value,
            )
        self._predictor: Predictor | None = None

    @property
    def predictor(self) -> Predictor:
        """The model on its device, loaded on first use (once per worker process)."""
        if self._predictor is None:
            device = loading.resolve_device(self.settings.device)
            model = loading.cached_model(self.settings.model, self.settings.load, device, self.settings.dtype)
            pad = self.tokenizer.pad_token_id
            self._predictor = Predictor(
                model,
                pad if pad is not None else 0,
                max_rows=self.settings.batch_size,
                max_tokens=self.settings.max_batch_tokens,
            )
        return self._predictor

    @property
    def stride(self) -> int:
        """Tokens shared by neighbouring windows: the user's, or a quarter of a window."""
        return self.settings.stride if self.settings.stride is not None else chunking.default_stride(self.info)

    @property
    def stitches_windows(self) -> bool:
        """Whether a long text is stitched into one sequence (see `chunking.stitched`).

        With an explicit `stride` the grouped strategies follow the pipeline: each
        window aggregated on its own, then overlapping entities merged.
        """
        return self.settings.stride is None or self.settings.aggregation_strategy is AggregationStrategy.NONE

    def __call__(self, texts: Sequence[str | None] | Iterable[str | None]) -> list[list[Entity] | None]:
        """Entities for each text, in input order; `None` for a `None` text."""
        return [result.entities for result in self.classify(texts)]

    def classify(self, texts: Sequence[str | None] | Iterable[str | None]) -> list[TextResult]:
        """Entities plus the work each text took (its tokens and windows), in input order."""
        texts = list(texts)
        for position, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise TypeError(
                    f"texts must be strings or None, but item {position} is a {type(text).__name__} ({text!r:.60}); "
                    "cast the column to string first"
                )
        unique = list(dict.fromkeys(text for text in texts if text is not None))
        found: dict[str, TextResult] = {}
        for group in _character_groups(unique, GROUP_CHARACTERS):
            found.update(zip(group, self._classify_unique(group)))
        results: list[TextResult] = []
        seen: set[str] = set()
        for text in texts:
            if text is None:
                results.append(TextResult(None, 0, 0))
            elif text in seen:  # a repeated text gets its own copies
                result = found[text]
                results.append(TextResult([dict(entity) for entity in result.entities or []], result.tokens, result.windows))
            else:
                seen.add(text)
                results.append(found[text])
        return results

    def _classify_unique(self, texts: list[str]) -> list[TextResult]:
        windows = chunking.encode_windows(self.tokenizer, self.info, texts, self.stride)
        probs = self.predictor.probabilities(windows, len(self.info.labels))
        windows_per_text = np.bincount(windows.row_text, minlength=len(texts))
        tokens_per_text = chunking.text_token_counts(windows, self.info, self.stride)
        if self.stitches_windows:
            selection = chunking.stitched(windows, self.info, self.stride)
            entities = self.aggregator.entities(windows, selection, probs, texts)
        else:
            per_window = self.aggregator.entities(windows, chunking.per_window(windows), probs, texts)
            by_text: list[list[Entity]] = [[] for _ in texts]
            for text, found in zip(windows.row_text, per_window):
                by_text[text].extend(found)
            entities = [merge_overlapping(found) if count > 1 else found for found, count in zip(by_text, windows_per_text)]
        return [
            TextResult(found, int(tokens), int(count))
            for found, tokens, count in zip(entities, tokens_per_text, windows_per_text)
        ]


def validate_stride(settings: Settings, info: loading.TokenizerInfo) -> None:
    """A stride must leave each window at least one new token (as the tokenizer requires)."""
    if settings.stride is not None and settings.stride > chunking.max_stride(info):
        raise ValueError(
            f"stride {settings.stride} is too large for {settings.model!r}: its windows hold {info.window} tokens, "
            f"{info.num_special} of them special, so stride must be at most {chunking.max_stride(info)}"
        )


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


_TOKENIZER_CACHE: dict[tuple[Any, ...], Any] = {}


def cached_tokenizer(settings: Settings) -> Any:
    """Tokenizers are cheap but not free to load: once per process per model."""
    key = (settings.model, settings.load.revision, settings.load.trust_remote_code)
    if key not in _TOKENIZER_CACHE:
        _TOKENIZER_CACHE[key] = loading.load_tokenizer(settings.model, settings.load)
    return _TOKENIZER_CACHE[key]
