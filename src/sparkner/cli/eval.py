"""`sparkner-eval` (and `sparkner eval`): a model, its options and gold files in, the
metrics table out — printed, written as JSON and CSV, and drawn as a bar chart of F1 per label.

    sparkner-eval --model dslim/bert-base-NER --gold conll2003/test.txt --out eval/

Gold files are CoNLL/IOB (`--gold-format conll`) or JSON lines with character spans
(`spans`); by default `.jsonl`/`.json` files are spans and anything else CoNLL.
"""

from __future__ import annotations

import csv
import datetime
import enum
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sparkner.cli.common import (
    CommandError,
    CommandParser,
    Failed,
    add_option_flags,
    command_parser,
    driver_errors,
    local_session,
    options_from_args,
    setup_logging,
)
from sparkner.jobs.progress import PROGRESS_LOGGER, Counters, ProgressLine
from sparkner.metrics.gold import UNITS
from sparkner.metrics.spans import METRIC_COLUMNS, MODES
from sparkner.options.settings import OPTIONS, Settings, comma_list
from sparkner.sources.locations import short_name
from sparkner.sources.settings import build_settings

PROG = "sparkner-eval"

FORMATS = ("auto", "conll", "spans")


def build_parser() -> CommandParser:
    parser = command_parser(PROG, __doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Hub id, local directory or Flair model file (default: sparkner's demo model)")
    parser.add_argument("--gold", action="append", required=True, help="gold file or folder (repeat for several)")
    parser.add_argument(
        "--gold-format", choices=FORMATS, default="auto", help="conll, spans (JSON lines) or auto (by extension)"
    )
    parser.add_argument(
        "--unit",
        choices=UNITS,
        default="sentence",
        help="CoNLL files: one text per sentence or per -DOCSTART- document",
    )
    parser.add_argument("--mode", choices=MODES, default="exact", help="exact spans (seqeval) or overlapping spans")
    parser.add_argument("--label-map", default=None, help='rename gold labels: "PERSON=PER,GPE=LOC" or a JSON object')
    parser.add_argument(
        "--eval-ignore-labels", type=comma_list, default=None, help="labels left out of the metrics on both sides"
    )
    parser.add_argument(
        "--out", default="sparkner-eval", help="folder for metrics.json, metrics.csv and f1_per_label.png"
    )
    parser.add_argument(
        "--master", default=None, help="Spark master when not launched by spark-submit (default local[*])"
    )
    add_option_flags(parser)
    return parser


def label_map(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    if text.strip().startswith("{"):
        return dict(json.loads(text))
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"--label-map {text!r} must be NAME=LABEL pairs separated by commas, or a JSON object")
    return {name.strip(): label.strip() for name, label in pairs}


def read_gold(spark: Any, paths: list[str], gold_format: str, unit: str) -> Any:
    from sparkner.metrics.gold import read_conll, read_spans

    frames = []
    for path in paths:
        kind = gold_format if gold_format != "auto" else ("spans" if path.endswith((".jsonl", ".json")) else "conll")
        frames.append(read_spans(spark, path) if kind == "spans" else read_conll(spark, path, unit=unit))
    gold = frames[0]
    for frame in frames[1:]:
        gold = gold.unionByName(frame)
    return gold


def write_outputs(rows: list[dict[str, Any]], out: Path, context: dict[str, Any]) -> list[Path]:
    """metrics.json (the rows with what produced them), metrics.csv (the rows) and the F1 chart."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({**context, "metrics": rows}, indent=2) + "\n")
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    chart = out / "f1_per_label.png"
    title = f"Span F1 per label: {short_name(context['model'])} on {', '.join(Path(g).name for g in context['gold'])}"
    subtitle = f"{context['mode']} spans; {context['options']['aggregation_strategy']} aggregation"
    f1_chart({subtitle: rows}, chart, title=title)
    return [out / "metrics.json", out / "metrics.csv", chart]


def run_context(settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    """What produced the metrics, written beside them: the model, the gold data, the evaluation's
    settings, sparkner's options (secrets left out) and version."""
    from sparkner import __version__

    options = {name: _plain(getattr(settings, name)) for name, declared in OPTIONS.items() if not declared.secret}
    return {
        "model": settings.model,
        "gold": list(args["gold"]),
        "gold_format": args["gold_format"],
        "unit": args["unit"],
        "mode": args["mode"],
        "label_map": label_map(args["label_map"]),
        "eval_ignore_labels": args["eval_ignore_labels"],
        "options": options,
        "sparkner_version": __version__,
        "evaluated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _plain(value: Any) -> Any:
    """A setting as JSON holds it (enums by value, tuples as lists)."""
    if isinstance(value, enum.Enum):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def f1_chart(results: dict[str, list[dict[str, Any]]], path: Path, *, title: str = "Span F1 per label") -> None:
    """Grouped horizontal bars: F1 per label (and micro avg) for each named result, each bar with its value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r["label"] for rows in results.values() for r in rows if r["label"] != "macro avg"))
    height = 0.8 / max(1, len(results))
    figure, axes = plt.subplots(figsize=(7.5, 1.2 + 0.35 * len(labels) * max(1, len(results)) ** 0.5), dpi=90)
    for n, (name, rows) in enumerate(results.items()):
        f1 = {r["label"]: r["f1"] for r in rows}
        positions = [i + n * height for i in range(len(labels))]
        bars = axes.barh(positions, [f1.get(label, 0.0) for label in labels], height=height, label=name)
        axes.bar_label(bars, fmt="%.3f", padding=2, fontsize=7)
    axes.set_yticks([i + height * (len(results) - 1) / 2 for i in range(len(labels))], labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("F1")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'label':<12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9} {'predicted':>9}"]
    for row in rows:
        lines.append(
            f"{row['label']:<12} {row['precision']:>9.4f} {row['recall']:>9.4f} {row['f1']:>9.4f} {row['support']:>9} "
            f"{row['predicted']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, or 2 with a one-line message for bad input."""
    setup_logging(logging.WARNING)
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)  # progress lines when stderr is no terminal
    try:
        with driver_errors(PROG):
            args = vars(build_parser().parse_args(argv))
            options = options_from_args(args)
            from sparkner.demo import MODEL_PATH
            from sparkner.engine.classifier import TokenClassifier

            settings = build_settings(args.get("model") or MODEL_PATH, **options)
            renames = label_map(args["label_map"])
            TokenClassifier.from_settings(settings)  # the model and its options checked before Spark starts
            for path in args["gold"]:
                if not Path(path).exists():
                    raise CommandError(f"gold file {path!r} does not exist")
    except Failed as failed:
        return failed.status
    from sparkner.jobs.run import spread_over_tasks
    from sparkner.metrics.spans import evaluate
    from sparkner.spark.udf import ner_stats_udf

    spark = local_session(PROG, args["master"])
    gold = read_gold(spark, args["gold"], args["gold_format"], args["unit"])
    total = gold.count()
    # A gold file is read as one partition: spread over the cores as the job spreads its rows.
    gold = spread_over_tasks(gold, total, max(1, spark.sparkContext.defaultParallelism)).cache()
    print(f"Evaluating {settings.model} on {total:,} texts of {', '.join(args['gold'])} ...", file=sys.stderr)
    counters = Counters.create(spark)
    predicted = gold.withColumn("entities", ner_stats_udf(settings, counters)("text")["entities"])
    progress = ProgressLine(spark, counters, total)
    progress.start()
    try:
        metrics = evaluate(predicted, mode=args["mode"], label_map=renames, ignore_labels=args["eval_ignore_labels"])
        rows = [row.asDict() for row in metrics.collect()]
    finally:
        progress.stop()
        gold.unpersist()
    print(f"Span metrics of {settings.model} ({args['mode']}), {', '.join(args['gold'])}:\n")
    print(format_table(rows))
    written = write_outputs(rows, Path(args["out"]), run_context(settings, args))
    print("\nWritten: " + ", ".join(str(path) for path in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
