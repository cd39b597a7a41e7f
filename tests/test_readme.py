"""The README's Python examples run as written (on the bundled demo model)."""

from __future__ import annotations

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
