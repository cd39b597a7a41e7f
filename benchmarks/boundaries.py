"""Word boundaries measured with a perfect tagger: every error left comes from aggregation.

    .venv/bin/python benchmarks/boundaries.py [--docs 231] [--noise 0.1] [--out docs/word_boundaries.md]

For each tokenizer family (the real tokenizers in ../shared/data/tokenizers and the
tiny families of the test suite) a small random-weight model of the right class is
saved under the tokenizer, and its forward pass is replaced by a perfect tagger: each
token gets the gold label of the entity its characters overlap (`B-` on the entity's
first token in the window, `I-` after), as one-hot logits. Optionally a share of tokens
gets a random label instead (`--noise`). sparkner then runs as usual (tokenize, windows,
aggregation) on ../shared/data/natural_docs, and span F1 against the gold spans is
printed per family, strategy and `word_boundaries` mode.

Reused by the tests (`tests/test_word_boundaries.py`).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import IOB_LABELS, REAL_MODEL, ROOT, TOKENIZERS, GoldText, conll_sentences, natural_docs, span_f1

sys.path.insert(0, str(ROOT / "tests"))

from sparkner import TokenClassifier  # noqa: E402
from sparkner.engine import windows as chunking  # noqa: E402

STRATEGIES = ("simple", "first", "average", "max")
MODES = ("pipeline", "text")


def _save_model(directory: Path, tokenizer, config) -> Path:
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _small(config_class, tokenizer, **extra):
    return config_class(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(IOB_LABELS)),
        label2id={label: i for i, label in enumerate(IOB_LABELS)},
        **extra,
    )


def real_bert(directory: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZERS / "bert-base-NER")
    return _save_model(directory, tokenizer, _small(BertConfig, tokenizer, max_position_embeddings=512))


def real_roberta(directory: Path) -> Path:
    from transformers import RobertaConfig, RobertaTokenizerFast

    tokenizer = RobertaTokenizerFast.from_pretrained(TOKENIZERS / "roberta-base")
    return _save_model(directory, tokenizer, _small(RobertaConfig, tokenizer, max_position_embeddings=514, pad_token_id=1))


def real_deberta_v3(directory: Path) -> Path:
    from transformers import DebertaV2Config, DebertaV2TokenizerFast

    with tempfile.TemporaryDirectory() as spm:
        shutil.copy(TOKENIZERS / "deberta-v3-base" / "spm.model", spm)
        tokenizer = DebertaV2TokenizerFast.from_pretrained(spm)
    config = _small(DebertaV2Config, tokenizer, max_position_embeddings=512, relative_attention=True, position_buckets=256, pos_att_type=["p2c", "c2p"], position_biased_input=False)
    return _save_model(directory, tokenizer, config)


def tiny(family: str) -> Callable[[Path], Path]:
    def build(directory: Path) -> Path:
        from tiny_models import build_tiny_model

        return build_tiny_model(directory, family, model_max_length=128, max_positions=160, labels=list(IOB_LABELS))

    return build


FAMILIES: dict[str, Callable[[Path], Path]] = {
    "bert-base-NER (cased WordPiece)": real_bert,
    "roberta-base (byte-level BPE)": real_roberta,
    "deberta-v3 (SentencePiece unigram)": real_deberta_v3,
    "tiny bert-cased": tiny("bert-cased"),
    "tiny bert-uncased": tiny("bert-uncased"),
    "tiny roberta": tiny("roberta"),
    "tiny xlm-roberta (unigram)": tiny("xlm-roberta"),
    "tiny deberta-v2 (unigram)": tiny("deberta-v2"),
}


def gold_labels(offsets: np.ndarray, special: np.ndarray, spans: tuple[tuple[int, int, str], ...]) -> np.ndarray:
    """Per token of one window: the label of the gold entity its characters overlap, B- on the
    entity's first token in the window (a token covering no character is O)."""
    label_id = {label: i for i, label in enumerate(IOB_LABELS)}
    labels = np.zeros(len(offsets), dtype=np.int64)
    seen: set[int] = set()
    for t, ((start, end), is_special) in enumerate(zip(offsets.tolist(), special.tolist())):
        if is_special or start >= end:
            continue
        entity = next((k for k, (s, e, _) in enumerate(spans) if s < end and e > start), -1)
        if entity >= 0:
            labels[t] = label_id[("I-" if entity in seen else "B-") + spans[entity][2]]
            seen.add(entity)
    return labels


def perfect_tagger(classifier: TokenClassifier, docs: list[GoldText], noise: float = 0.0, seed: int = 0) -> None:
    """Replace the classifier's model forward by a lookup of each window's gold labels."""
    engine = classifier.engine
    windows = chunking.encode_windows(engine.tokenizer, engine.info, [doc.text for doc in docs], engine.stride)
    table: dict[tuple[int, ...], np.ndarray] = {}
    for row in range(len(windows.row_text)):
        tokens = slice(windows.row_start[row], windows.row_start[row + 1])
        key = tuple(windows.input_ids[tokens].tolist())
        labels = gold_labels(windows.offsets[tokens], windows.special[tokens], docs[windows.row_text[row]].spans)
        if noise:
            digest = int(hashlib.sha1(repr(key).encode()).hexdigest()[:8], 16)
            rng = np.random.default_rng(seed + digest)
            noisy = rng.random(len(labels)) < noise
            labels[noisy] = rng.integers(0, len(IOB_LABELS), int(noisy.sum()))
        table.setdefault(key, labels)
    model = engine.load().model

    def forward(input_ids, attention_mask, **_):
        logits = torch.full((*input_ids.shape, len(IOB_LABELS)), -10.0)
        for r, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist())):
            labels = table[tuple(ids[: sum(mask)])]
            logits[r, torch.arange(len(labels)), torch.from_numpy(labels)] = 10.0
        return {"logits": logits}

    model.forward = forward


def measure(path: Path, docs: list[GoldText], noise: float, strategies=STRATEGIES, modes=MODES) -> dict[tuple[str, str], float]:
    """Span F1 per (word_boundaries, strategy) with the perfect tagger under the model at `path`."""
    scores = {}
    for mode in modes:
        for strategy in strategies:
            classifier = TokenClassifier(path, aggregation_strategy=strategy, word_boundaries=mode)
            perfect_tagger(classifier, docs, noise)
            scores[mode, strategy] = span_f1(docs, classifier([doc.text for doc in docs]))["f1"]
    return scores


def table(results: dict[str, dict[tuple[str, str], float]], strategies=STRATEGIES) -> str:
    header = "| family | " + " | ".join(f"{s} pipeline / text" for s in strategies) + " |"
    lines = [header, "|---" * (len(strategies) + 1) + "|"]
    for family, scores in results.items():
        cells = [f"{scores['pipeline', s]:.3f} / **{scores['text', s]:.3f}**" for s in strategies]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_model_table(data: dict[str, list[GoldText]]) -> str:
    """The real MiniLM NER model (../shared/models): span F1 per strategy and mode on each data set."""
    lines = ["| data | " + " | ".join(f"{s} pipeline / text" for s in STRATEGIES) + " |", "|---" * (len(STRATEGIES) + 1) + "|"]
    for name, docs in data.items():
        cells = []
        for strategy in STRATEGIES:
            f1 = {mode: span_f1(docs, TokenClassifier(REAL_MODEL, aggregation_strategy=strategy, word_boundaries=mode)([d.text for d in docs]))["f1"] for mode in MODES}
            cells.append(f"{f1['pipeline']:.4f} / **{f1['text']:.4f}**")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=None, help="natural_docs test documents (default: all 231)")
    parser.add_argument("--noise", type=float, nargs="*", default=[0.0, 0.1], help="shares of tokens given a random label")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--real-model", action="store_true", help="also the real MiniLM model on natural_docs and CoNLL-2003 test sentences")
    args = parser.parse_args()
    torch.set_num_threads(2)
    docs = natural_docs("test", args.docs)
    print(f"{len(docs)} natural_docs test documents, {sum(len(d.spans) for d in docs)} gold entities")
    with tempfile.TemporaryDirectory(prefix="sparkner-boundaries-") as root:
        paths = {family: FAMILIES[family](Path(root) / f"model{i}") for i, family in enumerate(args.families)}
        for noise in args.noise:
            started = time.perf_counter()
            results = {family: measure(path, docs, noise) for family, path in paths.items()}
            print(f"\nSpan F1, perfect tagger{f' with {noise:.0%} of tokens given a random label' if noise else ''} "
                  f"(pipeline / text), {time.perf_counter() - started:.0f} s:\n")
            print(table(results))
            if not noise:
                worst = min(scores["text", s] for scores in results.values() for s in STRATEGIES)
                print(f"\nTarget: every family and strategy >= 0.99 with word_boundaries='text': lowest {worst:.4f} -> "
                      f"{'met' if worst >= 0.99 else 'NOT met'}")
    if args.real_model:
        started = time.perf_counter()
        data = {"natural_docs test (231 documents)": natural_docs("test"), "CoNLL-2003 test sentences (3,453)": conll_sentences("test")}
        table_text = real_model_table(data)
        print(f"\nReal MiniLM NER model, span F1 (pipeline / text), {time.perf_counter() - started:.0f} s:\n")
        print(table_text)


if __name__ == "__main__":
    main()
