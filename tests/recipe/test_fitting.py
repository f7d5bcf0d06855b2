"""The recipe trains with what its settings name: the schedule (each step's rate), early stopping
(the callback's patience and monitor), the weight decay on the optimizer, and a predictor that
reads long texts in windows, with its decisions and scores fitted on the pooled windows."""

import keras
import numpy as np
import pytest

import ktbert
from ktbert.evaluate.metrics import scores
from ktbert.recipe.settings import TrainingSettings
from ktbert.recipe.training_run import train_classifier
from ktbert.train import distribute
from ktbert.train.callbacks import TriangularSchedule
from ktbert.train.schedules import sgdr_schedule
from helpers import sentiment_frame

STEPS = 4  # 57 training rows (64 less the held-out 7) in batches of 16


@pytest.fixture
def fit_callbacks(monkeypatch):
    """The callbacks the learner's loop hands to each `distribute.fit` call, one list a call."""
    calls = []
    real = distribute.fit

    def spy(*args, **kwargs):
        calls.append(list(kwargs["callbacks"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(distribute, "fit", spy)
    return calls


def settings(tiny_encoder, **kwargs):
    return TrainingSettings("text", "label", maxlen=16, encoder=tiny_encoder, batch_size=16, seed=0, verbose=0,
                            **kwargs)


def early_stopping(callbacks) -> list:
    return [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]


def test_constant_schedule_with_early_stopping_and_weight_decay(tiny_encoder, fit_callbacks):
    s = settings(tiny_encoder, epochs=3, lr=1e-3, weight_decay=0.05, schedule="constant", early_stopping=2,
                 monitor="val_accuracy")
    run = train_classifier(s, sentiment_frame(64, seed=2))
    [callbacks] = fit_callbacks
    [stopping] = early_stopping(callbacks)
    assert (stopping.patience, stopping.monitor, stopping.mode, stopping.restore_best_weights) == (
        2, "val_accuracy", "max", True)
    lrs = run.learner.history.history["lr"]
    assert lrs == [1e-3] * (STEPS * len(run.learner.history.epoch))
    assert float(keras.ops.convert_to_numpy(run.learner.model.optimizer.weight_decay)) == pytest.approx(0.05)


def test_sgdr_schedule_anneals_every_epoch_from_the_peak(tiny_encoder, fit_callbacks):
    run = train_classifier(settings(tiny_encoder, epochs=2, lr=5e-3, schedule="sgdr"), sentiment_frame(64, seed=2))
    schedule, epochs = sgdr_schedule(5e-3, STEPS, 2, cycle_len=1)
    assert epochs == 2
    assert run.learner.history.history["lr"] == [schedule(i) for i in range(2 * STEPS)]
    assert run.learner.history.history["lr"][0] == run.learner.history.history["lr"][STEPS] == 5e-3
    assert early_stopping(fit_callbacks[0]) == []  # none asked for


def test_autofit_schedule_with_plateau_and_early_stopping(tiny_encoder, fit_callbacks):
    s = settings(tiny_encoder, epochs=2, lr=5e-3, schedule="autofit", early_stopping=3, reduce_on_plateau=1,
                 monitor="val_macro_f1", weight_decay=0.0)
    run = train_classifier(s, sentiment_frame(64, seed=2))
    [callbacks] = fit_callbacks
    [stepper] = [c for c in callbacks if isinstance(c, TriangularSchedule)]
    assert (stepper.reduce_on_plateau, stepper.monitor) == (1, "val_macro_f1")
    [stopping] = early_stopping(callbacks)
    assert (stopping.patience, stopping.monitor) == (3, "val_macro_f1")
    assert run.learner.history.history["lr"][0] == 5e-3 / 10  # the triangle starts at a tenth of the peak
    assert run.learner.get_weight_decay() == 0.0


def test_windows_recipe_fits_decisions_and_scores_on_the_pooled_windows(tiny_encoder, tmp_path):
    frame = sentiment_frame(64, seed=2)
    frame["text"] = frame.text + " " + frame.text + " " + frame.text  # 20 tokens: several windows at maxlen 16
    s = settings(tiny_encoder, epochs=1, lr=5e-3, calibrate=True, long_texts="windows", window_stride=4,
                 window_pooling="max", output=str(tmp_path / "model"))
    run = train_classifier(s, frame)
    predictor = run.predictor
    assert (predictor.long_texts, predictor.window_stride, predictor.window_pooling) == ("windows", 4, "max")
    loaded = ktbert.load_predictor(str(tmp_path / "model"))
    assert (loaded.long_texts, loaded.window_stride, loaded.window_pooling) == ("windows", 4, "max")
    assert run.learner.temperature == 1.0  # fitted on the predictor's windows, not on truncated texts
    by_hand = ktbert.get_predictor(run.learner, run.preproc, long_texts="windows", window_stride=4,
                                   window_pooling="max")
    assert predictor.temperature == by_hand.calibrate(run.val_data) != 1.0
    proba = predictor.predict_proba(run.val_data.x.texts)
    assert run.scores == scores(run.val_data.y, proba, predictor.decisions)
    np.testing.assert_array_equal(run.interpret().proba, proba)
