"""What every benchmark shares: paths, the data in ../shared, and span F1.

Benchmarks call the library for everything else (sparkner's classifier, its chunking
and its predictor), so they measure the code users run rather than a copy of it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
REAL_MODEL = SHARED / "models" / "conll03-minilm-ner"
TOKENIZERS = DATA / "tokenizers"
sys.path.insert(0, str(ROOT / "src"))

from sparkner.conll import read_conll  # noqa: E402

IOB_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclass(frozen=True)
class GoldText:
    """A text with its gold entities as exact character spans."""

    id: str
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, label)


def natural_docs(split: str = "test", limit: int | None = None) -> list[GoldText]:
    """CoNLL-2003 documents with newswire punctuation and exact gold spans (../shared/data/natural_docs)."""
    path = DATA / "natural_docs" / f"conll2003_{split}_natural.jsonl"
    docs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            spans = tuple((e["start"], e["end"], e["label"]) for e in row["entities"])
            docs.append(GoldText(row["doc_id"], row["text"], spans))
            if limit is not None and len(docs) >= limit:
                break
    return docs


def spans_from_tags(spans: list[tuple[int, int]], tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities of IOB tags as seqeval reads them (an I- after O or another type starts one)."""
    found: list[tuple[int, int, str]] = []
    current: list | None = None
    for (start, end), tag in zip(spans, tags):
        prefix, _, label = tag.partition("-")
        if tag == "O" or prefix not in ("B", "I"):
            current = None
            continue
        if prefix == "B" or current is None or current[2] != label:
            current = [start, end, label]
            found.append(current)  # type: ignore[arg-type]
        else:
            current[1] = end
    return [tuple(span) for span in found]  # type: ignore[misc]


def conll_sentences(split: str = "test", limit: int | None = None) -> list[GoldText]:
    """CoNLL-2003 sentences as texts (tokens joined with single spaces) with gold spans."""
    texts = []
    for i, sentence in enumerate(read_conll(DATA / "conll2003" / f"{split}.txt")):
        if limit is not None and i >= limit:
            break
        texts.append(GoldText(f"{split}-{i}", sentence.text, tuple(spans_from_tags(sentence.token_spans, sentence.tags))))
    return texts


def span_f1(gold: Iterable[GoldText], predicted: Iterable[list[dict]]) -> dict[str, float]:
    """Micro precision/recall/F1 of exact (start, end, label) matches: seqeval's span F1 when spans follow words."""
    true_positive = n_predicted = n_gold = 0
    for doc, entities in zip(gold, predicted):
        mine = {(e["start"], e["end"], e.get("entity_group") or e["entity"].split("-", 1)[-1]) for e in entities or []}
        theirs = set(doc.spans)
        true_positive += len(mine & theirs)
        n_predicted += len(mine)
        n_gold += len(theirs)
    precision = true_positive / n_predicted if n_predicted else 0.0
    recall = true_positive / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": n_gold, "predicted": n_predicted}
