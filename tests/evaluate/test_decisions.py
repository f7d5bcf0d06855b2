"""Decisions: one validated object for temperature and thresholds, shared by learner and predictor."""

import re

import numpy as np
import pytest

from ktbert.evaluate.decisions import Decisions

PROBA = np.array([[0.9, 0.1], [0.3, 0.7], [0.15, 0.85]], dtype=np.float32)


def test_defaults_take_the_most_probable_class_and_change_no_probability():
    d = Decisions(2)
    assert d.calibrate(PROBA) is PROBA or np.array_equal(d.calibrate(PROBA), PROBA)
    assert d.labels(PROBA, ["neg", "pos"]) == ["neg", "pos", "pos"]
    assert d.get_config() == {"temperature": 1.0, "thresholds": None, "threshold": None}


def test_binary_threshold_decides_on_the_second_class():
    d = Decisions(2, threshold=0.8)
    assert d.decide(PROBA).tolist() == [0, 0, 1]
    assert d.labels(PROBA, ["neg", "pos"]) == ["neg", "neg", "pos"]


def test_temperature_softens_without_changing_the_ranking():
    d = Decisions(2, temperature=2.0)
    soft = d.calibrate(PROBA)
    # softmax(log(p) / T) by hand
    z = np.log(PROBA.astype(np.float64)) / 2.0
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, expected, rtol=1e-6)
    assert (soft.argmax(axis=1) == PROBA.argmax(axis=1)).all()


def test_multilabel_thresholds_per_label():
    proba = np.array([[0.4, 0.6, 0.2], [0.35, 0.5, 0.5]])
    d = Decisions(3, multilabel=True, thresholds=[0.3, 0.55, 0.45])
    assert d.decide(proba).tolist() == [[1, 1, 0], [1, 0, 1]]
    assert d.labels(proba, ["a", "b", "c"]) == [["a", "b"], ["a", "c"]]


def test_replace_validates_and_leaves_the_original_unchanged():
    d = Decisions(2)
    warmer = d.replace(temperature=1.5)
    assert (d.temperature, warmer.temperature) == (1.0, 1.5)
    with pytest.raises(Exception):
        d.temperature = 3.0  # frozen: changes go through replace


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 2, "temperature": 0}, "`temperature` must be a positive number. Received: temperature=0"),
    ({"num_classes": 2, "temperature": float("nan")}, "`temperature` must be a positive number. Received: temperature=nan"),
    ({"num_classes": 2, "threshold": 1.0}, "`threshold` must lie strictly between 0 and 1. Received: threshold=1.0"),
    ({"num_classes": 3, "threshold": 0.5}, "`threshold` is for binary single-label models; multi-label ones use `thresholds`."),
    ({"num_classes": 3, "multilabel": True, "thresholds": [0.5, 0.5]},
     "`thresholds` needs one value per label of a multi-label model (3 classes, multilabel=True). Received 2 values."),
    ({"num_classes": 2, "thresholds": [0.5, 0.5]},
     "`thresholds` needs one value per label of a multi-label model (2 classes, multilabel=False). Received 2 values."),
    ({"num_classes": 2, "multilabel": True, "thresholds": [0.5, 0.0]},
     "`thresholds` must lie strictly between 0 and 1. Received: [0.5, 0.0]"),
])
def test_bad_values_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Decisions(**kwargs)


def test_frozen_fields_change_only_through_replace():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Decisions(2).temperature = 3.0


def test_learner_and_predictor_agree_after_calibration_whichever_way_the_predictor_is_made(make_toy_split, make_learner):
    import ktbert

    trn, val, preproc = split = make_toy_split(seed=4, val="own", val_rows=24, val_seed=5)
    learner = make_learner(split, batch_size=16)
    learner.fit(1e-2, 1, verbose=0)
    learner.calibrate(verbose=0)
    assert learner.temperature != 1.0
    for made_from in (learner, learner.model):  # ktrain's tutorials pass learner.model
        predictor = ktbert.get_predictor(made_from, preproc)
        assert predictor.decision_config() == learner.decision_config()
        np.testing.assert_allclose(predictor.predict(val.x.texts, return_proba=True), learner.predict(), rtol=1e-6)


def test_calibrating_after_thresholds_warns_to_tune_again():
    d = Decisions(3, multilabel=True, thresholds=[0.4, 0.5, 0.6])
    raw = np.array([[0.9, 0.2, 0.6], [0.3, 0.7, 0.4]])
    y = np.array([[1, 0, 1], [0, 1, 0]])
    with pytest.warns(UserWarning, match=re.escape("tune them again after calibrating (calibrate first, then tune)")):
        calibrated = d.fit_temperature(raw, y)
    assert calibrated.thresholds == (0.4, 0.5, 0.6) and calibrated.temperature != 1.0


# === The decision rule ===

def test_the_most_probable_class_decides_by_default():
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    pred = Decisions(3).decide(p)
    assert pred.tolist() == [1, 0, 2]
    assert Decisions(3).decide(p.tolist()).tolist() == [1, 0, 2]


def test_a_binary_threshold_decides_class_1_from_its_probability():
    p = np.array([[0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.45, 0.55]])
    assert Decisions(2).decide(p).tolist() == [0, 0, 0, 1]
    assert Decisions(2, threshold=0.3).decide(p).tolist() == [0, 1, 1, 1]  # 0.3 reaches 0.3
    assert Decisions(2, threshold=0.6).decide(p).tolist() == [0, 0, 0, 0]


def test_multilabel_decisions_cut_at_one_half_by_default():
    p = np.array([[0.5, 0.49, 0.9], [0.1, 0.7, 0.2]])
    pred = Decisions(3, multilabel=True).decide(p)
    np.testing.assert_array_equal(pred, [[1, 0, 1], [0, 1, 0]])
    assert pred.dtype.kind == "i"


def test_multilabel_decisions_use_each_labels_threshold():
    p = np.array([[0.5, 0.49, 0.9], [0.1, 0.7, 0.2]])
    pred = Decisions(3, multilabel=True, thresholds=[0.05, 0.8, 0.2]).decide(p)
    np.testing.assert_array_equal(pred, [[1, 0, 1], [1, 0, 1]])


def test_the_rule_decides_alike_in_numpy_and_in_a_graph():
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(2), size=200).astype(np.float32)
    multi = rng.random((200, 3)).astype(np.float32)
    for decisions, p in ((Decisions(2, temperature=1.7), proba), (Decisions(2, threshold=0.35, temperature=0.6), proba),
                         (Decisions(3, multilabel=True, thresholds=[0.2, 0.5, 0.7], temperature=1.3), multi)):
        graph = tf.function(lambda t: decisions.decide(decisions.calibrate(t, tnp), tnp))
        np.testing.assert_array_equal(graph(tf.constant(p)).numpy(), decisions.decide(decisions.calibrate(p)))
        np.testing.assert_allclose(decisions.calibrate(tf.constant(p), tnp).numpy(), decisions.calibrate(p),
                                   atol=1e-7)


@pytest.mark.parametrize("threshold", [0.45, 0.65, 0.7, 0.9, 0.95])
def test_a_float32_probability_equal_to_the_threshold_reaches_it_in_numpy_and_in_a_graph(threshold):
    import tensorflow as tf
    import tensorflow.experimental.numpy as tnp

    p = np.float32(threshold)
    proba = np.array([[1 - p, p], [1 - p, np.nextafter(p, np.float32(0))]], dtype=np.float32)
    decisions = Decisions(2, threshold=threshold)
    assert decisions.decide(proba).tolist() == [1, 0]
    assert decisions.decide(tf.constant(proba), tnp).numpy().tolist() == [1, 0]
