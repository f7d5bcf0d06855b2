"""Freezing: which encoder blocks and layers train, for ktbert classifiers and other Keras models."""

import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.train.freezing import EMBEDDING_LAYERS, encoder_blocks, set_frozen_blocks
from helpers import weights_by_path


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
    learner.unfreeze(n_top=1)  # only the top transformer layer and the head
    paths = trainable_paths(learner.model)
    assert not any("transformer_layer_0" in p for p in paths)
    assert any("transformer_layer_1" in p for p in paths) and "classifier/kernel" in paths
    learner.fit(1e-3, 1, verbose=0)  # recompiled: trains with the new set


def test_unfreeze_takes_ktrains_exclude_range_and_refuses_a_positional_count(learner):
    learner.freeze()
    learner.unfreeze(exclude_range=1)  # ktrain's call: all but the bottom block (the embeddings) train
    assert [[layer.trainable for layer in block] for block in encoder_blocks(learner.model)] == [[False] * 5, [True],
                                                                                                 [True]]
    assert "classifier/kernel" in trainable_paths(learner.model)
    learner.unfreeze(exclude_range=0)
    assert any("token_embedding" in p for p in trainable_paths(learner.model))
    before = trainable_paths(learner.model)
    with pytest.raises(TypeError) as caught:
        learner.unfreeze(2)
    assert str(caught.value) == (
        "`unfreeze` takes its count by keyword: ktrain's and ktbert's counts point opposite ways. Received: "
        "unfreeze(2). ktrain's `unfreeze(2)` trains all but the bottom 2 blocks: write `unfreeze(exclude_range=2)` "
        "(the same as `freeze(2)`). To train only the top 2 transformer layers and the head, write "
        "`unfreeze(n_top=2)`.")
    assert trainable_paths(learner.model) == before  # refused before anything changed
    with pytest.raises(ValueError, match=re.escape(
            "Give `n_top` (the top layers that train) or `exclude_range` (the bottom blocks that stay frozen), not "
            "both. Received: n_top=1, exclude_range=1")):
        learner.unfreeze(n_top=1, exclude_range=1)


def test_unfreeze_exclude_range_freezes_the_first_layers_of_other_keras_models():
    from ktbert.train.controls import ControlsMixin

    class Host(ControlsMixin):
        def __init__(self):
            self.model = generic_model()
            self.model.compile(optimizer="adam", loss="mse")

    host = Host()
    host.unfreeze(exclude_range=2)  # as ktrain: model.layers[:2] frozen
    assert {layer.name: layer.trainable for layer in host.model.layers} == {
        "a": False, "b": False, "drop": True, "c": True, "act": True}


def test_print_layers(learner, capsys):
    learner.freeze()
    rows = learner.print_layers()
    out = capsys.readouterr().out
    names = [r[0] for r in rows]
    assert "bert_backbone/token_embedding" in names and "classifier" in names
    assert dict((r[0], r[2]) for r in rows)["classifier"] is True
    assert dict((r[0], r[2]) for r in rows)["bert_backbone/transformer_layer_1"] is False
    assert "classifier" in out and "trainable=False" in out


def test_print_layers_shows_ktrains_weight_decay_per_layer(learner, capsys):
    learner.unfreeze()
    learner.set_weight_decay(0.05)
    rows = learner.print_layers(show_wd=True)
    out = capsys.readouterr().out.splitlines()
    decay = {r[0]: r[4] for r in rows}
    assert decay["classifier"] == pytest.approx(0.05)  # its kernel is decayed, its bias is not
    assert decay["bert_backbone/transformer_layer_0"] == pytest.approx(0.05)
    assert decay["bert_backbone/token_embedding"] == 0.0  # embeddings and LayerNorm are never decayed
    assert decay["bert_backbone/embeddings_layer_norm"] == 0.0
    line = {r[0]: text for r, text in zip(rows, out)}
    assert line["classifier"].endswith("wd=0.05") and line["bert_backbone/token_embedding"].endswith("wd=0")
    assert len(learner.print_layers()[0]) == 4  # without show_wd, the rows are as before


@pytest.fixture(scope="module")
def classifier(toy_split):
    trn, _, preproc = toy_split
    return ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)


def block_flags(model):
    return [[layer.trainable for layer in block] for block in encoder_blocks(model)]


def test_encoder_blocks_are_the_embeddings_then_each_transformer_layer(classifier):
    blocks = encoder_blocks(classifier)
    assert len(blocks) == classifier.backbone.num_layers + 1 == 3
    assert sorted(layer.name for layer in blocks[0]) == sorted(EMBEDDING_LAYERS)
    assert [[layer.name for layer in block] for block in blocks[1:]] == [["transformer_layer_0"], ["transformer_layer_1"]]


@pytest.mark.parametrize("n_frozen, trains", [
    (0, [True, True, True]),
    (1, [False, True, True]),
    (2, [False, False, True]),
    (3, [False, False, False]),
    (None, [False, False, False]),  # the whole encoder: the head alone trains
])
def test_set_frozen_blocks_freezes_exactly_the_bottom_blocks(classifier, n_frozen, trains):
    set_frozen_blocks(classifier, n_frozen)
    assert block_flags(classifier) == [[trains[0]] * 5, [trains[1]], [trains[2]]]
    assert classifier.backbone.trainable is True
    assert classifier.backbone.get_layer("pooled_dense").trainable is False  # unused under mean pooling
    assert classifier.get_layer("classifier").trainable is True


def test_cls_pooling_trains_the_pooled_dense_layer(toy_split):
    trn, _, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, pooling="cls", seed=0, verbose=0)
    set_frozen_blocks(model, 2)
    assert block_flags(model) == [[False] * 5, [False], [True]]
    assert model.backbone.get_layer("pooled_dense").trainable is True


@pytest.mark.parametrize("n_frozen", [4, -1])
def test_freezing_more_blocks_than_the_encoder_has_is_refused(classifier, n_frozen):
    with pytest.raises(ValueError, match=re.escape(
        f"the encoder has 3 blocks (embeddings + 2 transformer layers); cannot freeze {n_frozen}."
    )):
        set_frozen_blocks(classifier, n_frozen)


def generic_model():
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, name="a"),
        keras.layers.Dense(4, name="b"),
        keras.layers.Dropout(0.1, name="drop"),
        keras.layers.Dense(2, name="c"),
        keras.layers.Activation("softmax", name="act"),
    ])


@pytest.mark.parametrize("n_frozen, trains", [
    (None, {"a": False, "b": False, "drop": False, "c": True, "act": True}),  # from the last Dense on
    (2, {"a": False, "b": False, "drop": True, "c": True, "act": True}),
    (0, {"a": True, "b": True, "drop": True, "c": True, "act": True}),
])
def test_other_keras_models_freeze_their_first_layers(n_frozen, trains):
    model = generic_model()
    set_frozen_blocks(model, n_frozen)
    assert {layer.name: layer.trainable for layer in model.layers} == trains


def test_freezing_a_model_without_a_dense_layer_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Activation("softmax")])
    with pytest.raises(ValueError, match=re.escape("`freeze()` trains the last Dense layer only, and this model has none.")):
        set_frozen_blocks(model, None)
