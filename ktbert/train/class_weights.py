"""Class weights for imbalanced data: "balanced" (scikit-learn's rule), a dict, or none."""

from __future__ import annotations

import numpy as np


def check_class_weight(class_weight):
    """Returns `class_weight` if it is "balanced", a dict or None; raises naming the choices."""
    if class_weight is None or class_weight == "balanced" or isinstance(class_weight, dict):
        return class_weight
    raise ValueError(
        f"`class_weight` must be 'balanced', a dict or None. Received: class_weight={class_weight!r}"
    )


def resolve_class_weight(class_weight, y):
    """Keras' class_weight dict from "balanced", a dict, or None."""
    if check_class_weight(class_weight) is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2:
        raise ValueError("`class_weight` works for single-label data only; multi-label losses are per label.")
    if class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.unique(y)
        weights = compute_class_weight("balanced", classes=classes, y=y)
        return {int(c): float(w) for c, w in zip(classes, weights)}
    return {int(k): float(v) for k, v in class_weight.items()}
