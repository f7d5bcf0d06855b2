"""Text vectors from a predictor's fine-tuned encoder, pooled as its classifier pools them.

The vectors come from a model sharing the classifier's layers (`pooled_model`), run by the same
prediction step as `predict` (bucketed batches, rows back in the input order). A text read in
sliding windows (`long_texts="windows"`) gets the mean of its windows' vectors.
"""

from __future__ import annotations

import weakref

import numpy as np

from ktbert.data.prediction import predict_in_order
from ktbert.serve.long_texts import pool_windows

_POOLED = weakref.WeakKeyDictionary()  # classifier -> its pooled model


def pooled_model(model):
    """A Keras model sharing `model`'s layers (a `TextClassifier`) that returns the text vector
    its head reads: the pooled encoder output, before the head's dropout."""
    import keras

    return keras.Model(model.input, model.output_dropout.input, name="pooled")


def embed(predictor, texts) -> np.ndarray:
    """Float32 vectors `(n, hidden)` of `texts` (a list; pairs as `(a, b)` tuples)."""
    model = predictor.model
    if model not in _POOLED:
        _POOLED[model] = pooled_model(model)
    pooled = _POOLED[model]
    if predictor.long_texts != "windows":
        x = predictor.preproc.preprocess(texts, keep_texts=False)
        return np.asarray(predict_in_order(pooled, x, predictor.batch_size, predictor.bucketing), dtype=np.float32)
    windows, owners = predictor.preproc.windows(texts, stride=predictor.window_stride)
    vectors = np.asarray(predict_in_order(pooled, windows, predictor.batch_size, predictor.bucketing),
                         dtype=np.float32)
    return pool_windows(vectors, np.asarray(owners), len(texts), "mean", multilabel=True)  # a plain mean
