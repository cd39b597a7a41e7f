"""The quickstart notebook runs headless against the demo model, and is stored without outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "sparkner_quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip outputs before committing"


@pytest.mark.notebook
def test_notebook_runs_and_counts_entities():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    env = {"PYSPARK_PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}  # the kernel draws inline
    os.environ.update(env)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "35 documents" in text
    assert "35 documents streamed" in text, "the streaming cell ran"
    assert "Olaf Scholz" in text, "the SQL cell lists real entities"
    for label in ("PER", "ORG", "LOC"):
        assert label in text, f"the count by label shows {label}"
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2, "the charts are drawn"
    assert "micro avg" in text, "the evaluation cell prints the metrics"
