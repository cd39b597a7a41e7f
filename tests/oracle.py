"""Gold data from ../shared and the perfect ("oracle") tagger, shared by the tests and the benchmarks.

The perfect tagger replaces a model's forward pass by each token's gold label (the entity its
characters overlap, `B-` on the entity's first token in the window), so every error left comes from
turning tokens into entities. Random-weight models of the right class are saved under the real
tokenizers in ../shared/data/tokenizers (and the tiny families of `tiny_models`).
`benchmarks/boundaries.py` prints the tables; `tests/test_word_boundaries.py` holds them to bars.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from paths import DATA, REAL_MODEL, ROOT, SHARED, TOKENIZERS  # noqa: F401 - re-exported for the benchmarks

from sparkner import TokenClassifier
from sparkner.engine import windows as windowing
from sparkner.metrics.conll import gold_spans, read_conll_file
from sparkner.metrics.spans import LabelCounts, add_counts, metrics_rows, row_counts

IOB_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclass(frozen=True)
class GoldText:
    """A text with its gold entities as exact character spans."""

    id: str
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, label)


def natural_docs(split: str = "test", limit: int | None = None) -> list[GoldText]:
    """CoNLL-2003 documents with newswire punctuation and exact gold spans (../shared/data/natural_docs)."""
    path = DATA / "natural_docs" / f"conll2003_{split}_natural.jsonl"
    docs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            spans = tuple((e["start"], e["end"], e["label"]) for e in row["entities"])
            docs.append(GoldText(row["doc_id"], row["text"], spans))
            if limit is not None and len(docs) >= limit:
                break
    return docs


def conll_sentences(split: str = "test", limit: int | None = None) -> list[GoldText]:
    """CoNLL-2003 sentences as texts (tokens joined with single spaces) with gold spans."""
    texts = []
    for i, sentence in enumerate(read_conll_file(DATA / "conll2003" / f"{split}.txt")):
        if limit is not None and i >= limit:
            break
        texts.append(GoldText(f"{split}-{i}", sentence.text, tuple(gold_spans(sentence))))
    return texts


def span_f1(gold: Iterable[GoldText], predicted: Iterable[list[dict]]) -> dict[str, float]:
    """Micro precision/recall/F1 of exact (start, end, label) matches, with `sparkner.evaluate`'s
    per-row counting and seqeval's arithmetic, in process: seqeval's span F1 when spans follow words."""
    counts: dict[str, LabelCounts] = {}
    for doc, entities in zip(gold, predicted):
        mine = [(e["start"], e["end"], e.get("entity_group") or e["entity"].split("-", 1)[-1]) for e in entities or []]
        counts = add_counts(counts, {label: LabelCounts(*c) for label, c in row_counts(mine, doc.spans).items()})
    micro = next(row for row in metrics_rows(counts) if row["label"] == "micro avg")
    return {
        "precision": micro["precision"],
        "recall": micro["recall"],
        "f1": micro["f1"],
        "gold": micro["support"],
        "predicted": micro["predicted"],
    }


STRATEGIES = ("simple", "first", "average", "max")
MODES = ("pipeline", "text")


def _save_model(directory: Path, tokenizer, config) -> Path:
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_config(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _small(config_class, tokenizer, **extra):
    return config_class(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(IOB_LABELS)),
        label2id={label: i for i, label in enumerate(IOB_LABELS)},
        **extra,
    )


def real_bert(directory: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZERS / "bert-base-NER")
    return _save_model(directory, tokenizer, _small(BertConfig, tokenizer, max_position_embeddings=512))


def real_roberta(directory: Path) -> Path:
    from transformers import RobertaConfig, RobertaTokenizerFast

    tokenizer = RobertaTokenizerFast.from_pretrained(TOKENIZERS / "roberta-base")
    return _save_model(
        directory, tokenizer, _small(RobertaConfig, tokenizer, max_position_embeddings=514, pad_token_id=1)
    )


def real_deberta_v3(directory: Path) -> Path:
    from transformers import DebertaV2Config, DebertaV2TokenizerFast

    with tempfile.TemporaryDirectory() as spm:
        shutil.copy(TOKENIZERS / "deberta-v3-base" / "spm.model", spm)
        tokenizer = DebertaV2TokenizerFast.from_pretrained(spm)
    config = _small(
        DebertaV2Config,
        tokenizer,
        max_position_embeddings=512,
        relative_attention=True,
        position_buckets=256,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
    )
    return _save_model(directory, tokenizer, config)


def sentencepiece_file(directory: Path, kind: str) -> Path:
    """A SentencePiece model (`kind`: "unigram" or "bpe") trained here on CoNLL-2003 train sentences
    (a few seconds), as real SentencePiece tokenizers are trained: on raw text, pieces within words."""
    import sentencepiece

    directory.mkdir(parents=True, exist_ok=True)
    corpus = directory / "corpus.txt"
    corpus.write_text("".join(sentence.text + "\n" for sentence in conll_sentences("train")), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(directory / kind), vocab_size=4000, model_type=kind,
        character_coverage=1.0, minloglevel=2,
    )  # fmt: skip
    return directory / f"{kind}.model"


def sentencepiece_unigram(directory: Path) -> Path:
    """An XLM-R-style tokenizer that transformers converts in memory from the SentencePiece file at
    every load (no tokenizer.json), under a small XLM-R model."""
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

    spm = sentencepiece_file(directory / "spm", "unigram")
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(spm, Path(folder) / "sentencepiece.bpe.model")
        tokenizer = XLMRobertaTokenizerFast.from_pretrained(folder, model_max_length=512)
    config = _small(XLMRobertaConfig, tokenizer, max_position_embeddings=514, pad_token_id=tokenizer.pad_token_id)
    path = _save_model(directory / "model", tokenizer, config)
    (path / "tokenizer.json").unlink()
    shutil.copy(spm, path / "sentencepiece.bpe.model")
    return path


def sentencepiece_bpe(directory: Path) -> Path:
    """A SentencePiece-style BPE tokenizer (`tokenizers`' SentencePieceBPETokenizer: NFKC, `▁` for
    spaces, BPE merges) trained here on CoNLL-2003 train sentences, under a small XLM-R model.

    (Llama's converter of a SentencePiece BPE file was tried first: with byte fallback its offsets
    run one character off after every newline, in transformers' own tokenizer call too.)"""
    from tokenizers import SentencePieceBPETokenizer, processors
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trained = SentencePieceBPETokenizer(unk_token="<unk>")
    trained.train_from_iterator(
        (sentence.text for sentence in conll_sentences("train")), vocab_size=4000, special_tokens=specials
    )
    backend = trained._tokenizer
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        special_tokens=[("<s>", backend.token_to_id("<s>")), ("</s>", backend.token_to_id("</s>"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=512,
        **dict(zip(("bos_token", "pad_token", "eos_token", "unk_token", "mask_token"), specials)),
    )
    config = _small(XLMRobertaConfig, tokenizer, max_position_embeddings=514, pad_token_id=tokenizer.pad_token_id)
    return _save_model(directory, tokenizer, config)


def tiny(family: str) -> Callable[[Path], Path]:
    def build(directory: Path) -> Path:
        from tiny_models import build_tiny_model

        return build_tiny_model(directory, family, model_max_length=128, max_positions=160, labels=list(IOB_LABELS))

    return build


FAMILIES: dict[str, Callable[[Path], Path]] = {
    "bert-base-NER (cased WordPiece)": real_bert,
    "roberta-base (byte-level BPE)": real_roberta,
    "deberta-v3 (SentencePiece unigram)": real_deberta_v3,
    "SentencePiece-style BPE (built here)": sentencepiece_bpe,
    "SentencePiece unigram (built here, converted in memory)": sentencepiece_unigram,
    "tiny bert-cased": tiny("bert-cased"),
    "tiny bert-uncased": tiny("bert-uncased"),
    "tiny roberta": tiny("roberta"),
    "tiny xlm-roberta (unigram)": tiny("xlm-roberta"),
    "tiny deberta-v2 (unigram)": tiny("deberta-v2"),
}


def gold_labels(offsets: np.ndarray, special: np.ndarray, spans: tuple[tuple[int, int, str], ...]) -> np.ndarray:
    """Per token of one window: the label of the gold entity its characters overlap, B- on the
    entity's first token in the window (a token covering no character is O)."""
    label_id = {label: i for i, label in enumerate(IOB_LABELS)}
    labels = np.zeros(len(offsets), dtype=np.int64)
    seen: set[int] = set()
    for t, ((start, end), is_special) in enumerate(zip(offsets.tolist(), special.tolist())):
        if is_special or start >= end:
            continue
        entity = next((k for k, (s, e, _) in enumerate(spans) if s < end and e > start), -1)
        if entity >= 0:
            labels[t] = label_id[("I-" if entity in seen else "B-") + spans[entity][2]]
            seen.add(entity)
    return labels


def perfect_tagger(classifier: TokenClassifier, docs: list[GoldText], noise: float = 0.0, seed: int = 0) -> None:
    """Replace the classifier's model forward by a lookup of each window's gold labels."""
    engine = classifier.engine
    windows = windowing.encode_windows(engine.tokenizer, engine.info, [doc.text for doc in docs], engine.stride)
    table: dict[tuple[int, ...], np.ndarray] = {}
    for row in range(len(windows.row_text)):
        tokens = slice(windows.row_start[row], windows.row_start[row + 1])
        key = tuple(windows.input_ids[tokens].tolist())
        labels = gold_labels(windows.offsets[tokens], windows.special[tokens], docs[windows.row_text[row]].spans)
        if noise:
            digest = int(hashlib.sha1(repr(key).encode()).hexdigest()[:8], 16)
            rng = np.random.default_rng(seed + digest)
            noisy = rng.random(len(labels)) < noise
            labels[noisy] = rng.integers(0, len(IOB_LABELS), int(noisy.sum()))
        table.setdefault(key, labels)
    model = engine.load().model

    def forward(input_ids, attention_mask, **_):
        logits = torch.full((*input_ids.shape, len(IOB_LABELS)), -10.0)
        for r, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist())):
            labels = table[tuple(ids[: sum(mask)])]
            logits[r, torch.arange(len(labels)), torch.from_numpy(labels)] = 10.0
        return {"logits": logits}

    model.forward = forward


def measure(
    path: Path, docs: list[GoldText], noise: float, strategies=STRATEGIES, modes=MODES
) -> dict[tuple[str, str], float]:
    """Span F1 per (word_boundaries, strategy) with the perfect tagger under the model at `path`."""
    scores = {}
    for mode in modes:
        for strategy in strategies:
            classifier = TokenClassifier(path, aggregation_strategy=strategy, word_boundaries=mode, runtime="torch")
            perfect_tagger(classifier, docs, noise)
            scores[mode, strategy] = span_f1(docs, classifier([doc.text for doc in docs]))["f1"]
    return scores
