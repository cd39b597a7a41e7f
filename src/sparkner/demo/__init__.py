"""The small NER model bundled with sparkner, for demos, examples and tests.

A 3-layer MiniLM fine-tuned on CoNLL-2003 (English, uncased; PER, ORG, LOC,
MISC), trained by `scripts/train_demo_model.py`. Use a full-size model such as
`dslim/bert-base-NER` for real work.
"""

from pathlib import Path

MODEL_PATH = str(Path(__file__).resolve().parent / "model")
