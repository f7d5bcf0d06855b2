"""StepSchedule and TriangularSchedule, driven through their hooks with hand-made logs."""

import keras
import numpy as np
import pytest

from ktbert.train.callbacks import StepSchedule, TriangularSchedule
from ktbert.train.hyperparameters import make_schedulable
from helpers import read_learning_rate


def compiled(optimizer):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    make_schedulable(model)
    return model


def run_steps(callback, n):
    """Calls the batch hooks as Keras does for `n` steps; returns each step's batch logs."""
    logs = []
    for batch in range(n):
        callback.on_train_batch_begin(batch)
        step_logs = {"loss": 1.0}
        callback.on_train_batch_end(batch, step_logs)
        logs.append(step_logs)
    return logs


def test_step_schedule_sets_rate_and_momentum_and_writes_them_into_batch_logs():
    model = compiled(keras.optimizers.Adam(1e-3))
    schedule = StepSchedule(lambda step: 0.1 * (step + 1), momentum=lambda step: 0.9 - 0.1 * step)
    schedule.set_model(model)
    seen = []
    for batch in range(3):
        schedule.on_train_batch_begin(batch)
        # what the compiled step will use is on the optimizer before the step runs
        seen.append((read_learning_rate(model.optimizer), float(model.optimizer.beta_1.numpy())))
        logs = {"loss": 1.0}
        schedule.on_train_batch_end(batch, logs)
        assert logs == {"loss": 1.0, "lr": 0.1 * (batch + 1), "momentum": 0.9 - 0.1 * batch}
    assert seen == [pytest.approx((0.1, 0.9), rel=1e-7), pytest.approx((0.2, 0.8), rel=1e-7),
                    pytest.approx((0.3, 0.7), rel=1e-7)]
    assert schedule.lrs == [0.1, 0.2, 0.1 * 3]
    assert schedule.moms == [0.9, 0.9 - 0.1, 0.9 - 0.2]
    assert schedule.step == 3


def test_step_schedule_without_momentum_records_the_optimizers_own():
    model = compiled(keras.optimizers.Adam(1e-3, beta_1=0.8))
    schedule = StepSchedule(lambda step: 1e-3)
    schedule.set_model(model)
    logs = run_steps(schedule, 2)
    beta_1 = float(np.float32(0.8))  # read back from the float32 variable
    assert logs == [{"loss": 1.0, "lr": 1e-3, "momentum": beta_1}] * 2
    assert schedule.lrs == [1e-3, 1e-3] and schedule.moms == [beta_1, beta_1]


def test_step_schedule_with_sgd_writes_no_momentum():
    model = compiled(keras.optimizers.SGD(0.5))
    schedule = StepSchedule(lambda step: 0.5 / (step + 1))
    schedule.set_model(model)
    logs = run_steps(schedule, 2)
    assert logs == [{"loss": 1.0, "lr": 0.5}, {"loss": 1.0, "lr": 0.25}]
    assert schedule.lrs == [0.5, 0.25] and schedule.moms == [None, None]


def test_step_schedule_keeps_counting_steps_across_epochs():
    model = compiled(keras.optimizers.Adam(1e-3))
    schedule = StepSchedule(lambda step: float(step + 1))
    schedule.set_model(model)
    run_steps(schedule, 2)
    schedule.on_epoch_end(0, {})
    run_steps(schedule, 2)
    assert schedule.lrs == [1.0, 2.0, 3.0, 4.0]


def test_the_batch_logs_reach_later_callbacks_in_a_real_fit():
    model = compiled(keras.optimizers.Adam(1e-3))
    schedule = StepSchedule(lambda step: 1e-3 * (step + 1), momentum=lambda step: 0.9)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        (logs["lr"], logs["momentum"])))
    x = np.ones((8, 1), "float32")
    model.fit(x, x, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[schedule, probe])
    assert seen == [(1e-3, 0.9), (2e-3, 0.9), (3e-3, 0.9), (4e-3, 0.9)]
    assert schedule.lrs == [1e-3, 2e-3, 1e-3 * 3, 4e-3]


def triangular_schedule(**kw):
    return TriangularSchedule(1e-2, steps_per_epoch=4, moms=None, verbose=0, **kw)


def peaks_after(schedule, monitor_values, monitor="val_loss"):
    peaks = []
    for epoch, value in enumerate(monitor_values):
        schedule.on_epoch_end(epoch, {monitor: value})
        peaks.append(schedule.peak)
    return peaks


def test_triangular_peak_halves_after_plateaus_of_the_validation_loss():
    schedule = triangular_schedule(reduce_on_plateau=2)
    # best 1.0, better 0.9, two epochs without: halve; 0.91 and 0.85 (new best), then two without
    peaks = peaks_after(schedule, [1.0, 0.9, 0.95, 0.92, 0.91, 0.85, 0.9, 0.9])
    assert peaks == [1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 5e-3, 5e-3, 2.5e-3]
    # the schedule climbs to the current peak half-way through an epoch (half-cycle 2 steps)
    assert schedule.schedule(0) == pytest.approx(2.5e-4, rel=1e-12)
    assert schedule.schedule(2) == pytest.approx(2.5e-3, rel=1e-12)


def test_triangular_reduce_factor_and_a_metric_that_rises():
    schedule = triangular_schedule(reduce_on_plateau=1, reduce_factor=4.0, monitor="val_accuracy")
    peaks = peaks_after(schedule, [0.5, 0.6, 0.6, 0.7, 0.65], monitor="val_accuracy")
    assert peaks == [1e-2, 1e-2, 2.5e-3, 2.5e-3, 2.5e-3 / 4]


def test_triangular_peak_stays_without_reduce_on_plateau_or_without_the_monitor():
    assert peaks_after(triangular_schedule(), [1.0, 2.0, 3.0]) == [1e-2] * 3
    schedule = triangular_schedule(reduce_on_plateau=1)
    assert peaks_after(schedule, [1.0, 2.0, 3.0], monitor="loss") == [1e-2] * 3


def test_triangular_says_when_it_reduces(capsys):
    schedule = TriangularSchedule(1e-2, steps_per_epoch=4, moms=None, reduce_on_plateau=1, verbose=1)
    peaks_after(schedule, [1.0, 1.0])
    assert capsys.readouterr().out == (
        "\nEpoch 2: val_loss has not improved for 1 epoch(s); peak learning rate reduced to 0.005\n")
