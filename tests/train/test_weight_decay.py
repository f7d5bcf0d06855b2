"""Decoupled weight decay: which variables decay, and by how much per step."""

import re

import keras
import numpy as np
import pytest

from helpers import weights_by_path


def decay_only_step(model, lr):
    """One optimizer step with all-zero gradients: Adam moves nothing, only decay acts."""
    opt = model.optimizer
    opt.learning_rate = lr
    opt.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])


@pytest.mark.parametrize("wd", [0.01, 0.3])
def test_weight_decay_skips_biases_layernorm_and_embeddings(learner, wd):
    learner.set_weight_decay(wd)
    assert learner.get_weight_decay() == pytest.approx(wd)
    before = weights_by_path(learner.model)
    decay_only_step(learner.model, 0.1)
    after = weights_by_path(learner.model)
    decayed, kept = [], []
    for path, old in before.items():
        name = path.split("/")[-1]
        if name in ("bias", "gamma", "beta", "embeddings"):
            np.testing.assert_array_equal(after[path], old)
            kept.append(path)
        else:
            np.testing.assert_allclose(after[path], old * (1 - 0.1 * wd), rtol=1e-6)
            decayed.append(path)
    assert any(p.endswith("token_embedding/embeddings") for p in kept)
    assert any("layer_norm" in p and p.endswith("gamma") for p in kept)
    assert "classifier/kernel" in decayed and "classifier/bias" in kept


def test_set_weight_decay_rejects_negative(learner):
    with pytest.raises(ValueError, match=re.escape("`wd` must be a number >= 0. Received: wd=-1")):
        learner.set_weight_decay(-1)
