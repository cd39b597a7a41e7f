"""Where the shared data lives: ../shared beside the repository (absent on a user's machine)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
REAL_MODEL = SHARED / "models" / "conll03-minilm-ner"
TOKENIZERS = DATA / "tokenizers"
