"""Training runs under tf.distribute for tests/train/test_distribute.py, each in a process of its own.

tf.distribute needs its devices set before TensorFlow starts them, which the test process has
done long before, so `test_distribute.py` runs this script:

- `python distributed_runs.py mirrored ENCODER OUT`: two logical CPU devices; the toy task
  trained without a strategy and under MirroredStrategy (Keras' `fit` and ktbert's loop),
  `lr_find`, checkpoints and a partial last batch; results in `OUT/mirrored.json`.
- `python distributed_runs.py worker ENCODER OUT`: one worker of a MultiWorkerMirroredStrategy
  cluster (`TF_CONFIG` in the environment); results in `OUT/worker-<index>.json` and its final
  weights in `OUT/worker-<index>.npz`.

Every run takes the tiny encoder with its dropout off (`dropout_free_encoder`), so runs on one
device and on several compute the same numbers.
"""

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(HERE)), os.path.dirname(HERE)]  # the project, tests/

# helpers sets the tests' environment defaults (float32, quiet TensorFlow) as it is imported,
# so it comes before ktbert, which reads them when TensorFlow loads.
from helpers import build_toy_split  # noqa: E402

import ktbert  # noqa: E402
import keras  # noqa: E402

LR, BATCH, SEED = 5e-3, 16, 0


def dropout_free_encoder(encoder: str, folder: str) -> str:
    """A copy of the preset folder `encoder` whose backbone has no dropout."""
    shutil.copytree(encoder, folder, dirs_exist_ok=True)
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config["config"]["dropout"] = 0.0
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return folder


def make_learner(split, strategy=None, in_scope=True, batch_size=BATCH, loop="auto"):
    """A classifier (head seeded 0, no dropout) on `split`; built inside `strategy.scope()`
    when `in_scope`, else outside (the learner rebuilds it inside)."""
    import contextlib

    trn, val, preproc = split
    with strategy.scope() if strategy is not None and in_scope else contextlib.nullcontext():
        model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, dropout=0.0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=batch_size, seed=SEED,
                                 strategy=strategy)
    learner.training_loop = loop
    return learner


class StepLosses(keras.callbacks.Callback):
    """Keeps every training step's logged loss (a running mean over the epoch)."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def one_cycle(learner, epochs=2, **kwargs) -> dict:
    steps = StepLosses()
    history = learner.fit_onecycle(LR, epochs, verbose=0, callbacks=[steps], **kwargs)
    return {"losses": steps.losses, "lrs": list(learner.lr_history), "moms": list(learner.momentum_history),
            "val_loss": history.history["val_loss"], "val_macro_f1": history.history["val_macro_f1"]}


def lr_find(learner) -> dict:
    before = [v.numpy().copy() for v in learner.model.trainable_variables]
    result = learner.lr_find(num_it=8, verbose=0)
    restored = all((a == v.numpy()).all() for a, v in zip(before, learner.model.trainable_variables))
    return {"lrs": result.lrs, "losses": result.losses, "restored": bool(restored)}


def mirrored(encoder: str, out: str) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from ktbert.data.batching import to_dataset

    split = build_toy_split(dropout_free_encoder(encoder, os.path.join(out, "encoder")), seed=1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {"replicas": strategy.num_replicas_in_sync}
    single = make_learner(split)
    results["single"] = one_cycle(single)
    results["single_lr_find"] = lr_find(single)

    keras_fit = make_learner(split, strategy)
    results["mirrored"] = one_cycle(keras_fit, checkpoint_folder=os.path.join(out, "checkpoints"))
    results["mirrored_lr_find"] = lr_find(keras_fit)
    results["mirrored_partial"] = one_cycle(make_learner(split, strategy, batch_size=9), epochs=1)
    results["loop_partial"] = one_cycle(make_learner(split, strategy, batch_size=9, loop="ktbert"), epochs=1)

    loop = make_learner(split, strategy, in_scope=False, loop="ktbert")
    results["loop_rebuilt"] = loop.model.variables[0].value.__class__.__name__
    results["loop"] = one_cycle(loop)
    results["loop_lr_find"] = lr_find(loop)
    results["loop_evaluate"] = loop.evaluate()
    val = to_dataset(split[1].x, split[1].y, 32)
    results["loop_keras_evaluate"] = loop.model.evaluate(val, verbose=0, return_dict=True)
    with open(os.path.join(out, "mirrored.json"), "w", encoding="utf-8") as f:
        json.dump(results, f)


def worker(encoder: str, out: str) -> None:
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # before any other TensorFlow work
    import numpy as np

    from ktbert.train import distribute

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    split = build_toy_split(dropout_free_encoder(encoder, os.path.join(out, f"encoder-{index}")), seed=1)
    learner = make_learner(split, strategy)
    results = {"replicas": strategy.num_replicas_in_sync, "chief": distribute.is_chief(strategy),
               "agreed_seed": distribute.shuffle_seed(strategy, None)}
    results["lr_find"] = lr_find(learner)
    results["fit"] = one_cycle(learner, epochs=1, checkpoint_folder=os.path.join(out, f"checkpoints-{index}"))
    results["evaluate"] = learner.evaluate()
    results["probabilities"] = learner.predict().tolist()
    np.savez(os.path.join(out, f"worker-{index}.npz"), *[v.numpy() for v in learner.model.variables])
    with open(os.path.join(out, f"worker-{index}.json"), "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    mode, encoder_folder, out_folder = sys.argv[1:4]
    {"mirrored": mirrored, "worker": worker}[mode](encoder_folder, out_folder)
