"""The first hour from a wheel: `pip install` of the built wheel into a clean venv outside the repo,
then the job and the quickstart notebook from there, with no PYSPARK_PYTHON and no repo on the path.

Slow (a venv and its packages, from PyPI or pip's cache): marked `wheel`, so `pytest -m wheel` runs it
alone and `pytest -m "not wheel"` leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest
from samples import json_input

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "sparkner_quickstart.ipynb"
# The runtime this suite runs on decides the pins the clean venv gets.
CONSTRAINTS = ROOT / "constraints" / ("lts.txt" if pyspark.__version__.startswith("3.") else "latest.txt")
TORCH = os.environ.get("TORCH", "torch==2.13.0")  # the Makefile's pin: CPU build, installed first

pytestmark = pytest.mark.wheel

RUN_NOTEBOOK = """
import sys
import nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
errors = [o for o in outputs if o.output_type == "error"]
assert not errors, errors[0]["evalue"]
print("\\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs))
"""


def clean_env() -> dict[str, str]:
    """This process's environment without anything that points Python or Spark's workers at the repo."""
    dropped = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "PYTHONPATH", "VIRTUAL_ENV", "SPARK_HOME")
    return {key: value for key, value in os.environ.items() if key not in dropped} | {"HF_HUB_OFFLINE": "1"}


def run(command: list, cwd: Path, timeout: int = 900) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv, outside the repo, with the wheel built from this checkout (and its notebook extra)."""
    home = tmp_path_factory.mktemp("first-hour")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", home / "dist", ROOT], home)
    [wheel] = (home / "dist").glob("sparkner-*.whl")
    run([sys.executable, "-m", "venv", home / "venv"], home)
    python = home / "venv" / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", TORCH], home)
    run(
        [python, "-m", "pip", "install", "--quiet", f"{wheel}[notebook]", "nbclient", "ipykernel", "-c", CONSTRAINTS],
        home,
    )
    return home


def test_the_job_runs_from_the_installed_wheel(installed):
    venv = installed / "venv"
    sample = run([venv / "bin" / "python", "-c", "import sparkner; print(sparkner.SAMPLE_DOCS)"], installed).strip()
    assert sample.startswith(str(venv)), "the sample documents ship inside the package"
    out = installed / "out"
    job = [
        venv / "bin" / "sparkner-job",
        *json_input(sample),
        "--output",
        out,
    ]
    run(job, installed)
    summary = json.loads((out / "_sparkner_summary.json").read_text())
    assert summary["rows_processed"] == 35 and summary["entities"] > 50


def test_the_notebook_runs_from_the_installed_wheel(installed):
    notebook = installed / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)  # as a user downloads it: the notebook file alone
    text = run([installed / "venv" / "bin" / "python", "-c", RUN_NOTEBOOK, notebook], installed)
    assert "35 documents" in text and "35 documents streamed" in text and "Olaf Scholz" in text and "micro avg" in text
