"""The ktbert side of the speed benchmark: one measurement per process, run by `speed.py` with
the project's Python (the project root on PYTHONPATH, as speed.py sets it), through ktbert's
public API only.

    python speed_ktbert.py peak --result R.json
    python speed_ktbert.py train --task T.json --result R.json [--warmup-batches N] [--padded]
    python speed_ktbert.py predict --task T.json --result R.json [--padded]

Training: `texts_from_df` -> `text_classifier` -> `get_learner(batch_size=16, eval_batch_size=32)`,
one warm-up `fit(2e-5, 1)` (or its first N batches), then one timed `fit(2e-5, 1)`: the rate
counts the whole call, and a callback also times each epoch from its start to its end (the
warm-up's too: the first epoch of a fresh process, when the warm-up is a whole one). Prediction: a predictor saved by a
child process, then `Predictor.load(folder, batch_size=32)`, `warm_up()` (as `ktbert serve` does
at start-up) and `.predict(texts)`, tokenization included, after a warm-up call on a few texts.
`--padded` passes `bucketing=False` (every batch padded to maxlen) where ktbert offers it.
"""

import os
import sys
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ktbert  # noqa: E402  (first, as a user's script would: it sets TensorFlow's kernel variables)
import keras  # noqa: E402  (after the environment above)

import speed_common as common  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Seconds from the start of the (single) epoch to its end."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


class StopAfter(keras.callbacks.Callback):
    """Ends training after `batches` steps (a warm-up shorter than an epoch)."""

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 >= self.batches:
            self.model.stop_training = True


def with_bucketing(make, padded: bool, *args, **kwargs):
    """`make(*args, **kwargs)`, with `bucketing=False` when `padded`; a ktbert without that
    keyword pads to maxlen anyway, so it is called without it."""
    if padded:
        try:
            return make(*args, bucketing=False, **kwargs)
        except TypeError as err:
            if "bucketing" not in str(err):
                raise
    return make(*args, **kwargs)


def prepare(task: dict):
    import pandas as pd

    import ktbert

    names = task["class_names"]
    frame = lambda texts, labels: pd.DataFrame({"text": texts, "label": [names[k] for k in labels]})  # noqa: E731
    trn, val, preproc = ktbert.texts_from_df(
        frame(task["train_texts"], task["train_labels"]), "text", label_columns="label",
        val_df=frame(task["predict_texts"], task["predict_labels"]), maxlen=task["maxlen"], verbose=0,
    )
    model = ktbert.text_classifier("bert", trn, preproc, verbose=0, seed=task["seed"])
    return ktbert, trn, preproc, model


def train(task: dict, args) -> dict:
    ktbert, trn, preproc, model = prepare(task)
    learner = with_bucketing(ktbert.get_learner, args.padded, model, train_data=trn,
                             batch_size=task["train_batch_size"], eval_batch_size=task["predict_batch_size"],
                             seed=task["seed"])
    first = EpochTimer()
    warmup = [StopAfter(args.warmup_batches)] if args.warmup_batches >= 0 else []
    learner.fit(task["lr"], 1, verbose=0, callbacks=[*warmup, first])
    timer = EpochTimer()
    start = time.perf_counter()
    learner.fit(task["lr"], 1, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - start
    bucketing = bool(getattr(learner, "bucketing", False))
    # The first epoch of this fresh process (traces included), when the warm-up was a whole epoch.
    first_epoch = first.seconds if args.warmup_batches < 0 else None
    # The rate counts the whole `fit` call, as a user waits for it (the rule), not
    # only the epoch between its callbacks; both are reported.
    return {"seconds": wall, "epoch_seconds": timer.seconds, "first_epoch_seconds": first_epoch,
            "examples": len(trn.x),
            "bucketing": bucketing, "precision": learner.model.backbone.dtype_policy.name,
            **epoch_shapes(learner, trn, bucketing, task)}


def epoch_shapes(learner, trn, bucketing: bool, task: dict) -> dict:
    """Token counts of one training epoch, for the FLOP estimate (not timed). The batch widths
    are read from the learner's own training dataset (another epoch's shuffle of the same plan,
    so the totals match to within a percent); that is private, so without it a padded run is
    counted at maxlen and a bucketed one is left uncounted."""
    try:
        shapes = [tuple(inputs["token_ids"].shape) for inputs, _ in learner._train_dataset()]
        return {**common.batch_shape_totals(shapes), "tokens_from": "the learner's training dataset"}
    except Exception:  # noqa: BLE001  (any change of the private method falls back)
        if bucketing:
            return {"tokens_from": "unknown"}
        n, b = len(trn.x), task["train_batch_size"]
        shapes = [(min(b, n - i), task["maxlen"]) for i in range(0, n, b)]
        return {**common.batch_shape_totals(shapes), "tokens_from": "maxlen"}


def save_predictor(task_path: str, folder: str, padded: bool) -> None:
    """Run in a child process by `predict`: an (untrained) predictor saved to `folder`, so the
    measuring process holds only the loaded one, as a service or `ktbert predict` would."""
    ktbert, _, preproc, model = prepare(common.read_task(task_path))
    with_bucketing(ktbert.get_predictor, padded, model, preproc).save(folder)


def predict(task: dict, args) -> dict:
    # An untrained model predicts as fast as a trained one. The predictor is saved by a child
    # process and loaded here, as it ships: `ktbert serve` and `ktbert predict` load a save.
    import shutil
    import subprocess

    import ktbert

    folder = os.path.join(os.path.dirname(os.path.abspath(args.result)), "predictor")
    here = os.path.dirname(os.path.abspath(__file__))
    code = f"import speed_ktbert; speed_ktbert.save_predictor({args.task!r}, {folder!r}, {bool(args.padded)!r})"
    subprocess.run([sys.executable, "-c", code], cwd=here, check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
        [here, os.environ.get("PYTHONPATH", "")])})
    predictor = ktbert.Predictor.load(folder, batch_size=task["predict_batch_size"], bucketing=not args.padded)
    shutil.rmtree(folder)
    texts = task["predict_texts"]
    predictor.warm_up()  # as `ktbert serve` does at start-up: traces the step, freezes the weights
    predictor.predict(texts[: common.PREDICT_WARMUP_TEXTS])
    return {**common.timed_calls(lambda: predictor.predict(texts)), "texts": len(texts),
            "bucketing": bool(getattr(predictor, "bucketing", False)),
            "long_texts": getattr(predictor, "long_texts", "truncate"),  # PyTorch truncates
            "precision": predictor.model.backbone.dtype_policy.name}


def peak(task, args) -> dict:
    import tensorflow as tf

    n = common.MATMUL_SIZE
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    matmul = tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(a, b)))  # returns once it is done
    return {"matmul_gflops": common.matmul_gflops(lambda: matmul().numpy())}


def versions() -> dict:
    import keras_hub
    import tensorflow as tf

    import ktbert

    return {
        "ktbert": ktbert.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "TF_ENABLE_ONEDNN_OPTS": os.environ["TF_ENABLE_ONEDNN_OPTS"],
    }


def main(argv=None):
    parser = common.worker_parser(__doc__)
    parser.add_argument("--padded", action="store_true", help="bucketing=False: pad every batch to maxlen")
    args = parser.parse_args(argv)
    return common.run_measurement(args, {"train": train, "predict": predict, "peak": peak}, versions)


if __name__ == "__main__":
    sys.exit(main())
