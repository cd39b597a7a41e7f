"""Texts that exercise the pipeline's rules: scripts, punctuation, unknown characters, lengths."""

from __future__ import annotations

from hypothesis import strategies as st
from tiny_models import CORPUS

SHORT_TEXTS = [
    "Angela Merkel met Emmanuel Macron in Berlin.",
    "Apple Inc. opened an office in São Paulo.",
    "Dr. Jürgen Müller works for Siemens AG.",
    "",
    "   ",
    "\t\n",
    "a",
    "Paris",
    "New York-based Real Madrid fans!!!",
    "O'Neil's café, naïve résumé.",
    "Cafe\u0301 with combining accent",
    "東京 and 大阪 are in 日本.",
    "Emoji 😀 party 🎉 in Rome",
    "control\x07chars\x00and\x1bescapes",
    "zero\u200bwidth\ufeffbom",
    "مرحبا Berlin שלום",
    "multiple    spaces   between   words",
    "3.5 percent on Friday, 2024-01-02.",
    "The United Nations signed an agreement in Geneva.",
    "UPPER CASE HEADLINE FROM REUTERS",
]

LONG_TEXTS = [
    " ".join(CORPUS),
    " ".join(CORPUS[:4]) + " 😀 東京 " + " ".join(CORPUS[4:8]),
    "\n".join(CORPUS[::-1]),
    "Supercalifragilistic" * 12 + " in Berlin.",
]

ALL_TEXTS = SHORT_TEXTS + LONG_TEXTS

# Hypothesis strategies for any text, and for texts of entity-like words.
# Letters, digits, punctuation, spaces, control characters, marks, symbols (emoji), CJK, RTL...
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120)
WORDS = st.lists(
    st.sampled_from(["Angela", "Merkel", "Berlin", "São", "Paulo", "東京", "😀", "-", ",", "O'Neil", "\t", "  "]),
    max_size=30,
).map(" ".join)
