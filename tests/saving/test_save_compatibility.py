"""Predictors saved by earlier ktberts load and predict as they did when they were saved.

`saves/v0.1-flat-layout` was written by commit 5561eca (the flat layout, before the rooms): a
tiny random encoder trained one epoch on the toy task, temperature 1.3, binary threshold 0.6.
`saves/v0.1-rooms-long-texts` was written by commit 2fb39ef (the rooms, before the one text
pipeline), whose preprocessing was Python and whose export rewrote it: head+tail truncation,
all three clean-ups, sliding windows of stride 5, temperature 1.3, binary threshold 0.45. The
probabilities on the texts beside each save (tweets, HTML breaks, blank, accents and emoji,
texts past the character cap and past 64 windows) were saved with it.
"""

import json
import os

import numpy as np
import pytest

import ktbert

SAVES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "saves")


def test_a_save_of_the_flat_layout_loads_with_its_decisions_and_probabilities():
    with open(os.path.join(SAVES, "v0.1-flat-layout.texts.txt"), encoding="utf-8") as f:
        texts = f.read().split("\n")
    predictor = ktbert.load_predictor(os.path.join(SAVES, "v0.1-flat-layout"))
    assert predictor.decision_config() == {"temperature": 1.3, "thresholds": None, "threshold": 0.6}
    proba = predictor.predict(texts, return_proba=True)
    np.testing.assert_allclose(proba, np.load(os.path.join(SAVES, "v0.1-flat-layout.proba.npy")), atol=1e-5)
    assert predictor.predict(texts) == ["pos" if p[1] >= 0.6 else "neg" for p in proba]


def test_a_save_of_the_rooms_with_clean_up_head_tail_and_windows_predicts_as_it_did():
    with open(os.path.join(SAVES, "v0.1-rooms-long-texts.texts.json"), encoding="utf-8") as f:
        texts = json.load(f)
    expected = np.load(os.path.join(SAVES, "v0.1-rooms-long-texts.expected.npz"))
    predictor = ktbert.load_predictor(os.path.join(SAVES, "v0.1-rooms-long-texts"))
    assert predictor.decision_config() == {"temperature": 1.3, "thresholds": None, "threshold": 0.45}
    assert (predictor.long_texts, predictor.window_stride, predictor.preproc.truncation) == ("windows", 5, "head+tail")
    with pytest.warns(UserWarning, match="text 7 needs more than max_windows=64 windows"):
        windows = predictor.predict(texts, return_proba=True)
    np.testing.assert_allclose(windows, expected["windows"], atol=1e-6)
    with pytest.warns(UserWarning, match="text 7 needs more than max_windows=64 windows"):
        assert predictor.predict(texts) == expected["labels"].tolist()
    predictor.long_texts = "truncate"
    np.testing.assert_allclose(predictor.predict(texts, return_proba=True), expected["truncated"], atol=1e-6)

