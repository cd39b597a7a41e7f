"""The CPU runtimes and precisions: speed-up, entity F1 change and score gap against torch float32, in one run.

    .venv/bin/python benchmarks/runtimes.py [--model ../shared/models/conll03-minilm-ner] [--threads 2]

Each row of the runtime table that runs on a CPU: torch float32 (the reference), torch int8
(dynamic quantization), ONNX Runtime float32 and ONNX Runtime int8 (needs
`pip install 'sparkner[onnx]'`), on the same model and CoNLL-2003 test sentences, in-process
`TokenClassifier` (no Spark, so only the model arithmetic differs), medians of `--repeats` timed
passes after a warm-up, interleaved so drift on a noisy machine hits all alike. F1: seqeval, word
level, `first` with the pipeline's word rules; `max_score_gap`: the largest score difference to
torch float32 over every token (`aggregation_strategy="none"`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

os.environ.setdefault("SPARKNER_CACHE_MODELS", "8")  # every runtime's model stays loaded through the interleaved passes
from bench import count_tokens
from common import SHARED

from sparkner import TokenClassifier
from sparkner.metrics.conll import read_conll_file, tags_from_entities

# (runtime, dtype) of each CPU row of sparkner.options.runtimes.RUNTIMES; the first is the reference.
MODES = {
    "torch float32": ("torch", None),
    "torch int8": ("torch", "int8"),
    "onnx float32": ("onnx", None),
    "onnx int8": ("onnx", "int8"),
}
SIMILAR = 1e-4  # the parity suite's score tolerance


def load(model: str, runtime: str, dtype: str | None, strategy: str = "first") -> tuple[TokenClassifier, float]:
    """A classifier with its model loaded (exported, quantized), and the seconds that took."""
    classifier = TokenClassifier(
        model, aggregation_strategy=strategy, word_boundaries="pipeline", runtime=runtime, dtype=dtype, device="cpu"
    )
    started = time.perf_counter()
    classifier.load()  # outside the timing
    return classifier, time.perf_counter() - started


def max_score_gap(model: str, texts: list[str], runtime: str, dtype: str | None) -> float:
    """The largest per-token score difference to torch float32 (labels must agree for it to mean much)."""
    reference = load(model, "torch", None, "none")[0](texts)
    found = load(model, runtime, dtype, "none")[0](texts)
    return max((abs(a["score"] - b["score"]) for x, y in zip(found, reference) for a, b in zip(x, y)), default=0.0)


def measure(model: str, sentences: list, repeats: int) -> dict[str, dict]:
    """Per mode: median seconds, tokens/s, F1 of the last pass, load seconds and score gap."""
    from seqeval.metrics import f1_score

    texts = [sentence.text for sentence in sentences]
    classifiers = {name: load(model, runtime, dtype) for name, (runtime, dtype) in MODES.items()}
    times: dict[str, list[float]] = {name: [] for name in classifiers}
    results = {}
    for classifier, _ in classifiers.values():
        classifier(texts[:64])  # warm-up
    for _ in range(repeats):
        for name, (classifier, _) in classifiers.items():
            started = time.perf_counter()
            results[name] = classifier(texts)
            times[name].append(time.perf_counter() - started)
    tokens = count_tokens(classifiers["torch float32"][0].engine.tokenizer, texts)
    rows = {}
    for name, (_, load_seconds) in classifiers.items():
        seconds = statistics.median(times[name])
        predicted = [tags_from_entities(sentence, found) for sentence, found in zip(sentences, results[name])]
        rows[name] = {
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1),
            "f1": round(f1_score([s.tags for s in sentences], predicted), 4),
            "load_seconds": round(load_seconds, 1),
            "max_score_gap": float(f"{max_score_gap(model, texts[:500], *MODES[name]):.2g}"),
        }
    return rows


def arguments(description: str) -> argparse.Namespace:
    """The benchmark's options; sets torch's thread count."""
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
    sentences = list(read_conll_file(args.data))
    rows = measure(args.model, sentences, args.repeats)
    base = rows["torch float32"]
    for name, row in rows.items():
        row["speedup"] = round(base["seconds"] / row["seconds"], 2)
        row["f1_change"] = round(row["f1"] - base["f1"], 4)
        if MODES[name][1] == "int8":  # the int8 aim: >= 1.8x, F1 drop <= 0.005
            row["target"] = (
                "met" if row["speedup"] >= 1.8 and row["f1_change"] >= -0.005 else "not met (>= 1.8x, F1 drop <= 0.005)"
            )
        elif row is not base:  # a float32 runtime should give torch's scores
            row["scores_within_1e-4"] = row["max_score_gap"] <= SIMILAR
    summary = {"model": args.model, "sentences": len(sentences), "threads": args.threads, "cpu": _cpu_name(), **rows}
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
