"""Temperature and decision thresholds travel with a saved predictor."""

import re

import numpy as np
import pytest

import ktbert
from helpers import sentiment_frame


def test_binary_threshold_and_temperature_survive_save_and_reload(trained_sentiment, tmp_path):
    learner, _, val, preproc = trained_sentiment
    learner.calibrate(verbose=0)
    predictor = ktbert.get_predictor(learner, preproc)
    assert predictor.temperature == learner.temperature != 1.0
    predictor.set_threshold(0.8)
    predictor.save(str(tmp_path / "p"))
    loaded = ktbert.load_predictor(str(tmp_path / "p"))
    assert loaded.decision_config() == {"temperature": learner.temperature, "thresholds": None, "threshold": 0.8}
    texts = val.x.texts
    proba = predictor.predict(texts, return_proba=True)
    assert np.max(np.abs(loaded.predict(texts, return_proba=True) - proba)) <= 1e-6
    assert loaded.predict(texts) == ["pos" if p[1] >= 0.8 else "neg" for p in proba]


def test_multilabel_thresholds_survive_save_and_reload(tiny_encoder, tmp_path):
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative")
    trn, val, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df, maxlen=16,
                                             encoder=tiny_encoder, verbose=0)
    learner = ktbert.get_learner(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), trn, val, batch_size=8)
    learner.fit_onecycle(5e-3, 2, verbose=0)
    thresholds = learner.tune_thresholds()
    assert len(thresholds) == 3 and all(0 < t < 1 for t in thresholds)
    predictor = ktbert.get_predictor(learner, preproc)
    predictor.set_thresholds([0.3, 0.6, 0.45])
    predictor.save(str(tmp_path / "m"))
    loaded = ktbert.Predictor.load(str(tmp_path / "m"))
    assert loaded.thresholds == [0.3, 0.6, 0.45]
    proba = loaded.predict(["good film"], return_proba=True)[0]
    names = loaded.get_classes()
    assert loaded.predict("good film") == [n for n, p, t in zip(names, proba, [0.3, 0.6, 0.45]) if p >= t]
    with pytest.raises(ValueError, match=re.escape("`thresholds` needs one value per label of a multi-label model (3 classes, multilabel=True). Received 2 values.")):
        loaded.set_thresholds([0.5, 0.5])


def test_explain_explains_the_class_predict_answers_under_a_threshold(trained_sentiment):
    learner, _, val, preproc = trained_sentiment
    predictor = ktbert.get_predictor(learner.model, preproc)
    predictor.temperature = 1.0  # uncalibrated: a calibration earlier in this module may saturate p
    proba = predictor.predict(val.x.texts, return_proba=True)[:, 1]
    assert proba.max() < 1.0
    # the least confident "pos" text; a threshold above its p(pos) turns the answer to "neg"
    p_pos, text = min((p, t) for p, t in zip(proba, val.x.texts) if p >= 0.5)
    predictor.set_threshold((float(p_pos) + 1) / 2)
    assert predictor.predict(text) == "neg"
    assert predictor.explain(text).class_name == "neg"
    assert predictor.explain(text, class_name="pos").class_name == "pos"
