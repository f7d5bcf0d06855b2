"""Evaluation numbers from labels and probabilities, checked against values worked out by hand."""

import math

import numpy as np
import pytest

from ktbert.evaluate.decisions import Decisions

from ktbert.evaluate.metrics import (
    EPS,
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    f1_scores,
    lower_is_better,
    per_example_loss,
    scores,
)


@pytest.mark.parametrize("monitor, lower", [
    ("loss", True), ("val_loss", True), ("accuracy", False), ("val_accuracy", False),
    ("macro_f1", False), ("val_macro_f1", False),
])
def test_lower_is_better_only_for_losses(monitor, lower):
    assert lower_is_better(monitor) is lower


# losses --------------------------------------------------------------------------------------

def test_per_example_loss_is_categorical_cross_entropy_for_class_indices():
    p = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    loss = per_example_loss(np.array([0, 1]), p)
    np.testing.assert_allclose(loss, [-math.log(0.7), -math.log(0.25)], rtol=1e-12)
    assert loss.dtype == np.float64


def test_per_example_loss_is_mean_binary_cross_entropy_for_rows():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.9, 0.2], [0.4, 0.5]])
    expected = [
        -(math.log(0.9) + math.log(1 - 0.2)) / 2,
        -(math.log(1 - 0.4) + math.log(1 - 0.5)) / 2,
    ]
    np.testing.assert_allclose(per_example_loss(y, p), expected, rtol=1e-12)


def test_per_example_loss_clips_certain_mistakes_to_a_finite_loss():
    loss = per_example_loss(np.array([1]), np.array([[1.0, 0.0]]))
    assert loss.tolist() == pytest.approx([-math.log(EPS)])
    rows = per_example_loss(np.array([[1, 0]]), np.array([[0.0, 1.0]]))
    assert rows.tolist() == pytest.approx([-math.log(EPS)])


# confusion and reports -----------------------------------------------------------------------

def test_confusion_matrix_keeps_classes_never_predicted_or_never_seen():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 1, 0]  # class 2 is never predicted; class 3 never occurs
    m = confusion_matrix(y_true, y_pred, n_classes=4)
    np.testing.assert_array_equal(m, [
        [1, 1, 0, 0],
        [0, 2, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
    ])


# y_true 0 0 1 1 2, y_pred 0 1 1 1 1:
#   class 0: tp 1, fp 0, fn 1 -> precision 1,   recall 1/2, F1 2/3
#   class 1: tp 2, fp 2, fn 0 -> precision 1/2, recall 1,   F1 2/3
#   class 2: tp 0                                        -> F1 0
#   micro F1 = 3 right of 5 = 0.6; macro F1 = (2/3 + 2/3 + 0) / 3 = 4/9
Y_TRUE = np.array([0, 0, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 1])


def test_f1_scores_by_hand():
    f1 = f1_scores(Y_TRUE, Y_PRED)
    assert f1 == {"micro_f1": pytest.approx(0.6), "macro_f1": pytest.approx(4 / 9)}
    assert all(type(v) is float for v in f1.values())


def test_f1_scores_of_multilabel_rows_by_hand():
    y = np.array([[1, 0], [1, 1], [0, 1]])
    pred = np.array([[1, 1], [1, 0], [0, 1]])
    # label 0: tp 2, fp 0, fn 0 -> F1 1; label 1: tp 1, fp 1, fn 1 -> F1 1/2
    # micro: tp 3, fp 1, fn 1 -> F1 6 / 8
    assert f1_scores(y, pred) == {"micro_f1": pytest.approx(0.75), "macro_f1": pytest.approx(0.75)}


def test_scores_decide_then_score():
    p = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.4, 0.3]])
    assert Decisions(3).decide(p).tolist() == Y_PRED.tolist()
    s = scores(Y_TRUE, p, Decisions(3))
    assert s == {"accuracy": pytest.approx(0.6), "micro_f1": pytest.approx(0.6), "macro_f1": pytest.approx(4 / 9)}


def test_scores_with_a_binary_threshold():
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.6, 0.4]])
    assert scores(y, p, Decisions(2))["accuracy"] == pytest.approx(0.75)
    # at 0.35: decisions 0 0 1 1 -> 2 of 4 right; class F1s 1/2 and 1/2
    assert scores(y, p, Decisions(2, threshold=0.35)) == {
        "accuracy": pytest.approx(0.5), "micro_f1": pytest.approx(0.5), "macro_f1": pytest.approx(0.5)}
    # at 0.25: decisions 0 1 1 1 -> 3 of 4 right; class 0 F1 2/3, class 1 F1 4/5
    assert scores(y, p, Decisions(2, threshold=0.25)) == {
        "accuracy": pytest.approx(0.75), "micro_f1": pytest.approx(0.75),
        "macro_f1": pytest.approx((2 / 3 + 4 / 5) / 2)}


def test_multilabel_accuracy_is_exact_match():
    y = np.array([[1, 0], [1, 1], [0, 1]])
    p = np.array([[0.9, 0.6], [0.8, 0.3], [0.2, 0.7]])
    s = scores(y, p, Decisions(2, multilabel=True))  # decisions [1 1], [1 0], [0 1]: one row fully right
    assert s["accuracy"] == pytest.approx(1 / 3)
    assert s["micro_f1"] == pytest.approx(0.75) and s["macro_f1"] == pytest.approx(0.75)
    # label 1 cut at 0.2: decisions [1 1], [1 1], [0 1]: rows 1 and 2 fully right
    assert scores(y, p, Decisions(2, multilabel=True, thresholds=[0.5, 0.2]))["accuracy"] == pytest.approx(2 / 3)


def test_classification_report_lists_every_class_even_one_never_predicted():
    report = classification_report(Y_TRUE, Y_PRED, ["neg", "neu", "pos"], as_dict=True)
    assert report["neg"]["precision"] == pytest.approx(1.0) and report["neg"]["recall"] == pytest.approx(0.5)
    assert report["neu"]["f1-score"] == pytest.approx(2 / 3)
    assert report["pos"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 1.0}
    assert report["macro avg"]["f1-score"] == pytest.approx(4 / 9)
    text = classification_report(Y_TRUE, Y_PRED, ["neg", "neu", "pos"])
    assert "0.6667" in text and "pos" in text


# calibration ---------------------------------------------------------------------------------

def test_ece_by_hand_with_two_examples_in_one_bin():
    p = np.array([[0.92, 0.08], [0.96, 0.04], [0.28, 0.72], [0.55, 0.45]])
    y = np.array([0, 1, 1, 1])
    # 10 bins: confidences 0.92 and 0.96 share (0.9, 1] (1 of 2 right), 0.72 is right, 0.55 wrong
    expected = 0.5 * abs(0.5 - 0.94) + 0.25 * abs(1 - 0.72) + 0.25 * abs(0 - 0.55)
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(expected)
    # one bin: |accuracy - mean confidence| over everything
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(abs(0.5 - (0.92 + 0.96 + 0.72 + 0.55) / 4))


def test_ece_is_zero_when_confidence_matches_accuracy():
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert expected_calibration_error(np.array([0, 1]), p, n_bins=10) == pytest.approx(0.0)
    assert type(expected_calibration_error(np.array([0, 1]), p)) is float


def test_ece_of_multilabel_rows_counts_every_label_as_a_binary_prediction():
    y = np.array([[1, 0], [0, 0]])
    p = np.array([[0.85, 0.25], [0.65, 0.05]])
    # confidences 0.85 (right), 0.75 (right: 0.25 < 0.5 and label 0), 0.65 (wrong), 0.95 (right)
    expected = 0.25 * (abs(1 - 0.85) + abs(1 - 0.75) + abs(0 - 0.65) + abs(1 - 0.95))
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(expected)
