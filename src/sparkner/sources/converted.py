"""A model converted for another runtime (ONNX Runtime, OpenVINO), called as transformers' model is.

The predictor hands any runtime torch tensors and reads `output["logits"]`; each converted runtime
only says how to run numpy inputs (`run`). Token ids past the model's vocabulary are refused here as
torch refuses them (`IndexError`): the other runtimes would look up garbage instead and answer.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np


class ConvertedModel(abc.ABC):
    """Tensors in, `{"logits": tensor}` out, on the CPU."""

    def __init__(self, input_names: list[str], vocab_size: int | None) -> None:
        import torch

        self.input_names = input_names
        self.vocab_size = vocab_size
        self.device = torch.device("cpu")

    def __call__(self, **tensors: Any) -> dict[str, Any]:
        import torch

        ids = tensors["input_ids"]
        if self.vocab_size is not None and ids.numel() and int(ids.max()) >= self.vocab_size:
            raise IndexError(
                f"index out of range: token id {int(ids.max())} is past the model's {self.vocab_size} embeddings "
                "(the tokenizer has tokens the model never got: resize_token_embeddings after adding tokens)"
            )
        return {"logits": torch.from_numpy(self.run({name: tensors[name].numpy() for name in self.input_names}))}

    @abc.abstractmethod
    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The logits of one padded batch."""
