"""The GPU path on one GPU: device choice, parity, fp16/bf16, OOM back-off, throughput vs. the ceiling.

    python benchmarks/gpu.py [--data ../shared/data] [--tokenizer ../shared/models/conll03-minilm-ner] [--out gpu.json]

Needs torch with CUDA, transformers and seqeval; not Spark. What a `ner_udf` task runs per Arrow
batch is `TokenClassifier` on that batch's texts, so "sparkner" here is `TokenClassifier` called on
chunks of 10,000 texts (Spark's default `maxRecordsPerBatch`), text in, entities out. The Spark glue
around it is measured by `bench.py` on the CPU. Each section prints one JSON line and goes into
`--out`; a failing section is recorded with its error and the others still run.

1. device: where the weights land without a `device` option.
2. parity: the demo model in float32 on the GPU against `pipeline(..., device=0)` (simple, first;
   sentences, and documents with stride 128).
3. accuracy: entity F1 (seqeval, word level, `first`) on all CoNLL-2003 test sentences in float32,
   float16 and bfloat16, and how many sentences' entities are unchanged.
4. throughput: BERT-base-shaped model (random weights, 12x768), float32/float16/bfloat16, sparkner vs.
   the model-only ceiling (best of several token budgets), CoNLL-2003 train sentences and test+valid
   documents (stride 128); medians of 3 after a warm-up; plus the stage breakdown (tokenize / forward /
   aggregate).
5. out of memory (run first, before the other sections fill the cache): the GPU capped to the model
   plus 512 MiB, a token budget far too big; the batches must halve, the warning appear once, and the
   entities equal an uncapped run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

os.environ.setdefault("SPARKNER_CACHE_MODELS", "8")  # fp32, fp16 and bf16 copies stay loaded between sections

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
from bench import bert_base_model, count_tokens, median_time, run_ceiling  # noqa: E402
from common import ROOT  # noqa: E402
from stages import stage_times  # noqa: E402

from sparkner import DEMO_MODEL, TokenClassifier  # noqa: E402
from sparkner.metrics.conll import read_conll_file, tags_from_entities  # noqa: E402

ARROW_BATCH = 10_000
DTYPES = ("float32", "float16", "bfloat16")
BUDGETS = (16384, 131072)
RESULTS: dict[str, object] = {}
DEVICE = "cuda"  # "cpu" only for `--quick` tries of the script on a machine without a GPU


def section(name: str, out: Path) -> Callable[[Callable[[], object]], None]:
    """Run one section, print and keep its result (or its error), and rewrite `out`."""

    def run(function: Callable[[], object]) -> None:
        started = time.perf_counter()
        try:
            RESULTS[name] = function()
        except Exception as error:  # noqa: BLE001 - one broken section must not hide the others
            RESULTS[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc(limit=6)}
        print(json.dumps({name: RESULTS[name], "seconds": round(time.perf_counter() - started, 1)}), flush=True)
        out.write_text(json.dumps(RESULTS, indent=2))

    return run


def median_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    return median_time(run, repeats, torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None))


def in_arrow_batches(classifier: TokenClassifier, texts: list[str]) -> list:
    results = []
    for start in range(0, len(texts), ARROW_BATCH):
        results.extend(classifier(texts[start : start + ARROW_BATCH]))
    return results


# -- sections -------------------------------------------------------------------------------------


def environment() -> dict:
    import transformers

    return {
        "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else None,
        "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if DEVICE == "cuda" else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "cpu_threads": torch.get_num_threads(),
        "java": shutil.which("java"),
    }


def device_choice() -> dict:
    classifier = TokenClassifier(DEMO_MODEL)
    return {
        "no_device_option": str(classifier.device),
        "model_dtype": str(next(classifier.engine.predictor.model.parameters()).dtype),
    }


def compare(ours: list, reference: list) -> dict:
    """Texts whose entities match exactly (labels, words, offsets), and the largest score gap."""
    same, gap = 0, 0.0
    for mine, theirs in zip(ours, reference):
        theirs = [e for e in theirs if e["start"] < e["end"]]
        if [_without_score(e) for e in mine] == [_without_score(e) for e in theirs]:
            same += 1
            gap = max([gap, *(abs(float(a["score"]) - float(b["score"])) for a, b in zip(mine, theirs))])
    return {"texts": len(ours), "same_entities": same, "max_score_gap": gap}


def _without_score(entity: dict) -> tuple:
    return tuple(sorted((key, value) for key, value in entity.items() if key != "score"))


def parity(sentences: list[str], documents: list[str]) -> dict:
    from transformers import pipeline

    report = {}
    for strategy in ("simple", "first"):
        for name, texts, stride in (("sentences", sentences, None), ("documents", documents, 128)):
            options = {"stride": stride} if stride else {}
            reference = pipeline(
                "token-classification", model=DEMO_MODEL, aggregation_strategy=strategy, device=DEVICE, **options
            )
            ours = TokenClassifier(DEMO_MODEL, aggregation_strategy=strategy, stride=stride, device=DEVICE)(texts)
            theirs = reference(texts)
            report[f"{strategy}/{name}"] = compare(ours, theirs)
    return report


def accuracy(sentences: list) -> dict:
    from seqeval.metrics import f1_score

    texts = [s.text for s in sentences]
    gold = [s.tags for s in sentences]
    report, baseline = {}, None
    for dtype in DTYPES:
        found = TokenClassifier(DEMO_MODEL, aggregation_strategy="first", dtype=dtype, device=DEVICE)(texts)
        spans = [[(e["entity_group"], e["start"], e["end"]) for e in entities] for entities in found]
        baseline = baseline or spans
        report[dtype] = {
            "f1": round(f1_score(gold, [tags_from_entities(s, e) for s, e in zip(sentences, found)]), 4),
            "sentences_unchanged_vs_float32": sum(a == b for a, b in zip(spans, baseline)),
        }
    report["sentences"] = len(texts)
    return report


def throughput(model: str, workloads: dict[str, tuple[list[str], int | None]]) -> list[dict]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    rows = []
    for workload, (texts, stride) in workloads.items():
        tokens = count_tokens(tokenizer, texts)
        for dtype in DTYPES:
            ceilings = {
                budget: median_seconds(
                    run_ceiling(
                        texts, model, stride, budget, device=DEVICE, dtype=dtype, threads=torch.get_num_threads()
                    )
                )
                for budget in BUDGETS
            }
            best_budget = min(ceilings, key=ceilings.get)
            row = {
                "workload": workload,
                "texts": len(texts),
                "tokens": tokens,
                "dtype": dtype,
                "ceiling_tok_s": round(tokens / ceilings[best_budget]),
                "ceiling_budget": best_budget,
            }
            classifier = TokenClassifier(
                model, aggregation_strategy="simple", stride=stride, dtype=dtype, device=DEVICE
            )
            seconds = median_seconds(lambda: in_arrow_batches(classifier, texts))  # noqa: B023 - called at once
            row["sparkner_tok_s"] = round(tokens / seconds)
            row["sparkner_vs_ceiling"] = round(ceilings[best_budget] / seconds, 3)
            stage_times(classifier, texts[:ARROW_BATCH])  # warm-up
            stages = [stage_times(classifier, texts[:ARROW_BATCH]) for _ in range(3)]
            row["stages_s"] = {stage: round(statistics.median(s[stage] for s in stages), 4) for stage in stages[0]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _worker(model: str, stride: int | None, dtype: str, device: str, texts: list[str], barrier, repeats: int) -> None:
    """One Spark Python worker's share: its own model copy on the shared GPU, its texts in Arrow batches."""
    classifier = TokenClassifier(model, aggregation_strategy="simple", stride=stride, dtype=dtype, device=device)
    in_arrow_batches(classifier, texts)  # warm-up
    for _ in range(repeats):
        barrier.wait()
        in_arrow_batches(classifier, texts)  # results come back to the CPU: nothing left in flight
        barrier.wait()


def shared_gpu(model: str, workloads: dict[str, tuple[list[str], int | None]], repeats: int = 3) -> list[dict]:
    """N worker processes on one GPU, each with a contiguous share of the texts, as Spark runs
    N tasks per GPU with `spark.task.resource.gpu.amount = 1/N`; tokens/s of all of them together."""
    import multiprocessing

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    context = multiprocessing.get_context("spawn")  # CUDA is already initialised in this process
    rows, dtype = [], DTYPES[-1]
    for workload, (texts, stride) in workloads.items():
        tokens = count_tokens(tokenizer, texts)
        for workers in (1, 2, 4):
            barrier = context.Barrier(workers + 1)
            share = -(-len(texts) // workers)
            processes = [
                context.Process(
                    target=_worker,
                    args=(model, stride, dtype, DEVICE, texts[i * share : (i + 1) * share], barrier, repeats),
                )
                for i in range(workers)
            ]
            for process in processes:
                process.start()
            times = []
            for _ in range(repeats):
                barrier.wait()
                started = time.perf_counter()
                barrier.wait()
                times.append(time.perf_counter() - started)
            for process in processes:
                process.join()
            rows.append(
                {
                    "workload": workload,
                    "dtype": dtype,
                    "workers": workers,
                    "tokens": tokens,
                    "tok_s": round(tokens / statistics.median(times)),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def recipe(model: str, texts: list[str]) -> dict:
    """The usual recipe on the same GPU: `pipeline(..., device=0)` called on each Arrow batch."""
    from transformers import AutoTokenizer, pipeline

    tokens, dtype = count_tokens(AutoTokenizer.from_pretrained(model), texts), DTYPES[-1]
    classifier = pipeline(
        "token-classification", model=model, aggregation_strategy="simple", device=DEVICE, dtype=getattr(torch, dtype)
    )
    report = {"texts": len(texts), "tokens": tokens, "dtype": dtype}
    for batch_size in (1, 64):
        seconds = median_seconds(lambda: classifier(texts, batch_size=batch_size), repeats=2)  # noqa: B023 - called at once
        report[f"recipe_bs{batch_size}_tok_s"] = round(tokens / seconds)
    ours = TokenClassifier(model, aggregation_strategy="simple", dtype=dtype, device=DEVICE)
    report["sparkner_tok_s"] = round(tokens / median_seconds(lambda: ours(texts), repeats=2))
    return report


def out_of_memory(model: str, documents: list[str]) -> dict:
    """Cap the GPU so a huge token budget cannot fit; batches must halve and entities stay the same."""
    if DEVICE != "cuda":
        return {"skipped": "needs a CUDA GPU"}
    reference = TokenClassifier(model, aggregation_strategy="simple", stride=128, device=DEVICE)(documents)
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("sparkner").addHandler(handler)
    torch.cuda.empty_cache()
    model_bytes = torch.cuda.memory_allocated(0)
    cap = model_bytes + 512 * 2**20
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(0).total_memory, 0)
    try:
        capped = TokenClassifier(
            model,
            aggregation_strategy="simple",
            stride=128,
            device=DEVICE,
            batch_size=100_000,
            max_batch_tokens=10_000_000,
        )
        started = time.perf_counter()
        found = capped.classify(documents)
        seconds = time.perf_counter() - started
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        logging.getLogger("sparkner").removeHandler(handler)
    predictor = capped.engine.predictor
    return {
        "cap_mib": round(cap / 2**20),
        "documents": len(documents),
        "windows": sum(result.windows for result in found),
        "forward_calls": predictor.forward_calls,
        "max_batch_tokens_after": predictor.max_tokens,
        "warnings": [r for r in records if "out of memory" in r],
        "entities_equal_uncapped": compare([result.entities for result in found], reference),
        "seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--tokenizer", type=Path, default=ROOT.parent / "shared" / "models" / "conll03-minilm-ner")
    parser.add_argument("--out", type=Path, default=Path("gpu.json"))
    parser.add_argument("--quick", action="store_true", help="small slices of every workload (to try the script)")
    parser.add_argument(
        "--sections",
        default="device,out_of_memory,parity,accuracy,throughput,shared_gpu,recipe",
        help="comma-separated subset",
    )
    args = parser.parse_args()
    global DEVICE, DTYPES
    if not torch.cuda.is_available():
        if not args.quick:
            sys.exit("benchmarks/gpu.py needs a CUDA GPU (--quick tries it on the CPU)")
        DEVICE, DTYPES = "cpu", ("float32",)  # float16 matrix products crawl on a CPU
    logging.basicConfig(level=logging.WARNING)
    limit = 40 if args.quick else None
    test = list(read_conll_file(args.data / "conll2003" / "test.txt"))[:limit]
    train = [s.text for s in read_conll_file(args.data / "conll2003" / "train.txt")][:limit]
    docs = [
        json.loads(line)["text"]
        for name in ("test", "valid")
        for line in (args.data / "long_docs" / f"conll2003_en_{name}_docs.jsonl").open()
    ][: limit and 4]

    workloads = {
        "CoNLL-2003 train sentences": (train, None),
        "CoNLL-2003 test+valid documents, stride 128": (docs, 128),
    }
    with tempfile.TemporaryDirectory() as tmp:
        bert_base = bert_base_model(Path(tmp), args.tokenizer)
        sections = {
            "device": device_choice,
            "out_of_memory": lambda: out_of_memory(bert_base, docs),
            "parity": lambda: parity([s.text for s in test[:1000]], docs[:40]),
            "accuracy": lambda: accuracy(test),
            "throughput": lambda: throughput(bert_base, workloads),
            "shared_gpu": lambda: shared_gpu(bert_base, workloads),
            "recipe": lambda: recipe(bert_base, train[:2000]),
        }
        section("environment", args.out)(environment)
        for name in args.sections.split(","):
            section(name, args.out)(sections[name])


if __name__ == "__main__":
    main()
