import re

import numpy as np
import pytest

from ktbert.evaluate.calibration import apply_temperature, fit_temperature, tune_binary_threshold, tune_label_thresholds
from ktbert.evaluate.metrics import expected_calibration_error


def test_temperature_one_changes_nothing_and_keeps_the_ranking():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    np.testing.assert_array_equal(apply_temperature(p, 1.0), p)
    hot = apply_temperature(p, 2.0)
    np.testing.assert_allclose(hot.sum(axis=1), 1.0, rtol=1e-6)
    assert hot.argmax(axis=1).tolist() == [0, 2]
    # logits halved: p ~ sqrt(p) renormalised
    expected = np.sqrt(p) / np.sqrt(p).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(hot, expected, rtol=1e-5)


def test_ece_by_hand():
    # two bins used: confidences 0.9 (2 examples, 1 right) and 0.6 (2 examples, 2 right)
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(expected)


def test_fitted_temperature_cools_an_overconfident_model():
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 2, n)
    # the true probability of the predicted class is 0.75, but the model says 0.97
    right = rng.random(n) < 0.75
    predicted = np.where(right, y, 1 - y)
    p = np.full((n, 2), 0.03)
    p[np.arange(n), predicted] = 0.97
    t = fit_temperature(p, y)
    assert t > 2.0
    assert expected_calibration_error(y, apply_temperature(p, t)) < 0.02 < expected_calibration_error(y, p)


def test_label_thresholds_maximise_each_f1():
    proba = np.array([[0.30, 0.9], [0.35, 0.8], [0.2, 0.6], [0.1, 0.7]])
    y = np.array([[1, 1], [1, 0], [0, 0], [0, 1]])
    # label 0: positives at 0.30 and 0.35, negatives at 0.2 and 0.1 -> 0.25 or 0.3 separates; nearest 0.5 wins
    # label 1: positives 0.9, 0.7; negatives 0.8, 0.6 -> best F1 0.8 at 0.65 and 0.7 (tp 2,
    # fp 1); the tie goes to the one nearest 0.5
    assert tune_label_thresholds(proba, y) == [0.3, 0.65]
    assert tune_label_thresholds(proba, np.array([[0, 1]] * 4)) [0] == 0.5  # no positives: unchanged


def test_binary_threshold_for_a_target():
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9])
    y = np.array([0, 0, 1, 1, 0, 1])
    assert tune_binary_threshold(p, y, target_precision=1.0) == pytest.approx(0.8)
    assert tune_binary_threshold(p, y, target_recall=1.0) == pytest.approx(0.35)
    with pytest.raises(ValueError, match=re.escape("Give exactly one of `target_precision` and `target_recall`.")):
        tune_binary_threshold(p, y)
