"""Serving: the inference API's token-classification task over HTTP (`app`), started by `sparkner serve`."""
