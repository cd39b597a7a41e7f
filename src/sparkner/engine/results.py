"""The shapes every backend returns: one entity dict per found entity, one `TextResult` per text.

The entity shapes are the task's output (`entity_group` for grouped strategies; the
raw per-token `entity` and its `index` for `none`), declared once as TypedDicts;
`schema.entity_schema` derives the Spark type from them, field order included.
"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict, get_type_hints


class GroupedEntity(TypedDict):
    entity_group: str
    score: float
    word: str
    start: int
    end: int


class TokenEntity(TypedDict):
    entity: str
    score: float
    index: int
    word: str
    start: int
    end: int


Entity = dict[str, Any]  # a GroupedEntity or a TokenEntity, built as plain dicts on the hot path

GROUPED_FIELDS: tuple[str, ...] = tuple(get_type_hints(GroupedEntity))
TOKEN_FIELDS: tuple[str, ...] = tuple(get_type_hints(TokenEntity))


class TextResult(NamedTuple):
    """One text's entities (`None` for a `None` text or a failed one) and what it cost:
    its own tokens (special tokens and window overlaps not counted) and its windows.
    `error` says why a text failed when `on_error="null"`."""

    entities: list[Entity] | None
    tokens: int
    windows: int
    error: str | None = None
