import math
import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.train.lr_finder import RangeTest, smooth
from helpers import read_learning_rate


@pytest.fixture
def learner(make_toy_split, make_learner):
    """This file's own learner (it overrides conftest's): 64 rows of seed 3, validation the
    first 16 of them, batches of 8 (8 steps an epoch)."""
    return make_learner(make_toy_split(seed=3, val="head", val_rows=16), batch_size=8)


def state(model):
    return [np.array(v.numpy(), copy=True) for v in list(model.variables) + list(model.optimizer.variables)]


def assert_identical(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_restores_weights_and_optimizer_bit_for_bit(learner):
    learner.fit(1e-3, 1, verbose=0)  # non-zero Adam moments and step counter
    before = state(learner.model)
    lr_before = read_learning_rate(learner.model.optimizer)
    result = learner.lr_find(num_it=12, verbose=0)
    assert len(result.lrs) >= 3
    assert_identical(before, state(learner.model))
    assert read_learning_rate(learner.model.optimizer) == lr_before


def test_restores_after_an_interrupt(learner, monkeypatch):
    learner.fit(1e-3, 1, verbose=0)
    before = state(learner.model)
    real = RangeTest.on_train_batch_end
    calls = {"n": 0}

    def interrupted(self, batch, logs=None):
        calls["n"] += 1
        if calls["n"] == 5:  # Ctrl-C after four full steps
            raise KeyboardInterrupt
        return real(self, batch, logs)

    monkeypatch.setattr(RangeTest, "on_train_batch_end", interrupted)
    with pytest.raises(KeyboardInterrupt):
        learner.lr_find(num_it=20, verbose=0)
    assert calls["n"] == 5
    assert_identical(before, state(learner.model))


def test_fresh_optimizer_comes_back_fresh(learner):
    learner.lr_find(num_it=6, verbose=0)
    opt = learner.model.optimizer
    assert int(opt.iterations.numpy()) == 0
    slots = [v for v in opt.variables if "momentum" in v.path or "velocity" in v.path]
    assert slots and all(not np.any(v.numpy()) for v in slots)


def test_rates_grow_exponentially_and_losses_are_smoothed(learner):
    result = learner.lr_find(start_lr=1e-6, end_lr=1e-2, num_it=10, stop_factor=1e9, verbose=0)
    assert result.stop_reason == "completed"
    assert len(set(result.losses)) == 10 and all(loss > 0 for loss in result.losses)
    expected = [1e-6 * (1e4) ** (i / 9) for i in range(10)]
    assert result.lrs == pytest.approx(expected, rel=1e-12)
    assert result.smoothed == pytest.approx(smooth(result.losses, 0.98), rel=1e-12)
    assert set(result.suggestions) == {"valley", "steep", "minimum"}
    assert learner.lr_suggestions == result.suggestions


def test_stops_when_the_loss_explodes(learner):
    result = learner.lr_find(start_lr=1e-3, end_lr=1e4, num_it=60, stop_factor=2, verbose=0)
    assert result.stop_reason in ("diverged", "nan")
    assert len(result.lrs) < 60


def test_max_epochs_caps_the_steps(learner):
    result = learner.lr_find(num_it=100, max_epochs=1, stop_factor=1e9, verbose=0)
    assert len(result.lrs) == learner.steps_per_epoch() == 8


def test_lr_plot_draws_the_curve_and_the_suggestions(learner, tmp_path):
    with pytest.raises(ValueError, match=re.escape("No learning-rate finder results: run `learner.lr_find()` first.")):
        learner.lr_plot()
    learner.lr_find(num_it=10, stop_factor=1e9, verbose=0)
    path = tmp_path / "lr.png"
    fig = learner.lr_plot(save_path=str(path))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate (log scale)" and ax.get_ylabel() == "loss"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "smoothed loss"
    assert [label.split(":")[0] for label in labels[1:]] == ["valley", "steep", "minimum"]
    assert path.stat().st_size > 1000


def test_any_keras_model_with_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    learner = ktbert.get_learner(model, train_data=(x, y), val_data=(x, y), batch_size=16)
    learner.fit(1e-3, 1, verbose=0)
    before = state(model)
    result = learner.lr_find(num_it=30, max_epochs=2, verbose=0)
    assert len(result.lrs) == 8  # 2 epochs x 4 steps
    assert_identical(before, state(model))
    history = learner.fit_onecycle(1e-2, 2, verbose=0)
    assert len(history.history["lr"]) == len(history.history["momentum"]) == 8  # per step: 2 epochs x 4
    assert len(history.history["epoch_lr"]) == 2
    assert math.isfinite(learner.evaluate()["loss"])


def test_each_recorded_loss_is_that_steps_own_loss():
    """Linear model, SGD, gradient 1: the loss before step i is 10 - (sum of the earlier rates)."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lambda y_true, y_pred: keras.ops.mean(y_pred) + 10.0)
    x, y = np.ones((8, 1), "float32"), np.zeros((8, 1), "float32")
    learner = ktbert.get_learner(model, train_data=(x, y), batch_size=4)
    result = learner.lr_find(start_lr=1e-3, end_lr=1e-1, num_it=10, stop_factor=1e9, verbose=0)
    expected = 10.0 - np.concatenate([[0.0], np.cumsum(result.lrs[:-1])])
    np.testing.assert_allclose(result.losses, expected, rtol=1e-6)
    assert float(model.get_weights()[0][0, 0]) == 0.0  # and the weight is back where it was
