"""The files a Hugging Face model folder is made of: what tells a tokenizer or weights are there
(the "missing files" messages, and where an MLflow artifact keeps each part)."""

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
