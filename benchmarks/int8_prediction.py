"""Int8 prediction (`Predictor.load(folder, quantize="int8")`) against float, side by side in
one process: agreement and accuracy on whole test sets, and speed.

For each dataset a classifier on the default encoder is fine-tuned (seed 0, `TRAIN` texts,
`fit_onecycle`), saved, and loaded three times:
- `float`: ktbert's default (weights frozen into the step, float32 where `auto` picks it);
- `int8`: `quantize="int8"`, ktbert's int8 (attention projections and feed-forward GELU layers,
  but the first block's GELU layer);
- `int8, first GELU layer too`: the same with the first block's GELU layer in int8 as well
  (ktbert's int8 before; measured here to show why it stays float);
- `int8, output layers too`: the same with the feed-forward output layers in int8 as well (the
  design ktbert did not take; measured here to show why).
1. **Agreement and accuracy.** Each predicts the whole test set once (SST-2 dev 872, AG News
   test 7,600, IMDB test 25,000; the last variant skips IMDB's): the share of labels equal to
   float's, the largest probability difference, accuracy against the true labels. ktbert keeps
   int8 opt-in unless labels agree on at least 99.5% of texts.
2. **Speed.** Whole passes over speed.py's prediction texts, alternating in `ROUNDS` rounds
   after a warm-up; speed-up is the median of each round's own ratio to float.
Writes docs/benchmarks/int8_prediction.md and .json. Run it alone (about 55 minutes on 2 cores).

    python benchmarks/int8_prediction.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import contextlib
import os
import sys
import tempfile
import time

import numpy as np

import speed

ROUNDS = 8
TRAIN = {"sst2": (4000, 2, 1e-4), "agnews": (4000, 2, 1e-4), "imdb": (2000, 1, 5e-5)}  # texts, epochs, lr
FULL_TEST = {"sst2": 872, "agnews": 7600, "imdb": 25000}
VARIANTS = ("float", "int8", "int8, first GELU layer too", "int8, output layers too")
AGREEMENT_FOR_DEFAULT = 0.995


@contextlib.contextmanager
def first_gelu_layer_in_int8():
    """While tracing, the first block's GELU layer multiplies in int8 like the others."""
    import ktbert.model.int8 as int8

    kept = int8.FLOAT_GELU_LAYERS
    int8.FLOAT_GELU_LAYERS = 0
    try:
        yield
    finally:
        int8.FLOAT_GELU_LAYERS = kept


@contextlib.contextmanager
def output_layers_in_int8():
    """While tracing, the feed-forward output layers (`FlatDense`) multiply in int8 as well."""
    import tensorflow as tf

    from ktbert.model.int8 import int8_active, int8_product
    from ktbert.model.projections import FlatDense

    original = FlatDense.call

    def call(self, inputs, training=None):
        if not int8_active() or training or self.bias is None or len(inputs.shape) < 3:
            return original(self, inputs, training=training)
        y = self.activation(int8_product(tf.reshape(inputs, [-1, self.kernel.shape[0]]), self.kernel, self.bias))
        return tf.reshape(y, tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0))

    FlatDense.call = call
    try:
        yield
    finally:
        FlatDense.call = original


def trained_folder(name: str, data: str, folder: str) -> str:
    """Fine-tunes a classifier on `name`'s training texts and saves its predictor in `folder`."""
    import pandas as pd

    import ktbert

    n_train, epochs, lr = TRAIN[name]
    maxlen = speed.SIZES[name][2]
    texts, labels, _, _ = speed.load_dataset(name, data, n_train, 8)
    frame = pd.DataFrame({"text": texts, "label": labels})
    trn, val, preproc = ktbert.texts_from_df(frame, "text", label_columns="label", val_pct=0.1, maxlen=maxlen,
                                             verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=speed.TRAIN_BATCH)
    learner.fit_onecycle(lr, epochs, verbose=0)
    path = os.path.join(folder, name)
    ktbert.get_predictor(learner.model, preproc, batch_size=speed.PREDICT_BATCH).save(path)
    return path


def loaded(path: str) -> dict:
    """The variants, each traced (on a first call) as it is meant to compute."""
    import ktbert

    tracing = {"int8": contextlib.nullcontext, VARIANTS[2]: first_gelu_layer_in_int8,
               VARIANTS[3]: output_layers_in_int8}
    predictors = {"float": ktbert.Predictor.load(path, batch_size=speed.PREDICT_BATCH)}
    predictors["float"].warm_up()
    for label, context in tracing.items():
        predictors[label] = ktbert.Predictor.load(path, batch_size=speed.PREDICT_BATCH, quantize="int8")
        with context():
            predictors[label].predict("warm-up")
    return predictors


def whole_test_set(name: str, data: str, predictors: dict) -> dict:
    """Each variant's pass over the whole test set: agreement with float, accuracy, seconds."""
    _, _, texts, labels = speed.load_dataset(name, data, 8, FULL_TEST[name])
    classes = predictors["float"].get_classes()
    truth = np.array([classes.index(str(label)) for label in labels])
    rows, proba = {}, {}
    for label in VARIANTS if name != "imdb" else VARIANTS[:3]:
        start = time.perf_counter()
        proba[label] = predictors[label].predict(texts, return_proba=True)
        seconds = time.perf_counter() - start
        rows[label] = {"seconds": round(seconds, 1), "accuracy": round(float(np.mean(proba[label].argmax(1) == truth)), 4),
                       "agreement": round(float(np.mean(proba[label].argmax(1) == proba["float"].argmax(1))), 4),
                       "largest_probability_difference": round(float(np.max(np.abs(proba[label] - proba["float"]))), 4),
                       "mean_probability_difference": float(f"{np.mean(np.abs(proba[label] - proba['float'])):.2g}")}
    return {"texts": len(texts), "variants": rows}


def speed_rounds(name: str, data: str, predictors: dict) -> dict:
    """Whole passes over speed.py's prediction texts, alternating; speed-ups against float."""
    _, predict_n, _ = speed.SIZES[name]
    _, _, texts, _ = speed.load_dataset(name, data, 8, predict_n)
    seconds = {label: [] for label in VARIANTS}
    for label in VARIANTS:
        predictors[label].predict(texts)
    for r in range(ROUNDS):
        for label in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
            start = time.perf_counter()
            predictors[label].predict(texts)
            seconds[label].append(time.perf_counter() - start)
    base = np.array(seconds["float"])
    rows = {}
    for label in VARIANTS:
        ratios = base / np.array(seconds[label])
        rows[label] = {"median_s": round(float(np.median(seconds[label])), 3),
                       "texts_per_s": round(len(texts) / float(np.median(seconds[label])), 1),
                       "speedup": round(float(np.median(ratios)), 3),
                       "speedup_range": [round(float(ratios.min()), 3), round(float(ratios.max()), 3)]}
    return {"texts": len(texts), "variants": rows}


def encoder_precision(model) -> str:
    """What the encoder computes in (a mixed-precision classifier's own policy stays float32)."""
    from ktbert.data.batching import HALF_PRECISIONS

    dtypes = {getattr(layer, "compute_dtype", None) for layer in (model, *model.layers)}
    return next((d for d in HALF_PRECISIONS if d in dtypes), "float32")


def measure(name: str, data: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        predictors = loaded(trained_folder(name, data, folder))
        return {"maxlen": speed.SIZES[name][2], "train_texts": TRAIN[name][0],
                "precision": encoder_precision(predictors["float"].model),
                "speed": speed_rounds(name, data, predictors), "test_set": whole_test_set(name, data, predictors)}


def markdown(result: dict) -> str:
    lines = [
        "# Int8 prediction against float",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), alone. "
        "A classifier on all-MiniLM-L6-v2 fine-tuned per dataset (`text_classifier(seed=0)`; training texts: "
        + ", ".join(f"{n} {r['train_texts']:,}" for n, r in result["datasets"].items()) + "), saved, then "
        "loaded as `float` "
        "(`Predictor.load(folder)`), `int8` (`quantize=\"int8\"`: attention projections and feed-forward GELU "
        "layers in int8, but the first block's GELU layer), `int8, first GELU layer too` (that layer as well: "
        "ktbert's int8 before) and `int8, output layers too` (the feed-forward output layers as well: not what "
        f"ktbert does). ktbert makes int8 a default only where labels agree on {AGREEMENT_FOR_DEFAULT:.1%} of texts or more.",
        "",
        "**Whole test sets**, one pass each.",
        "",
        "| data | variant | labels equal to float | largest probability difference | mean difference | accuracy "
        "| seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        t = r["test_set"]
        for label, v in t["variants"].items():
            lines.append(f"| {name} ({t['texts']:,} texts, maxlen {r['maxlen']}) | {label} | {v['agreement']:.2%} "
                         f"| {v['largest_probability_difference']} | {v['mean_probability_difference']} "
                         f"| {v['accuracy']:.2%} | {v['seconds']} |")
    lines += [
        "",
        f"**Speed**: whole passes over speed.py's prediction texts, alternating in {ROUNDS} rounds after a warm-up. "
        "Speed-up: the median of each round's own ratio to float, with the range over rounds.",
        "",
        "| data | variant | texts/s | speed-up | range |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        s = r["speed"]
        for label, v in s["variants"].items():
            lo, hi = v["speedup_range"]
            lines.append(f"| {name} ({s['texts']:,} texts, {r['precision']}) | {label} | {v['texts_per_s']} "
                         f"| {v['speedup']:.2f}x | {lo:.2f}-{hi:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "int8_prediction", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
