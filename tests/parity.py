"""The real pipeline, and comparing sparkner's entities with it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

SCORE_TOLERANCE = 1e-4
# The pipeline's arithmetic: transformers on torch in float32 (the default picks the fastest runtime
# and precision of the machine, which keep the entities but not the scores' last digits).
EXACT = {"runtime": "torch", "dtype": "float32"}
# The pipeline's own word rules and `word` strings, and its arithmetic: how every parity test runs sparkner.
PIPELINE_WORDS = {"word_boundaries": "pipeline", **EXACT}


def as_plain(entity: dict[str, Any]) -> dict[str, Any]:
    """The pipeline returns numpy scalars; compare plain values."""
    return {key: (float(value) if key == "score" else value) for key, value in entity.items()}


def merge_tie(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Two overlapping entities of the same label and length whose scores differ by less than the
    tolerance: which one the window merge keeps (higher score wins) is decided by float rounding of
    the batch shapes, in the pipeline as in sparkner, so either is the pipeline's answer."""
    length = mine["end"] - mine["start"]
    return (
        mine.get("entity_group") == theirs.get("entity_group")
        and length == theirs["end"] - theirs["start"]
        and abs(mine["start"] - theirs["start"]) < length
        and abs(mine["score"] - theirs["score"]) <= SCORE_TOLERANCE
    )


def assert_same_entities(ours: list[dict[str, Any]], reference: list[dict[str, Any]], context: str = "") -> None:
    reference = [as_plain(entity) for entity in reference]
    assert len(ours) == len(reference), (
        f"{context}: {len(ours)} entities vs pipeline {len(reference)}\nours={ours}\nref={reference}"
    )
    for position, (mine, theirs) in enumerate(zip(ours, reference)):
        assert set(mine) == set(theirs), f"{context} #{position}: keys {sorted(mine)} vs {sorted(theirs)}"
        if mine["start"] != theirs["start"] and "entity_group" in mine and merge_tie(mine, theirs):
            continue
        for key in theirs:
            if key == "score":
                assert abs(mine[key] - theirs[key]) <= SCORE_TOLERANCE, f"{context} #{position}: {mine} vs {theirs}"
            else:
                assert mine[key] == theirs[key], f"{context} #{position} {key}: {mine} vs {theirs}"


def assert_same_results(ours: list[Any], reference: list[Any], context: str = "") -> None:
    assert len(ours) == len(reference)
    for i, (mine, theirs) in enumerate(zip(ours, reference)):
        assert_same_entities(mine, theirs, f"{context} text {i}")


def assert_tokens_close(exact: list[Any], other: list[Any], *, score_gap: float, agreement: float = 0.97) -> None:
    """Two runs' tokens (`aggregation_strategy="none"`) of the same texts, one in a lower precision: the
    same tokens at the same offsets, labels mostly equal, scores within `score_gap`."""
    pairs = [(a, b) for x, y in zip(exact, other, strict=True) for a, b in zip(x, y, strict=True)]
    assert all(
        (a["start"], a["end"], a["index"], a["word"]) == (b["start"], b["end"], b["index"], b["word"]) for a, b in pairs
    )
    assert sum(a["entity"] == b["entity"] for a, b in pairs) >= agreement * len(pairs)
    assert max(abs(a["score"] - b["score"]) for a, b in pairs) < score_gap


@functools.cache
def reference_pipeline(path: str):
    from transformers import pipeline

    return pipeline("token-classification", model=path, device="cpu")


def pipeline_results(path: Path, texts: list[str], **parameters) -> list:
    """The pipeline's entities, less those covering no character (`start == end`: lone
    whitespace tokens of byte-level BPE), which sparkner drops by design (README, Output)."""
    results = [reference_pipeline(str(path))(text, **parameters) for text in texts]
    return [[entity for entity in found if entity["start"] < entity["end"]] for found in results]
