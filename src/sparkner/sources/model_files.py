"""The files a Hugging Face model folder is made of: what tells a tokenizer or weights are there
(the "missing files" messages, and where an MLflow artifact keeps each part), and what identifies
its weights (the key of what the disk cache converts from them)."""

# A transformers tokenizer is built from one of these, by family.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spm.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
WEIGHTS_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


def fingerprint(folder: str) -> str:
    """What identifies a model folder's weights for the conversions cached from them: the folder and the
    size and modification time of its config and weights files (a model saved again over it differs)."""
    import os

    stats = []
    for name in ("config.json", *WEIGHTS_FILES):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            stat = os.stat(path)
            stats.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return f"{os.path.realpath(folder)}|{','.join(stats)}"
