"""The README's Python examples run as written (on the bundled demo model)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(spark, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    printed = capsys.readouterr().out
    assert "'entity_group': 'PER'" in printed and "'word': 'Wolfgang'" in printed
    assert "Emmanuel Macron" in printed


def test_readme_starts_with_the_two_commands():
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head
