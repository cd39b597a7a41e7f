"""What every benchmark shares: paths, the data in ../shared, and span F1.

Benchmarks call the library for everything else (sparkner's classifier, its chunking
and its predictor), so they measure the code users run rather than a copy of it.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT / "src"))
sys.path.insert(0, str(_ROOT / "tests"))  # the gold data and the perfect tagger, shared with the tests

from oracle import IOB_LABELS, GoldText, conll_sentences, natural_docs, span_f1  # noqa: E402, F401
from paths import DATA, REAL_MODEL, ROOT, SHARED, TOKENIZERS  # noqa: E402, F401
