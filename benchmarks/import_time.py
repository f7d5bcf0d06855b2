"""How long `import ktbert` takes and what it loads, this tree against a baseline commit.

Each measurement is a fresh Python process that imports ktbert and reports the seconds the
import took and which heavy libraries it loaded (TensorFlow, Keras, pandas, scikit-learn,
matplotlib). The baseline is checked out into a temporary git worktree; runs alternate between
the two trees so that disk caches favour neither. Writes docs/benchmarks/import_time.md and .json.

    python benchmarks/import_time.py [--baseline 5561eca] [--runs 7]

5561eca is the last commit with the flat layout, where `ktbert/__init__.py` imported every module.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

from bench_common import DOCS, ROOT as PROJECT, cpu

HEAVY = ["tensorflow", "keras", "pandas", "sklearn", "matplotlib"]
PROBE = (
    "import json, sys, time\n"
    "start = time.perf_counter()\n"
    "import ktbert\n"
    "seconds = time.perf_counter() - start\n"
    f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "ktbert.Predictor\n"  # what a serving process loads before its first prediction
    "predictor_seconds = time.perf_counter() - start\n"
    "print(json.dumps({'seconds': seconds, 'loaded': loaded, 'predictor_seconds': predictor_seconds}))\n"
)


def measure(tree: str) -> dict:
    """One fresh process importing ktbert from `tree` (its folder comes first on sys.path)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="5561eca", help="commit to compare with (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=7, help="imports per tree (default: %(default)s)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ktbert-baseline-") as tmp:
        baseline_tree = os.path.join(tmp, "tree")
        subprocess.run(["git", "-C", PROJECT, "worktree", "add", "--detach", "-q", baseline_tree, args.baseline], check=True)
        try:
            measure(PROJECT), measure(baseline_tree)  # warm the disk cache for both
            runs = {"baseline": [], "current": []}
            for _ in range(args.runs):
                runs["baseline"].append(measure(baseline_tree))
                runs["current"].append(measure(PROJECT))
        finally:
            subprocess.run(["git", "-C", PROJECT, "worktree", "remove", "--force", baseline_tree], check=False)

    result = {
        "baseline_commit": args.baseline,
        "runs": args.runs,
        "cpu": cpu()["model"],
        "python": platform.python_version(),
    }
    for name, rows in runs.items():
        result[name] = {
            "median_seconds": statistics.median(r["seconds"] for r in rows),
            "median_predictor_seconds": statistics.median(r["predictor_seconds"] for r in rows),
            "loaded": rows[-1]["loaded"],
        }
    result["speedup"] = result["baseline"]["median_seconds"] / result["current"]["median_seconds"]
    os.makedirs(DOCS, exist_ok=True)
    with open(os.path.join(DOCS, "import_time.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    b, c = result["baseline"], result["current"]
    lines = [
        "# `import ktbert`: time and what it loads",
        "",
        f"`python benchmarks/import_time.py` ({args.runs} fresh processes per tree, alternating; "
        f"median), on {result['cpu']}, Python {result['python']}.",
        "",
        "| tree | `import ktbert` (s) | heavy libraries it loads | to `ktbert.Predictor` (s) |",
        "|---|---|---|---|",
        f"| baseline `{args.baseline}` (flat layout, eager imports) | {b['median_seconds']:.3f} | "
        f"{', '.join(b['loaded']) or 'none'} | {b['median_predictor_seconds']:.3f} |",
        f"| this tree (rooms, lazy public names) | {c['median_seconds']:.4f} | "
        f"{', '.join(c['loaded']) or 'none'} | {c['median_predictor_seconds']:.3f} |",
        "",
        f"Ratio: `import ktbert` is {result['speedup']:.0f}x faster. The names load their room on first "
        "use, so the cost of TensorFlow moves to the first name that needs it; the last column is "
        "what a serving process pays before its first prediction (the serving room, without the "
        "training and plotting modules). It is higher here because the model room imports keras-hub "
        "at the top (it registers the BERT backbone that loading a predictor needs), which the "
        "baseline imported only inside `Predictor.load`.",
        "",
    ]
    with open(os.path.join(DOCS, "import_time.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
