"""The feed-forward GELU layers: switched to `GeluDense` in place, computing what Keras' Dense
computes, in eager and traced inference and in training."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import ktbert
from ktbert.model.feedforward import GeluDense, use_fused_gelu
from ktbert.model.keras_internals import nested_layers


def tiny_backbone(num_layers=3, dtype="float32"):
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=num_layers, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=32, dtype=dtype)
    rng = np.random.default_rng(0)
    for variable in backbone.weights:  # biases start at zero: make them count
        if variable.path.endswith("bias"):
            variable.assign(rng.normal(size=variable.shape).astype(variable.dtype))
    return backbone


def test_every_gelu_dense_of_the_encoder_is_switched_and_nothing_else():
    backbone = tiny_backbone(num_layers=3)
    before = {layer.path: type(layer) for layer in nested_layers(backbone)}
    config = backbone.get_config()
    assert use_fused_gelu(backbone) == 3
    after = {layer.path: type(layer) for layer in nested_layers(backbone)}
    switched = sorted(path for path in after if after[path] is not before[path])
    assert switched == [f"transformer_layer_{i}/feedforward_intermediate_dense" for i in range(3)]
    assert all(after[path] is GeluDense for path in switched)
    assert use_fused_gelu(backbone) == 0  # already switched
    assert backbone.get_config() == config  # saves are unchanged


def test_the_classifier_uses_it(toy_split):
    trn, _, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    assert sum(type(layer) is GeluDense for layer in nested_layers(model)) == 2  # the tiny encoder's 2 layers


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_it_computes_what_keras_dense_computes(traced):
    keras.utils.set_random_seed(1)
    plain = keras.layers.Dense(24, activation=lambda t: keras.activations.gelu(t, approximate=True))
    x = np.random.default_rng(0).normal(size=(3, 7, 16)).astype("float32")
    plain.build((None, None, 16))
    plain.bias.assign(np.linspace(-1, 1, 24).astype("float32"))  # biases start at zero: make them count
    expected = plain(x).numpy()
    fused = keras.layers.Dense(24, activation=plain.activation)
    fused.build((None, None, 16))
    fused.set_weights(plain.get_weights())
    fused.__class__ = GeluDense
    run = tf.function(lambda t: fused(t, training=False)) if traced else (lambda t: fused(t, training=False))
    got = np.asarray(run(tf.constant(x)))
    assert got.shape == (3, 7, 24)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(fused(x, training=True)), expected)  # training: Keras' own path


def test_a_mixed_bfloat16_encoder_predicts_within_bfloat16_rounding_of_keras():
    ids = np.random.default_rng(0).integers(1, 30, size=(4, 9))
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": np.ones_like(ids)}
    backbone = tiny_backbone(dtype="mixed_bfloat16")
    run = tf.function(lambda batch: backbone(batch, training=False)["sequence_output"])
    expected = np.asarray(run(inputs), dtype="float32")
    assert use_fused_gelu(backbone) == 3
    run = tf.function(lambda batch: backbone(batch, training=False)["sequence_output"])
    got = np.asarray(run(inputs), dtype="float32")
    np.testing.assert_allclose(got, expected, atol=0.1)
    assert not np.array_equal(got, np.zeros_like(got))


def gelu_dense(units=24, features=16):
    keras.utils.set_random_seed(2)
    layer = keras.layers.Dense(units, activation=lambda t: keras.activations.gelu(t, approximate=True))
    layer.build((None, None, features))
    layer.bias.assign(np.linspace(-1, 1, units).astype("float32"))
    expected = keras.layers.Dense(units, activation=layer.activation)
    expected.build((None, None, features))
    expected.set_weights(layer.get_weights())
    layer.__class__ = GeluDense
    return layer, expected


def test_rank_four_and_an_unknown_last_axis_are_handled():
    layer, expected = gelu_dense()
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 16)).astype("float32")
    np.testing.assert_allclose(np.asarray(tf.function(lambda t: layer(t, training=False))(x)), expected(x).numpy(),
                               atol=1e-5)
    unknown = tf.function(lambda t: layer(t, training=False), input_signature=[tf.TensorSpec([None, None, None])])
    np.testing.assert_allclose(np.asarray(unknown(x[0])), expected(x[0]).numpy(), atol=1e-5)
