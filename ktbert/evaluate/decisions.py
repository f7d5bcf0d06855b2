"""How a classifier's probabilities become answers: temperature scaling and decision thresholds.

One validated, immutable `Decisions` object holds them; the Learner and the Predictor each hold
one (through `DecisionsMixin`), so both calibrate and decide the same way, and a predictor made
from a learner takes the learner's over. `Interpretation`, `scores` and the checkpoints'
macro-F1 decide with it too. Saved in the predictor's manifest.

`calibrate` and `decide` are written once against an array namespace: NumPy by default, and
`tf.experimental.numpy` inside an exported graph, so a SavedModel decides exactly as `predict`.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings

import numpy as np

from ktbert.checks import check_fraction, check_rate, echo
from ktbert.evaluate.calibration import apply_temperature, fit_temperature, tune_label_thresholds


@dataclasses.dataclass(frozen=True)
class Decisions:
    """Temperature and thresholds for a model with `num_classes` outputs.

    Args:
        num_classes: int. the model's outputs.
        multilabel: bool. sigmoid outputs, one decision per label.
        temperature: float. the logits are divided by it before probabilities are returned
            (1.0 changes nothing); fitted by `calibrate`.
        thresholds: list of float or None. per-label thresholds of a multi-label model
            (None: 0.5 each).
        threshold: float or None. threshold on the second class's probability of a binary
            single-label model (None: the most probable class).

    Examples:
    ```python
    decisions = Decisions(num_classes=2, threshold=0.8)
    decisions.labels(proba, ["neg", "pos"])
    decisions = decisions.replace(temperature=1.3)
    ```
    """

    num_classes: int
    multilabel: bool = False
    temperature: float = 1.0
    thresholds: tuple | None = None
    threshold: float | None = None

    def __post_init__(self):
        set_field = object.__setattr__  # the dataclass is frozen; this is its validating constructor
        set_field(self, "temperature", check_rate(self.temperature, "temperature"))
        if self.thresholds is not None:
            if isinstance(self.thresholds, (str, bytes)) or not hasattr(self.thresholds, "__len__") or not all(
                    isinstance(t, numbers.Real) and not isinstance(t, bool) for t in self.thresholds):
                raise TypeError(f"`thresholds` must be a list of numbers, one per label. Received: "
                                f"thresholds={echo(self.thresholds)}")
            thresholds = [float(t) for t in self.thresholds]
            if not self.multilabel or len(thresholds) != self.num_classes:
                raise ValueError(
                    f"`thresholds` needs one value per label of a multi-label model "
                    f"({self.num_classes} classes, multilabel={self.multilabel}). "
                    f"Received {len(thresholds)} values."
                )
            if not all(0.0 < t < 1.0 for t in thresholds):
                raise ValueError(f"`thresholds` must lie strictly between 0 and 1. Received: {thresholds}")
            set_field(self, "thresholds", tuple(thresholds))  # immutable, like the object
        if self.threshold is not None:
            if self.multilabel or self.num_classes != 2:
                raise ValueError(
                    "`threshold` is for binary single-label models; multi-label ones use `thresholds`. "
                    f"This model has {self.num_classes} classes (multilabel={self.multilabel}). "
                    f"Received: threshold={self.threshold!r}"
                )
            set_field(self, "threshold", check_fraction(self.threshold, "threshold"))

    def replace(self, **changes) -> "Decisions":
        """A copy with `changes` applied and validated."""
        return dataclasses.replace(self, **changes)

    def calibrate(self, proba, xp=np):
        """Probabilities after temperature scaling (unchanged at temperature 1); `xp` is the
        array namespace (NumPy, or `tf.experimental.numpy` in a graph)."""
        return apply_temperature(proba, self.temperature, self.multilabel, xp)

    def decide(self, proba, xp=np):
        """The decision rule: class indices `(n,)`, or 0/1 rows `(n, classes)` for multi-label
        models (int64).

        Single-label: the most probable class, or with a binary `threshold` class 1 where its
        probability reaches the threshold, compared in the probabilities' own precision (a
        float32 probability of 0.7 reaches a threshold of 0.7). Multi-label: each label where
        its probability reaches its threshold (0.5 each unless tuned), compared in float64.
        """
        proba = xp.asarray(proba)
        if self.multilabel:
            cut = 0.5 if self.thresholds is None else xp.asarray(self.thresholds, dtype=xp.float64)[None, :]
            return xp.asarray(xp.asarray(proba, dtype=xp.float64) >= cut, dtype=xp.int64)
        if self.threshold is not None:
            return xp.asarray(proba[:, 1] >= xp.asarray(self.threshold, dtype=proba.dtype), dtype=xp.int64)
        return xp.argmax(proba, axis=1)

    def labels(self, proba, class_names) -> list:
        """A class name per row, or for multi-label models the list of names decided per row."""
        decided = self.decide(proba)
        if self.multilabel:
            return [[class_names[j] for j in np.flatnonzero(row)] for row in decided]
        return [class_names[int(j)] for j in decided]

    def fit_temperature(self, raw_proba, y_true) -> "Decisions":
        """A copy whose temperature minimises the negative log-likelihood of `y_true`.

        Thresholds were tuned on the probabilities of the old temperature: they are kept, with
        a warning to tune them again.
        """
        if self.thresholds is not None or self.threshold is not None:
            warnings.warn("the decision thresholds were set for the previous temperature; tune them "
                          "again after calibrating (calibrate first, then tune).", stacklevel=3)
        return self.replace(temperature=fit_temperature(raw_proba, y_true, self.multilabel))

    def fit_thresholds(self, raw_proba, y_true) -> "Decisions":
        """A copy with per-label thresholds maximising each label's F1 on the calibrated `raw_proba`."""
        if not self.multilabel:
            raise ValueError("tune_thresholds is for multi-label models; binary models use "
                             "predictor.tune_threshold(val_data, target_precision=...).")
        return self.replace(thresholds=tune_label_thresholds(self.calibrate(raw_proba), y_true))

    @classmethod
    def for_labels(cls, y_true, num_classes: int, **config) -> "Decisions":
        """Decisions for labels shaped as `y_true` (0/1 rows: multi-label) and `num_classes`."""
        return cls(int(num_classes), multilabel=np.asarray(y_true).ndim == 2, **config)

    def get_config(self) -> dict:
        """What a save keeps (the class count and multi-label flag are the model's)."""
        thresholds = None if self.thresholds is None else list(self.thresholds)
        return {"temperature": self.temperature, "thresholds": thresholds, "threshold": self.threshold}


def _decision(name: str, doc: str) -> property:
    """A property reading `self.decisions.<name>` and setting it through a validated copy."""

    def get(self):
        value = getattr(self.decisions, name)
        return list(value) if isinstance(value, tuple) else value

    def set_(self, value):
        self.decisions = self.decisions.replace(**{name: value})

    return property(get, set_, doc=doc)


class DecisionsMixin:
    """`temperature`, `thresholds` and `threshold` read and set through `self.decisions`."""

    decisions: Decisions
    temperature = _decision("temperature", "The temperature dividing the logits (1.0: none).")
    thresholds = _decision("thresholds", "Per-label decision thresholds (multi-label), or None.")
    threshold = _decision("threshold", "Binary decision threshold on the second class, or None.")

    def decision_config(self) -> dict:
        """Temperature and thresholds, as saved."""
        return self.decisions.get_config()
