"""Training under tf.distribute: the strategy a learner takes, the model rebuilt in its scope,
ktbert's replica loop, and whole runs on two CPU devices and on two worker processes.

The runs on several devices need TensorFlow's devices set before it starts them, so they run
in processes of their own (`distributed_runs.py`), bounded by timeouts.
"""

import json
import os
import re
import socket
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import ktbert
from ktbert.model.optimizer import AdamW
from ktbert.train import distribute
from ktbert.train.replica_loop import replica_slices, with_class_weight
from ktbert.train.schedules import one_cycle_schedule

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = os.path.join(HERE, "distributed_runs.py")
PROJECT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import distributed_runs  # noqa: E402
from helpers import run_processes  # noqa: E402

TIMEOUT = 240  # seconds for each process: they train the tiny model for a few steps


def rows(batch):
    """The row ids of a batch `(x, y)`, whose `y` numbers the rows."""
    return batch[1].numpy().tolist()


def test_a_strategy_comes_from_the_argument_or_the_enclosing_scope():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert distribute.resolve_strategy() is None
    assert distribute.resolve_strategy(tf.distribute.get_strategy()) is None  # the default: none
    assert distribute.resolve_strategy(strategy) is strategy
    with strategy.scope():
        assert distribute.resolve_strategy() is strategy
        with pytest.raises(ValueError, match="`strategy` is not the strategy whose scope encloses this call"):
            distribute.resolve_strategy(tf.distribute.OneDeviceStrategy("/cpu:0"))
    with pytest.raises(TypeError, match=re.escape(
        "`strategy` must be a tf.distribute.Strategy, e.g. tf.distribute.MirroredStrategy(), or None. "
        "Received: strategy='mirrored'"
    )):
        distribute.resolve_strategy("mirrored")
    assert distribute.is_chief(None) and distribute.is_chief(strategy)
    assert not distribute.is_multi_worker(strategy)


def test_every_global_batch_is_cut_into_one_slice_per_replica():
    ids = np.arange(11)
    global_batches = tf.data.Dataset.from_tensor_slices(({"token_ids": ids[:, None]}, ids)).batch(5)  # 5, 5, 1
    all_slices = [rows(b) for b in replica_slices(global_batches, num_replicas=2, first=0, count=2)]
    assert all_slices == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9], [10], []]
    second = [rows(b) for b in replica_slices(global_batches, num_replicas=2, first=1, count=1)]
    assert second == [[3, 4], [8, 9], []]
    three = [rows(b) for b in replica_slices(global_batches, num_replicas=3, first=0, count=3)]
    assert three == [[0, 1], [2, 3], [4], [5, 6], [7, 8], [9], [10], [], []]


def test_class_weights_become_each_rows_weight():
    batches = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1)), np.array([0, 1, 2, 1]))).batch(4)
    (_, _, weights), = list(with_class_weight(batches, {0: 0.5, 2: 2.0}))
    np.testing.assert_array_equal(weights.numpy(), [0.5, 1.0, 2.0, 1.0])  # class 1 not named: 1
    assert with_class_weight(batches, None) is batches


def test_an_unknown_training_loop_is_refused(learner):
    learner.training_loop = "custom"
    with pytest.raises(ValueError, match=re.escape(
        "`training_loop` must be one of ['auto', 'keras', 'ktbert']. Received: training_loop='custom'"
    )):
        learner.fit(1e-3, 1, verbose=0)


@pytest.fixture(scope="module")
def quiet_split(tiny_encoder, tmp_path_factory):
    """The toy task (64 rows, seed 1) on the tiny encoder with its dropout off."""
    from helpers import build_toy_split

    folder = distributed_runs.dropout_free_encoder(tiny_encoder, str(tmp_path_factory.mktemp("quiet_bert")))
    return build_toy_split(folder, seed=1)


def test_a_model_built_outside_the_scope_is_rebuilt_inside_with_its_weights_and_settings(quiet_split):
    trn, val, preproc = quiet_split
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    model.optimizer.weight_decay = 0.02
    with pytest.warns(UserWarning, match=re.escape(
        "`model` was built outside `strategy.scope()`: the learner trains a copy rebuilt inside it "
        "(`learner.model`). Build the model inside `with strategy.scope():` to train it directly."
    )):
        learner = ktbert.get_learner(model, trn, val, batch_size=16, strategy=strategy)
    copy = learner.model
    assert copy is not model and learner.strategy is strategy
    assert all(strategy.extended.variable_created_in_scope(v.value) for v in copy.variables)
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(learner.predict(val), ktbert.get_learner(model, trn, val).predict(val))
    optimizer = copy.optimizer
    assert type(optimizer) is AdamW and optimizer is not model.optimizer
    assert learner.get_weight_decay() == pytest.approx(0.02)
    pattern = model.optimizer._exclude_from_weight_decay_pattern.pattern
    assert optimizer._exclude_from_weight_decay_pattern.pattern == pattern
    assert [m.name for m in copy._compile_config.config["metrics"]] == ["accuracy", "macro_f1"]
    assert copy._compile_config.config["metrics"][1] is not model._compile_config.config["metrics"][1]
    with strategy.scope():
        inside = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    assert ktbert.get_learner(inside, trn, val, strategy=strategy).model is inside
    # Keras keeps the strategy a model was built under where `distribute._without_prefit_draw` reads it.
    assert inside._distribute_strategy is strategy and model._distribute_strategy is None


def test_a_model_that_cannot_be_rebuilt_is_refused_with_the_fix():
    class Opaque(keras.Model):
        def __init__(self, width):
            super().__init__()
            self.dense = keras.layers.Dense(width)

        def call(self, x):
            return self.dense(x)

    model = Opaque(2)
    model.compile(optimizer="adam", loss="mse")
    model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=re.escape(
        "`model` was built outside `strategy.scope()` and cannot be rebuilt inside it from its config "
        "(NotImplementedError, above). Build and compile it inside `with strategy.scope():`."
    )):
        distribute.place_model(model, tf.distribute.OneDeviceStrategy("/cpu:0"))


def test_ktbert_loop_trains_as_keras_fit_with_class_weights_and_validation(quiet_split):
    """One device under ktbert's loop: the same losses, rates and validation as `model.fit`."""
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    runs = {}
    for name, strategy_or_none in (("fit", None), ("loop", strategy)):
        learner = distributed_runs.make_learner(quiet_split, strategy_or_none, loop="ktbert")
        steps = distributed_runs.StepLosses()
        history = learner.fit_onecycle(5e-3, 2, class_weight={0: 2.0, 1: 0.5}, callbacks=[steps], verbose=0)
        runs[name] = steps.losses, history.history, learner.evaluate()
    (fit_losses, fit_history, fit_eval), (loop_losses, loop_history, loop_eval) = runs["fit"], runs["loop"]
    assert len(loop_losses) == 8
    np.testing.assert_allclose(loop_losses, fit_losses, rtol=1e-4)
    assert loop_history["lr"] == fit_history["lr"] and loop_history["momentum"] == fit_history["momentum"]
    assert set(loop_history) == set(fit_history)
    assert "macro_f1" not in loop_history and "val_macro_f1" in loop_history  # a validation metric only
    np.testing.assert_allclose(loop_history["val_loss"], fit_history["val_loss"], rtol=1e-4)
    assert loop_eval.keys() == fit_eval.keys()
    np.testing.assert_allclose([loop_eval[k] for k in fit_eval], list(fit_eval.values()), rtol=1e-4)


# -- whole runs in processes of their own --------------------------------------------------------
def environment(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PROJECT, os.environ.get("PYTHONPATH", "")]),
               KTBERT_PRECISION="float32")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def test_mirrored_on_two_cpu_devices_trains_as_one_device(tiny_encoder, tmp_path):
    """fit_onecycle (Keras' fit and ktbert's loop), lr_find, checkpoints and a partial last
    batch under MirroredStrategy; the single-device runs are made in the same process."""
    run_processes([([sys.executable, RUNS, "mirrored", tiny_encoder, str(tmp_path)], environment())], TIMEOUT)
    with open(tmp_path / "mirrored.json", encoding="utf-8") as f:
        r = json.load(f)
    assert r["replicas"] == 2
    single = r["single"]
    assert len(single["losses"]) == 8 and all(np.isfinite(single["losses"]))
    for name in ("mirrored", "loop"):
        np.testing.assert_allclose(r[name]["losses"], single["losses"], rtol=1e-3)
        np.testing.assert_allclose(r[name]["val_loss"], single["val_loss"], rtol=1e-3)
        assert r[name]["lrs"] == single["lrs"] and r[name]["moms"] == single["moms"]
        assert r[f"{name}_lr_find"]["lrs"] == r["single_lr_find"]["lrs"]
        np.testing.assert_allclose(r[f"{name}_lr_find"]["losses"], r["single_lr_find"]["losses"], rtol=1e-3)
        assert r[f"{name}_lr_find"]["restored"]
    assert single["lrs"] == [one_cycle_schedule(distributed_runs.LR, 8)(i) for i in range(8)]
    assert r["loop_rebuilt"] == "MirroredVariable"  # the model built outside the scope was rebuilt
    assert r["loop_evaluate"] == pytest.approx(r["loop_keras_evaluate"], rel=1e-6)
    with open(tmp_path / "checkpoints" / "checkpoints.json", encoding="utf-8") as f:
        assert [c["epoch"] for c in json.load(f)] == [1, 2]
    # 64 rows in batches of 9: a last batch of 1 row leaves one replica nothing.
    for name in ("mirrored_partial", "loop_partial"):
        assert r[name]["lrs"] == [one_cycle_schedule(distributed_runs.LR, 8)(i) for i in range(8)]
        assert all(np.isfinite(r[name]["losses"]))
    np.testing.assert_allclose(r["loop_partial"]["val_loss"], r["mirrored_partial"]["val_loss"], rtol=1e-3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_end_with_identical_weights_and_train_as_one_device(tiny_encoder, quiet_split, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    commands = [([sys.executable, RUNS, "worker", tiny_encoder, str(tmp_path)],
                 environment(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})))
                for i in range(2)]
    run_processes(commands, TIMEOUT)
    workers = []
    for i in range(2):
        with open(tmp_path / f"worker-{i}.json", encoding="utf-8") as f:
            workers.append(json.load(f))
    first, second = workers
    assert first["replicas"] == second["replicas"] == 2
    assert (first["chief"], second["chief"]) == (True, False)
    assert first["agreed_seed"] == second["agreed_seed"]
    with np.load(tmp_path / "worker-0.npz") as a, np.load(tmp_path / "worker-1.npz") as b:
        assert len(a.files) == len(b.files) > 30
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    assert first["fit"] == second["fit"] and first["evaluate"] == second["evaluate"]
    assert first["probabilities"] == second["probabilities"]
    assert first["fit"]["lrs"] == [one_cycle_schedule(distributed_runs.LR, 4)(i) for i in range(4)]
    assert first["lr_find"]["restored"] and len(first["lr_find"]["lrs"]) == 8
    assert all(np.isfinite(first["fit"]["losses"]))
    assert os.path.isfile(tmp_path / "checkpoints-0" / "epoch-001.safetensors")  # the chief writes
    assert not os.path.exists(tmp_path / "checkpoints-1")  # the other worker does not
    # One device, the same seeds: the same steps.
    reference = distributed_runs.one_cycle(distributed_runs.make_learner(quiet_split), epochs=1)
    np.testing.assert_allclose(first["fit"]["losses"], reference["losses"], rtol=1e-3)
    np.testing.assert_allclose(first["fit"]["val_loss"], reference["val_loss"], rtol=1e-3)
