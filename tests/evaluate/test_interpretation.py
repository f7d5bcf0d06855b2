"""Reports, confusion, top losses and plots on hand-made cases with known answers."""

import math
import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.evaluate.interpretation import Interpretation

# Six examples, three classes. Predicted (argmax): 0, 0, 1, 1, 2, 2; true: 0, 0, 0, 1, 1, 2.
PROBA = np.array([
    [0.90, 0.05, 0.05],
    [0.60, 0.30, 0.10],
    [0.20, 0.70, 0.10],  # true 0, loss -log(0.2)
    [0.10, 0.80, 0.10],
    [0.05, 0.15, 0.80],  # true 1, loss -log(0.15)
    [0.30, 0.30, 0.40],
], dtype="float32")
Y = np.array([0, 0, 0, 1, 1, 2])
NAMES = ["cat", "dog", "eel"]


def identity_learner():
    """A Keras model whose output is its input: its 'probabilities' are exactly PROBA."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Activation("linear")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return ktbert.get_learner(model, train_data=(PROBA, Y), val_data=(PROBA, Y), batch_size=2)


def test_validate_prints_the_report_and_returns_the_confusion_matrix(capsys):
    cm = identity_learner().validate(class_names=NAMES)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    out = capsys.readouterr().out
    assert re.search(r"cat\s+1\.0000\s+0\.6667\s+0\.8000\s+3", out)
    assert re.search(r"dog\s+0\.5000\s+0\.5000\s+0\.5000\s+2", out)
    assert re.search(r"eel\s+0\.5000\s+1\.0000\s+0\.6667\s+1", out)
    assert re.search(r"macro avg\s+0\.6667\s+0\.7222\s+0\.6556\s+6", out)
    assert "expected calibration error:" in out


def test_report_as_data():
    report = Interpretation(Y, PROBA, NAMES).classification_report(as_dict=True)
    assert report["cat"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1-score": pytest.approx(0.8), "support": 3.0}
    assert report["macro avg"]["f1-score"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert Interpretation(Y, PROBA, NAMES).per_class_f1() == pytest.approx({"cat": 0.8, "dog": 0.5, "eel": 2 / 3})


def test_top_losses_in_exact_order():
    expected_losses = -np.log(PROBA[np.arange(6), Y].astype(np.float64))
    order = [4, 2, 5, 1, 3, 0]  # -log of 0.15, 0.2, 0.4, 0.6, 0.8, 0.9
    assert np.argsort(-expected_losses).tolist() == order
    tops = identity_learner().top_losses(n=4)
    assert [t[0] for t in tops] == order[:4]
    assert [t[1] for t in tops] == pytest.approx(expected_losses[order[:4]].tolist(), rel=1e-6)
    named = Interpretation(Y, PROBA, NAMES).top_losses(2)
    assert named == [(4, pytest.approx(-math.log(0.15), rel=1e-6), "dog", "eel"),
                     (2, pytest.approx(-math.log(0.2), rel=1e-6), "cat", "dog")]


def test_most_confused():
    assert Interpretation(Y, PROBA, NAMES).most_confused() == [("cat", "dog", 1), ("dog", "eel", 1)]


def test_multilabel_report_and_confusion():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    proba = np.array([[0.9, 0.2], [0.7, 0.4], [0.3, 0.8], [0.6, 0.1]])
    interp = Interpretation(y, proba, ["a", "b"], thresholds=[0.5, 0.35])
    assert interp.y_pred.tolist() == [[1, 0], [1, 1], [0, 1], [1, 0]]
    assert interp.confusion_matrix().tolist() == [[[1, 1], [0, 2]], [[2, 0], [0, 2]]]
    assert interp.f1_scores() == pytest.approx({"micro_f1": 2 * 4 / (2 * 4 + 1), "macro_f1": (0.8 + 1.0) / 2})


def test_plots_have_the_expected_axes(tmp_path):
    interp = Interpretation(Y, PROBA, NAMES)
    fig = interp.plot_confusion_matrix(save_path=str(tmp_path / "cm.png"))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "confusion matrix")
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert sorted(t.get_text() for t in ax.texts) == sorted(["2", "1", "0", "0", "1", "1", "0", "0", "1"])
    assert (tmp_path / "cm.png").stat().st_size > 1000
    fig = interp.plot_confusion_matrix(normalize=True)
    assert fig.axes[0].get_title() == "confusion matrix (share of each true class)"
    fig = interp.plot_f1()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "F1" and ax.get_title() == "F1 per class"
    assert [round(p.get_height(), 4) for p in ax.patches] == [0.8, 0.5, 0.6667]


def test_view_top_losses_shows_texts_in_loss_order(trained_sentiment, capsys):
    learner, _, val, preproc = trained_sentiment
    rows = learner.view_top_losses(n=3, preproc=preproc)
    losses = [r["loss"] for r in rows]
    assert losses == sorted(losses, reverse=True)
    assert [r["index"] for r in rows] == [t[0] for t in learner.top_losses(3)]
    assert rows[0]["text"] == val.x.texts[rows[0]["index"]]
    out = capsys.readouterr().out
    assert f"id {rows[0]['index']} | loss {rows[0]['loss']:.4f} | true: {rows[0]['true']}" in out
