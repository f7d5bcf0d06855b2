"""Saving and loading the learner's model (weights and config, not a predictor)."""

import numpy as np
import pytest

import ktbert
from conftest import TINY_VOCAB


def test_save_model_and_load_model(learner, tmp_path):
    folder = str(tmp_path / "model")
    learner.save_model(folder)
    saved = [v.numpy().copy() for v in learner.model.weights]
    learner.fit(1e-2, 1, verbose=0)
    learner.load_model(folder)
    for v, w in zip(learner.model.weights, saved):
        np.testing.assert_array_equal(v.numpy(), w)
    predictor_folder = str(tmp_path / "predictor")
    ktbert.get_predictor(learner.model, _preproc_of(learner)).save(predictor_folder)
    with pytest.raises(ktbert.SaveFormatError, match="is not a ktbert model save: its ktbert.json says format='ktbert-predictor'"):
        learner.load_model(predictor_folder)


def _preproc_of(learner):
    return ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16, class_names=["neg", "pos"])
