"""Holding out validation rows: a stratified split of the labelled rows (scikit-learn's)."""

from __future__ import annotations

import math

import numpy as np

from ktbert.data.labels import EncodedLabels


def split_indices(labels: EncodedLabels, val_pct: float, random_state):
    """Row positions `(train, validation)`, holding out `ceil(n * val_pct)` rows (scikit-learn's count).

    Stratified by class (each class's share kept in both parts) when every class has two or
    more rows and both parts have room for every class; a class whose share of the validation
    rows is under one row may still land in training only.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels.y)
    n_val = math.ceil(n * val_pct)  # at least 1: val_pct > 0
    n_train = n - n_val
    if n_train < 2:
        raise ValueError(
            f"`val_pct={val_pct}` of {n} rows leaves {n_train} training row(s); at least 2 are "
            "needed. Give more rows, a smaller val_pct, or separate validation data."
        )
    stratify = None
    if not labels.multilabel:
        counts = np.bincount(labels.y, minlength=len(labels.class_names))
        if counts.min() >= 2 and min(n_val, n_train) >= len(counts):
            stratify = labels.y
    return train_test_split(np.arange(n), test_size=n_val, random_state=random_state, stratify=stratify)


def subset_labels(labels: EncodedLabels, idx) -> EncodedLabels:
    return EncodedLabels(labels.y[idx], labels.class_names, labels.multilabel)
