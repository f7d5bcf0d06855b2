"""Faults during training: a loss that turns NaN, and Ctrl-C in fit, lr_find and validate.

Each test asserts the learner's state after the fault against a replay: a fresh learner on the
same data and seeds, stopped after exactly the steps the faulty run completed.
"""

import os
import signal
import threading
import time

import keras
import numpy as np
import pytest

from ktbert.train import lr_finder
from ktbert.train.faults import TrainingDiverged, deferred_interrupts
from helpers import weights_by_path

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)


class StopAfter(keras.callbacks.Callback):
    """Stops training after `steps` steps: the replay of a run that ended there."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


class AtStep(keras.callbacks.Callback):
    """Runs `action(model)` at the beginning or end of step `step` (1-based)."""

    def __init__(self, step, action, when="begin"):
        super().__init__()
        self.step, self.action, self.when, self.count = step, action, when, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.when == "begin" and self.count + 1 == self.step:
            self.action(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.when == "end" and self.count == self.step:
            self.action(self.model)


def poison(model):
    """Makes the next step's loss NaN: the classifier head's kernel becomes NaN."""
    kernel = next(v for v in model.trainable_variables if v.path.endswith("kernel") and "classifier" in v.path)
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def assert_same_weights(model, other):
    a, b = weights_by_path(model), weights_by_path(other)
    assert a.keys() == b.keys()
    for path in a:
        np.testing.assert_array_equal(a[path], b[path], err_msg=path)


def iterations(model) -> int:
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


@pytest.fixture(scope="module")
def split(make_toy_split):
    return make_toy_split(seed=4, val="own", val_rows=24, val_seed=5)



@pytest.fixture(autouse=True)
def interactive_ctrl_c():
    """Ctrl-C raises KeyboardInterrupt in this process, as in a user's Python session: a
    pytest-xdist worker, or any process started in the background, inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_nan_loss_stops_restores_the_last_weights_known_good_and_says_lower_the_rate(split, make_learner):
    learner = make_learner(split, batch_size=16)
    learner.snapshot_overhead = 1.0  # a snapshot after every step: the restore is exact
    with pytest.raises(TrainingDiverged) as caught:
        learner.fit(1e-3, 2, verbose=0, callbacks=[AtStep(6, poison)])
    assert str(caught.value) == (
        "The training loss became nan at step 6 at learning rate 0.001, so training stopped and the "
        "weights from before step 5 were restored (optimizer state too). Lower the learning rate "
        "(e.g. by 10x, or choose one with `learner.lr_find()`) and fit again.")
    replay = make_learner(split, batch_size=16)
    # the weights before step 6 were never shown to give a finite loss; those before step 5 were
    replay.fit(1e-3, 2, verbose=0, callbacks=[StopAfter(4)])
    assert_same_weights(learner.model, replay.model)
    assert iterations(learner.model) == iterations(replay.model) == 4
    assert learner.lr_history == [1e-3] * 6  # the failed step is in the history, as it ran
    assert learner.history.history["loss"][0] == replay.history.history["loss"][0]
    # usable: it predicts finite probabilities and trains on
    assert np.isfinite(learner.predict()).all()
    learner.fit(1e-3, 1, verbose=0)
    assert np.isfinite(learner.history.history["loss"]).all()


def test_a_diverging_rate_raises_and_leaves_finite_weights(split, make_learner):
    learner = make_learner(split, batch_size=16)
    with pytest.raises(TrainingDiverged, match=r"became (nan|inf) at step \d+ at learning rate 1e\+12"):
        learner.fit(1e12, 3, verbose=0)
    assert all(np.isfinite(w).all() for w in weights_by_path(learner.model).values())
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in learner.model.optimizer.variables)
    assert np.isfinite(learner.predict()).all()


def test_nan_with_snapshots_only_at_the_start_restores_the_initial_weights(split, make_learner):
    learner = make_learner(split, batch_size=16)
    learner.snapshot_overhead = 0.0
    before = weights_by_path(learner.model)
    with pytest.raises(TrainingDiverged, match="the weights from the start of this fit were restored"):
        learner.fit_onecycle(1e-3, 2, verbose=0, callbacks=[AtStep(3, poison)])
    after = weights_by_path(learner.model)
    for path in before:
        np.testing.assert_array_equal(before[path], after[path])
    assert iterations(learner.model) == 0


def test_weights_made_non_finite_by_the_last_step_are_caught_at_the_end(split, make_learner):
    learner = make_learner(split, batch_size=16)
    learner.snapshot_overhead = 1.0
    with pytest.raises(TrainingDiverged, match=r"^The weights became NaN or infinite at step 4 at learning rate "
                                               r"0.001, so training stopped and the weights from before step 4"):
        learner.fit(1e-3, 1, verbose=0, callbacks=[AtStep(4, poison, when="end")])
    replay = make_learner(split, batch_size=16)
    replay.fit(1e-3, 1, verbose=0, callbacks=[StopAfter(3)])
    assert_same_weights(learner.model, replay.model)


def test_a_diverged_epoch_writes_no_checkpoint(split, make_learner, tmp_path):
    learner = make_learner(split, batch_size=16)
    with pytest.raises(TrainingDiverged):
        learner.fit(1e-3, 3, verbose=0, checkpoint_folder=str(tmp_path), callbacks=[AtStep(6, poison)])
    assert sorted(os.listdir(tmp_path)) == ["checkpoints.json", "epoch-001.safetensors"]
    learner.load_best(str(tmp_path))


def interrupt(model=None):
    signal.raise_signal(signal.SIGINT)


def test_ctrl_c_during_fit_keeps_the_last_completed_step_and_the_history(split, make_learner, capsys):
    learner = make_learner(split, batch_size=16)  # 4 steps an epoch
    with pytest.raises(KeyboardInterrupt):
        learner.fit_onecycle(1e-3, 3, verbose=0, callbacks=[AtStep(6, interrupt, when="end")])
    err = capsys.readouterr().err
    assert "Training interrupted (Ctrl-C). The learner keeps the weights after step 6 of this fit" in err
    assert "(1 complete epoch(s) in `learner.history`" in err
    replay = make_learner(split, batch_size=16)
    replay.fit_onecycle(1e-3, 3, verbose=0, callbacks=[StopAfter(6)])
    assert_same_weights(learner.model, replay.model)
    assert iterations(learner.model) == 6
    assert learner.lr_history == replay.lr_history
    assert learner.history.history["iterations"] == [1, 2, 3, 4, 5, 6]
    assert learner.history.history["loss"] == replay.history.history["loss"][:1]
    learner.fit(1e-4, 1, verbose=0)  # usable
    assert iterations(learner.model) == 10


class InterruptAtEpochEnd(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        interrupt()


def test_ctrl_c_after_a_nan_restore_says_which_weights_it_kept(split, make_learner, capsys):
    learner = make_learner(split, batch_size=16)
    learner.snapshot_overhead = 1.0
    with pytest.raises(KeyboardInterrupt):
        learner.fit(1e-3, 2, verbose=0, callbacks=[AtStep(2, poison), InterruptAtEpochEnd()])
    assert ("The learner keeps the weights from the start of this fit, restored when training diverged at "
            "step 2 and the history up to there") in capsys.readouterr().err
    replay = make_learner(split, batch_size=16)
    assert_same_weights(learner.model, replay.model)


def test_a_real_sigint_at_any_moment_leaves_a_consistent_learner(split, make_learner, capsys):
    learner = make_learner(split, batch_size=16)
    learner.fit(1e-3, 1, verbose=0)
    start = iterations(learner.model)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))

    class ArmAtFirstStep(keras.callbacks.Callback):
        """Starts the timer once training runs, so the signal lands in it however slow the
        fit's start (a busy machine once took longer than a timer started before `fit`)."""

        def on_train_batch_end(self, batch, logs=None):
            if not timer.is_alive() and not timer.finished.is_set():
                timer.start()

    try:
        with pytest.raises(KeyboardInterrupt):
            learner.fit(1e-3, 400, verbose=0, callbacks=[ArmAtFirstStep()])
    finally:
        timer.cancel()
    done = iterations(learner.model) - start
    assert 0 < done < 1600
    assert len(learner.lr_history) == done
    assert "Training interrupted (Ctrl-C)" in capsys.readouterr().err
    replay = make_learner(split, batch_size=16)
    replay.fit(1e-3, 1, verbose=0)
    replay.fit(1e-3, 400, verbose=0, callbacks=[StopAfter(done)])
    assert_same_weights(learner.model, replay.model)


def test_ctrl_c_during_lr_find_restores_everything(split, make_learner, capsys, monkeypatch):
    learner = make_learner(split, batch_size=16)
    learner.fit(1e-3, 1, verbose=0)
    before, steps, lr = weights_by_path(learner.model), iterations(learner.model), learner.model.optimizer.learning_rate
    lr = float(keras.ops.convert_to_numpy(lr))
    moments = [np.array(keras.ops.convert_to_numpy(v)) for v in learner.model.optimizer.variables]
    original = lr_finder.RangeTest.on_train_batch_end

    def on_train_batch_end(self, batch, logs=None):
        original(self, batch, logs)
        if batch == 4:
            interrupt()

    monkeypatch.setattr(lr_finder.RangeTest, "on_train_batch_end", on_train_batch_end)
    with pytest.raises(KeyboardInterrupt):
        learner.lr_find(num_it=20, verbose=0)
    assert "lr_find interrupted (Ctrl-C). The weights and optimizer state from before lr_find are restored" \
        in capsys.readouterr().err
    after = weights_by_path(learner.model)
    for path in before:
        np.testing.assert_array_equal(before[path], after[path])
    assert iterations(learner.model) == steps
    assert float(keras.ops.convert_to_numpy(learner.model.optimizer.learning_rate)) == lr
    for a, b in zip(moments, learner.model.optimizer.variables):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
    assert learner.lr_find_result is None


def test_ctrl_c_during_validate_changes_nothing(split, make_learner, capsys, monkeypatch):
    learner = make_learner(split, batch_size=16)
    learner.fit(1e-3, 1, verbose=0)
    report = learner.validate(print_report=False)
    history, before = learner.history, weights_by_path(learner.model)
    import ktbert.train.learner as learner_module

    def interrupted(*args, **kwargs):
        interrupt()

    with monkeypatch.context() as patch:
        patch.setattr(learner_module, "predict_in_order", interrupted)
        with pytest.raises(KeyboardInterrupt):
            learner.validate(print_report=False)
    assert "Evaluation interrupted (Ctrl-C). Nothing was changed" in capsys.readouterr().err
    assert learner.history is history
    after = weights_by_path(learner.model)
    for path in before:
        np.testing.assert_array_equal(before[path], after[path])
    np.testing.assert_array_equal(learner.validate(print_report=False), report)


def test_ctrl_c_during_calibrate_leaves_the_decisions_as_they_were(split, make_learner, capsys, monkeypatch):
    learner = make_learner(split, batch_size=16)
    learner.fit(1e-3, 1, verbose=0)
    learner.calibrate(verbose=0)
    decisions = learner.decisions
    import ktbert.train.learner as learner_module

    monkeypatch.setattr(learner_module, "predict_in_order", lambda *a, **k: interrupt())
    with pytest.raises(KeyboardInterrupt):
        learner.calibrate(verbose=0)
    assert "Evaluation interrupted (Ctrl-C). Nothing was changed" in capsys.readouterr().err
    assert learner.decisions is decisions


def test_deferred_interrupts_leave_a_program_s_own_handler_in_charge():
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with deferred_interrupts():
            interrupt()
            assert calls == []  # held back during the block
        assert calls == [signal.SIGINT]  # then handed to the program's handler, not raised
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with deferred_interrupts():
            interrupt()  # ignored before, ignored after
    finally:
        signal.signal(signal.SIGINT, previous)


def test_deferred_interrupts_hold_ctrl_c_until_the_block_ends():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            interrupt()
            time.sleep(0.01)
            done.append("finished")
    assert done == ["finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_checkpoints_are_written_aside_then_renamed(split, make_learner, tmp_path, monkeypatch):
    from ktbert.saving import weights_file

    learner = make_learner(split, batch_size=16)
    learner.fit(1e-3, 1, verbose=0, checkpoint_folder=str(tmp_path))
    good = sorted(os.listdir(tmp_path))
    epoch_one = weights_by_path(learner.model)

    def killed_half_way(model, path):
        with open(path, "wb") as f:
            f.write(b"\x00" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(weights_file, "save_weights", killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        learner.fit(1e-3, 1, verbose=0, checkpoint_folder=str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == good  # no truncated file, no leftovers
    learner.load_checkpoint(str(tmp_path), 1)
    loaded = weights_by_path(learner.model)
    for path in epoch_one:
        np.testing.assert_array_equal(epoch_one[path], loaded[path])
