"""Class weights for imbalanced data: "balanced" (scikit-learn's rule), a dict, or none."""

from __future__ import annotations

import numpy as np


def resolve_class_weight(class_weight, y):
    """Keras' class_weight dict from "balanced", a dict, or None."""
    if class_weight is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2:
        raise ValueError("`class_weight` works for single-label data only; multi-label losses are per label.")
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"`class_weight` must be 'balanced', a dict or None. Received: {class_weight!r}")
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.unique(y)
        weights = compute_class_weight("balanced", classes=classes, y=y)
        return {int(c): float(w) for c, w in zip(classes, weights)}
    if isinstance(class_weight, dict):
        return {int(k): float(v) for k, v in class_weight.items()}
    raise ValueError(f"`class_weight` must be 'balanced', a dict or None. Received: {class_weight!r}")
