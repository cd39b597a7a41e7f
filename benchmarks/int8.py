"""Opt-in int8 on the CPU: speed-up and entity F1 change against float32, in one run.

    .venv/bin/python benchmarks/int8.py [--model ../shared/models/conll03-minilm-ner] [--threads 2]

Both int8 modes, `dtype="int8"` (torch dynamic quantization) and `dtype="onnx-int8"` (ONNX
Runtime; needs `pip install 'sparkner[onnx]'`), against float32 on the same model and CoNLL-2003
test sentences, in-process `TokenClassifier` (no Spark, so only the model arithmetic differs),
medians of `--repeats` timed passes after a warm-up; the float32 passes are interleaved with
the others so drift on a noisy machine hits all alike. F1: seqeval, word level, `first`.
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

DTYPES = (None, "int8", "onnx-int8")


def load(model: str, dtype: str | None) -> tuple[TokenClassifier, float]:
    """A classifier with its model loaded (and quantized), and the seconds that took."""
    classifier = TokenClassifier(model, aggregation_strategy="first", dtype=dtype, device="cpu")
    started = time.perf_counter()
    classifier.engine.predictor  # noqa: B018 - load outside the timing
    return classifier, time.perf_counter() - started


def measure(model: str, sentences: list, repeats: int) -> dict[str, dict]:
    """Per dtype: median seconds, tokens/s, F1 of the last pass and load seconds."""
    from seqeval.metrics import f1_score

    texts = [sentence.text for sentence in sentences]
    classifiers = {dtype or "float32": load(model, dtype) for dtype in DTYPES}
    times: dict[str, list[float]] = {name: [] for name in classifiers}
    results = {}
    for classifier, _ in classifiers.values():
        classifier(texts[:64])  # warm-up
    for _ in range(repeats):
        for name, (classifier, _) in classifiers.items():
            started = time.perf_counter()
            results[name] = classifier(texts)
            times[name].append(time.perf_counter() - started)
    tokens = count_tokens(classifiers["float32"][0].engine.tokenizer, texts)
    rows = {}
    for name, (_, load_seconds) in classifiers.items():
        seconds = statistics.median(times[name])
        predicted = [tags_from_entities(sentence, found) for sentence, found in zip(sentences, results[name])]
        rows[name] = {
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1),
            "f1": round(f1_score([s.tags for s in sentences], predicted), 4),
            "load_seconds": round(load_seconds, 1),
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
    sentences = list(read_conll(args.data))
    rows = measure(args.model, sentences, args.repeats)
    base = rows["float32"]
    for row in rows.values():
        row["speedup"] = round(base["seconds"] / row["seconds"], 2)
        row["f1_change"] = round(row["f1"] - base["f1"], 4)
        if row is not base:  # the aim for an int8 mode
            row["target"] = "met" if row["speedup"] >= 1.8 and row["f1_change"] >= -0.005 else "not met (>= 1.8x, F1 drop <= 0.005)"
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
