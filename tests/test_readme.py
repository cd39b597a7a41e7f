"""The README's Python examples run as written (on the bundled demo model)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def expected_output(comment: str) -> re.Pattern:
    """A printed result as the README shows it in comments: `0.94..` is a score's first digits,
    `...` stands for the rest of a list."""
    pattern = re.escape(comment).replace(r"\.\.\.", ".*").replace(r"\.\.", r"\d*")
    return re.compile(pattern)


def test_readme_python_examples_run_and_print_what_they_say(spark, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out
    assert "Emmanuel Macron" in printed
    shown = [
        " ".join(line.strip().removeprefix("# ").strip() for line in group.splitlines())
        for block in blocks
        for group in re.findall(r"(?m)^print\(.*\n((?:# .*\n)+)", block)
    ]
    assert len(shown) >= 2, "the README shows what its print() calls print"
    for comment in shown:
        assert expected_output(comment).search(printed.replace("\n", " ")), (
            f"the README says {comment!r}; printed {printed}"
        )


def test_readme_starts_with_the_two_commands():
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


@pytest.mark.processes
def test_the_first_snippet_runs_as_pasted_from_a_venv_that_is_not_activated(tmp_path):
    """`.venv/bin/python snippet.py` with no PYSPARK_PYTHON: Spark's workers would start the
    `python3` on PATH, which has no sparkner (here: the base interpreter, isolated)."""
    snippet = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    shims = tmp_path / "bin"
    shims.mkdir()
    python3 = shims / "python3"
    python3.write_text(f'#!/bin/sh\nexec {sys._base_executable} -I "$@"\n')
    python3.chmod(0o755)
    hidden = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV", "PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if name not in hidden}
    env["PATH"] = f"{shims}:/usr/bin:/bin"
    run = subprocess.run(
        [sys.executable, "-c", snippet], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Emmanuel Macron" in run.stdout


def test_the_demo_models_f1_is_what_the_docs_say_and_what_it_scores():
    """docs/development.md quotes eval.json, and eval.json's exact-span F1 is the model's today
    (`sparkner eval`'s arithmetic over CoNLL-2003 test, in process)."""
    from paths import DATA

    from sparkner import DEMO_MODEL, TokenClassifier
    from sparkner.demo import SCORES, scores_paragraph
    from sparkner.metrics.conll import gold_spans, read_conll_file
    from sparkner.metrics.spans import LabelCounts, add_counts, metrics_rows, row_counts

    docs = (README.parent / "docs" / "development.md").read_text()
    assert f"<!-- demo-f1 -->\n{scores_paragraph()}\n<!-- /demo-f1 -->" in docs, (
        "run scripts/train_demo_model.py --evaluate-only"
    )
    conll = DATA / "conll2003" / "test.txt"
    if not conll.exists():
        pytest.skip(f"CoNLL-2003 lives in the project's shared/ folder ({conll})")
    sentences = list(read_conll_file(conll))
    found = TokenClassifier(DEMO_MODEL, runtime="torch", dtype="float32")([s.text for s in sentences])
    counts: dict[str, LabelCounts] = {}
    for sentence, entities in zip(sentences, found):
        mine = [(e["start"], e["end"], e["entity_group"]) for e in entities]
        counts = add_counts(counts, {k: LabelCounts(*c) for k, c in row_counts(mine, gold_spans(sentence)).items()})
    measured = {row["label"]: row["f1"] for row in metrics_rows(counts)}
    claimed = json.loads(SCORES.read_text())["conll2003_test_entity_f1"]["exact_spans"]
    assert measured["micro avg"] == pytest.approx(claimed["f1"], abs=5e-5)
    for label in ("PER", "LOC", "ORG", "MISC"):
        assert measured[label] == pytest.approx(claimed[label], abs=5e-5), label
