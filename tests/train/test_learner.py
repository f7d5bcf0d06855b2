import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.train.schedules import one_cycle_schedule
from helpers import read_learning_rate


class RateProbe(keras.callbacks.Callback):
    """Reads the optimizer's rate after each step: the value that step used."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(read_learning_rate(self.model.optimizer))


def test_tiny_model_learns_a_separable_task(toy_split, make_learner):
    learner = make_learner(toy_split, batch_size=8)
    before = learner.evaluate()
    learner.fit_onecycle(5e-3, 6, verbose=0)
    after = learner.evaluate()
    assert after["loss"] < before["loss"] * 0.5
    assert after["accuracy"] == 1.0


def test_one_cycle_rate_reaches_the_optimizer_every_step(toy_split, make_learner):
    learner = make_learner(toy_split, batch_size=16, seed=None)
    probe = RateProbe()
    history = learner.fit_onecycle(1e-3, 3, callbacks=[probe], verbose=0)
    expected = [one_cycle_schedule(1e-3, 12)(i) for i in range(12)]  # 64 texts / 16 = 4 steps x 3 epochs
    np.testing.assert_allclose(probe.rates, expected, rtol=1e-7)
    assert learner.lr_history == pytest.approx(expected, rel=1e-12)
    assert history.history["lr"] == pytest.approx(expected, rel=1e-7)
    assert history.history["epoch_lr"] == pytest.approx([expected[3], expected[7], expected[11]], rel=1e-7)
    assert len(history.history["val_accuracy"]) == 3


def test_fit_constant_rate_and_quiet(toy_split, make_learner, capsys):
    learner = make_learner(toy_split, batch_size=32, seed=None)
    probe = RateProbe()
    learner.fit(3e-4, 2, callbacks=[probe], verbose=0)
    assert probe.rates == pytest.approx([3e-4] * 4, rel=1e-7)
    assert capsys.readouterr().out == ""


def test_bad_arguments(toy_split):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, verbose=0)
    with pytest.raises(ValueError, match=re.escape("`batch_size` must be a positive integer. Received: batch_size=0")):
        ktbert.get_learner(model, train_data=trn, batch_size=0)
    learner = ktbert.get_learner(model, train_data=trn)
    with pytest.raises(ValueError, match=re.escape("`lr` must be a positive number. Received: lr=-0.1")):
        learner.fit_onecycle(-0.1, 1)
    with pytest.raises(ValueError, match=re.escape("`epochs` must be a positive integer. Received: epochs=0")):
        learner.fit_onecycle(1e-3, 0)
    with pytest.raises(ValueError, match=re.escape("No data to evaluate: pass `data` or give `val_data` to get_learner.")):
        learner.evaluate()


def test_autofit_until_early_stopping_restores_the_best_epoch(learner):
    # At 1e-1 the toy task's validation loss stalls within about ten epochs; at 3e-2 it creeps
    # toward 0 for over a hundred (every step an improvement), which only costs suite time.
    history = learner.autofit(1e-1, epochs=None, early_stopping=2, reduce_on_plateau=1, verbose=0)
    val_losses = history.history["val_loss"]
    assert 3 <= len(val_losses) < 1024
    assert learner.evaluate()["loss"] == pytest.approx(min(val_losses), rel=1e-5)


def test_autofit_needs_validation_data_when_open_ended(learner):
    bare = ktbert.get_learner(learner.model, train_data=learner.train_data)
    with pytest.raises(ValueError, match=re.escape(
        "autofit with epochs=None stops on the validation metric, but the learner has no validation "
        "data: pass `val_data` to get_learner."
    )):
        bare.autofit(1e-3)


def test_plots_of_the_last_fit(learner, tmp_path):
    learner.fit_onecycle(1e-3, 2, verbose=0)
    fig = learner.plot("lr")
    assert fig.axes[0].get_xlabel() == "step" and fig.axes[0].get_ylabel() == "learning rate"
    assert len(fig.axes[0].lines[0].get_xdata()) == 8
    fig = learner.plot("momentum", save_path=str(tmp_path / "m.png"))
    assert fig.axes[0].get_ylabel() == "momentum (beta_1)" and (tmp_path / "m.png").exists()
    fig = learner.plot("loss")
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss", "validation loss"]
    with pytest.raises(ValueError, match=re.escape("`plot_type` must be one of ['loss', 'lr', 'momentum']. Received: plot_type='acc'")):
        learner.plot("acc")
