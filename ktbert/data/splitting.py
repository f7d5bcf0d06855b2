"""Holding out validation rows: a stratified split of the labelled rows (scikit-learn's)."""

from __future__ import annotations

import numpy as np

from ktbert.data.labels import EncodedLabels


def split_indices(labels: EncodedLabels, val_pct: float, random_state):
    """Row positions `(train, validation)`, holding out `val_pct` of the rows.

    Stratified by class where every class has two or more rows, so rare classes stay in both.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels.y)
    stratify = None
    if not labels.multilabel:
        counts = np.bincount(labels.y, minlength=len(labels.class_names))
        if counts.min() >= 2 and round(n * val_pct) >= len(counts):
            stratify = labels.y
    if round(n * val_pct) < 1 or n - round(n * val_pct) < 2:
        raise ValueError(
            f"`val_pct={val_pct}` of {n} rows leaves no validation or training data. Give more "
            "rows, a larger val_pct, or a separate validation set."
        )
    return train_test_split(
        np.arange(n), test_size=val_pct, random_state=random_state, stratify=stratify
    )


def subset_labels(labels: EncodedLabels, idx) -> EncodedLabels:
    return EncodedLabels(labels.y[idx], labels.class_names, labels.multilabel)
