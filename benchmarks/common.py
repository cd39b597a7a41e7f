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

from sparkner.metrics.conll import gold_spans, read_conll  # noqa: E402
from sparkner.metrics.spans import LabelCounts, add_counts, metrics_rows, row_counts  # noqa: E402

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


def conll_sentences(split: str = "test", limit: int | None = None) -> list[GoldText]:
    """CoNLL-2003 sentences as texts (tokens joined with single spaces) with gold spans."""
    texts = []
    for i, sentence in enumerate(read_conll(DATA / "conll2003" / f"{split}.txt")):
        if limit is not None and i >= limit:
            break
        texts.append(GoldText(f"{split}-{i}", sentence.text, tuple(gold_spans(sentence))))
    return texts


def span_f1(gold: Iterable[GoldText], predicted: Iterable[list[dict]]) -> dict[str, float]:
    """Micro precision/recall/F1 of exact (start, end, label) matches, with `sparkner.evaluate`'s
    per-row counting and seqeval's arithmetic, in process: seqeval's span F1 when spans follow words."""
    counts: dict[str, LabelCounts] = {}
    for doc, entities in zip(gold, predicted):
        mine = [(e["start"], e["end"], e.get("entity_group") or e["entity"].split("-", 1)[-1]) for e in entities or []]
        counts = add_counts(counts, {label: LabelCounts(*c) for label, c in row_counts(mine, doc.spans).items()})
    micro = next(row for row in metrics_rows(counts) if row["label"] == "micro avg")
    return {"precision": micro["precision"], "recall": micro["recall"], "f1": micro["f1"], "gold": micro["support"], "predicted": micro["predicted"]}
