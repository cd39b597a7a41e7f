"""Opt-in int8 on the CPU: speed-up and entity F1 change against float32, in one run.

    .venv/bin/python benchmarks/int8.py [--model ../shared/models/conll03-minilm-ner] [--threads 2]

Same model, same CoNLL-2003 test sentences, in-process `TokenClassifier` (no Spark, so only the
model arithmetic differs), medians of `--repeats` timed passes after a warm-up. F1: seqeval,
word level, `first` aggregation, as for the demo model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import count_tokens  # noqa: E402

from sparkner import TokenClassifier  # noqa: E402
from sparkner.conll import read_conll, tags_from_entities  # noqa: E402


def time_and_score(classifier: TokenClassifier, sentences: list, repeats: int) -> dict:
    """Median seconds over `repeats` passes after a warm-up, and the entity F1 of the last pass."""
    from seqeval.metrics import f1_score

    texts = [sentence.text for sentence in sentences]
    classifier.engine.predictor  # noqa: B018 - load (and quantize) outside the timing
    classifier(texts[:64])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        results = classifier(texts)
        times.append(time.perf_counter() - started)
    predicted = [tags_from_entities(sentence, found) for sentence, found in zip(sentences, results)]
    return {"seconds": round(statistics.median(times), 3), "f1": round(f1_score([s.tags for s in sentences], predicted), 4)}


def measure(model: str, dtype: str | None, sentences: list, repeats: int) -> dict:
    classifier = TokenClassifier(model, aggregation_strategy="first", dtype=dtype, device="cpu")
    result = time_and_score(classifier, sentences, repeats)
    tokens = count_tokens(classifier.engine.tokenizer, [s.text for s in sentences])
    return {"dtype": dtype or "float32", **result, "tokens_per_second": round(tokens / result["seconds"], 1)}


def arguments(description: str) -> argparse.Namespace:
    """The options both int8 benchmarks take; sets torch's thread count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default=str(SHARED / "models" / "conll03-minilm-ner"))
    parser.add_argument("--data", default=str(SHARED / "data" / "conll2003" / "test.txt"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    sentences = list(read_conll(args.data))
    rows = [measure(args.model, dtype, sentences, args.repeats) for dtype in (None, "int8")]
    fp32, int8 = rows
    summary = {
        "model": args.model,
        "sentences": len(sentences),
        "threads": args.threads,
        "cpu": _cpu_name(),
        "float32": fp32,
        "int8": int8,
        "speedup": round(fp32["seconds"] / int8["seconds"], 2),
        "f1_change": round(int8["f1"] - fp32["f1"], 4),
    }
    print(json.dumps(summary, indent=2))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
