"""ktbert's training and prediction speed before and after a change, side by side in one run.

Runs the ktbert side of `speed.py` (`speed_ktbert.py`: `fit` examples/s over one epoch after a
warm-up, and `predict` texts/s, tokenization included) on one dataset, alternately from
checkouts of two commits (`--before` and `--after`, default HEAD: git worktrees made in a
temporary folder, so edits made meanwhile touch neither; each side runs its own copy of the
worker): before, after, before, after, ... `--runs` times each, one process at a time. Reports each side's median and the
ratio after / before, and writes docs/benchmarks/speed_before_after.json and .md. Run it alone:
another busy process on the machine falsifies every timing.

    python benchmarks/speed_before_after.py --before REV [--after REV] [--dataset sst2] [--runs 3]
                                            [--warmup-batches 20] [--data ../shared/data]
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import speed
from bench_common import DOCS, ROOT, read_cpu

MEASURES = {"train": ("ktbert_train_eps", "examples/s"), "predict": ("ktbert_predict_tps", "texts/s")}


def worker(tree: str, what: str, task: str, warmup: int, workdir: str, label: str) -> float:
    """One measurement by `tree`'s own `speed_ktbert.py` with `tree`'s ktbert: examples/s or texts/s."""
    result = os.path.join(workdir, f"{label}.json")
    cmd = [sys.executable, os.path.join(tree, "benchmarks", "speed_ktbert.py"), what, "--task", task,
           "--result", result] + (["--warmup-batches", str(warmup)] if what == "train" else [])
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{label} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    with open(result) as f:
        measured = json.load(f)
    count = measured["examples"] if what == "train" else measured["texts"]
    rate = count / measured["seconds"]
    print(f"  {label}: {rate:.1f} {MEASURES[what][1]} ({time.perf_counter() - start:.0f} s)", flush=True)
    return rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the commit to compare with (e.g. HEAD~5 or a hash)")
    parser.add_argument("--after", default="HEAD", help="the commit to measure (default: HEAD)")
    parser.add_argument("--dataset", default="sst2", choices=sorted(speed.SIZES))
    parser.add_argument("--runs", type=int, default=3, help="measurements per side and measure")
    parser.add_argument("--warmup-batches", type=int, default=20)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=DOCS)
    args = parser.parse_args(argv)
    if not all(os.path.isfile(os.path.join(args.data, args.dataset, f)) for f in speed.REQUIRED[args.dataset]):
        print(f"{os.path.abspath(args.data)} lacks {args.dataset}'s files: point --data at the shared data folder.")
        return 2
    commits = {side: subprocess.run(["git", "rev-parse", getattr(args, side)], cwd=ROOT, capture_output=True,
                                    text=True, check=True).stdout.strip() for side in ("before", "after")}
    rates = {side: {what: [] for what in MEASURES} for side in ("before", "after")}
    with tempfile.TemporaryDirectory(prefix="ktbert-before-after-") as workdir:
        trees = {side: os.path.join(workdir, side) for side in commits}
        for side, tree in trees.items():
            subprocess.run(["git", "worktree", "add", "--detach", tree, commits[side]], cwd=ROOT, check=True,
                           capture_output=True)
        try:
            task = os.path.join(workdir, "task.json")
            speed.write_task(task, args.dataset, args.data, speed.SIZES[args.dataset])
            for run in range(args.runs):
                for what in MEASURES:
                    for side in ("before", "after"):
                        label = f"{side}_{what}_{run + 1}"
                        rates[side][what].append(
                            worker(trees[side], what, task, args.warmup_batches, workdir, label))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
    report = {
        "dataset": args.dataset, "sizes": dict(zip(("train", "predict", "maxlen"), speed.SIZES[args.dataset])),
        "before": commits["before"], "after": commits["after"], "runs": args.runs,
        "warmup_batches": args.warmup_batches, "cpu": read_cpu()[0], "cores": len(os.sched_getaffinity(0)),
        "command": "python benchmarks/speed_before_after.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "measured": datetime.datetime.now().isoformat(timespec="seconds"),
        "measures": {},
    }
    for what, (key, unit) in MEASURES.items():
        medians = {side: statistics.median(rates[side][what]) for side in rates}
        report["measures"][key] = {
            "unit": unit, "before": [round(r, 2) for r in rates["before"][what]],
            "after": [round(r, 2) for r in rates["after"][what]],
            "median_before": round(medians["before"], 2), "median_after": round(medians["after"], 2),
            "after_over_before": round(medians["after"] / medians["before"], 3),
        }
    write(report, args.out)
    print(json.dumps(report["measures"], indent=2))
    return 0


def write(report: dict, out: str) -> None:
    """speed_before_after.json and a short .md table of the same figures."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "speed_before_after.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    sizes = report["sizes"]
    lines = [
        "# ktbert's speed before and after a change",
        "",
        f"Produced by `{report['command']}`; rerun to reproduce. {report['dataset']}: "
        f"{sizes['train']:,} training texts, {sizes['predict']:,} to predict, maxlen {sizes['maxlen']}; "
        f"warm-up {report['warmup_batches']} batches. Before: `{report['before'][:10]}`; after: "
        f"`{report['after'][:10]}`. "
        f"Runs alternate before and after, {report['runs']} each, one process at a time, on "
        f"{report['cpu']} ({report['cores']} cores), {report['measured']}.",
        "",
        "| measure | before (runs) | after (runs) | median before | median after | after / before |",
        "|---|---|---|---|---|---|",
    ]
    for key, m in report["measures"].items():
        lines.append(f"| {key} ({m['unit']}) | {', '.join(map(str, m['before']))} | {', '.join(map(str, m['after']))} "
                     f"| {m['median_before']} | {m['median_after']} | **{m['after_over_before']}** |")
    with open(os.path.join(out, "speed_before_after.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
