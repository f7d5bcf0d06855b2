"""Does a change to the text path change what the model sees? This tree against an earlier commit.

For each dataset of the accuracy benchmark (its own rows and settings: maxlen, truncation), both
trees tokenize every training and test text with the default encoder's preprocessor, cut the
long ones into sliding windows (IMDB), batch the training rows for two shuffled epochs
(`make_dataset`, batch 16, seed 0) and pad them, and, with `--fit`, fine-tune MiniLM for a few
steps on SMS spam with the training recipe. Each tree runs in its own process, from a git
worktree of its commit in a temporary folder (`--before`; `--after`, default HEAD). The report counts the texts whose token ids
differ, the batches whose padded inputs differ, and whether the fine-tuned weights, losses and
scores are identical. Identical inputs and weights mean the accuracy rows of
docs/benchmarks/accuracy.json cannot move. Writes docs/benchmarks/pipeline_parity.json and .md.

    python benchmarks/pipeline_parity.py --before REV [--after REV] [--datasets sst2,...] [--fit]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import accuracy
from bench_common import DOCS, ROOT, read_cpu

# Run in each tree's own process, with that tree's ktbert first on the path.
CHILD = r"""
import hashlib, json, os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import ktbert
from ktbert.data.batching import make_dataset
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.model.encoders import load_encoder_settings

task, out = json.load(open(sys.argv[1], encoding="utf-8")), sys.argv[2]
enc = load_encoder_settings("default")
result = {}
for name, d in task["datasets"].items():
    pre = TextPreprocessor(enc.vocabulary, maxlen=d["maxlen"], class_names=["a", "b"], lowercase=enc.lowercase,
                           strip_accents=enc.strip_accents, truncation=d["truncation"], clean=d["clean"])
    entry = {}
    for part in ("train", "test"):
        x = pre.preprocess(d[part])
        np.save(os.path.join(out, f"{name}_{part}_values.npy"), x.values)
        np.save(os.path.join(out, f"{name}_{part}_lengths.npy"), x.lengths)
    x = pre.preprocess(d["train"])
    digests = []
    for epoch in make_dataset(x, np.zeros(len(x), np.int32), batch_size=16, shuffle=True, seed=0).repeat(2):
        inputs = epoch[0]
        digests.append(hashlib.sha256(inputs["token_ids"].numpy().tobytes() + b"|"
                                      + inputs["padding_mask"].numpy().astype(np.int32).tobytes()).hexdigest())
    entry["batches"] = digests
    if d["windows"]:
        windows, owners = pre.windows(d["test"][:200])
        entry["windows"] = hashlib.sha256(windows.values.tobytes() + windows.lengths.tobytes()
                                          + owners.tobytes()).hexdigest()
    result[name] = entry
if task["fit"]:
    import pandas as pd
    f = task["fit"]
    settings = ktbert.TrainingSettings("text", "label", maxlen=64, batch_size=16, epochs=1, lr=1e-4, seed=0,
                                       verbose=0, class_weight="balanced")
    run = ktbert.train_classifier(settings, pd.DataFrame(f["train"]), pd.DataFrame(f["val"]))
    weights = hashlib.sha256(b"".join(np.asarray(w.numpy()).tobytes() for w in run.learner.model.weights))
    result["fit"] = {"weights_sha256": weights.hexdigest(), "loss": run.learner.history.history["loss"],
                     "val_loss": run.learner.history.history["val_loss"], "scores": run.scores,
                     "precision": run.learner.model.backbone.dtype_policy.name}
json.dump(result, open(os.path.join(out, "result.json"), "w"))
"""


def tokens(folder: str, name: str, part: str) -> list:
    """Each text's token ids as a tuple, from the arrays a child wrote."""
    import numpy as np

    values = np.load(os.path.join(folder, f"{name}_{part}_values.npy"))
    lengths = np.load(os.path.join(folder, f"{name}_{part}_lengths.npy"))
    return [tuple(t) for t in np.split(values, np.cumsum(lengths)[:-1])]


def run_tree(tree: str, task: str, out: str) -> dict:
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=tree)
    done = subprocess.run([sys.executable, "-c", CHILD, task, out], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the child in {tree} failed:\n{done.stderr[-4000:]}")
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the commit to compare with")
    parser.add_argument("--after", default="HEAD", help="the commit to check (default: HEAD)")
    parser.add_argument("--datasets", default=",".join(accuracy.SETTINGS))
    parser.add_argument("--fit", action="store_true", help="also fine-tune MiniLM briefly on SMS spam in both trees")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=DOCS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    task = {"datasets": {}, "fit": None}
    for name in names:
        train, test = accuracy.READERS[name](args.data)
        settings = accuracy.SETTINGS[name]
        task["datasets"][name] = {"train": [str(t) for t in train["text"]], "test": [str(t) for t in test["text"]],
                                  "maxlen": settings["maxlen"], "truncation": settings.get("truncation", "head"),
                                  "clean": settings.get("clean"), "windows": name == "imdb"}
    if args.fit:
        train, test = accuracy.READERS["sms"](args.data)
        train = train.sample(320, random_state=0)
        task["fit"] = {"train": train.to_dict("list"), "val": test.head(200).to_dict("list")}
    commits = {side: subprocess.run(["git", "rev-parse", getattr(args, side)], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout.strip() for side in ("before", "after")}
    with tempfile.TemporaryDirectory(prefix="ktbert-parity-") as work:
        task_file = os.path.join(work, "task.json")
        with open(task_file, "w", encoding="utf-8") as f:
            json.dump(task, f)
        trees = {side: os.path.join(work, f"{side}-tree") for side in commits}
        results = {}
        try:
            for side, tree in trees.items():
                subprocess.run(["git", "worktree", "add", "--detach", tree, commits[side]], cwd=ROOT, check=True,
                               capture_output=True)
                results[side] = run_tree(tree, task_file, os.path.join(work, side))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
        report = {"before": commits["before"], "after": commits["after"],
                  "cpu": read_cpu()[0], "measured": datetime.datetime.now().isoformat(timespec="seconds"),
                  "command": "python benchmarks/pipeline_parity.py " + " ".join(argv if argv is not None
                                                                               else sys.argv[1:]),
                  "datasets": {}}
        for name in names:
            entry = {}
            for part in ("train", "test"):
                old_ids, new_ids = (tokens(os.path.join(work, side), name, part) for side in ("before", "after"))
                entry[f"{part}_texts"] = len(new_ids)
                entry[f"{part}_texts_differing"] = sum(a != b for a, b in zip(old_ids, new_ids)) + abs(
                    len(old_ids) - len(new_ids))
            old_b, new_b = results["before"][name]["batches"], results["after"][name]["batches"]
            entry["batches"] = len(new_b)
            entry["batches_differing"] = sum(a != b for a, b in zip(old_b, new_b)) + abs(len(old_b) - len(new_b))
            if "windows" in results["after"][name]:
                entry["windows_identical"] = results["before"][name]["windows"] == results["after"][name]["windows"]
            report["datasets"][name] = entry
        if args.fit:
            report["fit"] = {"before": results["before"]["fit"], "after": results["after"]["fit"],
                             "identical": results["before"]["fit"] == results["after"]["fit"]}
    write(report, args.out)
    print(json.dumps({k: v for k, v in report.items() if k in ("datasets", "fit")}, indent=2))
    return 0


def write(report: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "pipeline_parity.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    lines = [
        "# The text path before and after a change: what the model sees",
        "",
        f"Produced by `{report['command']}`; rerun to reproduce. Before: `{report['before'][:10]}`; after: "
        f"`{report['after'][:10]}`, on {report['cpu']}, {report['measured']}. Each "
        "dataset's rows and settings are the accuracy benchmark's; the default encoder tokenizes.",
        "",
        "| dataset | training texts | differing | test texts | differing | padded training batches (2 epochs) "
        "| differing | IMDB windows identical |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["datasets"].items():
        lines.append(f"| {name} | {e['train_texts']:,} | {e['train_texts_differing']} | {e['test_texts']:,} | "
                     f"{e['test_texts_differing']} | {e['batches']:,} | {e['batches_differing']} | "
                     f"{e.get('windows_identical', '')} |")
    if "fit" in report:
        fit = report["fit"]
        lines += ["", f"Fine-tuning MiniLM on 320 SMS rows for one epoch (20 steps, "
                      f"{fit['after']['precision']}, seed 0), validated on 200: weights, losses and scores "
                      f"{'identical' if fit['identical'] else 'DIFFERENT'} (weights SHA-256 "
                      f"`{fit['after']['weights_sha256'][:16]}` after, `{fit['before']['weights_sha256'][:16]}` "
                      f"before; validation accuracy {fit['after']['scores']['accuracy']:.4f} after, "
                      f"{fit['before']['scores']['accuracy']:.4f} before)."]
    with open(os.path.join(out, "pipeline_parity.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
