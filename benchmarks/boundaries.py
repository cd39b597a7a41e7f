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

The tagger and the model builders live in `tests/oracle.py`, shared with `tests/test_word_boundaries.py`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import REAL_MODEL, GoldText, conll_sentences, natural_docs, span_f1
from edge_texts import EDGE_TEXTS
from oracle import FAMILIES, MODES, STRATEGIES, measure

from sparkner import TokenClassifier


def table(results: dict[str, dict[tuple[str, str], float]], strategies=STRATEGIES) -> str:
    header = "| family | " + " | ".join(f"{s} pipeline / text" for s in strategies) + " |"
    lines = [header, "|---" * (len(strategies) + 1) + "|"]
    for family, scores in results.items():
        cells = [f"{scores['pipeline', s]:.3f} / **{scores['text', s]:.3f}**" for s in strategies]
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_model_table(data: dict[str, list[GoldText]]) -> str:
    """The real MiniLM NER model (../shared/models): span F1 per strategy and mode on each data set, in
    torch float32 (the arithmetic is another axis: benchmarks/runtimes.py)."""
    lines = [
        "| data | " + " | ".join(f"{s} pipeline / text" for s in STRATEGIES) + " |",
        "|---" * (len(STRATEGIES) + 1) + "|",
    ]
    for name, docs in data.items():
        cells = []
        for strategy in STRATEGIES:
            f1 = {
                mode: span_f1(
                    docs,
                    TokenClassifier(
                        REAL_MODEL,
                        aggregation_strategy=strategy,
                        word_boundaries=mode,
                        runtime="torch",
                        dtype="float32",
                    )([d.text for d in docs]),
                )["f1"]
                for mode in MODES
            }
            cells.append(f"{f1['pipeline']:.4f} / **{f1['text']:.4f}**")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=None, help="natural_docs test documents (default: all 231)")
    parser.add_argument(
        "--noise", type=float, nargs="*", default=[0.0, 0.1], help="shares of tokens given a random label"
    )
    parser.add_argument("--families", nargs="*", default=list(FAMILIES))
    parser.add_argument(
        "--real-model",
        action="store_true",
        help="also the real MiniLM model on natural_docs and CoNLL-2003 test sentences",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = {
        f"natural_docs test ({args.docs or 231} documents)": natural_docs("test", args.docs),
        f"edge texts ({len(EDGE_TEXTS)} sentences, tests/edge_texts.py)": EDGE_TEXTS,
    }
    for name, docs in data.items():
        print(f"{name}: {sum(len(d.spans) for d in docs)} gold entities")
    with tempfile.TemporaryDirectory(prefix="sparkner-boundaries-") as root:
        paths = {family: FAMILIES[family](Path(root) / f"model{i}") for i, family in enumerate(args.families)}
        for (name, docs), noise in ((item, noise) for item in data.items() for noise in args.noise):
            started = time.perf_counter()
            results = {family: measure(path, docs, noise) for family, path in paths.items()}
            print(
                f"\n{name}: span F1, perfect tagger"
                f"{f' with {noise:.0%} of tokens given a random label' if noise else ''} "
                f"(pipeline / text), {time.perf_counter() - started:.0f} s:\n"
            )
            print(table(results))
            if not noise:
                worst = min(scores["text", s] for scores in results.values() for s in STRATEGIES)
                print(
                    f"\nTarget: every family and strategy >= 0.995 with word_boundaries='text': lowest {worst:.4f} -> "
                    f"{'met' if worst >= 0.995 else 'NOT met'}"
                )
    if args.real_model:
        started = time.perf_counter()
        data = {
            "natural_docs test (231 documents)": natural_docs("test"),
            "CoNLL-2003 test sentences (3,453)": conll_sentences("test"),
        }
        table_text = real_model_table(data)
        print(f"\nReal MiniLM NER model, span F1 (pipeline / text), {time.perf_counter() - started:.0f} s:\n")
        print(table_text)


if __name__ == "__main__":
    main()
