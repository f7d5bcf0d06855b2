"""A predictor saved by an earlier ktbert loads and predicts as it did when it was saved.

`saves/v0.1-flat-layout` was written by commit 5561eca (the flat layout, before the rooms): a
tiny random encoder trained one epoch on the toy task, temperature 1.3, binary threshold 0.6.
Its probabilities on the texts beside it were saved with it.
"""

import os

import numpy as np

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
