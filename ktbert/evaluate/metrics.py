"""Evaluation numbers from labels and predicted probabilities: reports, confusion, losses, ECE.

The decision rule is `ktbert.evaluate.decisions.Decisions.decide`; `scores` takes a decisions
object and applies it.

scikit-learn computes the reports and matrices; this module only shapes inputs and outputs.
Single-label `y` holds class indices; multi-label `y` holds 0/1 rows.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7


def lower_is_better(monitor: str) -> bool:
    """Losses improve downwards; accuracy, F1 and the rest upwards."""
    return monitor.endswith("loss")


def per_example_loss(y_true, proba) -> np.ndarray:
    """Cross-entropy of every example: categorical for indices, mean binary for 0/1 rows."""
    proba = np.clip(np.asarray(proba, dtype=np.float64), EPS, 1 - EPS)
    y_true = np.asarray(y_true)
    if y_true.ndim == 2:
        return -np.mean(y_true * np.log(proba) + (1 - y_true) * np.log(1 - proba), axis=1)
    return -np.log(proba[np.arange(len(y_true)), y_true])


def classification_report(y_true, y_pred, class_names, as_dict: bool = False):
    """scikit-learn's report (precision, recall, F1 per class; macro and weighted averages)."""
    from sklearn.metrics import classification_report as report

    labels = list(range(len(class_names)))
    if np.asarray(y_true).ndim == 2:
        labels = None
    return report(y_true, y_pred, labels=labels, target_names=list(class_names), digits=4,
                  zero_division=0, output_dict=as_dict)


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    from sklearn.metrics import confusion_matrix as matrix

    return matrix(y_true, y_pred, labels=list(range(n_classes)))


def f1_scores(y_true, y_pred) -> dict:
    """Micro and macro F1 (multi-label or single-label)."""
    from sklearn.metrics import f1_score

    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def scores(y_true, proba, decisions) -> dict:
    """Accuracy (exact match for multi-label), micro- and macro-F1 of `decisions` (a
    `ktbert.evaluate.decisions.Decisions`) on `proba`."""
    from sklearn.metrics import accuracy_score

    y_pred = decisions.decide(proba)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), **f1_scores(y_true, y_pred)}


def reliability_bins(y_true, proba, n_bins: int = 15) -> dict:
    """The top-class confidences in `n_bins` equal-width bins, as the ECE bins them.

    For multi-label rows, every (example, label) probability is one binary prediction, whose
    confidence is the probability of the side it decides (p or 1 - p at 0.5).

    Returns:
        dict. `edges` `(n_bins + 1,)`, and per bin `confidence` (mean), `accuracy` (share
        correct) and `count`; an empty bin's confidence and accuracy are NaN.
    """
    proba, y_true = np.asarray(proba, dtype=np.float64), np.asarray(y_true)
    if y_true.ndim == 2:
        conf = np.where(proba >= 0.5, proba, 1 - proba).ravel()
        correct = ((proba >= 0.5).astype(int) == y_true).ravel()
    else:
        conf = proba.max(axis=1)
        correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    confidence, accuracy, count = np.full(n_bins, np.nan), np.full(n_bins, np.nan), np.zeros(n_bins, np.int64)
    for b in range(n_bins):
        in_bin = bins == b
        count[b] = in_bin.sum()
        if count[b]:
            confidence[b], accuracy[b] = conf[in_bin].mean(), correct[in_bin].mean()
    return {"edges": edges, "confidence": confidence, "accuracy": accuracy, "count": count}


def expected_calibration_error(y_true, proba, n_bins: int = 15) -> float:
    """ECE of the top-class confidence: sum over equal-width bins of |accuracy - confidence| x share.

    For multi-label rows, every (example, label) probability is one binary prediction.
    """
    bins = reliability_bins(y_true, proba, n_bins)
    total = bins["count"].sum()
    ece = 0.0
    for confidence, accuracy, count in zip(bins["confidence"], bins["accuracy"], bins["count"]):
        if count:
            ece += count / total * abs(accuracy - confidence)
    return float(ece)
