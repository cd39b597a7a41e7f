"""The transformers engine: the pipeline's three stages over a batch of distinct texts.

preprocess (`windows`: tokenize into windows; `prepare`), forward (`forward`: batched by
length under a token budget) and postprocess (`aggregation`; both in `finish`). `TokenClassifier`
(in `classifier`) wraps an engine with what every backend shares: input checks,
repeated texts computed once, input order, per-row error handling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparkner.engine import windows as windowing
from sparkner.engine.aggregation import Aggregator, merge_overlapping
from sparkner.engine.base import Engine
from sparkner.engine.forward import Predictor
from sparkner.engine.results import Entity, TextResult
from sparkner.options.runtimes import AUTO, RUNTIMES, Choice, choose
from sparkner.options.settings import AggregationStrategy, Settings, WordBoundaries
from sparkner.sources import hardware, loading

logger = logging.getLogger("sparkner")


class TransformersEngine(Engine):
    """A transformers token-classification model with the pipeline's semantics.

    Built on the driver to validate (tokenizer, config and window are loaded, the
    weights are not); the weights load on first use, once per process.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.tokenizer = loading.cached_tokenizer(settings.model, settings.load)
        config = loading.load_config(settings.model, settings.load)
        loading.check_vocabulary(settings.model, self.tokenizer, config)
        self.info = loading.tokenizer_info(self.tokenizer, config)
        validate_stride(settings, self.info)
        self.encoder = windowing.WindowEncoder(self.tokenizer, self.info, self.stride)
        self.aggregator = Aggregator(
            self.tokenizer,
            self.info.labels,
            settings.aggregation_strategy,
            settings.ignore_labels,
            settings.word_boundaries,
        )
        pipeline_words = settings.word_boundaries is WordBoundaries.PIPELINE
        if pipeline_words and settings.aggregation_strategy.uses_words and not self.aggregator.word_aware:
            logger.info(
                "sparkner: tokenizer of %s has no subword prefix; words for %r use the pipeline's whitespace heuristic",
                settings.model,
                settings.aggregation_strategy.value,
            )
        self.prepare_ahead: bool | None = None  # see `prefetches`
        self._choice: Choice | None = None
        self.device_name = "cpu"  # settled with `choice`
        self._predictor: Predictor | None = None
        self._loaded: Any = None  # the cached model the predictor was built for
        self._warned_nan = False

    def load(self) -> Predictor:
        """The model on its device, loaded on first use (once per worker process).

        Looked up in the worker cache on every call, so this engine never keeps a
        model alive that the cache has evicted (see `worker_cache`).
        """
        settings = self.settings
        choice = self.choice
        model = loading.cached_model(settings.model, settings.load, self.device_name, choice.dtype, choice.runtime)
        if self._predictor is None or self._loaded is not model:
            self._loaded = model
            pad = self.tokenizer.pad_token_id
            self._predictor = Predictor(
                model,
                pad if pad is not None else 0,
                max_rows=settings.batch_size,
                max_tokens=settings.max_batch_tokens,
                runtime=RUNTIMES[choice.runtime],
            )
        return self._predictor

    @property
    def choice(self) -> Choice:
        """What runs the model in this worker: `runtime` and `dtype` as given, "auto" settled for this
        machine (`options.runtimes.choose`), decided once per engine and logged with the reason."""
        if self._choice is None:
            settings = self.settings
            cpu_only = settings.dtype == "int8" or (
                settings.runtime != AUTO and RUNTIMES[settings.runtime].cpu_only(settings.dtype)
            )
            self.device_name = loading.resolve_device(settings.device, cpu_only)
            choice = choose(
                settings.runtime,
                settings.dtype,
                device_type=self.device_name.split(":")[0],
                cpu_flags=hardware.this_machine().cpu_flags,
                gpu_bf16=hardware.gpu_has_bfloat16(self.device_name),
            )
            if settings.runtime == AUTO and choice.runtime != "torch":
                choice = self._runs_or_torch(choice)
            logger.info("sparkner: %s runs on %s: %s", settings.model, self.device_name, choice.describe())
            self._choice = choice
        return self._choice

    def _runs_or_torch(self, choice: Choice) -> Choice:
        """An automatic choice of another runtime that cannot take this model (an architecture its
        converter does not know) falls back to transformers on torch, with a warning."""
        settings = self.settings
        try:
            loading.cached_model(settings.model, settings.load, self.device_name, choice.dtype, choice.runtime)
        except loading.ModelLoadError:
            raise
        except Exception as error:  # noqa: BLE001 - whatever the converter raised, torch runs the model
            logger.warning(
                "sparkner: %s could not run %s (%s: %s); running it on torch instead",
                RUNTIMES[choice.runtime].title,
                settings.model,
                type(error).__name__,
                error,
            )
            dtype = choice.dtype if choice.dtype in RUNTIMES["torch"].dtypes else None
            return Choice("torch", dtype, f"{choice.why}; {RUNTIMES[choice.runtime].title} could not convert it")
        return choice

    def runs_on(self) -> str:
        self.load()
        return f"{self.choice.describe()} on {self.device_name}"

    @property
    def predictor(self) -> Predictor:
        """The loaded model's predictor (see `load`)."""
        return self.load()

    @property
    def device(self) -> Any:
        """The torch device the weights are on (loads them)."""
        return self.load().device

    @property
    def stride(self) -> int:
        """Tokens shared by neighbouring windows: the user's, or a quarter of a window."""
        return self.settings.stride if self.settings.stride is not None else windowing.default_stride(self.info)

    @property
    def stitches_windows(self) -> bool:
        """Whether a long text is stitched into one sequence (see `windowing.stitched`).

        With an explicit `stride` the grouped strategies follow the pipeline: each
        window aggregated on its own, then prefetching entities merged.
        """
        return self.settings.stride is None or self.settings.aggregation_strategy is AggregationStrategy.NONE

    @property
    def prefetches(self) -> bool:
        """Whether the next group of texts is tokenized while the current one runs: `prepare_ahead`
        when set, else on for a GPU (on a CPU the two would only take turns on the same cores)."""
        return self.prepare_ahead if self.prepare_ahead is not None else self.device.type != "cpu"

    def prepare(self, texts: list[str]) -> Prepared:
        """The host's work before the model: the texts' windows (safe in a background thread)."""
        return Prepared(texts, self.encoder.encode(texts))

    def finish(self, prepared: Prepared) -> list[TextResult]:
        """The model over prepared windows (`forward`), then aggregation (`postprocess`)."""
        return self.postprocess(prepared, self.forward(prepared))

    def forward(self, prepared: Prepared) -> np.ndarray:
        """Each window token's label probabilities: the model, batched by length, then the softmax."""
        probs = self.load().probabilities(prepared.windows, len(self.info.labels))
        if not self._warned_nan and np.isnan(probs).any():
            self._warn_nan(int(np.isnan(probs).any(axis=1).sum()), len(probs))
        return probs

    def _warn_nan(self, tokens: int, of: int) -> None:
        """NaN logits (an overflow in half precision, broken weights) give a NaN score and a
        meaningless label: said once per worker, with the way out, rather than left in the results."""
        self._warned_nan = True
        logger.warning(
            "sparkner: %s gave NaN scores for %d of %d tokens, whose labels are therefore meaningless; it "
            "runs %s. NaN comes from an overflow in a lower precision (try runtime='torch', dtype='float32') "
            "or from NaN in the weights",
            self.settings.model,
            tokens,
            of,
            self.runs_on(),
        )

    def postprocess(self, prepared: Prepared, probs: np.ndarray) -> list[TextResult]:
        """Probabilities into each text's entities: windows stitched (or each aggregated and the
        prefetching entities merged, with an explicit `stride`), with the tokens and windows it took."""
        texts, windows = prepared.texts, prepared.windows
        windows_per_text = np.bincount(windows.row_text, minlength=len(texts))
        tokens_per_text = windowing.text_token_counts(windows, self.info, self.stride)
        if self.stitches_windows:
            selection = windowing.stitched(windows, self.info, self.stride)
            entities = self.aggregator.entities(windows, selection, probs, texts)
        else:
            per_window = self.aggregator.entities(windows, windowing.per_window(windows), probs, texts)
            by_text: list[list[Entity]] = [[] for _ in texts]
            for text, found in zip(windows.row_text, per_window):
                by_text[text].extend(found)
            entities = [
                merge_overlapping(found) if count > 1 else found for found, count in zip(by_text, windows_per_text)
            ]
        if self.settings.word_boundaries is WordBoundaries.PIPELINE:  # text mode never makes an empty span
            entities = [without_empty_spans(found) for found in entities]
        return list(map(TextResult, entities, tokens_per_text.tolist(), windows_per_text.tolist()))


@dataclass
class Prepared:
    """Texts and their windows, ready for the model."""

    texts: list[str]
    windows: windowing.Windows


def without_empty_spans(entities: list[Entity]) -> list[Entity]:
    """Drop entities that cover no character (`start == end`).

    The pipeline reports them for byte-level BPE tokenizers (RoBERTa, GPT-2 style):
    a whitespace-only token such as a lone "Ġ" has an empty span after offset
    trimming, and when its label differs from its neighbours it becomes an entity
    with `word` " " and nothing to point at. This is sparkner's one deliberate
    difference from the pipeline's output; it runs after windows are merged, so
    every other entity is exactly the pipeline's.
    """
    if all(entity["start"] < entity["end"] for entity in entities):
        return entities
    return [entity for entity in entities if entity["start"] < entity["end"]]


def validate_stride(settings: Settings, info: loading.TokenizerInfo) -> None:
    """A stride must leave each window at least one new token (as the tokenizer requires)."""
    if settings.stride is not None and settings.stride > windowing.max_stride(info):
        raise ValueError(
            f"stride {settings.stride} is too large for {settings.model!r}: its windows hold {info.window} tokens, "
            f"{info.num_special} of them special, so stride must be at most {windowing.max_stride(info)}"
        )
