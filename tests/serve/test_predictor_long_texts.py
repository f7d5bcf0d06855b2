"""Bucketed prediction keeps the caller's order; long texts read in sliding windows, saved."""

import re

import numpy as np
import pytest

import ktbert
from ktbert.data.batching import model_inputs

MIXED = ["good", "the film was awful and bad and poor and the plot was boring", "great film",
         "the acting was wonderful , the plot was good and i love this movie"] * 5 + ["bad"]
LONG = "the film was good and great . " * 6 + "the plot was awful and bad and poor ."


def test_bucketed_prediction_matches_padded_prediction_row_for_row_whatever_the_batching(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    bucketed = ktbert.get_predictor(learner.model, preproc, batch_size=4)
    padded = ktbert.get_predictor(learner.model, preproc, batch_size=4, bucketing=False)
    a, b = bucketed.predict(MIXED, return_proba=True), padded.predict(MIXED, return_proba=True)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert a[0, 1] > 0.5 > a[1, 1]  # rows are where the caller put them
    assert bucketed.predict(MIXED) == padded.predict(MIXED)
    alone = ktbert.get_predictor(learner.model, preproc, batch_size=1, bucketing=False)  # each text by itself
    np.testing.assert_allclose(alone.predict(MIXED, return_proba=True), a, atol=1e-5)


def test_learner_prediction_and_evaluation_agree_with_and_without_bucketing(trained_sentiment):
    learner, _, val, preproc = trained_sentiment
    x = preproc.preprocess(MIXED)
    data = (x, np.array([1, 0, 1, 1] * 5 + [0]))
    bucketed = learner.predict(data, calibrated=False)
    learner.bucketing = False
    try:
        padded = learner.predict(data, calibrated=False)
        padded_scores = learner.evaluate(data)
    finally:
        learner.bucketing = True
    np.testing.assert_allclose(bucketed, padded, atol=1e-5)
    assert learner.evaluate(data) == pytest.approx(padded_scores, abs=1e-5)


def window_probabilities(learner, preproc, text, stride):
    """Each window's probabilities, predicted one window at a time, padded to maxlen."""
    windows, _ = preproc.windows([text], stride=stride)
    return np.concatenate([learner.model.predict(model_inputs(windows.subset([i])), verbose=0)
                           for i in range(len(windows))])


def test_windows_pool_the_probabilities_of_every_window(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    predictor = ktbert.get_predictor(learner.model, preproc, long_texts="windows", window_stride=7)
    predictor.temperature = 1.0
    per_window = window_probabilities(learner, preproc, LONG, 7)
    assert len(per_window) >= 5
    proba = predictor.predict([LONG, "good film"], return_proba=True)
    np.testing.assert_allclose(proba[0], per_window.mean(axis=0), atol=1e-5)
    truncated = ktbert.get_predictor(learner.model, preproc).predict(["good film"], return_proba=True)
    np.testing.assert_allclose(proba[1], truncated[0], atol=1e-5)  # a short text is one window
    predictor.window_pooling = "max"
    pooled = per_window.max(axis=0)
    np.testing.assert_allclose(predictor.predict(LONG, return_proba=True), pooled / pooled.sum(), atol=1e-5)


def test_window_settings_are_saved_with_the_predictor(trained_sentiment, tmp_path):
    learner, _, _, preproc = trained_sentiment
    predictor = ktbert.get_predictor(learner.model, preproc, long_texts="windows", window_stride=5,
                                     window_pooling="max")
    predictor.save(str(tmp_path / "p"))
    loaded = ktbert.load_predictor(str(tmp_path / "p"))
    assert (loaded.long_texts, loaded.window_stride, loaded.window_pooling) == ("windows", 5, "max")
    np.testing.assert_array_equal(loaded.predict([LONG], return_proba=True), predictor.predict([LONG], return_proba=True))


def test_bad_window_settings_are_refused(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    with pytest.raises(ValueError, match=re.escape(
        "`long_texts` must be one of ['truncate', 'windows']. Received: long_texts='slide'"
    )):
        ktbert.get_predictor(learner.model, preproc, long_texts="slide")
    with pytest.raises(ValueError, match=re.escape(
        "`window_stride` must be at most maxlen - 2 = 14, or windows would skip tokens. Received: window_stride=15"
    )):
        ktbert.get_predictor(learner.model, preproc, long_texts="windows", window_stride=15)


def test_windows_calibrate_and_tune_on_the_pooled_probabilities(trained_sentiment):
    learner, _, val, preproc = trained_sentiment
    predictor = ktbert.get_predictor(learner.model, preproc, long_texts="windows", window_stride=7)
    predictor.temperature = 1.0
    long_val = (preproc.preprocess([LONG, "good film", "awful film " * 9]), np.array([0, 1, 0]))
    proba, _ = predictor._labelled(long_val)
    np.testing.assert_allclose(proba, predictor.predict(long_val[0].texts, return_proba=True), atol=1e-6)
    raw = window_probabilities(learner, preproc, LONG, 7).mean(axis=0, keepdims=True)
    predictor.calibrate(long_val)
    assert predictor.temperature != 1.0
    np.testing.assert_allclose(predictor.predict([LONG], return_proba=True), predictor.decisions.calibrate(raw), atol=1e-5)
    with pytest.raises(ValueError, match=re.escape("`val_data` holds no raw texts, which `long_texts='windows'`")):
        predictor.calibrate((preproc.preprocess(["good"], keep_texts=False), np.array([1])))
