"""Freezing: which encoder blocks and layers train, for ktbert classifiers and other Keras models."""

import numpy as np

from conftest import weights_by_path


def trainable_paths(model):
    return {v.path for v in model.trainable_variables}


def test_freeze_trains_only_the_head_and_unfreeze_restores(learner):
    learner.freeze()
    assert trainable_paths(learner.model) == {"classifier/kernel", "classifier/bias"}
    before = weights_by_path(learner.model)
    frozen_before = {v.path: v.numpy().copy() for v in learner.model.non_trainable_weights}
    assert any("token_embedding" in p for p in frozen_before)
    learner.fit(1e-2, 1, verbose=0)
    for v in learner.model.non_trainable_weights:
        np.testing.assert_array_equal(v.numpy(), frozen_before[v.path])
    assert not np.array_equal(learner.model.get_layer("classifier").kernel.numpy(), before["classifier/kernel"])
    learner.unfreeze()
    paths = trainable_paths(learner.model)
    assert any("token_embedding" in p for p in paths) and any("transformer_layer_0" in p for p in paths)
    assert not any("pooled_dense" in p for p in paths)  # unused under mean pooling


def test_freeze_bottom_blocks_and_unfreeze_top_layers(learner):
    learner.freeze(1)  # embeddings frozen, both transformer layers train
    paths = trainable_paths(learner.model)
    assert not any("embedding" in p for p in paths)
    assert any("transformer_layer_0" in p for p in paths) and any("transformer_layer_1" in p for p in paths)
    learner.unfreeze(1)  # only the top transformer layer and the head
    paths = trainable_paths(learner.model)
    assert not any("transformer_layer_0" in p for p in paths)
    assert any("transformer_layer_1" in p for p in paths) and "classifier/kernel" in paths
    learner.fit(1e-3, 1, verbose=0)  # recompiled: trains with the new set


def test_print_layers(learner, capsys):
    learner.freeze()
    rows = learner.print_layers()
    out = capsys.readouterr().out
    names = [r[0] for r in rows]
    assert "bert_backbone/token_embedding" in names and "classifier" in names
    assert dict((r[0], r[2]) for r in rows)["classifier"] is True
    assert dict((r[0], r[2]) for r in rows)["bert_backbone/transformer_layer_1"] is False
    assert "classifier" in out and "trainable=False" in out

