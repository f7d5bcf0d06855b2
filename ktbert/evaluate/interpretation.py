"""Where a classifier fails: top losses, confusion, per-class scores, calibration error.

Methods that compute return arrays, lists or dicts; `plot_*` methods only draw (fastai's split).
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import echo
from ktbert.evaluate import metrics
from ktbert.evaluate import plots
from ktbert.evaluate.decisions import Decisions


class Interpretation:
    """Predictions on labelled data, ready to be examined.

    Args:
        y_true: numpy array. class indices `(n,)`, or 0/1 rows `(n, classes)` (multi-label).
        proba: numpy array. predicted probabilities `(n, classes)`.
        class_names: list of str. the classes.
        texts: list of str or None. the texts, for showing the worst examples.
        thresholds: list of float or None. multi-label decision thresholds (default 0.5).
        threshold: float or None. binary decision threshold on the second class (default: the
            most probable class decides).
        decisions: Decisions or None. a predictor's or learner's decisions, instead of
            `thresholds` and `threshold`: the same rule `predict` applies.

    Examples:
    ```python
    interp = learner.interpret()
    interp.top_losses(5)
    interp.plot_confusion_matrix()
    ```
    """

    def __init__(self, y_true, proba, class_names, texts=None, thresholds=None, threshold=None, *,
                 decisions=None):
        self.y_true, self.proba = check_labels(y_true, proba)
        self.class_names = list(class_names)
        self.texts = texts
        self.multilabel = self.y_true.ndim == 2
        if decisions is None:
            decisions = Decisions.for_labels(self.y_true, self.proba.shape[1], thresholds=thresholds,
                                             threshold=threshold)
        elif thresholds is not None or threshold is not None:
            raise ValueError("Give either `decisions` or `thresholds`/`threshold`, not both: `decisions` holds "
                             "its own thresholds.")
        if not isinstance(decisions, Decisions):
            raise TypeError(f"`decisions` must be a ktbert Decisions or None. Received: {type(decisions).__name__}")
        self.decisions = decisions
        self.thresholds = decisions.thresholds
        self.threshold = decisions.threshold
        self.y_pred = decisions.decide(self.proba)
        self.losses = metrics.per_example_loss(self.y_true, self.proba)

    def _names(self, row):
        if self.multilabel:
            return [self.class_names[j] for j in np.flatnonzero(row)]
        return self.class_names[int(row)]

    def top_losses(self, n: int = 8) -> list:
        """The `n` examples with the highest loss: `(index, loss, true, predicted)` tuples."""
        order = np.argsort(-self.losses, kind="stable")[:n]
        return [(int(i), float(self.losses[i]), self._names(self.y_true[i]), self._names(self.y_pred[i])) for i in order]

    def confusion_matrix(self) -> np.ndarray:
        """Rows are true classes, columns predicted (single-label); per label 2x2 (multi-label)."""
        if self.multilabel:
            from sklearn.metrics import multilabel_confusion_matrix

            return multilabel_confusion_matrix(self.y_true, self.y_pred)
        return metrics.confusion_matrix(self.y_true, self.y_pred, len(self.class_names))

    def most_confused(self, min_val: int = 1) -> list:
        """`(true, predicted, count)` for off-diagonal cells with at least `min_val`, largest first."""
        if self.multilabel:
            raise ValueError("most_confused needs single-label data: multi-label errors are per label.")
        cm = self.confusion_matrix()
        cells = [(self.class_names[i], self.class_names[j], int(cm[i, j]))
                 for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] >= min_val]
        return sorted(cells, key=lambda c: -c[2])

    def classification_report(self, as_dict: bool = False):
        """Precision, recall and F1 per class with macro and weighted averages (scikit-learn's)."""
        return metrics.classification_report(self.y_true, self.y_pred, self.class_names, as_dict=as_dict)

    def f1_scores(self) -> dict:
        """Micro and macro F1."""
        return metrics.f1_scores(self.y_true, self.y_pred)

    def per_class_f1(self) -> dict:
        """F1 of every class, by name."""
        report = self.classification_report(as_dict=True)
        return {name: float(report[name]["f1-score"]) for name in self.class_names}

    def expected_calibration_error(self, n_bins: int = 15) -> float:
        return metrics.expected_calibration_error(self.y_true, self.proba, n_bins)

    def plot_confusion_matrix(self, normalize: bool = False, save_path: str | None = None):
        """Heat map of the confusion matrix (rows true, columns predicted); returns the figure."""
        if self.multilabel:
            raise ValueError("plot_confusion_matrix needs single-label data; use plot_f1 for multi-label.")
        return plots.plot_confusion_matrix(self.confusion_matrix(), self.class_names, normalize, save_path)

    def plot_f1(self, save_path: str | None = None):
        """Bar chart of each class's F1; returns the figure."""
        scores = self.per_class_f1()
        return plots.plot_bars(list(scores), list(scores.values()), "F1", "F1 per class", save_path)


def check_labels(y_true, proba) -> tuple:
    """`(y_true, proba)` as arrays, or an error naming what is wrong: labels missing (unlabelled
    data), of another count than the predictions, class names instead of indices, out of range."""
    proba = np.asarray(proba)
    if proba.ndim != 2:
        raise ValueError(f"`proba` must be probabilities `(n, classes)`. Received: an array of shape {proba.shape}")
    if y_true is None:
        raise ValueError("`y_true` is None: an Interpretation, and a report, score predictions against the true "
                         "labels, and unlabelled data has none. Label the texts first; to label new texts with "
                         "the model, use `predictor.predict`.")
    y = np.asarray(y_true)
    if y.ndim not in (1, 2) or len(y) != len(proba):
        raise ValueError(f"`y_true` must hold one label per row of `proba` ({len(proba)}). Received: an array "
                         f"of shape {y.shape}")
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y)))):
        raise ValueError(f"`y_true` must hold class indices (0 to {proba.shape[1] - 1}), or 0/1 rows for multi-label "
                         f"data, not names or missing values. Received: {echo(y_true)}. Map class names to their "
                         "positions, e.g. [class_names.index(label) for label in labels].")
    top = proba.shape[1] if y.ndim == 1 else 2
    if y.size and (y.min() < 0 or y.max() >= top or (y.ndim == 2 and y.shape[1] != proba.shape[1])):
        raise ValueError(f"`y_true` must hold class indices from 0 to {proba.shape[1] - 1} (or 0/1 rows of "
                         f"{proba.shape[1]} columns for multi-label data). Received: {echo(y_true)}")
    return y, proba
