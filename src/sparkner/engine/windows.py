"""Tokenize a batch of texts into model windows, and stitch windows back into texts.

One fast-tokenizer call encodes the whole batch with offsets, exactly as the
pipeline encodes one text (`truncation=True` with overflowing windows of
`window` tokens that overlap by `stride` tokens); for BERT's WordPiece
tokenizers the call skips offsets, and `wordpiece` computes the same ones from the
text. The result is kept flat: one numpy array per field over all tokens of all
windows, plus where each window starts, so later stages slice instead of looping
per token.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np

from sparkner.engine.wordpiece import WordPieceOffsets
from sparkner.engine.words import TextLayout
from sparkner.sources.loading import TokenizerInfo, model_input_names


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
    layout: TextLayout | None = None  # the texts' characters and words, when the encoder needed them

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


class WindowEncoder:
    """Cuts texts into this engine's windows straight from the tokenizer's Rust backend.

    transformers' tokenizer call (`truncation=True, max_length=window, stride=stride,
    return_overflowing_tokens=True`) sets up the backend, lets it cut and post-process
    every overflowing window, then converts each into Python dicts of lists, which costs
    more than tokenizing. Here a backend of its own (`own_backend`: the tokenizer's own model
    and pipeline, its own truncation and padding, so the shared tokenizer's state is never
    touched, from any thread) encodes each text once, whole, with its special tokens, and the
    windows are cut with numpy the way the backend cuts them: `content = window - specials`
    text tokens per window, each next window starting `content - stride` tokens on, the
    first window's special tokens around each.

    Where the backend's own post-processing of a window could differ from a slice of the
    whole text's (a byte-level processor that trims the first token of every window when
    it adds a prefix space), left truncation, or token type ids that are not all equal,
    the backend cuts the windows itself (`backend_cuts`). Either way the windows equal
    transformers' call, on every tokenizer family (tests/test_chunking.py).
    """

    def __init__(self, tokenizer: Any, info: TokenizerInfo, stride: int) -> None:
        backend = own_backend(tokenizer)
        backend.no_padding()
        backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
        spec = backend_spec(backend)
        self.leading = info.num_leading_special
        self.trailing = info.num_special - info.num_leading_special
        self.content = info.window - info.num_special
        self.step = self.content - stride
        self.type_inputs = [name for name in model_input_names(tokenizer)[2:] if name == "token_type_ids"]
        probe = backend.encode("a", add_special_tokens=True)
        self.type_id = probe.type_ids[0] if len(set(probe.type_ids)) == 1 else None
        self.backend_cuts = (
            tokenizer.truncation_side != "right"
            or self.type_id is None
            or len(probe.ids) - 1 != info.num_special
            or _trims_each_window(spec.get("post_processor"))
        )
        if self.backend_cuts:
            backend.enable_truncation(
                info.window, stride=stride, strategy="longest_first", direction=tokenizer.truncation_side
            )
        else:
            backend.no_truncation()
        self.backend = backend
        self.wordpiece = None if self.backend_cuts else WordPieceOffsets.for_backend(backend, spec)

    def encode(self, texts: list[str]) -> Windows:
        """Tokenize `texts` into overlapping windows of at most `window` tokens."""
        if self.wordpiece is not None:
            return self._encode_wordpiece(texts)
        encodings = self.backend.encode_batch(texts, add_special_tokens=True)
        if self.backend_cuts:
            return self._from_backend_windows(encodings)
        lengths, ids = _lengths_and_ids(encodings)
        total = len(ids)
        offsets = _flat((chain.from_iterable(e.offsets) for e in encodings), 2 * total, np.int64).reshape(total, 2)
        return self._cut(lengths, ids, offsets)

    def _encode_wordpiece(self, texts: list[str]) -> Windows:
        """BERT's tokenizers: ids without offsets (the tokenizer's faster call), offsets from the
        text (`wordpiece.WordPieceOffsets`); special tokens keep the tokenizer's (0, 0)."""
        lengths, ids = _lengths_and_ids(self.backend.encode_batch_fast(texts, add_special_tokens=True))
        per_text = lengths - self.leading - self.trailing
        text_tokens = ~_specials(self._runs(per_text))
        offsets = np.zeros((len(ids), 2), dtype=np.int64)
        offsets[text_tokens], layout = self.wordpiece.offsets(texts, ids[text_tokens], per_text)
        windows = self._cut(lengths, ids, offsets)
        windows.layout = layout
        return windows

    def _cut(self, lengths: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> Windows:
        """Windows from whole encodings laid end to end (`lengths` tokens each, specials included).

        Each window is three runs of its text's tokens (the leading specials, `content` text
        tokens from its start, the trailing specials), so a token's source is its own position
        plus the shift of its run: one `np.repeat` over the runs, no per-token arithmetic.
        """
        lead, trail = self.leading, self.trailing
        text_start = np.cumsum(lengths) - lengths
        n_content = lengths - lead - trail
        per_text = 1 + np.maximum(0, -(-(n_content - self.content) // self.step))  # ceil, at least one window
        if (per_text == 1).all():  # every text fits one window: the encodings are the windows
            return self._whole(lengths, ids, offsets)
        row_text = np.repeat(np.arange(len(lengths)), per_text)
        row_number = np.arange(len(row_text)) - np.repeat(np.cumsum(per_text) - per_text, per_text)
        first = row_number * self.step  # the window's first content token within its text
        taken = np.minimum(first + self.content, n_content[row_text]) - first
        row_start = np.zeros(len(row_text) + 1, dtype=np.int64)
        np.cumsum(taken + lead + trail, out=row_start[1:])
        begin = text_start[row_text]
        run_length = self._runs(taken)
        run_output = np.column_stack((row_start[:-1], row_start[:-1] + lead, row_start[:-1] + lead + taken)).ravel()
        run_source = np.column_stack((begin, begin + lead + first, begin + lengths[row_text] - trail)).ravel()
        source = np.arange(int(row_start[-1])) + np.repeat(run_source - run_output, run_length)
        extra = {name: np.full(len(source), self.type_id, dtype=np.int64) for name in self.type_inputs}
        return Windows(row_text, row_number, row_start, ids[source], extra, offsets[source], _specials(run_length))

    def _whole(self, lengths: np.ndarray, ids: np.ndarray, offsets: np.ndarray) -> Windows:
        row_start = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=row_start[1:])
        special = _specials(self._runs(lengths - self.leading - self.trailing))
        extra = {name: np.full(len(ids), self.type_id, dtype=np.int64) for name in self.type_inputs}
        return Windows(
            np.arange(len(lengths)), np.zeros(len(lengths), dtype=np.int64), row_start, ids, extra, offsets, special
        )

    def _runs(self, taken: np.ndarray) -> np.ndarray:
        """Each window's three run lengths, flat: its leading specials, `taken` text tokens, its trailing specials."""
        return np.column_stack((np.full_like(taken, self.leading), taken, np.full_like(taken, self.trailing))).ravel()

    def _from_backend_windows(self, encodings: list[Any]) -> Windows:
        rows = [window for encoding in encodings for window in (encoding, *encoding.overflowing)]
        per_text = np.fromiter(
            (1 + len(encoding.overflowing) for encoding in encodings), dtype=np.int64, count=len(encodings)
        )
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        row_start = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=row_start[1:])
        total = int(row_start[-1])
        offsets = _flat((chain.from_iterable(row.offsets) for row in rows), 2 * total, np.int64)
        return Windows(
            row_text=np.repeat(np.arange(len(encodings), dtype=np.int64), per_text),
            row_number=np.arange(len(rows)) - np.repeat(np.cumsum(per_text) - per_text, per_text),
            row_start=row_start,
            input_ids=_flat([row.ids for row in rows], total, np.int64),
            model_inputs={name: _flat([row.type_ids for row in rows], total, np.int64) for name in self.type_inputs},
            offsets=offsets.reshape(total, 2),
            special=_flat([row.special_tokens_mask for row in rows], total, np.bool_),
        )


def own_backend(tokenizer: Any) -> Any:
    """A Rust `Tokenizer` with truncation and padding of its own around the tokenizer's own model,
    normalizer, pre-tokenizer, post-processor and decoder, shared with it by reference, and the same
    added tokens.

    It segments as the tokenizer does because it runs the very same objects. A copy rebuilt from the
    tokenizer's JSON (`Tokenizer.from_str(backend.to_str())`, as `copy.deepcopy` and pickling also do)
    is a new model: one that transformers builds in memory from a SentencePiece file can break ties
    between equal-scored segmentations differently from its rebuilt self (25 hyphens: `▁ - ---×8`
    against `▁ --- --- - ---×6`).
    """
    from tokenizers import Tokenizer

    original = tokenizer.backend_tokenizer
    own = Tokenizer(original.model)
    for part in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        component = getattr(original, part)
        if component is not None:
            setattr(own, part, component)
    added = original.get_added_tokens_decoder()
    for token_id in sorted(added):  # in id order, so each gets the id it has in the tokenizer
        token = added[token_id]
        (own.add_special_tokens if token.special else own.add_tokens)([token])
    if any(own.token_to_id(token.content) != token_id for token_id, token in added.items()):
        raise RuntimeError(f"sparkner could not give its windows the added tokens of {type(tokenizer).__name__}")
    return own


def backend_spec(backend: Any) -> dict[str, Any]:
    """The parts of the backend's JSON that the windows and the WordPiece offsets read: normalizer,
    pre-tokenizer and post-processor as the JSON has them, and the model's type, subword prefix and
    unknown token. Read part by part: the whole JSON carries the vocabulary, and parsing that in Python
    was most of an engine's start for a SentencePiece model of 128k pieces."""

    def parsed(component: Any) -> dict[str, Any] | None:
        return None if component is None else json.loads(component.__getstate__())

    model = backend.model
    return {
        "normalizer": parsed(backend.normalizer),
        "pre_tokenizer": parsed(backend.pre_tokenizer),
        "post_processor": parsed(backend.post_processor),
        "model": {
            "type": type(model).__name__,
            "continuing_subword_prefix": getattr(model, "continuing_subword_prefix", None),
            "unk_token": getattr(model, "unk_token", None),
        },
    }


def _lengths_and_ids(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Each whole encoding's token count, and all their ids laid end to end."""
    lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=len(encodings))
    return lengths, _flat([e.ids for e in encodings], int(lengths.sum()), np.int64)


def _specials(run_length: np.ndarray) -> np.ndarray:
    """The special-token mask of windows laid out as `WindowEncoder._runs`."""
    return np.repeat(np.tile([True, False, True], len(run_length) // 3), run_length)


def _trims_each_window(processor: dict[str, Any] | None) -> bool:
    """Whether post-processing treats a window's first token specially (byte-level offset trimming
    with a prefix space), so a slice of the whole text's encoding could differ from the window."""
    if not processor:
        return False
    if processor.get("type") == "Sequence":
        return any(_trims_each_window(inner) for inner in processor.get("processors", []))
    return bool(processor.get("trim_offsets")) and bool(processor.get("add_prefix_space"))


def encode_windows(tokenizer: Any, info: TokenizerInfo, texts: list[str], stride: int) -> Windows:
    """Tokenize `texts` into overlapping windows (engines keep their own `WindowEncoder`)."""
    return _encoder(tokenizer, info, stride).encode(texts)


@functools.lru_cache(maxsize=8)
def _encoder(tokenizer: Any, info: TokenizerInfo, stride: int) -> WindowEncoder:
    return WindowEncoder(tokenizer, info, stride)  # copying the backend costs milliseconds: once per tokenizer


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
