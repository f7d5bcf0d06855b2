import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.train.callbacks import read_learning_rate
from ktbert.train.schedules import one_cycle_schedule
from conftest import sentiment_frame


@pytest.fixture(scope="module")
def toy_data(tiny_encoder):
    df = sentiment_frame(96, seed=1)
    return ktbert.texts_from_df(df[:64], "text", "label", val_df=df[64:], maxlen=16,
                                encoder=tiny_encoder, verbose=0)


class RateProbe(keras.callbacks.Callback):
    """Reads the optimizer's rate after each step: the value that step used."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(read_learning_rate(self.model.optimizer))


def test_tiny_model_learns_a_separable_task(toy_data):
    trn, val, preproc = toy_data
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=8, seed=0)
    before = learner.evaluate()
    learner.fit_onecycle(5e-3, 6, verbose=0)
    after = learner.evaluate()
    assert after["loss"] < before["loss"] * 0.5
    assert after["accuracy"] == 1.0


def test_one_cycle_rate_reaches_the_optimizer_every_step(toy_data):
    trn, val, preproc = toy_data
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    probe = RateProbe()
    history = learner.fit_onecycle(1e-3, 3, callbacks=[probe], verbose=0)
    expected = [one_cycle_schedule(1e-3, 12)(i) for i in range(12)]  # 64 texts / 16 = 4 steps x 3 epochs
    np.testing.assert_allclose(probe.rates, expected, rtol=1e-7)
    assert learner.lr_history == pytest.approx(expected, rel=1e-12)
    assert history.history["lr"] == pytest.approx([expected[3], expected[7], expected[11]], rel=1e-7)
    assert len(history.history["val_accuracy"]) == 3


def test_fit_constant_rate_and_quiet(toy_data, capsys):
    trn, val, preproc = toy_data
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=32)
    probe = RateProbe()
    learner.fit(3e-4, 2, callbacks=[probe], verbose=0)
    assert probe.rates == pytest.approx([3e-4] * 4, rel=1e-7)
    assert capsys.readouterr().out == ""


def test_bad_arguments(toy_data):
    trn, val, preproc = toy_data
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


def test_text_classifier_heads(toy_data, tiny_encoder):
    trn, val, preproc = toy_data
    model = ktbert.text_classifier("bert", trn, preproc, verbose=0)
    assert model.get_layer("classifier").activation.__name__ == "softmax"
    assert model.get_layer("classifier").units == 2
    df = sentiment_frame(16).assign(film=1)
    df["pos"] = (df.label == "pos").astype(int)
    df["neg"] = 1 - df["pos"]
    mtrn, _, mpre = ktbert.texts_from_df(df, "text", ["neg", "pos", "film"], val_df=df, maxlen=16,
                                         encoder=tiny_encoder, verbose=0)
    multi = ktbert.text_classifier("bert", mtrn, mpre, verbose=0)
    assert multi.get_layer("classifier").activation.__name__ == "sigmoid"
    assert multi.get_layer("classifier").units == 3
    with pytest.raises(ValueError, match=re.escape("`name` must be 'bert'. Received: name='nbsvm'.")):
        ktbert.text_classifier("nbsvm", trn, preproc)


def test_classifier_config_round_trip(toy_data):
    trn, val, preproc = toy_data
    model = ktbert.text_classifier("bert", trn, preproc, pooling="cls", dropout=0.2, verbose=0)
    config = model.get_config()
    clone = ktbert.TextClassifier.from_config(config)
    assert clone.get_config() == config
