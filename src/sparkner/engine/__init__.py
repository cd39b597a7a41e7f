"""The engine: the pipeline's stages over a batch of texts, with or without Spark.

`classifier.TokenClassifier` is the entry point; `base` declares what a backend provides
(`transformers_backend`, `flair_backend`). The transformers stages: `windows` (tokenize into
windows), `batching` and `forward` (length-sorted batches under a token budget, the model, the
softmax), `aggregation` with `words` and `wordpiece` (tokens into entities), `results` (the
output types), `prefetch` (tokenizing the next group while the device runs).
"""
