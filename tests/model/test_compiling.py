"""How classifiers are compiled: no weight decay by default, decay exclusions, macro-F1 metric."""

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

import ktbert
from ktbert.data.batching import to_dataset
from ktbert.model.compiling import MacroF1


def test_macro_f1_equals_scikit_learn_with_a_class_absent_from_labels_and_decisions():
    rng = np.random.default_rng(0)
    proba = rng.random((60, 4)).astype("float32")
    proba[:, 3] = 0  # class 3 is never decided ...
    proba /= proba.sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 60)  # ... and never true: scikit-learn leaves it out of the mean
    metric = MacroF1(4)
    metric.update_state(y[:25], proba[:25])  # two batches, as in an evaluation
    metric.update_state(y[25:], proba[25:])
    expected = f1_score(y, proba.argmax(axis=1), average="macro", zero_division=0)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    assert MacroF1.from_config(metric.get_config()).num_classes == 4


def test_multilabel_macro_f1_decides_at_half_inclusive_as_scikit_learn_scores():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype="float32")
    proba = np.array([[0.5, 0.2, 0.1], [0.4, 0.9, 0.1], [0.7, 0.49, 0.1], [0.1, 0.6, 0.1]], dtype="float32")
    metric = MacroF1(3, multilabel=True)
    metric.update_state(y, proba)
    expected = f1_score(y, (proba >= 0.5).astype(int), average="macro", zero_division=0)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


def test_validation_macro_f1_is_logged_from_the_one_validation_pass(toy_split):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, trn, val, batch_size=16)
    history = learner.fit(1e-3, 1, verbose=0)
    proba = learner.predict()
    expected = f1_score(val.y, proba.argmax(axis=1), average="macro")
    assert history.history["val_macro_f1"][0] == pytest.approx(expected, abs=1e-6)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)


def test_the_training_step_neither_updates_nor_logs_macro_f1(toy_split):
    # Macro-F1 is a validation metric: the training step's logs and its traced graph leave it out.
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, trn, val, batch_size=16)
    history = learner.fit(1e-3, 1, verbose=0)
    assert "macro_f1" not in history.history and "accuracy" in history.history
    assert "val_macro_f1" in history.history and "val_accuracy" in history.history
    f1 = next(m for m in model.metrics[-1].metrics if isinstance(m, MacroF1))
    states = [v.numpy().copy() for v in f1.variables]
    assert any(s.any() for s in states)  # the validation pass counted
    logs = model.train_step(_first_batch(trn))
    assert "macro_f1" not in logs
    for before, variable in zip(states, f1.variables):  # a training step leaves its counts alone
        np.testing.assert_array_equal(variable.numpy(), before)


def test_keras_own_fit_trains_a_new_classifier_without_macro_f1_in_its_logs(toy_split):
    # Keras' fit reads every metric's result in the training step, also one that never updated there.
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    history = model.fit(to_dataset(trn.x, trn.y, batch_size=16), validation_data=to_dataset(val.x, val.y),
                        epochs=1, verbose=0)
    assert "macro_f1" not in history.history and 0.0 <= history.history["val_macro_f1"][0] <= 1.0
    assert "macro_f1" not in model.train_on_batch(*_first_batch(trn), return_dict=True)


def _first_batch(data):
    x, y = next(iter(to_dataset(data.x, data.y, batch_size=8)))
    return x, y
