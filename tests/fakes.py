"""Stand-ins that make a real component fail the way production does (shared by the tests)."""

from __future__ import annotations

from sparkner.engine.forward import out_of_memory_type


class RunsOutOfMemory:
    """Wraps a model so any batch over `limit` padded tokens fails the way CUDA does."""

    def __init__(self, model, limit: int) -> None:
        self.model, self.limit, self.sizes = model, limit, []

    def __call__(self, **inputs):
        size = inputs["input_ids"].numel()
        self.sizes.append(size)
        if size > self.limit:
            raise out_of_memory_type()(f"CUDA out of memory. Tried to allocate {size} tokens' worth")
        return self.model(**inputs)

    def parameters(self):
        return self.model.parameters()
