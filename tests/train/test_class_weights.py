"""Class weights: how "balanced" and dicts resolve, and that the resolved weights reach the loss."""

import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.train.class_weights import resolve_class_weight

# Ten examples, eight of class 0 and two of class 1; a fixed linear softmax model that is
# confident on class 0, so the two minority examples carry most of the loss.
X = np.array([[1.0 + 0.1 * i, 0.0] for i in range(8)] + [[1.0, 1.0]] * 2, "float32")
Y = np.array([0] * 8 + [1] * 2)
KERNEL = np.array([[1.0, -0.5], [0.3, 0.2]], "float32")


def per_example_losses():
    """Cross-entropy of each example under KERNEL, computed in float64."""
    logits = X.astype(np.float64) @ KERNEL.astype(np.float64)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.log(proba[np.arange(len(Y)), Y])


def fixed_learner():
    """One step an epoch: the loss Keras reports is the one of the starting weights."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
        2, activation="softmax", kernel_initializer=keras.initializers.Constant(KERNEL), bias_initializer="zeros")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return ktbert.get_learner(model, train_data=(X, Y), val_data=(X, Y), batch_size=len(Y))


def test_balanced_class_weight():
    y = np.array([0] * 8 + [1] * 2)
    assert resolve_class_weight("balanced", y) == {0: 10 / (2 * 8), 1: 10 / (2 * 2)}
    assert resolve_class_weight({0: 1, 1: 3}, y) == {0: 1.0, 1: 3.0}
    with pytest.raises(ValueError, match=re.escape("`class_weight` works for single-label data only")):
        resolve_class_weight("balanced", np.zeros((3, 2)))
    with pytest.raises(ValueError, match=re.escape("`class_weight` must be 'balanced', a dict or None. Received: class_weight='auto'")):
        resolve_class_weight("auto", y)


@pytest.mark.parametrize("method", ["fit", "fit_onecycle", "autofit"])
@pytest.mark.parametrize("class_weight, weights", [
    (None, {0: 1.0, 1: 1.0}),
    ({0: 1, 1: 3}, {0: 1.0, 1: 3.0}),
    ("balanced", {0: 10 / (2 * 8), 1: 10 / (2 * 2)}),
])
def test_class_weight_scales_each_examples_loss(method, class_weight, weights):
    losses = per_example_losses()
    assert losses[Y == 1].min() > 5 * losses[Y == 0].max()  # the minority examples are the costly ones
    history = getattr(fixed_learner(), method)(1e-3, 1, class_weight=class_weight, verbose=0)
    w = np.array([weights[c] for c in Y])
    # Keras' reduction "sum_over_batch_size": the batch mean of weight x loss
    expected = float(np.mean(w * losses))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    unweighted = float(np.mean(losses))
    if class_weight is None:
        assert expected == unweighted
    else:  # weighting the costly minority up raises the loss above the unweighted mean
        assert history.history["loss"][0] > unweighted
