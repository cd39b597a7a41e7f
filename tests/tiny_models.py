"""Tiny token-classification models of each tokenizer family, built offline.

Each model is a real transformers architecture (BERT, RoBERTa, XLM-RoBERTa,
DeBERTa-v2) with a tokenizer trained here by the `tokenizers` library on a few
sentences, saved with `save_pretrained` so both sparkner and the reference
pipeline load it the way users load a Hub model. The classifier weights are
scaled up so predictions are confident and argmax ties cannot come from float
noise; the encoder is random, so labels vary from token to token and every
grouping rule gets exercised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = [
    "Angela Merkel met Emmanuel Macron in Berlin on Tuesday.",
    "The European Union and the United Nations signed an agreement in Geneva.",
    "Apple Inc. opened a new office in São Paulo, Brazil, last year.",
    "Dr. Jürgen Müller works for Siemens AG in Munich and travels to Zürich.",
    "New York City is the largest city in the United States of America.",
    "Microsoft and Google compete for customers across Europe and Asia.",
    "The football club Real Madrid won the Champions League in Lisbon.",
    "Barack Obama was born in Honolulu, Hawaii, and studied at Harvard University.",
    "Reuters reported that shares of Volkswagen fell 3.5 percent on Friday.",
    "She said: 'I'll visit Paris, London and Rome before returning home.'",
    "Tokyo and Kyoto are cities in Japan; Seoul is the capital of South Korea.",
    "The company's CEO, Satya Nadella, spoke at the conference in Seattle.",
]

IOB_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
PLAIN_LABELS = ["O", "PER", "ORG", "LOC"]
# A mix the grouping rules treat specially: E-/S- are neither B- nor I-.
MIXED_LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-LOC", "B-LOC", "MISC"]


@dataclass(frozen=True)
class Family:
    name: str
    tokenizer_class: str
    labels: list[str]


FAMILIES = {
    "bert-cased": Family("bert-cased", "BertTokenizer", IOB_LABELS),
    "bert-uncased": Family("bert-uncased", "BertTokenizer", PLAIN_LABELS),
    "roberta": Family("roberta", "RobertaTokenizer", IOB_LABELS),
    "xlm-roberta": Family("xlm-roberta", "XLMRobertaTokenizer", MIXED_LABELS),
    "deberta-v2": Family("deberta-v2", "DebertaV2Tokenizer", IOB_LABELS),
}


def _wordpiece(lowercase: bool):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # A small vocabulary and alphabet: many words split into subwords, CJK and emoji become [UNK].
    trainer = trainers.WordPieceTrainer(vocab_size=220, special_tokens=specials, limit_alphabet=60)
    tokenizer.train_from_iterator(CORPUS, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer, {
        "unk_token": "[UNK]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "do_lower_case": lowercase,
    }


def _byte_level_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")),
        ("<s>", tokenizer.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=False,
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer, {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "mask_token": "<mask>",
    }


def _unigram(cls_token: str, sep_token: str, pad_token: str, unk_token: str, mask_token: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    specials = [cls_token, pad_token, sep_token, unk_token, mask_token]
    trainer = trainers.UnigramTrainer(vocab_size=180, special_tokens=specials, unk_token=unk_token)
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls_token} $A {sep_token}",
        pair=f"{cls_token} $A {sep_token} {sep_token} $B {sep_token}",
        special_tokens=[(cls_token, tokenizer.token_to_id(cls_token)), (sep_token, tokenizer.token_to_id(sep_token))],
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tokenizer, {
        "cls_token": cls_token,
        "sep_token": sep_token,
        "pad_token": pad_token,
        "unk_token": unk_token,
        "mask_token": mask_token,
        "bos_token": cls_token,
        "eos_token": sep_token,
    }


def _tokenizer(family: str):
    if family == "bert-cased":
        return _wordpiece(lowercase=False)
    if family == "bert-uncased":
        return _wordpiece(lowercase=True)
    if family == "roberta":
        return _byte_level_bpe()
    if family == "xlm-roberta":
        return _unigram("<s>", "</s>", "<pad>", "<unk>", "<mask>")
    if family == "deberta-v2":
        return _unigram("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")
    raise KeyError(family)


def _model(family: str, vocab_size: int, labels: list[str], max_positions: int, pad_token_id: int, *, layers: int):
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=pad_token_id,
    )
    if family.startswith("bert"):
        config = transformers.BertConfig(max_position_embeddings=max_positions, **common)
        return transformers.BertForTokenClassification(config)
    if family == "roberta":
        config = transformers.RobertaConfig(max_position_embeddings=max_positions + pad_token_id + 1, **common)
        return transformers.RobertaForTokenClassification(config)
    if family == "xlm-roberta":
        config = transformers.XLMRobertaConfig(max_position_embeddings=max_positions + pad_token_id + 1, **common)
        return transformers.XLMRobertaForTokenClassification(config)
    if family == "deberta-v2":
        config = transformers.DebertaV2Config(
            max_position_embeddings=max_positions,
            relative_attention=True,
            position_buckets=16,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            **common,
        )
        return transformers.DebertaV2ForTokenClassification(config)
    raise KeyError(family)


def build_tiny_model(
    directory: Path,
    family: str,
    *,
    model_max_length: int = 24,
    max_positions: int = 64,
    layers: int = 2,
    context_free: bool = False,
    seed: int = 0,
    labels: list[str] | None = None,
) -> Path:
    """Save a tiny model of `family` under `directory` and return its path.

    `context_free=True` zeroes the position embeddings of a BERT without layers, so
    each token's prediction depends on the token alone, whatever window it is in.
    """
    import torch
    from transformers import PreTrainedTokenizerFast

    spec = FAMILIES[family]
    backend, special = _tokenizer(family)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=model_max_length, **special)
    torch.manual_seed(seed)
    model = _model(
        family, backend.get_vocab_size(), labels or spec.labels, max_positions, tokenizer.pad_token_id, layers=layers
    )
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
        if context_free:
            model.bert.embeddings.position_embeddings.weight.zero_()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    # Load back as the model-specific class, as a Hub model's tokenizer would be.
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = spec.tokenizer_class
    config_path.write_text(json.dumps(config, indent=2))
    return directory


SPAN_TAGS = ["PER", "LOC", "ORG", "MISC"]
TOKEN_TAGS = ["NOUN", "VERB", "ADJ", "DET", "PROPN", "PUNCT"]


def build_tiny_flair_tagger(path: Path, bert_dir: Path, *, spans: bool = True) -> Path:
    """A Flair `SequenceTagger` (BiLSTM + CRF) over `TransformerWordEmbeddings` of a
    tiny local BERT, saved with `save` as users save theirs. Random weights; the "O"
    tag gets a bias so spans are separated by outside tokens, as in real NER output.
    `spans=False` gives a token tagger (PoS-like: one label per token)."""
    import torch
    from flair.data import Dictionary
    from flair.embeddings import TransformerWordEmbeddings
    from flair.models import SequenceTagger

    torch.manual_seed(7)
    embeddings = TransformerWordEmbeddings(str(bert_dir), layers="-1", subtoken_pooling="first", fine_tune=False)
    tags = Dictionary(add_unk=False)
    for tag in SPAN_TAGS if spans else TOKEN_TAGS:
        tags.add_item(tag)
    tags.span_labels = spans
    tagger = SequenceTagger(embeddings, tags, "ner" if spans else "pos", hidden_size=16, use_crf=True)
    with torch.no_grad():
        tagger.linear.weight.mul_(4.0)
        if spans:
            tagger.linear.bias[tagger.label_dictionary.get_idx_for_item("O")] += 1.5
    path.parent.mkdir(parents=True, exist_ok=True)
    tagger.save(path)
    return path
