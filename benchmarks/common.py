"""What every benchmark shares: paths, the data in ../shared, and span F1.

Benchmarks call the library for everything else (sparkner's classifier, its windows
and its predictor), so they measure the code users run rather than a copy of it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT / "src"))
sys.path.insert(0, str(_ROOT / "tests"))  # the gold data and the perfect tagger, shared with the tests

from oracle import IOB_LABELS, GoldText, conll_sentences, natural_docs, span_f1  # noqa: E402, F401
from paths import DATA, REAL_MODEL, ROOT, SHARED, TOKENIZERS  # noqa: E402, F401


def rss_mib(pid: int) -> float:
    """A process's resident memory in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(name))
    return found


def long_document_texts(split: str = "test") -> list[str]:
    """CoNLL-2003 documents with newswire punctuation (../shared/data/natural_docs), as texts."""
    return [doc.text for doc in natural_docs(split)]


def sentence_texts(split: str = "test", limit: int | None = None) -> list[str]:
    """CoNLL-2003 sentences' texts (see `conll_sentences` for their gold spans)."""
    return [sentence.text for sentence in conll_sentences(split, limit)]
