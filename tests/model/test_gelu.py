"""keras-hub's tanh-approximated GELU as one compiled pass each way (`ktbert.model.gelu`): the
same values and gradients as Keras' GELU, and used by the feed-forward layers when training only."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import ktbert.model.feedforward as feedforward
from ktbert.model.feedforward import GeluDense
from ktbert.model.gelu import gelu_approximate, is_gelu_approximate

X = np.concatenate([np.linspace(-12, 12, 2400), np.random.default_rng(0).normal(scale=3, size=4000)]).astype("float32")


def keras_gelu(x):
    return keras.activations.gelu(x, approximate=True)


def exact(x):
    """The tanh-approximated GELU and its derivative in float64."""
    x = x.astype("float64")
    z = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)
    t = np.tanh(z)
    slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x * x)
    return 0.5 * x * (1 + t), slope


def test_values_and_gradient_equal_keras_gelu_in_float32():
    x = tf.constant(X.reshape(-1, 8, 4))  # any rank
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = gelu_approximate(x), keras_gelu(x)
        scaled_ours, scaled_theirs = tf.reduce_sum(ours * 3.0), tf.reduce_sum(theirs * 3.0)
    values, slopes = exact(x.numpy())
    np.testing.assert_allclose(ours.numpy(), values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    grad_ours, grad_theirs = tape.gradient(scaled_ours, x).numpy(), tape.gradient(scaled_theirs, x).numpy()
    np.testing.assert_allclose(grad_ours, 3.0 * slopes, rtol=1e-5, atol=1e-6)
    # Keras' float32 gradient is 0 where its tanh rounds to -1 (x < -4.5); the slope there is ~-4e-6.
    np.testing.assert_allclose(grad_ours, grad_theirs, rtol=1e-5, atol=2e-5)


def test_bfloat16_is_computed_in_float32_and_rounded_once():
    x = tf.cast(tf.constant(X), tf.bfloat16)
    out = gelu_approximate(x)
    assert out.dtype == tf.bfloat16
    exact = keras_gelu(tf.cast(x, tf.float32)).numpy()
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), exact, rtol=2**-8, atol=1e-6)


def test_only_keras_hubs_approximate_gelu_is_recognized():
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    activations = [layer.activation for layer in backbone._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert any(is_gelu_approximate(a) for a in activations)
    assert not is_gelu_approximate(keras.activations.gelu)  # exact GELU keeps Keras' path
    assert not is_gelu_approximate(keras.activations.relu)


@pytest.mark.parametrize("training", [True, False])
def test_the_feed_forward_layer_uses_it_when_training_only_and_computes_as_keras_dense(monkeypatch, training):
    calls = []
    monkeypatch.setattr(feedforward, "gelu_approximate", lambda x: calls.append(x.shape) or gelu_approximate(x))
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    dense = next(layer for layer in backbone._flatten_layers()
                 if isinstance(layer, keras.layers.Dense) and is_gelu_approximate(layer.activation))
    x = tf.random.normal((3, 5, 8), seed=2)
    expected = dense(x).numpy()  # Keras' own Dense
    dense.__class__ = GeluDense
    np.testing.assert_allclose(dense(x, training=training).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert calls == ([(3, 5, 16)] if training else [])
