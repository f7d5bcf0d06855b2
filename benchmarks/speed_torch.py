"""The PyTorch side of the speed benchmark: one measurement per process, run by `speed.py`
under the benchmark's own environment (benchmarks/.venv-torch, torch CPU build +
transformers), never imported by ktbert.

    python speed_torch.py peak --result R.json
    python speed_torch.py train --task T.json --result R.json --encoder DIR --padding max|dynamic [--bf16]
                          [--warmup-batches N]
    python speed_torch.py predict --task T.json --result R.json --encoder DIR --padding max|dynamic [--bf16]
                          [--runtime torch|ort]

`--padding max` pads every batch to maxlen; `dynamic` is Hugging Face's best documented CPU
setting: training batches from `LengthGroupedSampler` (`group_by_length=True` in the Trainer)
padded by `DataCollatorWithPadding` to their longest text; prediction on texts sorted by
length, each batch padded to its longest. The training loop is the Trainer's essentials:
AdamW at a constant rate, dropout on, cross-entropy from the model's head. `--bf16` runs the
forward pass and the loss under `torch.autocast("cpu", dtype=torch.bfloat16)`, as the
Trainer's `bf16=True` does on a CPU (the backward pass follows the autocast ops' dtypes).

`--runtime ort` predicts with ONNX Runtime (float32, CPU execution provider, all graph
optimizations, one thread per core): the model is exported once with `torch.onnx.export`
(dynamic batch and width), before the clock starts; the timed call tokenizes, sorts by length
and runs batches padded to their longest text, as the PyTorch side does.
"""

import os
import sys
import time

import torch

import speed_common as common


def load(encoder: str, num_labels: int):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # the "newly initialized classifier" report, every run
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=num_labels)
    return tokenizer, model


def train(task: dict, args) -> dict:
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    tokenizer, model = load(args.encoder, len(task["class_names"]))
    maxlen, batch_size = task["maxlen"], task["train_batch_size"]
    # Tokenized up front, as Trainer users map their dataset (and as ktbert's loader does).
    encoded = tokenizer(task["train_texts"], truncation=True, max_length=maxlen)
    features = [{**{k: v[i] for k, v in encoded.items()}, "labels": y} for i, y in enumerate(task["train_labels"])]
    generator = torch.Generator().manual_seed(task["seed"])
    if args.padding == "max":
        collator = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=maxlen)
        sampler = RandomSampler(features, generator=generator)
    else:
        collator = DataCollatorWithPadding(tokenizer)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    loader = DataLoader(features, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
                        collate_fn=collator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=task["lr"], weight_decay=0.0)
    model.train()

    def epoch(limit: int) -> list:
        shapes = []
        for step, batch in enumerate(loader):
            if 0 <= limit <= step:
                break
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            shapes.append(tuple(batch["input_ids"].shape))
        return shapes

    epoch(args.warmup_batches)
    start = time.perf_counter()
    shapes = epoch(common.FULL_EPOCH)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "examples": len(features), **common.batch_shape_totals(shapes)}


def predict(task: dict, args) -> dict:
    tokenizer, model = load(args.encoder, len(task["class_names"]))
    maxlen, batch_size = task["maxlen"], task["predict_batch_size"]
    names = task["class_names"]
    model.eval()

    run = ort_runner(model, tokenizer, args) if args.runtime == "ort" else None

    def forward(batch):
        if run is not None:
            return run(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            return model(**batch).logits.float().softmax(-1)

    def classify(texts: list) -> list:
        with torch.inference_mode():
            if args.padding == "max":
                chunks = []
                for i in range(0, len(texts), batch_size):
                    batch = tokenizer(texts[i : i + batch_size], truncation=True, max_length=maxlen,
                                      padding="max_length", return_tensors="pt")
                    chunks.append(forward(batch))
                proba = torch.cat(chunks)
            else:
                encoded = tokenizer(texts, truncation=True, max_length=maxlen)
                order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
                proba = torch.empty(len(texts), len(names))
                for i in range(0, len(order), batch_size):
                    rows = order[i : i + batch_size]
                    batch = tokenizer.pad([{k: v[r] for k, v in encoded.items()} for r in rows], return_tensors="pt")
                    proba[rows] = forward(batch)
        return [names[k] for k in proba.argmax(-1).tolist()]

    texts = task["predict_texts"]
    classify(texts[: common.PREDICT_WARMUP_TEXTS])
    return {**common.timed_calls(lambda: classify(texts)), "texts": len(texts)}


def ort_runner(model, tokenizer, args):
    """ONNX Runtime's float32 run of `model` (exported here, untimed): a function from a batch
    of PyTorch tensors to class probabilities."""
    import tempfile

    import onnxruntime as ort

    class Logits(torch.nn.Module):  # positional inputs in a fixed order, logits out
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tokenizer(["an example to trace", "two"], padding=True, return_tensors="pt")
    path = os.path.join(tempfile.mkdtemp(prefix="speed-ort-"), "model.onnx")
    axes = {name: {0: "batch", 1: "width"} for name in names}
    torch.onnx.export(Logits(model), tuple(sample[k] for k in names), path, input_names=names,
                      output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(batch):
        feed = {k: batch[k].numpy().astype("int64") for k in names}
        return torch.from_numpy(session.run(["logits"], feed)[0]).softmax(-1)

    return run


def peak(task, args) -> dict:
    n = common.MATMUL_SIZE
    a, b = torch.randn(n, n), torch.randn(n, n)
    return {"matmul_gflops": common.matmul_gflops(lambda: torch.mm(a, b))}


def versions() -> dict:
    import tokenizers
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_cuda": torch.version.cuda,
        "onnxruntime": _version("onnxruntime"),
        "onnx": _version("onnx"),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main(argv=None):
    parser = common.worker_parser(__doc__)
    parser.add_argument("--encoder")
    parser.add_argument("--padding", choices=["max", "dynamic"], default="dynamic")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (the Trainer's bf16=True)")
    parser.add_argument("--runtime", choices=["torch", "ort"], default="torch", help="predict with PyTorch or ONNX Runtime")
    args = parser.parse_args(argv)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use
    torch.manual_seed(0)
    return common.run_measurement(args, {"train": train, "predict": predict, "peak": peak}, versions)


if __name__ == "__main__":
    sys.exit(main())
