"""Host-side cost per token: sparkner's path with a null model against the bare Rust tokenizer.

    .venv/bin/python benchmarks/host.py                  # 10,000 CoNLL-2003 train sentences + documents
    .venv/bin/python benchmarks/host.py --quick          # fewer texts and repeats
    .venv/bin/python benchmarks/host.py --batches gpu    # model batches as a GPU task makes them

On a GPU the model is no longer the cost: what one task's CPU spends per token (tokenize,
build windows, batch, softmax, aggregate, build the result dicts) caps what it can feed the
device. Here the forward pass is replaced by a null model — a lookup of fixed logits per
vocabulary id, with about 12% of tokens tagged as entities, word by word — so what remains is the host path.
Everything runs on one thread (Rust tokenizer, torch, numpy), as in one Spark task per core.
Model batches are the CPU's defaults (64 windows, 1,024 tokens), or with `--batches gpu` a GPU's
(256 windows, 65,536 tokens): the per-batch work (padding, unpadding) as a GPU task does it; the
softmax still runs in numpy here, where on a GPU it runs on the device.

Printed per workload (sentences, documents) and setting (strategy × word boundaries): µs per
token of sparkner's `TokenClassifier.classify`, of transformers' tokenizer call as sparkner used
to make it (offsets, overflow, stride), and of the Rust tokenizer's bare `encode_batch` (the
floor), with the ratio sparkner / bare. Medians of `--repeats` runs, with the range; and the paired
ratio: each run of a setting divided by the floor's run in the same round of the interleaving, the
median and range of those, which a machine whose speed drifts between repeats disturbs less.
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # one thread for the Rust tokenizer too (before it is imported)
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import DATA, IOB_LABELS, conll_sentences  # noqa: E402
from oracle import real_bert  # noqa: E402

from sparkner import TokenClassifier  # noqa: E402
from sparkner.options.runtimes import RUNTIMES  # noqa: E402

ENTITY_WORDS = 0.13  # gives ~12% entity tokens on CoNLL-2003 (printed by each run)


def documents(limit: int) -> list[str]:
    """Whole CoNLL-2003 documents (many longer than one 512-token window)."""
    texts = []
    with open(DATA / "long_docs" / "conll2003_en_valid_docs.jsonl", encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) >= limit:
                break
    return texts


def null_model(classifier: TokenClassifier, seed: int = 0) -> None:
    """Replace the forward pass by a lookup: each word-initial vocabulary id is an entity word of a
    random type with probability `ENTITY_WORDS` (B- on it, I- on the word's `##` pieces), else O,
    plus fixed noise on every label's logit; a batch seen before is looked up, so after the warm-up
    the model costs next to nothing. About 12% of CoNLL tokens then carry an entity label,
    in words as a tagger marks them (not scattered single tokens, which would make twice the
    entities per token that gold CoNLL has)."""
    model = classifier.engine.load().model
    vocab = model.config.vocab_size
    pieces = classifier.engine.tokenizer.convert_ids_to_tokens(list(range(vocab)))
    continuation = torch.tensor([piece is not None and piece.startswith("##") for piece in pieces])
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, (len(IOB_LABELS) - 1) // 2, vocab)  # B-X is 2k+1, I-X is 2k+2 in IOB_LABELS
    entity = rng.random(vocab) < ENTITY_WORDS
    begin = torch.from_numpy(np.where(entity, 2 * kind + 1, 0))
    inside = torch.from_numpy(np.where(entity, 2 * kind + 2, 0))
    noise = torch.from_numpy(rng.normal(0.0, 0.5, (vocab, len(IOB_LABELS))).astype(np.float32))

    computed: dict[bytes, torch.Tensor] = {}  # the same batches come back on every repeat: look them up

    def forward(input_ids, attention_mask=None, **_):
        key = input_ids.numpy().tobytes()
        if key not in computed:
            computed[key] = tagged(input_ids)
        return {"logits": computed[key]}

    def tagged(input_ids):
        is_piece = continuation[input_ids]
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        word_start = torch.where(is_piece, 0, positions).cummax(dim=1).values
        head = input_ids.gather(1, word_start)
        label = torch.where(is_piece, inside[head], begin[head])
        logits = noise[input_ids]
        logits.scatter_add_(2, label.unsqueeze(-1), torch.full((*label.shape, 1), 6.0))
        return logits

    model.forward = forward


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def spread(values: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest."""
    return statistics.median(values), min(values), max(values)


def measure(
    model_dir: Path, texts: list[str], settings: list[tuple[str, str]], repeats: int, batches: str = "cpu"
) -> list[dict]:
    classifiers = {}
    batch_size, max_batch_tokens = RUNTIMES["torch"].batch_limits(batches)
    for strategy, boundaries in settings:
        options = {"batch_size": batch_size, "max_batch_tokens": max_batch_tokens, "device": "cpu"}
        classifier = TokenClassifier(
            str(model_dir), aggregation_strategy=strategy, word_boundaries=boundaries, **options
        )
        null_model(classifier)
        classifier.classify(texts[:50])  # warm-up
        classifiers[strategy, boundaries] = classifier
    any_classifier = next(iter(classifiers.values()))
    engine = any_classifier.engine
    tokenizer = engine.tokenizer
    bare = tokenizer.backend_tokenizer.__class__.from_str(tokenizer.backend_tokenizer.to_str())
    bare.no_truncation()
    bare.no_padding()
    tokens = sum(len(e.ids) for e in bare.encode_batch(texts, add_special_tokens=False))
    results = [classifier.classify(texts) for classifier in classifiers.values()]
    entities = sum(len(r.entities or []) for r in results[0])

    def transformers_call():
        return tokenizer(texts, truncation=True, max_length=engine.info.window, stride=engine.stride,
                         return_overflowing_tokens=True, return_offsets_mapping=True,
                         return_special_tokens_mask=True, return_attention_mask=False)  # fmt: skip

    times: dict[str, list[float]] = {"bare": [], "transformers": [], **{f"{s}/{b}": [] for s, b in settings}}
    for _ in range(repeats):  # interleaved, so drift on a noisy machine hits every column alike
        times["bare"].append(timed(lambda: bare.encode_batch(texts)))
        times["transformers"].append(timed(transformers_call))
        for (strategy, boundaries), classifier in classifiers.items():
            times[f"{strategy}/{boundaries}"].append(timed(lambda c=classifier: c.classify(texts)))
    floor = spread([s / tokens * 1e6 for s in times["bare"]])[0]
    rows = []
    for name, seconds in times.items():
        median, low, high = spread([s / tokens * 1e6 for s in seconds])
        paired, paired_low, paired_high = spread(
            [s / b for s, b in zip(seconds, times["bare"])]
        )  # against the floor's run of the same round
        rows.append({"what": name, "us_per_token": median, "low": low, "high": high, "ratio": median / floor,
                     "paired": paired, "paired_low": paired_low, "paired_high": paired_high})  # fmt: skip
    print(
        f"  {len(texts):,} texts, {tokens:,} tokens, {entities / tokens:.3f} entities per token "
        f"({settings[0][0]}/{settings[0][1]})"
    )
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n| | µs per token (median) | range | ÷ bare encode_batch | paired ÷ bare (median, range) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['us_per_token']:.2f} | {row['low']:.2f}–{row['high']:.2f} | {row['ratio']:.2f} "
              f"| {row['paired']:.2f} ({row['paired_low']:.2f}–{row['paired_high']:.2f}) |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2,000 sentences, 50 documents, 3 repeats")
    parser.add_argument(
        "--settings", default="simple/text,first/text,simple/pipeline,first/pipeline,average/text,max/text,none/text"
    )
    parser.add_argument(
        "--batches",
        choices=["cpu", "gpu"],
        default="cpu",
        help="model batches of the CPU defaults (64 windows, 1,024 tokens) or of a GPU's (256, 65,536)",
    )
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.documents, args.repeats = 2_000, 50, 3
    torch.set_num_threads(1)
    settings = [tuple(item.split("/")) for item in args.settings.split(",")]
    limits = RUNTIMES["torch"].batch_limits(args.batches)
    print(
        f"host path, one thread, null model, {args.batches} batches {limits}; python {sys.version.split()[0]}, torch "
        f"{torch.__version__}"
    )
    with tempfile.TemporaryDirectory() as folder:
        model_dir = real_bert(Path(folder) / "bert-base-NER-tokenizer")
        workloads = {
            "CoNLL-2003 train sentences": [t.text for t in conll_sentences("train", args.sentences)],
            "CoNLL-2003 documents (long_docs, valid)": documents(args.documents),
        }
        for title, texts in workloads.items():
            print(f"\n{title}:")
            print_table(title, measure(model_dir, texts, settings, args.repeats, args.batches))


if __name__ == "__main__":
    main()
