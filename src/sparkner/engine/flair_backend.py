"""The Flair engine: a Flair `SequenceTagger` (e.g. flair/ner-english) behind the same interface.

Output follows what the Hugging Face inference API returns for Flair models: one
`Sentence` per text, `predict`, and for each predicted label
`{entity_group: value, score, word: span text, start, end}`. Here texts are
predicted in mini-batches (Flair sorts them by length) instead of one per call,
and each `Sentence` is marked as having no neighbours, so a text is never read in
the context of the texts batched with it: the result of a text does not depend on
its batch, as with the API.

Flair tokenizes whole texts and its embeddings read them whole (transformer
embeddings split long texts into their own overlapping windows), so no text is
cut; memory grows with the longest text in a mini-batch.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sparkner.engine.base import Engine
from sparkner.engine.results import Entity, TextResult
from sparkner.options.runtimes import AUTO
from sparkner.options.settings import AggregationStrategy, Settings
from sparkner.sources import loading
from sparkner.sources import locations as sources
from sparkner.worker_cache import WORKER_CACHE

logger = logging.getLogger("sparkner")

DEFAULT_MINI_BATCH = 32
# Flair predicts whole spans: the grouped strategies that take them as they are.
SPAN_STRATEGIES = (AggregationStrategy.FIRST, AggregationStrategy.SIMPLE)
# What Flair's `load` resolves on the Hub: "org/name" or a short name such as "ner" (not a local path).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _import_flair() -> Any:
    try:
        import flair
        from flair.data import Sentence  # noqa: F401
        from flair.models import SequenceTagger  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"backend='flair' needs the flair package ({error}); install it with pip install 'sparkner[flair]' "
            "(flair needs transformers < 5: see the README's supported versions)"
        ) from error
    return flair


def check_flair_settings(settings: Settings) -> None:
    """Parameters that have no meaning for a span tagger are refused, not ignored."""
    problems = []
    if settings.aggregation_strategy not in SPAN_STRATEGIES:
        problems.append(
            f"aggregation_strategy {settings.aggregation_strategy.value!r} (a Flair tagger predicts whole spans; "
            "leave it at the default 'first', or 'simple')"
        )
    if settings.stride is not None:
        problems.append(f"stride {settings.stride} (Flair reads each text whole; leave stride unset)")
    if settings.dtype not in (AUTO, None, "float32"):
        problems.append(f"dtype {settings.dtype!r} (Flair models run in float32)")
    if settings.runtime not in (AUTO, "torch"):
        problems.append(f"runtime {settings.runtime!r} (Flair models run on torch)")
    if settings.max_batch_tokens is not None:
        problems.append("max_batch_tokens (Flair batches by text count: use batch_size)")
    if problems:
        raise ValueError(f"Flair model {settings.model!r} does not take " + "; ".join(problems))


def load_tagger(model: str, device: str) -> Any:
    """`SequenceTagger.load` (a local file or a Hub id), on `device`, once per process."""
    flair = _import_flair()
    from flair.models import SequenceTagger

    def load() -> Any:
        import torch

        logger.info("sparkner: loading Flair tagger %s on %s", model, device)
        flair.device = torch.device(device)
        try:
            tagger = SequenceTagger.load(sources.resolve(model).location)
        except (OSError, ValueError) as error:
            raise loading.ModelLoadError(
                f"Could not load Flair model {model!r} ({type(error).__name__}: {error}). Point `model` at a "
                "local Flair model file (e.g. the pytorch_model.bin of flair/ner-english, or a file written by "
                "SequenceTagger.save)."
            ) from error
        if not isinstance(tagger, SequenceTagger):
            raise ValueError(f"{model!r} is a {type(tagger).__name__}, not a Flair SequenceTagger")
        return tagger.to(device).eval()

    return WORKER_CACHE.get("tagger", (model, device), load)


class FlairEngine(Engine):
    """A Flair sequence tagger with the output of the inference API's Flair pipeline."""

    def __init__(self, settings: Settings) -> None:
        _import_flair()
        check_flair_settings(settings)
        try:
            source = sources.resolve(settings.model, settings.load)
        except loading.ModelLoadError:  # a local path that does not exist
            source = None
        if source is None or source.kind == "directory" or (source.kind == "hub" and not _HUB_ID.match(settings.model)):
            raise loading.ModelLoadError(
                f"Flair model {settings.model!r} is not a file; a Flair model is one file (written by "
                "SequenceTagger.save, or the pytorch_model.bin of a Flair model on the Hub) or a Hub id such as "
                "'flair/ner-english'"
            )
        super().__init__(settings)

    def load(self) -> Any:
        """The tagger on its device, from the worker cache (loaded on first use)."""
        return load_tagger(self.settings.model, loading.resolve_device(self.settings.device))

    def runs_on(self) -> str:
        return f"Flair on torch float32 on {self.device}"

    @property
    def device(self) -> Any:
        import flair

        self.load()  # which sets flair.device
        return flair.device

    def prepare(self, texts: list[str]) -> tuple[list[str], dict[int, Any]]:
        """Each non-blank text as a Flair `Sentence` (Flair tokenizes it), by position."""
        from flair.data import Sentence

        # A blank text has no tokens: Flair would only warn about an empty Sentence.
        sentences = {i: Sentence(text) for i, text in enumerate(texts) if text.strip()}
        for sentence in sentences.values():
            # No neighbours: `predict` would otherwise chain the batch's sentences as context.
            sentence._has_context = True
        return texts, sentences

    def finish(self, prepared: tuple[list[str], dict[int, Any]]) -> list[TextResult]:
        """The tagger's spans of each sentence, offsets mapped back into the text."""
        texts, sentences = prepared
        self.load().predict(list(sentences.values()), mini_batch_size=self.settings.batch_size or DEFAULT_MINI_BATCH)
        return [
            TextResult(self._entities(text, sentences[i]), len(sentences[i]), min(1, len(sentences[i])))
            if i in sentences
            else TextResult([], 0, 0)
            for i, text in enumerate(texts)
        ]

    def _entities(self, text: str, sentence: Any) -> list[Entity]:
        offsets = _original_offsets(text)
        entities = []
        for label in sentence.get_labels():
            if label.value in self.settings.ignore_labels:
                continue
            span = label.data_point
            start, end = span.start_position, span.end_position
            if offsets is not None:
                start, end = offsets[start], offsets[end - 1] + 1
            entities.append(
                {"entity_group": label.value, "score": label.score, "word": span.text, "start": start, "end": end}
            )
        return entities


def _original_offsets(text: str) -> list[int] | None:
    """Flair deletes zero-width and some control characters before tokenizing, so its
    positions index the cleaned text; map them back to the caller's text (None: no change).
    Flair's clean-up works character by character, which makes the map exact."""
    from flair.data import Sentence

    clean = Sentence._handle_problem_characters
    if clean(text) == text:
        return None
    return [position for position, character in enumerate(text) for _ in clean(character)]
