"""How prediction cuts texts into batches, side by side in one process: what a step costs, and
three plans for the same texts.

For each dataset (speed.py's prediction texts, a predictor loaded from a folder, so its step
holds the weights as constants, in the precision `auto` picks on this CPU):
1. **What a step costs.** The step runs on random token ids at a grid of batch shapes (widths
   16 to 128, 512 to 4,096 padded tokens), alternating, `FIT_ROUNDS` times each; a least-squares
   fit of `seconds = fixed + per_token * tokens + per_width * tokens * width` (weighted by
   relative error) gives the fixed part in padded tokens: the `overhead` that
   `ktbert.data.prediction.cheapest_batches` weighs.
2. **Three plans**, each a whole pass over the texts, alternating in `ROUNDS` rounds (each
   round's order reversed from the last), after a warm-up pass of each:
   - `budget, widths to 8`: `token_budget_batches` with widths rounded up to 8 (ktbert's
     earlier plan, in every precision);
   - `budget, exact widths`: the same, widths not rounded;
   - `cheapest`: `cheapest_batches` (ktbert's plan, in every precision).
   The machine's speed drifts over minutes, so the speed-ups are the median of each round's
   own ratio, with their range. In float32 the plans' probabilities must agree within 1e-5;
   in bfloat16 they move with what a text is batched with (about 1e-3).
The precision recorded is the encoder's (the classifier's own policy stays float32).
Writes docs/benchmarks/prediction_plans.md and .json. Run it alone.

    python benchmarks/prediction_plans.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import os
import sys
import tempfile
import time

import numpy as np

import speed

ROUNDS = 12
FIT_ROUNDS = 5
GRID = [(tokens // width, width) for width in (16, 32, 64, 128) for tokens in (512, 1024, 2048, 4096)]
PLANS = ("budget, widths to 8", "budget, exact widths", "cheapest")


def loaded_predictor(name: str, data: str):
    """`(texts, predictor)`: the dataset's prediction texts and a predictor saved and loaded
    again (its step holds the weights as constants, as every loaded predictor's)."""
    import ktbert

    texts, preproc, model = speed.untrained_classifier(name, data)
    with tempfile.TemporaryDirectory() as folder:
        ktbert.get_predictor(model, preproc, batch_size=speed.PREDICT_BATCH).save(os.path.join(folder, "p"))
        return texts, ktbert.Predictor.load(os.path.join(folder, "p"), batch_size=speed.PREDICT_BATCH)


def step_cost(step, maxlen: int, pad_id: int) -> dict:
    """The fitted fixed, per-token and per-token-and-width seconds of a prediction step."""
    rng = np.random.default_rng(0)
    batches = {shape: (rng.integers(1000, 20000, size=shape[0] * shape[1]).astype(np.int32),
                       np.full(shape[0], shape[1], np.int32)) for shape in GRID}
    run = lambda shape: np.asarray(step(*batches[shape], maxlen, pad_id, 1))  # noqa: E731
    for shape in GRID:
        run(shape)
    seconds = {shape: [] for shape in GRID}
    for r in range(FIT_ROUNDS):
        for shape in GRID if r % 2 == 0 else GRID[::-1]:
            start = time.perf_counter()
            run(shape)
            seconds[shape].append(time.perf_counter() - start)
    median = np.array([np.median(seconds[shape]) for shape in GRID])
    terms = np.array([[1.0, n * w, n * w * w] for n, w in GRID])
    (fixed, per_token, per_width), *_ = np.linalg.lstsq(terms / median[:, None], np.ones(len(GRID)), rcond=None)
    return {"fixed_ms": round(fixed * 1e3, 2), "per_token_us": round(per_token * 1e6, 2),
            "per_token_and_width_us": round(per_width * 1e6, 5),
            "overhead_tokens": round(fixed / per_token), "attention_share": float(f"{per_width / per_token:.3g}"),
            "largest_fit_error": round(float(np.max(np.abs(terms @ [fixed, per_token, per_width] / median - 1))), 3),
            "grid_ms": {f"{n}x{w}": round(float(s) * 1e3, 2) for (n, w), s in zip(GRID, median)}}


def plans(x) -> dict:
    """Each plan's `(batches, multiple)` for tokenized texts `x`."""
    from ktbert.data.batching import token_budget_batches
    from ktbert.data.prediction import cheapest_batches

    size = speed.PREDICT_BATCH
    return {PLANS[0]: (token_budget_batches(x.lengths, size, x.maxlen, 8), 8),
            PLANS[1]: (token_budget_batches(x.lengths, size, x.maxlen, 1), 1),
            PLANS[2]: (cheapest_batches(x.lengths, size, x.maxlen), 1)}


def padded_tokens(x, batches: list, multiple: int) -> int:
    lengths = np.asarray(x.lengths)
    return int(sum(len(b) * min(x.maxlen, -(-int(lengths[b].max()) // multiple) * multiple) for b in batches))


def measure(name: str, data: str) -> dict:
    from ktbert.data.batching import ragged_batch
    from ktbert.data.prediction import _predict_step

    texts, predictor = loaded_predictor(name, data)
    x = predictor.preproc.preprocess(texts, keep_texts=False)
    step = _predict_step(predictor.model, frozen=True)
    cost = step_cost(step, x.maxlen, x.pad_id)

    def run(batches, multiple):
        out = np.concatenate([np.asarray(step(*ragged_batch(x, b), x.maxlen, x.pad_id, multiple)) for b in batches])
        restored = np.empty_like(out)
        restored[np.concatenate(batches)] = out
        return restored

    variants = plans(x)
    outputs = {label: run(*plan) for label, plan in variants.items()}  # the warm-up pass of each
    seconds = {label: [] for label in PLANS}
    for r in range(ROUNDS):
        for label in PLANS if r % 2 == 0 else PLANS[::-1]:
            start = time.perf_counter()
            run(*variants[label])
            seconds[label].append(time.perf_counter() - start)
    before = np.array(seconds[PLANS[0]])
    rows = {}
    for label in PLANS:
        ratios = before / np.array(seconds[label])
        rows[label] = {"padded_tokens": padded_tokens(x, *variants[label]), "steps": len(variants[label][0]),
                       "median_s": round(float(np.median(seconds[label])), 3),
                       "seconds": [round(s, 3) for s in seconds[label]],
                       "speedup": round(float(np.median(ratios)), 3),
                       "speedup_range": [round(float(ratios.min()), 3), round(float(ratios.max()), 3)],
                       "largest_probability_difference": float(np.max(np.abs(outputs[label] - outputs[PLANS[0]])))}
    return {"predict_texts": len(texts), "maxlen": x.maxlen, "real_tokens": int(np.sum(x.lengths)),
            "precision": predictor.model.backbone.dtype_policy.name, "step_cost": cost, "plans": rows}


def markdown(result: dict) -> str:
    from ktbert.data.prediction import ATTENTION_SHARE, STEP_OVERHEAD

    lines = [
        "# Prediction plans: what a step costs, and three ways to cut the same texts",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), alone. "
        "A predictor loaded from a folder (weights as constants of its step), all-MiniLM-L6-v2 with an untrained "
        f"head, batch size {speed.PREDICT_BATCH} (a budget of {speed.PREDICT_BATCH} x maxlen padded tokens per step).",
        "",
        "**What a step costs** (random token ids, a grid of shapes, alternating; least squares on "
        "`fixed + per_token * tokens + per_width * tokens * width`). `overhead` is the fixed part in padded "
        f"tokens, the figure `cheapest_batches` weighs (`STEP_OVERHEAD`, {STEP_OVERHEAD}; `ATTENTION_SHARE`, "
        f"{ATTENTION_SHARE}, is the per-width part over the per-token part).",
        "",
        "| data | precision | fixed | per token | per token and width | overhead (tokens) | attention share "
        "| largest fit error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        c = r["step_cost"]
        lines.append(f"| {name} | {r['precision']} | {c['fixed_ms']} ms | {c['per_token_us']} us "
                     f"| {c['per_token_and_width_us']} us | {c['overhead_tokens']} | {c['attention_share']} "
                     f"| {c['largest_fit_error']:.0%} |")
    lines += [
        "",
        f"**Three plans**, whole passes alternating in {ROUNDS} rounds after a warm-up pass each. Speed-up: the "
        f"median of each round's own ratio to `{PLANS[0]}` (ktbert's earlier plan, in every precision), with the range over rounds. `cheapest` is "
        "ktbert's plan, in every precision. In float32 the plans' probabilities agree within 1e-5; in bfloat16 a "
        "text's probabilities move with the texts it is batched with (by about 1e-3).",
        "",
        "| data | plan | padded tokens | steps | median s | speed-up | range | largest probability difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        for label, p in r["plans"].items():
            lo, hi = p["speedup_range"]
            lines.append(f"| {name} ({r['predict_texts']:,} texts, {r['real_tokens']:,} tokens, maxlen {r['maxlen']}) "
                         f"| {label} | {p['padded_tokens']:,} | {p['steps']} | {p['median_s']} | {p['speedup']:.2f}x "
                         f"| {lo:.2f}-{hi:.2f} | {p['largest_probability_difference']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "prediction_plans", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
