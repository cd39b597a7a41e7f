"""Exploration: ONNX Runtime int8 on the CPU against sparkner's float32, speed and entity F1, one run.

    pip install onnxruntime onnx    # not sparkner dependencies
    .venv/bin/python benchmarks/int8_onnx.py [--model ../shared/models/conll03-minilm-ner]

Not a sparkner feature (yet): this measures whether ONNX Runtime's kernels would reach the int8
target where torch's dynamic quantization does not (docs/benchmarks.md). The model is exported with
eager attention (so ONNX Runtime's optimizer can fuse it into its `Attention` operator), optimized
for BERT (fused attention, embedding/skip layer norms, bias-GELU), then its MatMul weights are
quantized dynamically, per output channel. The ONNX session replaces the torch model inside an
ordinary `TokenClassifier`, so tokenization, batching and aggregation are sparkner's own and only
the model arithmetic differs. Same sentences, 2 threads, median of 3 passes after a warm-up.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from int8 import arguments, time_and_score  # noqa: E402

from sparkner import TokenClassifier  # noqa: E402
from sparkner.conll import read_conll  # noqa: E402


class OnnxModel:
    """Enough of a torch model for sparkner's `Predictor`: called with tensors, returns logits."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def parameters(self):
        yield torch.zeros(1)  # the Predictor reads the device from here: the CPU

    def __call__(self, **tensors: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.session.run(["logits"], {name: tensor.numpy() for name, tensor in tensors.items()})[0]
        return {"logits": torch.from_numpy(logits)}


def export(model_dir: str, directory: Path) -> dict[str, Path]:
    """float32 ONNX (eager attention), its BERT-optimized form, and that form quantized to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    sample = AutoTokenizer.from_pretrained(model_dir)(["Angela Merkel met Emmanuel Macron in Berlin ."], return_tensors="pt")
    inputs = {name: sample[name] for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample}
    paths = {"onnx float32": directory / "model.onnx", "onnx float32 optimized": directory / "optimized.onnx", "onnx int8": directory / "int8.onnx"}
    axes = {name: {0: "batch", 1: "sequence"} for name in [*inputs, "logits"]}
    torch.onnx.export(model, (), paths["onnx float32"], kwargs=inputs, input_names=list(inputs), output_names=["logits"],
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    config = model.config
    optimized = optimize_model(str(paths["onnx float32"]), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(paths["onnx float32 optimized"]))
    quantize_dynamic(paths["onnx float32 optimized"], paths["onnx int8"], weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": 1})  # float, for the fused operators' outputs
    return paths


def measure(model_dir: str, onnx_path: Path | None, sentences: list, threads: int, repeats: int) -> dict:
    classifier = TokenClassifier(model_dir, aggregation_strategy="first", device="cpu")
    if onnx_path is not None:
        classifier.engine.predictor.model = OnnxModel(onnx_path, threads)
    return time_and_score(classifier, sentences, repeats)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    sentences = list(read_conll(args.data))
    with tempfile.TemporaryDirectory() as tmp:
        paths = export(args.model, Path(tmp))
        rows = {"torch float32": measure(args.model, None, sentences, args.threads, args.repeats)}
        for name, path in paths.items():
            rows[name] = measure(args.model, path, sentences, args.threads, args.repeats)
    base = rows["torch float32"]
    for row in rows.values():
        row["speedup"] = round(base["seconds"] / row["seconds"], 2)
        row["f1_change"] = round(row["f1"] - base["f1"], 4)
    print(json.dumps({"model": args.model, "sentences": len(sentences), "threads": args.threads, **rows}, indent=2))


if __name__ == "__main__":
    main()
