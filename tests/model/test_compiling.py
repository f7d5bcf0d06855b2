"""How classifiers are compiled: no weight decay by default, decay exclusions, macro-F1 metric."""

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

import ktbert
from ktbert.model.compiling import BERT_WEIGHT_DECAY, SparseMacroF1


def test_weight_decay_is_off_by_default_and_one_call_away(toy_split):
    trn, val, preproc = toy_split
    learner = ktbert.get_learner(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), trn, val)
    assert not learner.get_weight_decay()  # ktrain: falsy until set_weight_decay
    learner.set_weight_decay()
    assert learner.get_weight_decay() == pytest.approx(BERT_WEIGHT_DECAY)


def test_sparse_macro_f1_equals_scikit_learn():
    rng = np.random.default_rng(0)
    proba = rng.random((60, 3)).astype("float32")
    proba /= proba.sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 60)
    metric = SparseMacroF1(3)
    metric.update_state(y[:25], proba[:25])  # two batches, as in an evaluation
    metric.update_state(y[25:], proba[25:])
    assert float(metric.result()) == pytest.approx(f1_score(y, proba.argmax(axis=1), average="macro"), abs=1e-6)
    assert SparseMacroF1.from_config(metric.get_config()).num_classes == 3


def test_validation_macro_f1_is_logged_from_the_one_validation_pass(toy_split):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, trn, val, batch_size=16)
    history = learner.fit(1e-3, 1, verbose=0)
    proba = learner.predict()
    expected = f1_score(val.y, proba.argmax(axis=1), average="macro")
    assert history.history["val_macro_f1"][0] == pytest.approx(expected, abs=1e-6)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
