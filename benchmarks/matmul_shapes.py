"""How fast TensorFlow and PyTorch multiply float32 matrices of the encoder's own shapes, on
this CPU: the bound the matrix products put on a float32 training step.

About half of a float32 training step of the default encoder (6 layers, hidden 384,
feed-forward 1,536) is the products of its dense layers: per layer four 384 x 384 projections (query, key, value,
output), one 384 x 1,536 and one 1,536 x 384; each runs three times per step, forward
(x @ W), for the input's gradient (g @ W^T) and for the weight's (x^T @ g). With T tokens in
the step (the batch's padded tokens) each product has T rows. This script times each of
those 9 products at the T of an average training step of the speed benchmark's data sets
(its padded tokens over its steps, at batch 16), in each framework as a step runs it:

- TensorFlow: a group of products of distinct inputs inside one `tf.function` (a graph, as
  Keras runs a step), oneDNN on (`import ktbert` asks for it), its default thread pools (it
  may run two products at once, as it runs a step's independent products; with one inter-op
  thread small products ran slower still);
- PyTorch: the same group eagerly (as its training loop runs), `torch.set_num_threads` = cores.

Each framework runs in its own process; rounds alternate which goes first, and a rate is the
best of its repeats over all rounds (a busy spell of a shared machine only ever slows a
product, so the fastest run is the closest to what the framework can do). The step estimate weighs each
product's time by how often a step runs it (6 layers, 4 projections each). The 2048 x 2048
product is the speed benchmark's peak reading.

    python benchmarks/matmul_shapes.py [--rounds 3] [--out DIR] [--speed-json FILE]

The tokens per step come from the speed benchmark's speed.json in the same folder (ktbert's
timed epoch: `training_flops.ktbert`), so the two pages describe the same steps.

The page goes to docs/benchmarks/without_bf16 on a CPU without bf16 instructions (where ktbert
trains in float32, as here), to docs/benchmarks otherwise, unless `--out` says.

PyTorch runs in the speed benchmark's own environment (benchmarks/.venv-torch, made by
`speed.ensure_torch_venv` on first use). Run it alone: a busy machine falsifies every rate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench_common import DOCS, HERE, ROOT, cpu, write_report

LAYERS, HIDDEN, FFN = 6, 384, 1536
# (name, rows in, columns out, how many per layer)
LAYER_PRODUCTS = [("projection 384x384", HIDDEN, HIDDEN, 4), ("feed-forward in 384x1536", HIDDEN, FFN, 1),
                  ("feed-forward out 1536x384", FFN, HIDDEN, 1)]
PASSES = ("forward x@W", "input gradient g@W^T", "weight gradient x^T@g")
PEAK = 2048
CHAIN = 12  # products per timed group
REPEATS = 5


def shapes(tokens: int, n_in: int, n_out: int, which: str) -> tuple:
    """The (left, right) operand shapes and the transposes of one product."""
    if which == PASSES[0]:
        return (tokens, n_in), (n_in, n_out), False, False
    if which == PASSES[1]:
        return (tokens, n_out), (n_in, n_out), False, True
    return (tokens, n_in), (tokens, n_out), True, False


def step_tokens(speed_json: str) -> dict:
    """{data set: padded tokens per training step} of ktbert's timed epoch in the speed
    benchmark's `speed_json` (its padded tokens over its steps)."""
    if not os.path.isfile(speed_json):
        raise SystemExit(f"{speed_json} is missing: the products are timed at the speed benchmark's tokens per "
                         "step. Run benchmarks/speed.py with the same --out first, or point --speed-json at its "
                         "speed.json.")
    with open(speed_json, encoding="utf-8") as f:
        datasets = json.load(f)["datasets"]
    counted = {data: d["training_flops"]["ktbert"] for data, d in datasets.items()}
    return {data: c["padded_tokens"] // c["batches"] for data, c in counted.items()}


def cases(tokens_per_step: dict) -> list:
    """Every timed product: (label, tokens, left shape, right shape, transpose a, transpose b)."""
    out = [(f"{PEAK}x{PEAK}", PEAK, (PEAK, PEAK), (PEAK, PEAK), False, False)]
    for tokens in sorted(set(tokens_per_step.values())):
        for name, n_in, n_out, _ in LAYER_PRODUCTS:
            for which in PASSES:
                out.append((f"{name}, {which}", tokens, *shapes(tokens, n_in, n_out, which)))
    return out


def flops(left, right, ta, tb) -> int:
    """FLOPs of op(left) @ op(right), op transposing where `ta`/`tb` say."""
    rows, inner = (left[1], left[0]) if ta else left
    return 2 * rows * inner * (right[0] if tb else right[1])


def time_tensorflow(tokens_per_step: dict) -> dict:
    import ktbert  # noqa: F401  (sets TensorFlow's kernel variables, as a user's script does)
    import tensorflow as tf

    rates = {}
    for label, tokens, left, right, ta, tb in cases(tokens_per_step):
        lefts, b = [tf.random.normal(left) for _ in range(CHAIN)], tf.random.normal(right)

        @tf.function
        def products(lefts, b, ta=ta, tb=tb):  # distinct inputs: no product is merged with another
            return [tf.linalg.matmul(a, b, transpose_a=ta, transpose_b=tb) for a in lefts]

        products(lefts, b)
        best = min(_seconds(lambda: products(lefts, b)) for _ in range(REPEATS))  # returns once computed
        rates[f"{label}|{tokens}"] = flops(left, right, ta, tb) * CHAIN / best / 1e9
    return rates


def time_torch(tokens_per_step: dict) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count())
    rates = {}
    with torch.no_grad():
        for label, tokens, left, right, ta, tb in cases(tokens_per_step):
            lefts, b = [torch.randn(*left) for _ in range(CHAIN)], torch.randn(*right)
            rhs = b.t() if tb else b

            def products(lefts=lefts, rhs=rhs, ta=ta):
                return [(a.t() if ta else a) @ rhs for a in lefts]

            products()
            best = min(_seconds(products) for _ in range(REPEATS))
            rates[f"{label}|{tokens}"] = flops(left, right, ta, tb) * CHAIN / best / 1e9
    return rates


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def run_side(side: str, python: str, folder: str, round_: int, speed_json: str) -> dict:
    path = os.path.join(folder, f"{side}-{round_}.json")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([python, os.path.abspath(__file__), "--worker", side, "--result", path,
                    "--speed-json", speed_json], check=True, env=env, cwd=HERE)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def step_estimate(rates: dict, tokens: int) -> float:
    """Seconds a training step's dense products take at `rates` (GFLOP/s per case)."""
    total = 0.0
    for name, n_in, n_out, per_layer in LAYER_PRODUCTS:
        for which in PASSES:
            left, right, ta, tb = shapes(tokens, n_in, n_out, which)
            total += LAYERS * per_layer * flops(left, right, ta, tb) / (rates[f"{name}, {which}|{tokens}"] * 1e9)
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="default: docs/benchmarks/without_bf16 on a CPU without "
                        "bf16 instructions, docs/benchmarks otherwise")
    parser.add_argument("--speed-json", default=None, help="the speed benchmark's results, whose tokens per "
                        "training step the products are timed at (default: speed.json in the --out folder)")
    parser.add_argument("--worker", choices=["tensorflow", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        tokens = step_tokens(args.speed_json)
        rates = time_tensorflow(tokens) if args.worker == "tensorflow" else time_torch(tokens)
        with open(args.result, "w", encoding="utf-8") as f:
            json.dump(rates, f)
        return 0
    from speed import ensure_torch_venv

    if args.out is None:
        bf16 = {"avx512_bf16", "amx_bf16"} & set(cpu()["flags"])
        args.out = os.path.join(DOCS, *([] if bf16 else ["without_bf16"]))
    speed_json = os.path.abspath(args.speed_json or os.path.join(args.out, "speed.json"))
    per_step = step_tokens(speed_json)

    pythons = {"tensorflow": sys.executable, "torch": ensure_torch_venv()}
    runs = {side: [] for side in pythons}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            order = list(pythons) if round_ % 2 == 0 else list(reversed(pythons))
            for side in order:
                print(f"round {round_ + 1}: {side}", flush=True)
                runs[side].append(run_side(side, pythons[side], folder, round_, speed_json))
    best = {side: {key: max(r[key] for r in rs) for key in rs[0]} for side, rs in runs.items()}
    steps = {data: {side: step_estimate(best[side], tokens) for side in best}
             for data, tokens in per_step.items()}
    result = {"cpu": cpu(), "rounds": args.rounds, "chain": CHAIN, "repeats": REPEATS, "step_tokens": per_step,
              "step_tokens_from": os.path.relpath(speed_json, ROOT),
              "gflops_best": best, "gflops_each_round": runs, "step_dense_products_s": steps,
              "command": "python benchmarks/matmul_shapes.py " + " ".join(argv or sys.argv[1:])}
    write_report(args.out, "matmul_shapes", result, markdown(result))
    return 0


def markdown(result: dict) -> str:
    tf_rates, torch_rates = result["gflops_best"]["tensorflow"], result["gflops_best"]["torch"]
    info = result["cpu"]
    lines = [
        "# Float32 matrix products of the encoder's shapes: TensorFlow (oneDNN) against PyTorch",
        "",
        f"Produced by `{result['command'].strip()}` on {info['model']}, {info['cores']} cores, flags: "
        f"{', '.join(info['flags'])}. Each framework in its own process, {result['rounds']} rounds alternating "
        f"which goes first; a rate is the best of {result['repeats']} groups of {result['chain']} products "
        "in each round, the best over rounds (a busy spell only slows). TensorFlow runs the group as a graph "
        "(`tf.function`, its default thread pools), PyTorch eagerly, as each runs a training step.",
        "",
        "## One training step's dense products, estimated from the rates below",
        "",
        "Per layer four 384x384 projections, one 384x1536 and one 1536x384 product, each forward, for the "
        "input's gradient and for the weight's; 6 layers; T rows = the step's padded tokens (ktbert's timed "
        f"epoch in `{result.get('step_tokens_from', 'speed.json')}`: its padded tokens over its steps).",
        "",
        "| data | T (padded tokens per step) | TensorFlow ms | PyTorch ms | TensorFlow / PyTorch time |",
        "|---|---|---|---|---|",
    ]
    for data, tokens in result["step_tokens"].items():
        s = result["step_dense_products_s"][data]
        lines.append(f"| {data} | {tokens} | {1000 * s['tensorflow']:.1f} | {1000 * s['torch']:.1f} | "
                     f"{s['tensorflow'] / s['torch']:.2f}x |")
    ratios = [s["tensorflow"] / s["torch"] for s in result["step_dense_products_s"].values()]
    lines += ["", f"A step's dense products took {min(ratios):.2f}x to {max(ratios):.2f}x PyTorch's time in TensorFlow. "
              "They are about half of a float32 training step (`profile.md` beside this page). With products taking r "
              "times PyTorch's time P, a step 1.25x as fast as PyTorch's (P plus the rest, Q) needs the rest of "
              "ktbert's step under 0.8 Q - (r - 0.8) P: the slower the products, the more the rest must beat "
              "PyTorch's."]
    lines += ["", "## Each product, GFLOP/s", "",
              "| product | T | TensorFlow | PyTorch | PyTorch / TensorFlow |", "|---|---|---|---|---|"]
    for key in tf_rates:
        label, tokens = key.rsplit("|", 1)
        lines.append(f"| {label} | {tokens} | {tf_rates[key]:.1f} | {torch_rates[key]:.1f} | "
                     f"{torch_rates[key] / tf_rates[key]:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
