"""Texts that exercise the pipeline's rules: scripts, punctuation, unknown characters, lengths."""

from __future__ import annotations

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
