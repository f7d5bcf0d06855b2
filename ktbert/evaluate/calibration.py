"""Turning probabilities into decisions: temperature scaling and decision thresholds.

Temperature scaling (Guo et al., 2017) divides the logits by one number `T`, fitted on
validation data by minimising the negative log-likelihood; it changes confidence, not the
ranking. Thresholds: one per label for multi-label models (each maximising that label's F1),
or one for the positive class of a binary model (set, or tuned for a target precision or
recall).
"""

from __future__ import annotations

import numpy as np

from ktbert.evaluate.metrics import EPS, per_example_loss

T_BOUNDS = (0.05, 20.0)


def _logits(proba, multilabel: bool, xp=np):
    p = xp.clip(xp.asarray(proba, dtype=xp.float64), EPS, 1 - EPS)
    return xp.log(p / (1 - p)) if multilabel else xp.log(p)


def apply_temperature(proba, temperature: float, multilabel: bool = False, xp=np):
    """Probabilities (float32) with the logits divided by `temperature` (1.0 changes nothing),
    computed in float64; `xp` is the array namespace (NumPy, or `tf.experimental.numpy` in a
    graph)."""
    if temperature == 1.0:
        return xp.asarray(proba)
    z = _logits(proba, multilabel, xp) / temperature
    if multilabel:
        return xp.asarray(1 / (1 + xp.exp(-z)), dtype=xp.float32)
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return xp.asarray(e / xp.sum(e, axis=1, keepdims=True), dtype=xp.float32)


def fit_temperature(proba, y_true, multilabel: bool = False) -> float:
    """The temperature in [0.05, 20] minimising the validation negative log-likelihood."""
    from scipy.optimize import minimize_scalar

    y_true = np.asarray(y_true)

    def nll(log_t):
        return float(per_example_loss(y_true, apply_temperature(proba, float(np.exp(log_t)), multilabel)).mean())

    best = minimize_scalar(nll, bounds=tuple(np.log(T_BOUNDS)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(best.x))


def tune_label_thresholds(proba, y_true, grid=None) -> list:
    """Per label, the threshold maximising that label's F1 on validation data.

    Labels without a positive example in `y_true` keep 0.5. Ties go to the threshold nearest
    0.5.
    """
    from sklearn.metrics import f1_score

    proba, y_true = np.asarray(proba), np.asarray(y_true).astype(int)
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2) if grid is None else np.asarray(grid)
    order = grid[np.argsort(np.abs(grid - 0.5), kind="stable")]
    thresholds = []
    for j in range(proba.shape[1]):
        if y_true[:, j].sum() == 0:
            thresholds.append(0.5)
            continue
        scores = [f1_score(y_true[:, j], (proba[:, j] >= t).astype(int), zero_division=0) for t in order]
        thresholds.append(float(order[int(np.argmax(scores))]))
    return thresholds


def tune_binary_threshold(proba_positive, y_true, target_precision=None, target_recall=None) -> float:
    """The positive-class threshold meeting a target precision (with the most recall) or a
    target recall (with the most precision), on validation data.
    """
    from sklearn.metrics import precision_recall_curve

    if (target_precision is None) == (target_recall is None):
        raise ValueError("Give exactly one of `target_precision` and `target_recall`.")
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), np.asarray(proba_positive))
    precision, recall = precision[:-1], recall[:-1]
    if target_precision is not None:
        ok = np.flatnonzero(precision >= target_precision)
        if not len(ok):
            raise ValueError(f"No threshold reaches precision {target_precision} on this data (best: {precision.max():.3f}).")
        return float(thresholds[ok[np.argmax(recall[ok])]])
    ok = np.flatnonzero(recall >= target_recall)
    return float(thresholds[ok[np.argmax(precision[ok])]])
