"""Is BERT worth it here? Two baselines on the same split, and a side-by-side table.

- TF-IDF (word 1-2 grams) + logistic regression;
- the encoder's frozen sentence embeddings (masked mean pooling, as all-MiniLM was trained)
  + logistic regression.
Multi-label data gets one logistic regression per label. scikit-learn does the fitting.
"""

from __future__ import annotations

import time

import numpy as np

from ktbert.checks import check_choice
from ktbert.data.prediction import predict_in_order
from ktbert.data.texts import TextData
from ktbert.defaults import BATCH_SIZE
from ktbert.evaluate import metrics
from ktbert.evaluate.decisions import Decisions
from ktbert.model.classifier import sentence_embedder
from ktbert.model.encoders import DEFAULT_ENCODER, load_backbone


def _texts(data, what):
    texts = getattr(data.x, "texts", None)
    if texts is None:
        raise ValueError(f"`{what}` holds no raw texts: load it with a ktbert loader (they keep them).")
    return texts


def _logistic(multilabel: bool, seed: int = 0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    model = LogisticRegression(max_iter=2000, C=10.0, random_state=seed)
    return OneVsRestClassifier(model) if multilabel else model


def _proba(clf, features, n_classes):
    proba = clf.predict_proba(features)
    if proba.shape[1] != n_classes:  # a class missing from the training split
        full = np.zeros((len(proba), n_classes))
        full[:, clf.classes_] = proba
        proba = full
    return proba


def tfidf_logreg(train, val, n_classes: int) -> np.ndarray:
    """Validation probabilities of TF-IDF (1-2 grams, sublinear tf) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(_texts(train, "train_data"))
    clf = _logistic(train.multilabel).fit(features, train.y)
    return _proba(clf, vectorizer.transform(_texts(val, "val_data")), n_classes)


def sentence_embeddings(x, encoder: str = DEFAULT_ENCODER, batch_size: int = BATCH_SIZE, embedder=None) -> np.ndarray:
    """Masked-mean-pooled token vectors of the pretrained (not fine-tuned) encoder.

    Args:
        x: TokenizedTexts. the texts.
        encoder: str. the encoder, loaded when no `embedder` is given.
        batch_size: int. texts per step.
        embedder: keras.Model or None. a `sentence_embedder` already built, to reuse.
    """
    embedder = embedder or sentence_embedder(load_backbone(encoder))
    return predict_in_order(embedder, x, batch_size)


def embedding_logreg(train, val, n_classes: int, encoder: str = DEFAULT_ENCODER) -> np.ndarray:
    """Validation probabilities of frozen sentence embeddings + logistic regression."""
    embedder = sentence_embedder(load_backbone(encoder))
    clf = _logistic(train.multilabel).fit(sentence_embeddings(train.x, embedder=embedder), train.y)
    return _proba(clf, sentence_embeddings(val.x, embedder=embedder), n_classes)


def compare(train_data, val_data, preproc, learner=None, baselines=("tfidf", "embeddings")):
    """Scores the baselines (and the fine-tuned model, if a learner is given) on `val_data`.

    Args:
        train_data, val_data: TextData. the same split the model was trained on.
        preproc: TextPreprocessor. for the class names and the encoder.
        learner: Learner or None. the fine-tuned model, scored with its thresholds.
        baselines: names among "tfidf" and "embeddings".

    Returns:
        pandas.DataFrame, one row per model: accuracy, micro_f1, macro_f1, seconds.

    Examples:
    ```python
    table = ktbert.compare(trn, val, preproc, learner=learner)
    ```
    """
    import pandas as pd

    train, val = TextData(*train_data), TextData(*val_data)
    n = len(preproc.get_classes())
    makers = {
        "tfidf": ("TF-IDF + logistic regression", lambda: tfidf_logreg(train, val, n)),
        "embeddings": ("frozen encoder embeddings + logistic regression",
                       lambda: embedding_logreg(train, val, n, preproc.encoder)),
    }
    for key in baselines:
        check_choice(key, tuple(makers), "baselines")
    rows = []
    plain = Decisions.for_labels(val.y, n)  # the baselines' own rule: most probable class, 0.5 per label
    for key in baselines:
        name, make = makers[key]
        start = time.perf_counter()
        proba = make()
        rows.append({"model": name, **metrics.scores(val.y, proba, plain), "seconds": time.perf_counter() - start})
    if learner is not None:
        start = time.perf_counter()
        proba = learner.predict(val)
        rows.append({"model": "fine-tuned BERT (ktbert)",
                     **metrics.scores(val.y, proba, learner.decisions),
                     "seconds": time.perf_counter() - start})
    return pd.DataFrame(rows).set_index("model")
