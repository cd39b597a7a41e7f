"""Reading CoNLL-style NER files into texts with gold character spans.

Used by the tests, the benchmark, the demo model's training script and the
evaluation: a sentence's tokens are joined with single spaces and each token's
character offsets are recorded as they are joined.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sentence:
    tokens: list[str]
    tags: list[str]  # IOB2, one per token

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def token_spans(self) -> list[tuple[int, int]]:
        spans, position = [], 0
        for token in self.tokens:
            spans.append((position, position + len(token)))
            position += len(token) + 1
        return spans


def read_conll(path: str | Path, *, tag_column: int = -1) -> Iterator[Sentence]:
    """Sentences of a CoNLL file: whitespace-separated columns, blank lines between
    sentences, `-DOCSTART-` lines skipped; `tag_column` picks the IOB2 tag."""
    tokens: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if tokens:
                    yield Sentence(tokens, tags)
                tokens, tags = [], []
                continue
            tokens.append(columns[0])
            tags.append(columns[tag_column])
    if tokens:
        yield Sentence(tokens, tags)


def tags_from_entities(sentence: Sentence, entities: list[dict]) -> list[str]:
    """IOB2 tags per token from predicted character spans (`entity_group`, `start`, `end`).

    A token takes the label of the entity that covers its first character; the
    first token of each entity is B-, the rest I-. This is how span predictions
    are scored at word level against CoNLL gold tags (with seqeval).
    """
    tags = ["O"] * len(sentence.tokens)
    spans = sentence.token_spans
    for entity in entities:
        label = entity.get("entity_group") or entity["entity"].split("-", 1)[-1]
        inside = [i for i, (start, _) in enumerate(spans) if entity["start"] <= start < entity["end"]]
        for n, i in enumerate(inside):
            if tags[i] == "O":
                tags[i] = ("B-" if n == 0 or tags[i - 1] == "O" else "I-") + label
    return tags
