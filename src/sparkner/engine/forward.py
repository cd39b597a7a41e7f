"""The forward pass: batched windows in, per-token label probabilities out.

Softmax runs in float32 whatever the model's dtype, as the pipeline does, so fp16
and bf16 models only change the encoder's arithmetic: on the device for a GPU, in
numpy for the CPU. CUDA out-of-memory halves
the batch and retries, down to one window, and lowers the token budget for the
rest of the run; it is logged once per worker.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from sparkner.engine.batching import PaddedBatch, length_sorted_batches
from sparkner.engine.windows import Windows
from sparkner.options.runtimes import RUNTIMES, Runtime

logger = logging.getLogger("sparkner")


def out_of_memory_type() -> type:
    """What CUDA out-of-memory raises: `torch.OutOfMemoryError` (`torch.cuda.` before torch 2.5)."""
    import torch

    return getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, out_of_memory_type()) or "out of memory" in str(error).lower()


class Predictor:
    """Runs a token-classification model over `Windows` with dynamic padding."""

    def __init__(
        self,
        model: Any,
        pad_token_id: int,
        *,
        max_rows: int | None,
        max_tokens: int | None,
        runtime: Runtime = RUNTIMES["torch"],
    ) -> None:
        self.model = model
        self.device = model.device  # transformers models, and the ONNX Runtime wrapper
        default_rows, default_tokens = runtime.batch_limits(self.device.type)
        self.max_rows = max_rows or default_rows
        self.max_tokens = max_tokens or default_tokens
        self.pad_token_id = pad_token_id
        self._warned_oom = False
        self.forward_calls = 0

    def probabilities(self, windows: Windows, num_labels: int) -> np.ndarray:
        """(n_tokens, num_labels) float32 probabilities, aligned with the windows' tokens.

        On a GPU the softmax runs on the device, batch by batch; on the CPU once over all
        tokens at the end, in numpy along the long axis (see `softmax`), which is an order
        of magnitude faster than per-batch softmax over a last axis of a few labels.
        """
        scores = np.empty((len(windows.input_ids), num_labels), dtype=np.float32)
        row_start = windows.row_start.tolist()
        on_device = self.device.type != "cpu"
        pending = list(length_sorted_batches(windows.row_lengths, self.max_rows, self.max_tokens))
        while pending:
            batch = PaddedBatch.of(windows.row_start, pending.pop())
            try:
                output = self._forward(windows, batch, softmax=on_device)
            except Exception as error:  # noqa: BLE001 - re-raised unless it is an OOM we can shrink
                if not _is_out_of_memory(error) or len(batch.rows) == 1:
                    raise
                output = None
            if output is None:
                # Outside the `except` block: the traceback holding the failed batch's
                # tensors is gone, so `_shrink` can hand their memory back.
                rows = batch.rows
                self._shrink(rows, windows)
                pending.extend([rows[len(rows) // 2 :], rows[: len(rows) // 2]])
                continue
            batch.unpad(output, scores, row_start)
        return scores if on_device else softmax(scores)

    def _shrink(self, rows: np.ndarray, windows: Windows) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        longest = int(windows.row_lengths[rows].max())
        self.max_tokens = max(longest, (len(rows) // 2) * longest)
        if not self._warned_oom:
            logger.warning(
                "sparkner: out of memory on %s with %d windows of up to %d tokens; halving the batch and "
                "lowering max_batch_tokens to %d for this worker",
                self.device,
                len(rows),
                longest,
                self.max_tokens,
            )
            self._warned_oom = True

    def _forward(self, windows: Windows, batch: PaddedBatch, *, softmax: bool) -> np.ndarray:
        """The batch's (rows, longest, labels) float32 logits, or probabilities with `softmax`."""
        import torch

        inputs = {
            "input_ids": batch.pad(windows.input_ids, self.pad_token_id),
            "attention_mask": batch.mask.astype(np.int64),
        }
        for name, flat in windows.model_inputs.items():
            inputs[name] = batch.pad(flat, 0)
        tensors = {name: torch.from_numpy(array).to(self.device, non_blocking=True) for name, array in inputs.items()}
        with torch.inference_mode():
            output = self.model(**tensors)
            logits = (output["logits"] if isinstance(output, dict) else output[0]).float()
            if softmax:
                logits = torch.softmax(logits, dim=-1)
        self.forward_calls += 1
        return logits.cpu().numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise float32 softmax of (tokens, labels), computed label-major: numpy reduces across
    one long contiguous axis far faster than along many rows of a few labels. The result is the
    label-major array seen as (tokens, labels), not copied back: aggregation gathers rows from it."""
    columns = np.ascontiguousarray(logits.T)
    columns -= columns.max(axis=0)
    np.exp(columns, out=columns)
    columns /= columns.sum(axis=0)
    return columns.T
