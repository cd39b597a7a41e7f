"""Reading CoNLL-style NER files into texts with gold character spans.

Used by the tests, the benchmark, the demo model's training script and the
evaluation: a sentence's tokens are joined with single spaces and each token's
character offsets are recorded as they are joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def read_conll_file(path: str | Path, *, tag_column: int = -1) -> Iterator[Sentence]:
    """Sentences of a CoNLL file: whitespace-separated columns, blank lines between
    sentences, `-DOCSTART-` lines skipped; `tag_column` picks the IOB2 tag."""
    with open(path, encoding="utf-8") as handle:
        for document in parse_conll(handle, tag_column=tag_column):
            yield from document


def parse_conll(lines: Iterable[str], *, tag_column: int = -1) -> Iterator[list[Sentence]]:
    """Documents (lists of sentences) of CoNLL lines; a file without `-DOCSTART-` is one document."""
    document: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in lines:
        columns = line.split()
        if not columns or columns[0] == "-DOCSTART-":
            if tokens:
                document.append(Sentence(tokens, tags))
            tokens, tags = [], []
            if columns and document:
                yield document
                document = []
            continue
        tokens.append(columns[0])
        tags.append(columns[tag_column])
    if tokens:
        document.append(Sentence(tokens, tags))
    if document:
        yield document


def joined(sentences: list[Sentence]) -> Sentence:
    """Sentences as one text: tokens joined with single spaces throughout."""
    return Sentence([t for s in sentences for t in s.tokens], [t for s in sentences for t in s.tags])


def gold_spans(sentence: Sentence) -> list[tuple[int, int, str]]:
    """The sentence's entities as character spans of its text, grouped as seqeval groups IOB tags
    (an I- after O or after another type starts an entity)."""
    spans: list[list] = []
    previous = "O"
    for (start, end), tag in zip(sentence.token_spans, sentence.tags):
        prefix, _, kind = tag.partition("-")
        if tag == "O" or prefix not in ("B", "I", "E", "S"):
            previous = "O"
            continue
        _, _, previous_kind = previous.partition("-")
        if prefix in ("B", "S") or previous == "O" or previous_kind != kind or previous.startswith(("E-", "S-")):
            spans.append([start, end, kind])
        else:
            spans[-1][1] = end
        previous = tag
    return [(s, e, k) for s, e, k in spans]


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
