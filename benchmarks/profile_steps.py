"""Where a ktbert training step and a prediction pass spend their time, read from the TensorFlow
profiler, with the per-step costs the profiler cannot show measured side by side (A/B).

One process, the default encoder (all-MiniLM-L6-v2), one data set at the speed benchmark's
sizes (`--dataset`: SST-2 by default, 4,000 training sentences, maxlen 128, batch 16; its 872
dev sentences predicted in batches of 32; AG News 2,000 and 1,000, IMDB 500 and 200 at 256):

- the first epoch's steps timed one by one, in this fresh process (trace and new widths);
- a steady training window of `--steps` steps under the profiler: the TensorFlow ops' time
  summed by what they do (the encoder's matmuls, attention, layer norms, softmax, the
  backward pass, the optimizer update, the loss, the ops outside the model, which are the
  compiled metrics and Keras' bookkeeping) and tf.data's threads, against the wall time;
- A/B timings over the same window: as a user trains (`learner.fit`); without the compiled
  metrics; Keras' own `fit` without ktbert's per-step callbacks; with the progress bar;
- prediction, with a predictor saved and loaded as it ships (its weights frozen into the step),
  on the data set's prediction texts and on IMDB's 200 test reviews at maxlen 256 (the speed
  benchmark's):
  the whole call (median of three), tokenization alone, the model's pass under the profiler,
  and the batch plan A/B (32 texts per batch against a token budget);
- whole epochs with batch widths rounded up to each of `--multiples`.

    python benchmarks/profile_steps.py [--dataset sst2] [--steps 60] [--multiples 8,4]
        [--data ../shared/data] [--out docs/benchmarks]

Writes docs/benchmarks/profile.json and profile.md. Run it alone: another busy process on the
machine falsifies every timing.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ktbert  # noqa: E402  (first, as a user's script would: it sets TensorFlow's kernel variables)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_common import DOCS, ROOT, cpu  # noqa: E402
from ktbert.model.compiling import NO_DECAY  # noqa: E402
from speed import SIZES, load_dataset, untrained_classifier  # noqa: E402

# What a TensorFlow op does, from its name scope and type; the first rule that matches wins.
MATMUL_TYPES = {"MatMul", "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul",
                "BatchMatMulV2", "_MklBatchMatMulV2", "BatchMatMulV3", "_MklBatchMatMulV3", "Einsum", "_MklEinsum", "_MklFusedBatchMatMulV2"}
# The attention's own products (scores, weighted sum) are batched; its query, key, value and
# output projections, under the same "attention" scope, are 2-D products or einsums.
BATCHED_MATMUL_TYPES = {"BatchMatMulV2", "_MklBatchMatMulV2", "BatchMatMulV3", "_MklBatchMatMulV3",
                        "_MklFusedBatchMatMulV2"}
SOFTMAX_TYPES = {"Softmax", "_MklSoftmax"}


def op_category(scope: str, op_type: str) -> str:
    """The row of the breakdown an op's time goes to."""
    backward = "gradient_tape" in scope
    low = scope.lower()
    if "adam_w" in low or low.startswith("adam") or "/adam" in low:  # not Grappler's "ArithmeticOptimizer/"
        return "optimizer update"
    if "compile_loss" in low:
        return "loss (backward included)"
    prefix = "backward: " if backward else "forward: "
    if "attention" in low and op_type in BATCHED_MATMUL_TYPES:  # the projections are dense products
        return prefix + "attention matmuls (scores, weighted sum)"
    if op_type in SOFTMAX_TYPES or "softmax" in low.rsplit("/", 1)[-1]:
        return prefix + "softmax"
    if op_type in MATMUL_TYPES:
        return prefix + "dense matmuls (projections, feed-forward)"
    if "layer_norm" in low or "layernorm" in low:
        return prefix + "layer norms"
    if "embedding" in low:
        return prefix + "embeddings"
    if "backbone" in low or "transformer_layer" in low or "classifier" in low or "dropout" in low:
        return prefix + "other encoder ops (GELU, adds, dropout, reshapes)"
    if backward:
        return prefix + "other"
    return "outside the model (compiled metrics, Keras bookkeeping, padding)"


def read_trace(logdir: str) -> dict:
    """Seconds of TensorFlow op time per category and of tf.data work, from the profiler's XPlane."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    ops, by_type, data_s = {}, {}, 0.0
    for plane in space.planes:
        for line in plane.lines:
            if line.name.startswith("tf_data"):
                data_s += sum(e.duration_ps for e in line.events
                              if plane.event_metadata[e.metadata_id].name.startswith("Iterator::Root")) / 1e12
                continue
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:
                    continue  # executor bookkeeping, not an op
                scope, op_type = name.rsplit(":", 1)
                if op_type in ("StatefulPartitionedCall", "PartitionedCall"):
                    continue  # a function call: its ops are counted themselves
                seconds = event.duration_ps / 1e12
                category = op_category(scope, op_type)
                ops[category] = ops.get(category, 0.0) + seconds
                by_type[op_type] = by_type.get(op_type, 0.0) + seconds
    return {"ops_s": ops, "op_types_s": dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:15]),
            "tf_data_s": data_s}


@contextlib.contextmanager
def profiled(result: dict):
    """Profiles the block; `result` gets the breakdown and the block's wall seconds."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        try:
            yield
        finally:
            result["wall_s"] = time.perf_counter() - start
            tf.profiler.experimental.stop()
            result.update(read_trace(logdir))


class StepTimes(keras.callbacks.Callback):
    """Each step's seconds, from one step's end to the next's (callbacks and input included),
    the first from the batch's start; and the batch widths, when the loop reports them."""

    def __init__(self, stop_after: int | None = None):
        super().__init__()
        self.stop_after = stop_after
        self.seconds, self._last = [], None

    def on_train_batch_begin(self, batch, logs=None):
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now
        if self.stop_after and len(self.seconds) >= self.stop_after:
            self.model.stop_training = True


def prepare(data: str, smoke: bool = False, dataset: str = "sst2"):
    import pandas as pd

    n_train, n_predict, maxlen = (160, 64, SIZES[dataset][2]) if smoke else SIZES[dataset]
    train_texts, train_labels, predict_texts, predict_labels = load_dataset(dataset, data, n_train, n_predict)
    trn, val, preproc = ktbert.texts_from_df(pd.DataFrame({"text": train_texts, "label": train_labels}), "text",
                                             label_columns="label", maxlen=maxlen, verbose=0,
                                             val_df=pd.DataFrame({"text": predict_texts, "label": predict_labels}))
    model = ktbert.text_classifier("bert", trn, preproc, verbose=0, seed=0)
    learner = ktbert.get_learner(model, train_data=trn, batch_size=16, eval_batch_size=32, seed=0)
    return learner, preproc, predict_texts


def first_epoch(learner) -> dict:
    """The first epoch's steps, one by one, in this fresh process, with its widths."""
    timer = StepTimes()
    start = time.perf_counter()
    learner.fit(2e-5, 1, verbose=0, callbacks=[timer])
    whole = time.perf_counter() - start
    widths = [int(inputs["token_ids"].shape[1]) for inputs, _ in learner._train_dataset()]
    steady = float(np.median(timer.seconds[len(timer.seconds) // 2:]))
    return {"fit_call_s": whole, "epoch_steps_s": float(np.sum(timer.seconds)), "steps": len(timer.seconds),
            "first_step_s": timer.seconds[0], "median_step_s": steady,
            "extra_over_median_s": float(np.sum(np.asarray(timer.seconds) - steady)),
            "distinct_widths": len(set(widths))}


def timed_steps(run, steps: int) -> float:
    """Median seconds per step of `run(callback)` stopped after `steps` steps (first 3 left out)."""
    timer = StepTimes(stop_after=steps)
    run(timer)
    return float(np.median(timer.seconds[3:]))


def training(learner, steps: int) -> dict:
    fit = lambda cb, verbose=0: learner.fit(2e-5, 1, verbose=verbose, callbacks=[cb])  # noqa: E731
    out = {"first_epoch": first_epoch(learner)}
    out["step_s"] = timed_steps(fit, steps)
    trace = {}
    with profiled(trace):
        timer = StepTimes(stop_after=steps)
        fit(timer)
    out["profile"] = {**trace, "steps": len(timer.seconds), "step_wall_s": float(np.sum(timer.seconds))}
    with contextlib.redirect_stdout(io.StringIO()):
        out["step_s_progress_bar"] = timed_steps(lambda cb: fit(cb, verbose=1), steps)
    model = learner.model
    dataset = learner._train_dataset()
    out["step_s_keras_fit"] = timed_steps(lambda cb: model.fit(dataset, epochs=1, verbose=0, callbacks=[cb]), steps)
    config = dict(model._compile_config.config)
    model.compile(**{**config, "metrics": None})
    out["step_s_keras_fit_no_metrics"] = timed_steps(
        lambda cb: model.fit(dataset, epochs=1, verbose=0, callbacks=[cb]), steps)
    # Keras' own AdamW (a dozen element-wise passes per variable, the decay's three even at 0)
    # against ktbert's, which runs the same update through TensorFlow's fused kernel.
    keras_adamw = keras.optimizers.AdamW(learning_rate=2e-5, weight_decay=0.0)
    keras_adamw.exclude_from_weight_decay(var_names=NO_DECAY)
    model.compile(**{**config, "optimizer": keras_adamw})
    out["step_s_keras_fit_keras_adamw"] = timed_steps(
        lambda cb: model.fit(dataset, epochs=1, verbose=0, callbacks=[cb]), steps)
    model.compile(**config)
    return out


def granularity(learner, multiples) -> dict:
    """Whole-epoch seconds and padded tokens with batch widths rounded up to each multiple
    (ktbert's own is `width_multiple`'s: 1 in float32, 8 in bfloat16); each multiple gets a
    warm-up epoch first (its new widths)."""
    from bench_common import widths_rounded_to

    out = {}
    for multiple in multiples:
        with widths_rounded_to(multiple):
            learner.fit(2e-5, 1, verbose=0)
            start = time.perf_counter()
            learner.fit(2e-5, 1, verbose=0)
            seconds = time.perf_counter() - start
            tokens = sum(int(np.prod(inputs["token_ids"].shape)) for inputs, _ in learner._train_dataset())
        out[str(multiple)] = {"fit_call_s": seconds, "padded_tokens": tokens}
    return out


def prediction(model, preproc, texts: list) -> dict:
    """A predictor saved and loaded as it ships (its encoder's weights frozen into the step, as
    `ktbert serve` and `ktbert predict` run it): the whole call, tokenization alone, the model's
    pass alone and under the profiler, and the batch plan A/B."""
    from ktbert.data.batching import bucketed_batches, token_budget_batches
    from ktbert.data.pipeline import PAD_MULTIPLE
    from ktbert.data.prediction import _predict_step, predict_in_order

    with tempfile.TemporaryDirectory() as folder:
        ktbert.get_predictor(model, preproc, batch_size=32).save(os.path.join(folder, "predictor"))
        predictor = ktbert.Predictor.load(os.path.join(folder, "predictor"), batch_size=32)
    predictor.warm_up()
    predictor.predict(texts[:48])
    calls = []
    for _ in range(3):
        start = time.perf_counter()
        predictor.predict(texts)
        calls.append(time.perf_counter() - start)
    start = time.perf_counter()
    x = predictor.preproc.preprocess(texts, keep_texts=False)
    tokenize = time.perf_counter() - start
    loaded = predictor.model
    start = time.perf_counter()
    predict_in_order(loaded, x, 32, frozen=True)
    model_s = time.perf_counter() - start
    trace = {}
    with profiled(trace):
        predict_in_order(loaded, x, 32, frozen=True)
    # A/B of the batch plan: 32 texts per batch (sorted by length) against the token budget
    # (at most 32 x maxlen padded tokens per batch), best of three passes each.
    plans = {"texts_32": bucketed_batches(x.lengths, 32),
             "token_budget": token_budget_batches(x.lengths, 32, x.maxlen)}
    step = _predict_step(loaded, frozen=True)
    plan_s = {}
    for name, plan in plans.items():
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for indices in plan:
                part = x.subset(indices)
                np.asarray(step(part.values, part.lengths, x.maxlen, x.pad_id, PAD_MULTIPLE))
            runs.append(time.perf_counter() - start)
        plan_s[name] = {"seconds": min(runs), "batches": len(plan)}
    return {"texts": len(texts), "maxlen": x.maxlen, "predict_call_s": float(np.median(calls)),
            "predict_calls_s": calls, "tokenize_s": tokenize, "model_s": model_s, "profile": trace,
            "plans": plan_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SIZES), default="sst2",
                        help="the data set trained on and predicted first (IMDB's are predicted too)")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--smoke", action="store_true", help="a few hundred texts: checks the script, measures nothing")
    parser.add_argument("--out", default=DOCS)
    parser.add_argument("--multiples", default="8,4",
                        help="batch-width multiples to time whole epochs with")
    args = parser.parse_args(argv)
    learner, preproc, texts = prepare(args.data, args.smoke, args.dataset)
    multiples = [int(m) for m in args.multiples.split(",") if m.strip()]
    predictions = {args.dataset: prediction(learner.model, preproc, texts)}
    if not args.smoke and args.dataset != "imdb":  # IMDB's long reviews, where attention weighs most
        imdb_texts, imdb_preproc, imdb_model = untrained_classifier("imdb", args.data)
        predictions["imdb"] = prediction(imdb_model, imdb_preproc, imdb_texts)
    result = {"dataset": args.dataset, "maxlen": SIZES[args.dataset][2], "cpu": cpu(),
              "precision": learner.model.backbone.dtype_policy.name,
              "training": training(learner, args.steps), "prediction": predictions,
              "granularity": granularity(learner, multiples),
              "command": "python benchmarks/profile_steps.py " + " ".join(argv or sys.argv[1:])}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "profile.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(args.out, "profile.md"), "w", encoding="utf-8") as f:
        f.write(markdown(result))
    print(markdown(result))
    return 0


def breakdown_table(profile: dict, steps: int, unit: str) -> list:
    """Rows of op time per category: ms per step (or per pass) and share of all op time."""
    total = sum(profile["ops_s"].values())
    rows = [f"| what | ms per {unit} | share of op time |", "|---|---|---|"]
    for name, seconds in sorted(profile["ops_s"].items(), key=lambda kv: -kv[1]):
        rows.append(f"| {name} | {1000 * seconds / steps:.1f} | {100 * seconds / total:.1f}% |")
    rows.append(f"| **all TensorFlow ops** (both cores' threads summed) | {1000 * total / steps:.1f} | 100% |")
    rows.append(f"| tf.data's threads (batches made beside the steps) | {1000 * profile['tf_data_s'] / steps:.1f} | |")
    return rows


def prediction_lines(name: str, predict: dict) -> list:
    """The markdown section of one dataset's prediction profile."""
    ms = lambda seconds: f"{1000 * seconds:.1f}"  # noqa: E731
    return [
        f"## Prediction, {PREDICT_NAMES.get(name, name)}: {predict['texts']} texts, maxlen {predict['maxlen']}, "
        "a saved predictor loaded (weights frozen into the step)",
        "",
        f"`predictor.predict` took {ms(predict['predict_call_s'])} ms (median of "
        f"{len(predict['predict_calls_s'])} calls): tokenizing alone {ms(predict['tokenize_s'])} ms, the "
        f"model's pass alone {ms(predict['model_s'])} ms.",
        "",
        *breakdown_table(predict["profile"], 1, "call"),
        "",
        "### Op types with the most time",
        "",
        "| op type | ms per call |",
        "|---|---|",
        *[f"| {op} | {1000 * seconds:.1f} |" for op, seconds in list(predict["profile"]["op_types_s"].items())[:8]],
        "",
        "### Batch plan (the model's pass alone, best of three)",
        "",
        "| plan | batches | ms |",
        "|---|---|---|",
        *[f"| {plan.replace('_', ' ')} | {p['batches']} | {ms(p['seconds'])} |" for plan, p in predict["plans"].items()],
        "",
    ]


PREDICT_NAMES = {"sst2": "SST-2 dev", "agnews": "AG News test descriptions", "imdb": "IMDB test reviews"}
TRAIN_NAMES = {"sst2": "SST-2", "agnews": "AG News", "imdb": "IMDB"}


def markdown(result: dict) -> str:
    train, predict = result["training"], result["prediction"]
    first, profile = train["first_epoch"], train["profile"]
    steps = profile["steps"]
    ms = lambda seconds: f"{1000 * seconds:.1f}"  # noqa: E731
    cpu_line = f"{result['cpu']['model']}, {result['cpu']['cores']} cores, flags: {', '.join(result['cpu']['flags'])}"
    lines = [
        "# Where the time goes: a training step and a prediction pass, profiled",
        "",
        f"Produced by `{result['command'].strip()}` "
        f"({TRAIN_NAMES[result.get('dataset', 'sst2')]}, the default encoder, batch 16 to train and 32 to "
        f"predict, maxlen {result.get('maxlen', 128)}) on {cpu_line}; ktbert computed in {result['precision']}. Op times are the "
        "TensorFlow profiler's (its XPlane trace, read by the script); the A/B rows time the same steps with "
        "one thing changed.",
        "",
        f"## Training: {steps} steady steps profiled ({ms(profile['step_wall_s'] / steps)} ms per step with the "
        f"profiler on, {ms(train['step_s'])} ms without)",
        "",
        *breakdown_table(profile, steps, "step"),
        "",
        "Ops run on two threads at once, so their sum may exceed the wall time; what the sum leaves of the "
        "wall time is Python, Keras' loop and the executor between ops. Two products running side by side "
        "(the backward pass's weight and input gradients are independent) share the cores, so each one's "
        "time counts the other's: the backward rows read high against the forward ones. "
        "`matmul_shapes.md` times the same products one group at a time, against PyTorch's.",
        "",
        "### Per-step costs the profiler cannot show (median ms per step, A/B)",
        "",
        "| setting | ms per step |",
        "|---|---|",
        f"| `learner.fit(..., verbose=0)`, as a user trains | {ms(train['step_s'])} |",
        f"| the same with the progress bar (`verbose=1`) | {ms(train['step_s_progress_bar'])} |",
        f"| Keras' `model.fit` on the learner's dataset (no ktbert per-step callbacks) | "
        f"{ms(train['step_s_keras_fit'])} |",
        f"| the same, compiled without metrics (no accuracy, no macro-F1) | "
        f"{ms(train['step_s_keras_fit_no_metrics'])} |",
        f"| Keras' `model.fit`, with Keras' own AdamW instead of ktbert's fused one | "
        f"{ms(train['step_s_keras_fit_keras_adamw'])} |",
        "",
        "### The first epoch, in a fresh process",
        "",
        f"{first['steps']} steps in {first['epoch_steps_s']:.1f} s ({first['fit_call_s']:.1f} s for the whole "
        f"`fit` call); the first step took {first['first_step_s']:.1f} s (the trace), a median step "
        f"{ms(first['median_step_s'])} ms. Over all steps, {first['extra_over_median_s']:.1f} s more than "
        f"{first['steps']} median steps, across {first['distinct_widths']} batch widths.",
        "",
        *[line for name, p in predict.items() for line in prediction_lines(name, p)],
        "## Batch-width granularity (whole training epochs, after a warm-up epoch per setting)",
        "",
        "| widths rounded up to a multiple of | padded tokens per epoch | whole `fit` call s |",
        "|---|---|---|",
        *[f"| {m} | {g['padded_tokens']:,} | {g['fit_call_s']:.1f} |" for m, g in result["granularity"].items()],
        "",
        "## Op types with the most time (training)",
        "",
        "| op type | ms per step |",
        "|---|---|",
        *[f"| {name} | {1000 * seconds / steps:.1f} |" for name, seconds in profile["op_types_s"].items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
