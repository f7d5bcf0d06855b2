"""The rate and momentum of every step, read from the optimizer, against the documented formulas.

The formulas are written out again here, independently of ktbert.train.schedules, and compared to
what the compiled training step used, step by step and across epoch boundaries.
"""

import math

import keras
import numpy as np
import pytest

import ktbert
from helpers import step_probe

N, BATCH = 8, 4  # two steps per epoch


def cos_anneal(a, b, p):
    return b + (a - b) / 2 * (1 + math.cos(math.pi * p))


def linear_model(optimizer):
    """y = w * x with x = 1 and loss = mean(y): the gradient of w is exactly 1 every step."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=optimizer, loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    return model


def arrays():
    return np.ones((N, 1), "float32"), np.zeros((N, 1), "float32")


def learner_for(optimizer):
    return ktbert.get_learner(linear_model(optimizer), train_data=arrays(), val_data=arrays(), batch_size=BATCH)


def test_one_cycle_rate_and_momentum_every_step():
    learner = learner_for(keras.optimizers.Adam(1e-3))
    probe = step_probe()
    history = learner.fit_onecycle(1e-2, 3, pct_start=0.3, div=10, div_final=1e3, moms=(0.95, 0.8, 0.9),
                                   callbacks=[probe], verbose=0)
    n = 6
    w = math.floor(0.3 * (n - 1) + 0.5) / (n - 1)  # pct_start 0.3 moved to step 2 of 5
    lrs, moms = [], []
    for i in range(n):
        pos = i / (n - 1)
        if pos < w:
            lrs.append(cos_anneal(1e-3, 1e-2, pos / w))
            moms.append(cos_anneal(0.95, 0.8, pos / w))
        else:
            lrs.append(cos_anneal(1e-2, 1e-5, (pos - w) / (1 - w)))
            moms.append(cos_anneal(0.8, 0.9, (pos - w) / (1 - w)))
    np.testing.assert_allclose(probe.lrs, lrs, rtol=1e-7)
    np.testing.assert_allclose(probe.moms, moms, rtol=1e-7)
    assert history.history["lr"] == pytest.approx(lrs, rel=1e-7)  # every step, as ktrain's history
    assert history.history["momentum"] == pytest.approx(moms, rel=1e-7)
    assert history.history["epoch_lr"] == pytest.approx([lrs[1], lrs[3], lrs[5]], rel=1e-7)
    assert history.history["epoch_momentum"] == pytest.approx([moms[1], moms[3], moms[5]], rel=1e-7)
    assert learner.momentum_history == pytest.approx(moms, rel=1e-7)


def test_triangular_autofit_every_step():
    learner = learner_for(keras.optimizers.Adam(1e-3))
    probe = step_probe()
    learner.autofit(1e-2, 3, callbacks=[probe], verbose=0)
    half = 1  # ceil(2 steps per epoch / 2)
    lrs, moms = [], []
    for step in range(6):
        cycle = math.floor(1 + step / (2 * half))
        x = abs(step / half - 2 * cycle + 1)
        lrs.append(1e-3 + (1e-2 - 1e-3) * max(0, 1 - x))
        moms.append(0.95 + (0.85 - 0.95) * max(0, 1 - x))
    assert lrs[:4] == pytest.approx([1e-3, 1e-2, 1e-3, 1e-2])
    np.testing.assert_allclose(probe.lrs, lrs, rtol=1e-7)
    np.testing.assert_allclose(probe.moms, moms, rtol=1e-7)


def test_sgdr_every_step():
    learner = learner_for(keras.optimizers.Adam(1e-3))
    probe = step_probe()
    history = learner.fit(1e-2, n_cycles=2, cycle_len=1, cycle_mult=2, callbacks=[probe], verbose=0)
    # cycle 0: 1 epoch = 2 steps; cycle 1: 2 epochs = 4 steps; each from 1e-2 down to 0.
    lrs = [cos_anneal(1e-2, 0.0, t / 2) for t in range(2)] + [cos_anneal(1e-2, 0.0, t / 4) for t in range(4)]
    np.testing.assert_allclose(probe.lrs, lrs, rtol=1e-7)
    assert len(history.history["loss"]) == 3


def test_the_rate_is_what_moves_the_weights():
    """With SGD and a gradient of exactly 1, each step changes w by exactly -lr."""
    learner = learner_for(keras.optimizers.SGD(0.1))
    probe = step_probe()
    learner.fit_onecycle(0.5, 2, callbacks=[probe], verbose=0)
    steps = -np.diff([0.0] + probe.weights)
    # float32 weights: 2e-5 relative, or two ulps of |w| < 1 (1.2e-7) for the tiny last step
    np.testing.assert_allclose(steps, learner.lr_history, rtol=2e-5, atol=2.4e-7)
    assert all(m is None for m in probe.moms)  # SGD has no beta_1; nothing pretends otherwise


def test_the_momentum_variable_reaches_the_compiled_step():
    """Two Adam steps with beta_1 0.9 then 0.5: the second update depends on both values."""
    learner = learner_for(keras.optimizers.Adam(0.1, beta_2=0.999, epsilon=1e-7))
    betas = iter([0.9, 0.5])
    probe = step_probe()
    setter = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: learner.model.optimizer.beta_1.assign(next(betas)))
    learner.model.fit(*arrays(), batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[setter, probe])
    m = v = w = 0.0
    for t, b1 in enumerate([0.9, 0.5], start=1):
        m = b1 * m + (1 - b1) * 1.0
        v = 0.999 * v + 0.001 * 1.0
        w -= 0.1 * math.sqrt(1 - 0.999**t) / (1 - b1**t) * m / (math.sqrt(v) + 1e-7)
    assert probe.weights[-1] == pytest.approx(w, rel=1e-5)
    # had beta_1 stayed 0.9 the second step would differ by far more than that tolerance
    assert abs(w - (-0.2)) > 1e-3
