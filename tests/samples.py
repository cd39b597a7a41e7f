"""The bundled sample documents, and larger inputs made of copies of them, for the job tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sparkner import SAMPLE_DOCS

SAMPLE = Path(SAMPLE_DOCS)
# The job computing as the pipeline does (`parity.EXACT`): for tests that compare runs batched differently.
EXACT_FLAGS = ["--runtime", "torch", "--dtype", "float32"]
DOCS = [json.loads(line) for line in SAMPLE.open()]


def many_docs(copies: int) -> list[dict]:
    """The sample documents `copies` times over, with unique ids."""
    return [{"doc_id": f"{doc['doc_id']}-{copy}", "text": doc["text"]} for copy in range(copies) for doc in DOCS]


def copies_of_the_sample(folder: Path, copies: int) -> tuple[Path, int]:
    """`many_docs(copies)` as a JSON-lines file in `folder`, and how many rows that is."""
    docs = many_docs(copies)
    many = folder / "many.jsonl"
    many.write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    return many, len(docs)


def json_input(source: Path, *flags: str) -> list[str]:
    """The job's flags for a JSON-lines input whose ids are `doc_id`, then `flags`."""
    return ["--input", str(source), "--input-format", "json", "--id-col", "doc_id", *flags]


def job_process(master: str, *flags: str) -> list[str]:
    """The job as its own process (`python -m sparkner.jobs`) on `master`."""
    return [sys.executable, "-m", "sparkner.jobs", "--master", master, *flags]
