"""Every runtime and precision this machine's CPU runs, and what the defaults gain end to end, in one run.

    .venv/bin/python benchmarks/runtimes.py [--bert-base] [--sentences N] [--repeats N]

Part 1, in process (`TokenClassifier`, no Spark: only the model's arithmetic differs), for each
runtime × precision: tokens/s on CoNLL-2003 test sentences (medians of interleaved passes), entity F1
on those sentences and on the natural-punctuation documents (the default strategy and word
boundaries) and its change against torch float32, the largest score gap to torch float32
(`aggregation_strategy="none"`), and, each in a process of its own, the worker's load time with the
conversion cache cold and warm and its resident memory.

Part 2, through Spark (`local[2]`, one thread per task): `ner_udf` with the defaults
(`runtime="auto"`, `dtype="auto"`), with the old defaults (torch float32), and the raw forward of the
fastest configuration of part 1 (`engine.prepare` + `engine.forward` in one process: its ceiling),
on sentences and on whole documents.

The CPU's model and the flags that matter are printed first: the machines here differ between
sessions. `--bert-base` repeats both parts on a BERT-base-shaped model (random weights, so its
"F1" is the agreement of token labels with float32).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("SPARKNER_CACHE_MODELS", "16")  # every configuration stays loaded through the interleaved passes
from bench import PARTITIONS, bert_base_model, count_tokens, long_documents, median_time, spark_session
from common import REAL_MODEL, conll_sentences, natural_docs, rss_mib, span_f1

from sparkner import TokenClassifier
from sparkner.options.runtimes import RUNTIMES
from sparkner.sources import hardware

# (runtime, dtype) of every CPU row of the runtime table; the first is the reference (the old default).
CONFIGURATIONS = [
    ("torch", "float32"),
    ("torch", "bfloat16"),
    ("torch", "int8"),
    ("openvino", "float32"),
    ("openvino", "bfloat16"),
    ("onnx", "float32"),
    ("onnx", "int8"),
]
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_fp16")


def name(runtime: str, dtype: str | None) -> str:
    return f"{runtime} {dtype}"


def classifier(model: str, runtime: str, dtype: str | None, **options: object) -> TokenClassifier:
    return TokenClassifier(model, runtime=runtime, dtype=dtype, device="cpu", **options).load()


# -- part 1 ---------------------------------------------------------------------------------------


LOAD_PROBE = """
import json, os, sys, time
started = time.perf_counter()
from sparkner import TokenClassifier
model, runtime, dtype, cache = sys.argv[1:5]
classifier = TokenClassifier(model, runtime=runtime, dtype=dtype, device="cpu", model_cache_dir=cache)
classifier.load()
loaded = time.perf_counter() - started
classifier(["Angela Merkel met Emmanuel Macron in Berlin."] * 64)
print(json.dumps({"load_seconds": loaded, "pid": os.getpid()}))
sys.stdout.flush()
sys.stdin.readline()
"""


def load_probe(model: str, runtime: str, dtype: str, cache: str) -> dict:
    """A fresh worker process loads the model (with `cache` as the conversion cache) and classifies a
    batch: its load seconds (imports included) and resident memory."""
    process = subprocess.Popen(
        [sys.executable, "-c", LOAD_PROBE, model, runtime, dtype, cache],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    found = json.loads(process.stdout.readline())
    found["rss_mib"] = rss_mib(found.pop("pid"))
    process.communicate("\n", timeout=60)
    return found


def part_one(model: str, sentences: list, docs: list, repeats: int, real_labels: bool) -> dict[str, dict]:
    texts = [s.text for s in sentences]
    classifiers = {name(*c): classifier(model, *c) for c in CONFIGURATIONS}
    tokens = count_tokens(classifiers["torch float32"].engine.tokenizer, texts)
    times: dict[str, list[float]] = {key: [] for key in classifiers}
    found: dict[str, list] = {}
    for clf in classifiers.values():
        clf(texts[:64])  # warm-up
    for _ in range(repeats):
        for key, clf in classifiers.items():
            started = time.perf_counter()
            found[key] = clf(texts)
            times[key].append(time.perf_counter() - started)
    every_token = {"aggregation_strategy": "none", "ignore_labels": []}  # the same tokens, in order, for all
    reference_tokens = classifier(model, "torch", "float32", **every_token)(texts[:500])
    rows = {}
    for (runtime, dtype), (key, clf) in zip(CONFIGURATIONS, classifiers.items()):
        seconds = statistics.median(times[key])
        tokens_found = classifier(model, runtime, dtype, **every_token)(texts[:500])
        pairs = [(a, b) for x, y in zip(tokens_found, reference_tokens) for a, b in zip(x, y)]
        row = {
            "tokens_per_second": round(tokens / seconds),
            "seconds": [round(t, 2) for t in times[key]],
            "max_score_gap": float(f"{max((abs(a['score'] - b['score']) for a, b in pairs), default=0):.2g}"),
            "token_label_agreement": round(sum(a["entity"] == b["entity"] for a, b in pairs) / max(1, len(pairs)), 4),
        }
        if real_labels:
            row["f1_sentences"] = round(span_f1(sentences, found[key])["f1"], 4)
            row["f1_natural_docs"] = round(span_f1(docs, clf([d.text for d in docs]))["f1"], 4)
        with tempfile.TemporaryDirectory() as cache:
            cold = load_probe(model, runtime, dtype, cache)
            warm = load_probe(model, runtime, dtype, cache)
        row.update(load_cold_s=round(cold["load_seconds"], 2), load_warm_s=round(warm["load_seconds"], 2))
        row["rss_mib"] = round(warm["rss_mib"])
        rows[key] = row
        print(json.dumps({key: row}), flush=True)
    base = rows["torch float32"]
    for row in rows.values():
        row["speedup"] = round(row["tokens_per_second"] / base["tokens_per_second"], 2)
        for data in ("sentences", "natural_docs"):
            if f"f1_{data}" in row:
                row[f"f1_change_{data}"] = round(row[f"f1_{data}"] - base[f"f1_{data}"], 4)
    return rows


# -- part 2 ---------------------------------------------------------------------------------------


def part_two(spark, model: str, workloads: dict[str, list[str]], best: tuple[str, str], repeats: int) -> list[dict]:

    rows = []
    for workload, texts in workloads.items():
        rows.append(spark_row(spark, model, workload, texts, best, repeats))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def spark_row(spark, model: str, workload: str, texts: list[str], best: tuple[str, str], repeats: int) -> dict:
    from sparkner import ner_udf

    df = spark.createDataFrame([(t,) for t in texts], "text string").repartition(PARTITIONS).cache()
    df.count()
    tokens = count_tokens(TokenClassifier(model).engine.tokenizer, texts)

    def through_spark(**options: object):
        udf = ner_udf(model, **options)
        return lambda: df.select(udf("text")).write.format("noop").mode("overwrite").save()

    engine = classifier(model, *best, batch_size=10_000).engine
    torch.set_num_threads(2)
    seconds = {
        "defaults (auto)": median_time(through_spark(), repeats),
        "old defaults (torch float32)": median_time(through_spark(runtime="torch", dtype="float32"), repeats),
        f"ceiling ({name(*best)} raw forward)": median_time(lambda: engine.forward(engine.prepare(texts)), repeats),
    }
    row = {"workload": workload, "texts": len(texts), "tokens": tokens}
    row.update({key: round(tokens / value) for key, value in seconds.items()})
    default, old, ceiling = seconds.values()
    row["defaults / old defaults"] = round(old / default, 2)
    row["defaults / ceiling"] = round(ceiling / default, 2)
    df.unpersist()
    return row


# -- the report -----------------------------------------------------------------------------------


def machine() -> dict:
    found = hardware.this_machine()
    import openvino

    return {
        "cpu": found.cpu_model,
        "flags": [flag for flag in FLAGS if flag in found.cpu_flags],
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "openvino": openvino.__version__,
        "date": datetime.date.today().isoformat(),
        "auto_chooses": TokenClassifier(str(REAL_MODEL)).engine.runs_on(),
    }


def markdown(title: str, rows: dict[str, dict], spark_rows: list[dict]) -> str:
    with_f1 = "f1_sentences" in next(iter(rows.values()))
    head = "| runtime, dtype | tokens/s (passes, s) | speed-up |"
    head += " F1 sentences (change) | F1 natural docs (change) |" if with_f1 else ""
    head += " token labels as float32 | max score gap | load cold / warm (s) | worker RSS (MiB) |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (head.count("|") - 1)]
    for key, row in rows.items():
        cells = [key, f"{row['tokens_per_second']:,} ({'/'.join(map(str, row['seconds']))})", f"{row['speedup']:.2f}×"]
        if with_f1:
            cells += [
                f"{row['f1_sentences']:.4f} ({row['f1_change_sentences']:+.4f})",
                f"{row['f1_natural_docs']:.4f} ({row['f1_change_natural_docs']:+.4f})",
            ]
        cells += [
            f"{row['token_label_agreement']:.4f}",
            f"{row['max_score_gap']:.2g}",
            f"{row['load_cold_s']:.1f} / {row['load_warm_s']:.1f}",
            str(row["rss_mib"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Through Spark (`local[2]`), tokens/s:", ""]
    keys = [key for key in spark_rows[0] if key not in ("workload", "texts", "tokens")]
    lines.append("| workload | texts | tokens | " + " | ".join(keys) + " |")
    lines.append("|---|---|---|" + "---|" * len(keys))
    for row in spark_rows:
        cells = [row["workload"], str(row["texts"]), f"{row['tokens']:,}", *(f"{row[key]:,}" for key in keys)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REAL_MODEL))
    parser.add_argument("--sentences", type=int, default=3453, help="CoNLL-2003 test sentences (all: 3,453)")
    parser.add_argument("--documents", type=int, default=120, help="whole CoNLL-2003 test documents for part 2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bert-base", action="store_true", help="also a BERT-base-shaped model (random weights)")
    parser.add_argument("--bert-base-sentences", type=int, default=500)
    parser.add_argument("--out", type=Path, help="write the raw results here (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    about = machine()
    print(json.dumps(about), flush=True)
    missing = [key for key in ("onnx",) if RUNTIMES[key].missing_packages()]
    if missing:
        raise SystemExit(f"install {', '.join(missing)} first: pip install 'sparkner[onnx]'")
    sentences = conll_sentences("test", args.sentences)
    docs = natural_docs("test")
    results: dict = {"machine": about}
    models = [("MiniLM-L6 (real, ../shared)", args.model, sentences, True)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.bert_base:
            models.append(
                ("BERT-base shape (random)", bert_base_model(Path(tmp)), sentences[: args.bert_base_sentences], False)
            )
        spark = spark_session()
        report = [
            f"CPU: {about['cpu']} ({', '.join(about['flags'])}), {about['cores']} cores; "
            f"auto chooses {about['auto_chooses']}",
            "",
        ]
        for title, model, texts, real_labels in models:
            rows = part_one(model, texts, docs, args.repeats, real_labels)
            best = max(CONFIGURATIONS, key=lambda c: rows[name(*c)]["tokens_per_second"] if c[1] != "int8" else 0)
            workloads = {
                "CoNLL-2003 sentences": [s.text for s in texts],
                "CoNLL-2003 documents": long_documents(args.documents if real_labels else 20),
            }
            spark_rows = part_two(spark, model, workloads, best, args.repeats)
            results[title] = {"in_process": rows, "spark": spark_rows, "best": name(*best)}
            report.append(markdown(title, rows, spark_rows))
    print("\n".join(report))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
