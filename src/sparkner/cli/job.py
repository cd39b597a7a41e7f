"""`sparkner-job`: the batch and streaming job's command line (and the Databricks wheel-task entry point).

sparkner-job --input docs/ --id-col doc_id --output entities/ --mode incremental --model dslim/bert-base-NER
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from sparkner.cli.common import (
    Failed,
    add_deprecated_flag,
    add_option_flags,
    command_parser,
    driver_errors,
    local_session,
    option_help,
    options_from_args,
    setup_logging,
)
from sparkner.engine.classifier import TokenClassifier
from sparkner.jobs.config import (
    DEFAULT_CHUNK_ROWS,
    INPUT_FORMATS,
    MODES,
    JobConfig,
    JobError,
    check,
    read_config_file,
)
from sparkner.jobs.signals import JobProgress, Stopped, stop_on_signals
from sparkner.jobs.summary import RunSummary
from sparkner.masking import Masker
from sparkner.options.masking import MASK_OPTIONS
from sparkner.options.settings import Settings, comma_list

logger = logging.getLogger("sparkner.job")
PROG = "sparkner-job"


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        PROG, "Add named entities to a table of texts with a Hugging Face token-classification model."
    )
    source = parser.add_argument_group("input")
    source.add_argument("--input", help="input path (files or a folder)")
    source.add_argument("--input-table", help="input catalog table, instead of --input")
    source.add_argument("--input-format", choices=INPUT_FORMATS, help="format of --input (default parquet)")
    source.add_argument(
        "--text-col", help="column holding the text (default 'text'; for --input-format text the lines)"
    )
    source.add_argument("--id-col", help="document id column (needed for --mode incremental)")
    source.add_argument(
        "--schema",
        help="the input files' schema as a DDL string, e.g. 'doc_id string, text string' (default: read from the "
        "files; CSV values typed as they read, so pass this to keep zero-padded ids as text; a stream fixes it when "
        "it starts)",
    )
    source.add_argument(
        "--gold-col",
        help="gold entities column (array<struct<start, end, label>>): span metrics go into the run summary",
    )
    sink = parser.add_argument_group("output")
    sink.add_argument("--output", help="output path")
    sink.add_argument("--output-table", help="output catalog table, instead of --output")
    sink.add_argument(
        "--output-format", help="Spark writer format (default parquet; 'delta' needs Delta Lake on the cluster)"
    )
    sink.add_argument("--partition-by", type=comma_list, help="comma-separated output partition columns")
    sink.add_argument(
        "--mode", choices=MODES, help="error (default: refuse existing output), overwrite, append, incremental"
    )
    sink.add_argument(
        "--explode", action="store_true", help="one row per entity (with the id) instead of one array per document"
    )
    sink.add_argument(
        "--keep-text",
        action="store_true",
        help="with --explode: keep the text column, so text[start:end] can be read from the output; with --mask: "
        "keep the original text beside the masked one",
    )
    sink.add_argument(
        "--chunk-rows",
        type=int,
        help="incremental mode: commit every N new documents, so a stopped run keeps its progress (default "
        f"{DEFAULT_CHUNK_ROWS}; 0: one commit)",
    )
    sink.add_argument("--summary-path", help="where to write the run summary JSON (default: inside a path output)")
    sink.add_argument("--show", type=int, help="print a table of the first N entities found at the end")
    sink.add_argument(
        "--progress-interval",
        type=float,
        help="seconds between progress log lines off a terminal (default 10; a terminal gets a live bar)",
    )
    masking = parser.add_argument_group("masking personal data (--mask)")
    masking.add_argument(
        "--mask",
        action="store_true",
        help="write each text with its entities masked (column masked_text) instead of the text and the entities",
    )
    masking.add_argument(
        "--mask-labels", type=comma_list, help=option_help(MASK_OPTIONS["mask_labels"]) + "; comma-separated"
    )
    masking.add_argument(
        "--mask-operators", metavar="FILE", help=option_help(MASK_OPTIONS["mask_operators"]) + " (this flag's FILE)"
    )
    masking.add_argument(
        "--keep-entities",
        action="store_true",
        help="with --mask: write the entities too (their words are the personal data masked in the text)",
    )
    streaming = parser.add_argument_group("streaming (--stream)")
    streaming.add_argument(
        "--stream",
        action="store_true",
        help="read the input as a Structured Streaming source: each run processes what arrived since the last (needs "
        "--checkpoint)",
    )
    streaming.add_argument("--checkpoint", help="the stream's checkpoint folder: what was processed and committed")
    streaming.add_argument(
        "--trigger",
        help="available-now (default: what is there, then stop), once, or processing-time=<interval> (e.g. "
        "processing-time='30 seconds': keep running)",
    )
    streaming.add_argument(
        "--max-files-per-trigger", type=int, help="file sources: at most N new files per micro-batch"
    )
    streaming.add_argument(
        "--max-bytes-per-trigger", help="file sources that support it: about this many bytes per micro-batch"
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        help="Hub id, local directory (also dbfs:/ and /Volumes/ paths) or Flair model file (default: sparkner's "
        "bundled demo model)",
    )
    add_option_flags(parser)
    add_deprecated_flag(parser, "--token-file", "--hf-token-file", dest="token_file")
    parser.add_argument("--config", help="YAML or JSON file with any of these settings; flags win")
    parser.add_argument("--master", help="Spark master when not launched by spark-submit (e.g. local[2])")
    return parser


def parse_args(argv: list[str] | None = None) -> JobConfig:
    """The job's settings: the config file's, then the flags given; the token read from its file."""
    given = vars(build_parser().parse_args(argv))
    settings = read_config_file(given.pop("config")) if "config" in given else {}
    if "hf_token_file" in settings:  # the config file's spelling of --hf-token-file
        settings["token_file"] = settings.pop("hf_token_file")
    settings.update(given)
    options = options_from_args(settings)
    token = options.pop("token", None)
    config = JobConfig(**settings, options=options, token=token)
    check(config)
    return config


def main(argv: list[str] | None = None) -> int:
    """Run the job; exit status 0 on success, 2 for a problem with the input or settings."""
    command_started = time.time()
    setup_logging()
    try:
        with driver_errors(PROG, (JobError,)):
            config = parse_args(argv)
            settings = config.ner_settings()
            TokenClassifier.from_settings(settings)  # model, tokenizer and parameters checked before Spark starts
            masker = config.masker(settings)  # operators and keys checked (and keys read) on the driver
        return run(config, settings, command_started, masker)
    except Failed as failed:
        return failed.status


def run(config: JobConfig, settings: Settings, command_started: float, masker: Masker | None = None) -> int:
    """The Spark part: a local session unless spark-submit or Databricks gives one; Ctrl-C or SIGTERM
    stop it cleanly."""
    from sparkner.jobs.run import (
        default_summary_path,
        run_job,
        write_examples_table,
        write_latest_summary,
        write_summary,
    )

    spark = local_session(PROG, config.master)
    progress = JobProgress()
    path = default_summary_path(config)
    with driver_errors(PROG, (JobError,)):
        try:
            with stop_on_signals(spark, progress):
                if config.stream:
                    from sparkner.jobs.stream import run_stream

                    def latest(summary: RunSummary) -> None:  # after each micro-batch
                        if path:
                            write_latest_summary(summary, path)

                    summary = run_stream(
                        spark,
                        config,
                        settings,
                        command_started=command_started,
                        progress=progress,
                        on_batch=latest,
                        masker=masker,
                    )
                else:
                    summary = run_job(
                        spark, config, settings, command_started=command_started, progress=progress, masker=masker
                    )
        except Stopped as stopped:
            print(f"{PROG}: stopped by {stopped.name}; {progress.kept(config)}", file=sys.stderr)
            return 128 + stopped.signum
    if config.show:
        print(f"\nEntities found (first {config.show}):\n{write_examples_table(summary)}\n")
    print("Run summary:")
    print(summary.to_json())
    if path:
        own, latest_path = write_summary(summary, path)
        logger.info("summary written to %s (latest: %s)", own, latest_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
