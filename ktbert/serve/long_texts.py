"""Texts longer than the model reads at once, read whole: the windows' probabilities pooled per text.

`TextPreprocessor.windows` cuts a text into overlapping windows of `maxlen` tokens; the
predictor predicts every window and `pool_windows` makes one row of probabilities per text.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_choice, check_stride

LONG_TEXTS = ("truncate", "windows")
WINDOW_POOLINGS = ("mean", "max")


def check_long_texts(long_texts: str, window_stride, window_pooling: str, maxlen: int) -> tuple:
    """`(long_texts, window_stride, window_pooling)` checked for a preprocessor of `maxlen`."""
    check_choice(long_texts, LONG_TEXTS, "long_texts")
    check_choice(window_pooling, WINDOW_POOLINGS, "window_pooling")
    if window_stride is not None:
        window_stride = check_stride(window_stride, maxlen - 2, "window_stride")
    return long_texts, window_stride, window_pooling


def pool_windows(proba, owners, n_texts: int, pooling: str, multilabel: bool) -> np.ndarray:
    """One row per text from its windows' rows of `proba`: their mean, or their maximum
    (for single-label models renormalised into one distribution again).

    Args:
        proba: float array `(windows, classes)`. each window's raw probabilities.
        owners: int array `(windows,)`. the index of each window's text.
        n_texts: int. the number of texts.
        pooling: str. "mean" or "max".
        multilabel: bool. sigmoid outputs, which are not renormalised.
    """
    pooled = np.zeros((n_texts, proba.shape[1]), dtype=np.float32)
    if pooling == "mean":
        np.add.at(pooled, owners, proba)
        pooled /= np.bincount(owners, minlength=n_texts)[:, None]
    else:
        np.maximum.at(pooled, owners, proba)
        if not multilabel:  # one distribution per text again
            pooled /= pooled.sum(axis=1, keepdims=True)
    return pooled
