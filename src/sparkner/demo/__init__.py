"""The small NER model and sample documents bundled with sparkner, for demos, examples and tests.

The model: a 3-layer MiniLM fine-tuned on CoNLL-2003 (English, uncased; PER, ORG,
LOC, MISC), trained by `scripts/train_demo_model.py`. Use a full-size model such as
`dslim/bert-base-NER` for real work.

The samples ship inside the package, so the notebook and the job's demo run from an
installed wheel: `SAMPLE_DOCS` (35 news-style JSON lines with `doc_id` and `text`,
an empty and a null text among them) and `SAMPLE_GOLD` (the same texts with
hand-made CoNLL-style gold spans in `entities`, for `sparkner.read_spans`).
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_PATH = str(HERE / "model")
SAMPLE_DOCS = str(HERE / "sample_docs.jsonl")
SAMPLE_GOLD = str(HERE / "sample_gold.jsonl")
