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
SCORES = HERE / "model" / "eval.json"  # the model's F1 on CoNLL-2003 test (scripts/train_demo_model.py)


def scores_paragraph() -> str:
    """The demo model's F1, as docs/development.md quotes it (between its `demo-f1` markers)."""
    import json

    scores = json.loads(SCORES.read_text())["conll2003_test_entity_f1"]

    def figures(kind: str) -> tuple[str, str]:
        found = scores[kind]
        labels = ", ".join(f"{label} {found[label]:.3f}" for label in ("PER", "LOC", "ORG", "MISC"))
        return f"**{found['f1']:.3f}**", labels

    exact, exact_labels = figures("exact_spans")
    words, words_labels = figures("seqeval_words")
    return (
        f"{exact} as exact character spans, what `sparkner eval --gold ../shared/data/conll2003/test.txt` reports "
        f"({exact_labels}); {words} as seqeval on the CoNLL words' tags ({words_labels}), where a prediction "
        'counts for the whole word it touches, so an entity the model splits at inner punctuation ("U" and "S" for '
        '"U.S.") still counts once.'
    )
