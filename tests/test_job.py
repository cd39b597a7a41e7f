"""The batch job: modes, explode, config files, failures, and a run killed midway."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from parity import PIPELINE_WORDS, assert_same_entities
from samples import EXACT_FLAGS, copies_of_the_sample, job_process, json_input

from sparkner import SAMPLE_DOCS
from sparkner.cli.job import main
from sparkner.jobs.config import demo_model_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(SAMPLE_DOCS)


def job(*args: str) -> int:
    return main(["--input", str(SAMPLE), "--input-format", "json", "--id-col", "doc_id", *args])


def rows(spark, path) -> list[dict]:
    return [row.asDict(recursive=True) for row in spark.read.parquet(str(path)).orderBy("doc_id").collect()]


@pytest.fixture(scope="module", autouse=True)
def _session(spark):
    """The job's getOrCreate() reuses the test session, so in-process runs are quick."""
    return spark


def sample_ids() -> list[str]:
    return sorted(json.loads(line)["doc_id"] for line in SAMPLE.open())


def test_overwrite_rerun_gives_identical_output(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--mode", "overwrite") == 0
    first = rows(spark, out)
    assert job("--output", str(out), "--mode", "overwrite") == 0
    assert rows(spark, out) == first
    assert [r["doc_id"] for r in first] == sample_ids()
    by_id = {r["doc_id"]: r for r in first}
    assert by_id["doc-035"]["entities"] is None and by_id["doc-033"]["entities"] == []
    words = {e["word"] for r in first for e in (r["entities"] or [])}
    assert {"Olaf Scholz", "Paris", "Emmanuel Macron"} <= words, "the demo model finds real entities"
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["rows_processed"] == summary["rows_out"] == len(sample_ids())
    assert summary["null_texts"] == 1 and summary["empty_texts"] == 1
    assert summary["entities"] == sum(summary["entities_per_label"].values()) > 50
    assert summary["tokens"] > 500 and summary["tokens_per_second"] > 0


def test_default_mode_refuses_existing_output(tmp_path, capsys):
    out = tmp_path / "out"
    assert job("--output", str(out)) == 0
    assert job("--output", str(out)) == 2
    assert "already exists; pass --mode overwrite, append or incremental" in capsys.readouterr().err


def test_append_adds_rows(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--mode", "append") == 0
    assert job("--output", str(out), "--mode", "append") == 0
    assert len(rows(spark, out)) == 2 * len(sample_ids())


def test_incremental_processes_only_new_ids(spark, tmp_path):
    half = tmp_path / "half.jsonl"
    lines = SAMPLE.read_text().splitlines()
    half.write_text("\n".join(lines[::2]) + "\n")
    out = tmp_path / "out"
    assert (
        main(
            [
                *json_input(str(half)),
                "--output",
                str(out),
                "--mode",
                "incremental",
            ]
        )
        == 0
    )
    files_before = set(out.glob("*.parquet"))
    assert job("--output", str(out), "--mode", "incremental") == 0
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["rows_skipped_existing"] == len(lines[::2]) and summary["rows_processed"] == len(lines) - len(
        lines[::2]
    )
    assert summary["rows_input"] == len(lines), "the input's rows, processed or skipped"
    assert summary["rows_in"] == summary["rows_processed"], "0.1.0's name, kept for one release"
    assert [r["doc_id"] for r in rows(spark, out)] == sample_ids()
    new_files = set(out.glob("*.parquet")) - files_before
    per_file = [spark.read.parquet(str(file)).count() for file in new_files]
    assert len(per_file) == spark.sparkContext.defaultParallelism and min(per_file) > 0, (
        "the new rows are spread over every core"
    )


def test_incremental_run_with_nothing_new_loads_nothing_and_writes_nothing(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--mode", "incremental", "--chunk-rows", "15") == 0
    files = set(out.glob("*.parquet"))
    assert len(files) > 1, "committed in chunks"
    assert job("--output", str(out), "--mode", "incremental") == 0
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert set(out.glob("*.parquet")) == files
    assert (
        summary["rows_processed"] == 0
        and summary["model_load_seconds"] == 0
        and summary["note"].startswith("nothing new")
    )
    assert summary["rows_skipped_existing"] == len(sample_ids())


def test_explode_gives_one_row_per_entity(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--explode", "--aggregation-strategy", "first") == 0
    exploded = spark.read.parquet(str(out))
    assert exploded.columns == ["doc_id", "entity_group", "score", "word", "start", "end"]
    per_doc = {r["doc_id"]: r["count"] for r in exploded.groupBy("doc_id").count().collect()}
    assert set(per_doc) == set(sample_ids()), "documents without entities keep one row"
    assert exploded.where("doc_id = 'doc-001' and word = 'Olaf Scholz' and entity_group = 'PER'").count() == 1
    assert exploded.where("doc_id = 'doc-034' and entity_group is null").count() == 1


def test_word_boundaries_flag_gives_the_api_answers_back(spark, tmp_path):
    """The default spans are the text's words; `--aggregation-strategy simple --word-boundaries
    pipeline` gives the pipeline's (the hosted API's) entities, as the library does."""
    from sparkner import TokenClassifier

    out = tmp_path / "out"
    assert (
        job(
            "--output",
            str(out),
            "--explode",
            "--aggregation-strategy",
            "simple",
            "--word-boundaries",
            "pipeline",
            *EXACT_FLAGS,
        )
        == 0
    )
    got = spark.read.parquet(str(out)).where("doc_id = 'doc-001'").orderBy("start").collect()
    text = next(json.loads(line)["text"] for line in SAMPLE.open() if json.loads(line)["doc_id"] == "doc-001")
    expected = TokenClassifier(demo_model_path(), aggregation_strategy="simple", **PIPELINE_WORDS)([text])[0]
    assert_same_entities(
        [{k: row[k] for k in ("entity_group", "score", "word", "start", "end")} for row in got], expected, "doc-001"
    )
    assert "olaf scholz" in {row["word"] for row in got}, "the uncased tokenizer's decoded word, as the API gives it"


def test_partitioned_output(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--explode", "--partition-by", "entity_group") == 0
    assert {"entity_group=PER", "entity_group=LOC", "entity_group=ORG"} <= {p.name for p in out.iterdir()}
    assert spark.read.parquet(str(out)).where("entity_group = 'PER' and word = 'Olaf Scholz'").count() == 1


def test_catalog_tables_in_and_out(spark):
    spark.read.json(str(SAMPLE)).write.mode("overwrite").saveAsTable("sample_docs")
    spark.sql("DROP TABLE IF EXISTS sample_entities")
    args = [
        "--input-table",
        "sample_docs",
        "--id-col",
        "doc_id",
        "--output-table",
        "sample_entities",
        "--mode",
        "incremental",
    ]
    assert main(args) == 0
    assert main(args) == 0, "a second incremental run finds nothing new"
    table = spark.table("sample_entities")
    assert table.count() == table.select("doc_id").distinct().count() == len(sample_ids())


def test_config_file_with_flags_winning(spark, tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "job.yaml"
    config.write_text(
        f"input: {SAMPLE}\ninput-format: json\nid_col: doc_id\noutput: {out}\naggregation_strategy: "
        "none\nignore_labels: O,MISC\n"
    )
    assert main(["--config", str(config), "--aggregation-strategy", "max"]) == 0
    entities = [e for r in rows(spark, out) for e in (r["entities"] or [])]
    assert entities and "entity_group" in entities[0], "the flag (max) beat the file (none)"
    assert "MISC" not in {e["entity_group"] for e in entities}, "ignore_labels came from the file"


def test_text_and_csv_inputs(spark, tmp_path):
    text_file = tmp_path / "lines.txt"
    text_file.write_text("Angela Merkel visited Paris.\nNo names here.\n")
    out = tmp_path / "text-out"
    assert main(["--input", str(text_file), "--input-format", "text", "--output", str(out)]) == 0
    assert spark.read.parquet(str(out)).count() == 2
    csv_file = tmp_path / "docs.csv"
    csv_file.write_text('id,body\n1,"Tim Cook of Apple spoke in London, England."\n2,\n')
    out = tmp_path / "csv-out"
    assert main(["--input", str(csv_file), "--input-format", "csv", "--text-col", "body", "--output", str(out)]) == 0
    written = spark.read.parquet(str(out))
    assert written.count() == 2 and dict(written.dtypes)["id"] == "int", "numbers in a CSV are numbers, as in JSON"
    pinned = tmp_path / "csv-pinned"
    flags = ["--input-format", "csv", "--text-col", "body", "--schema", "id string, body string"]
    assert main(["--input", str(csv_file), *flags, "--output", str(pinned)]) == 0
    assert dict(spark.read.parquet(str(pinned)).dtypes)["id"] == "string", "--schema fixes the types"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--input", "/no/such/path", "--input-format", "json", "--output", "X"],
            "cannot read input '/no/such/path' as json",
        ),
        (
            ["--input", str(SAMPLE), "--input-format", "json", "--text-col", "body", "--output", "X"],
            "input has no text column 'body'; its columns are doc_id, text",
        ),
        (
            ["--input", str(SAMPLE), "--input-format", "json", "--output", "X", "--mode", "incremental"],
            "--mode incremental needs --id-col",
        ),
        (
            ["--input", str(SAMPLE), "--input-format", "json", "--output", "X", "--aggregation-strategy", "firts"],
            "aggregation_strategy 'firts' is not one of none, simple, first, average, max",
        ),
        (
            ["--input", str(SAMPLE), "--output", "X", "--input-format", "json", "--model", "/no/model"],
            "Could not load model '/no/model'",
        ),
        (["--input", str(SAMPLE), "--output", "X"], "cannot read input"),  # JSON lines read as parquet
        (
            ["--input", str(SAMPLE), "--output", "X", "--chunk-rows", "-1"],
            "--chunk-rows must be a positive number (or 0 for one commit), got -1",
        ),
        (
            ["--input", str(SAMPLE), "--output", "X", "--progress-interval", "0"],
            "--progress-interval must be a positive number of seconds, got 0",
        ),
        (["--output", "X"], "give exactly one of --input PATH or --input-table NAME"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, args, message):
    args = [str(tmp_path / "out") if a == "X" else a for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_unknown_format_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--input", str(SAMPLE), "--input-format", "xml", "--output", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_duplicate_ids_refused_in_incremental_mode(tmp_path, capsys):
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text(SAMPLE.read_text() + SAMPLE.read_text().splitlines()[0] + "\n")
    args = [
        *json_input(str(doubled)),
        "--output",
        str(tmp_path / "o"),
        "--mode",
        "incremental",
    ]
    assert main(args) == 2
    assert "id column 'doc_id' has duplicates (e.g. 'doc-001')" in capsys.readouterr().err


def incremental_job_command(source: Path, out: Path) -> list[str]:
    """The job as its own process, committing every ~30 documents."""
    return [
        *job_process("local[1]"),
        *json_input(str(source)),
        "--output",
        str(out),
        "--mode",
        "incremental",
        "--chunk-rows",
        "30",
        *EXACT_FLAGS,  # a resumed run is compared with one never stopped
    ]


@pytest.mark.processes
def test_killed_run_then_rerun_gives_every_id_exactly_once(spark, tmp_path):
    """A real process, killed once its first chunks are committed, then run again."""
    many, total = copies_of_the_sample(tmp_path, 6)
    out = tmp_path / "out"
    command = incremental_job_command(many, out)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if len(list(out.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.5)
    assert process.poll() is None, "the run should still be going when it is killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = spark.read.parquet(str(out)).count()
    assert 0 < done_before < total
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = spark.read.parquet(str(out))
    assert result.count() == result.select("doc_id").distinct().count() == total
    clean = tmp_path / "clean"
    assert main([*json_input(str(many)), "--output", str(clean), *EXACT_FLAGS]) == 0
    resumed, reference = rows(spark, out), rows(spark, clean)
    assert [r["doc_id"] for r in resumed] == [r["doc_id"] for r in reference]
    for mine, theirs in zip(resumed, reference):  # same entities as a run never killed (scores to float rounding)
        assert_same_entities(mine["entities"] or [], theirs["entities"] or [], mine["doc_id"])


def test_demo_model_is_bundled():
    assert (Path(demo_model_path()) / "model.safetensors").exists()


def test_gold_column_puts_span_metrics_in_the_summary(spark, tmp_path):
    source = tmp_path / "gold.jsonl"
    text = "German Chancellor Olaf Scholz arrived in Paris on Monday."
    gold = [
        {"start": 18, "end": 29, "label": "PER"},
        {"start": 41, "end": 46, "label": "LOC"},
        {"start": 0, "end": 6, "label": "MISC"},
    ]
    source.write_text(
        json.dumps({"doc_id": "a", "text": text, "gold": gold})
        + "\n"
        + json.dumps({"doc_id": "b", "text": None, "gold": None})
        + "\n"
    )
    out = tmp_path / "out"
    code = main(
        [
            *json_input(str(source)),
            "--gold-col",
            "gold",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    quality = {row["label"]: row for row in json.loads((out / "_sparkner_summary.json").read_text())["quality"]}
    assert quality["PER"]["true_positives"] == 1 and quality["LOC"]["true_positives"] == 1
    assert quality["micro avg"]["support"] == 3
    assert (
        main(["--input", str(source), "--input-format", "json", "--gold-col", "nope", "--output", str(tmp_path / "o2")])
        == 2
    )


def test_summary_separates_start_up_and_loading_and_keeps_every_run(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--mode", "overwrite") == 0
    runs = sorted(out.glob("_sparkner_summary-*.json"))
    latest = json.loads((out / "_sparkner_summary.json").read_text())
    assert len(runs) >= 1 and json.loads(runs[-1].read_text()) == latest, (
        "one file per run, named by its start, plus the latest"
    )
    assert latest["model_load_seconds"] > 0 and latest["processing_seconds"] > 0
    assert (
        latest["wall_seconds"]
        >= latest["startup_seconds"] + latest["model_load_seconds"] + latest["processing_seconds"] - 0.01
    )
    assert latest["tokens_per_second"] == pytest.approx(latest["tokens"] / latest["processing_seconds"], rel=0.01)


def test_explode_can_keep_the_text(spark, tmp_path):
    out = tmp_path / "out"
    assert job("--output", str(out), "--explode", "--keep-text") == 0
    rows = spark.read.parquet(str(out)).where("entity_group is not null").collect()
    assert "text" in rows[0].asDict() and all(row["text"][row["start"] : row["end"]] == row["word"] for row in rows)


def in_a_terminal(command: list[str], until: Callable[[], bool], timeout: float = 240) -> tuple[int, str]:
    """Run `command` on a pseudo-terminal of its own and press Ctrl-C once `until()` holds: the terminal
    signals its whole foreground process group, as a person's Ctrl-C does. The exit status, and all the
    terminal showed (both streams)."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and stderr are the terminal
        os.execve(command[0], command, {**os.environ, "PYSPARK_PYTHON": sys.executable})
    shown, pressed, deadline = b"", False, time.time() + timeout
    while time.time() < deadline:
        if select.select([terminal], [], [], 0.2)[0]:
            try:
                data = os.read(terminal, 65536)
            except OSError:  # the terminal closed: the command and its children are gone
                break
            if not data:
                break
            shown += data
        if not pressed and until():
            os.write(terminal, b"\x03")
            pressed = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


@pytest.mark.processes
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_run_says_what_it_kept_in_one_line(spark, tmp_path, signum, status):
    """Ctrl-C on a terminal or SIGTERM mid-run: Spark's work is cancelled, the committed chunks stay,
    one line says so (no stack traces from the command, the JVM or the Python workers), exit 130/143;
    a rerun finishes with every id once."""
    many, total = copies_of_the_sample(tmp_path, 8)
    out = tmp_path / "out"
    command = incremental_job_command(many, out)
    committed = lambda: len(list(out.glob("*.parquet"))) >= 2  # noqa: E731
    if signum == signal.SIGINT:
        returncode, shown = in_a_terminal(command, committed)
    else:
        process = subprocess.Popen(
            command,
            env={**os.environ, "PYSPARK_PYTHON": sys.executable},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None and not committed():
            time.sleep(0.3)
        assert process.poll() is None, "the run should still be going when it is stopped"
        process.send_signal(signum)
        shown, _ = process.communicate(timeout=120)
        returncode = process.returncode
    assert returncode == status, shown[-3000:]
    assert "Traceback" not in shown and "Py4J" not in shown and "Exception" not in shown, shown[-3000:]
    [line] = [line for line in shown.splitlines() if "sparkner-job: stopped" in line]
    assert (
        f"stopped by {signal.Signals(signum).name}" in line
        and "were committed and kept; rerun the same command" in line
    )
    after = shown[shown.index("sparkner-job: stopped") :].strip().splitlines()
    assert len(after) == 1, f"nothing after the line that says what was kept: {after}"
    kept = spark.read.parquet(str(out)).count()
    assert 0 < kept < total
    assert f"({kept:,} rows)" in line, "the line counts the rows the committed chunks hold"
    if signum != signal.SIGINT:
        return  # both signals stop the job the same way from here; one rerun shows the resume
    rerun = subprocess.run(
        command, env={**os.environ, "PYSPARK_PYTHON": sys.executable}, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    result = spark.read.parquet(str(out))
    assert result.count() == result.select("doc_id").distinct().count() == total


@pytest.mark.processes
def test_progress_lines_show_rows_done_out_of_the_total_rates_and_eta(tmp_path):
    """Off a terminal the job logs a progress line every --progress-interval seconds."""
    many, total = copies_of_the_sample(tmp_path, 8)
    command = [*incremental_job_command(many, tmp_path / "out"), "--progress-interval", "0.3"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [
        line.split("progress: ", 1)[1]
        for line in run.stderr.splitlines()
        if "sparkner.progress INFO progress: " in line
    ]
    done = [int(line.split("/")[0].replace(",", "")) for line in lines]
    assert all(f"/{total} rows (" in line for line in lines)
    assert done == sorted(done) and len(set(done)) > 2 and done[-1] == total, lines
    assert all("rows/s" in line and "tokens/s" in line for line in lines)
    assert any("ETA" in line for line in lines[:-1])
    assert not any("0 tasks running" in line for line in lines), "no task count between Spark jobs"
