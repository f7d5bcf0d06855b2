"""keras-hub's tanh-approximated GELU and Keras' exact one as one compiled pass each way
(`ktbert.model.gelu`): the same values and gradients as Keras' GELUs, and used by the feed-forward
layers when training only."""

import math

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import ktbert.model.feedforward as feedforward
from ktbert.model.feedforward import GeluDense
from ktbert.model.gelu import compiled_gelu, gelu_approximate, gelu_exact, is_gelu_approximate

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


def exact_erf(x):
    """Keras' exact GELU, 0.5 x erfc(-x / sqrt(2)), and its derivative in float64."""
    x = x.astype("float64")
    phi = 0.5 * np.vectorize(math.erfc)(-x / math.sqrt(2))
    return x * phi, phi + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


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


def test_exact_gelu_values_and_gradient_equal_keras_exact_gelu_in_float32():
    x = tf.constant(X.reshape(-1, 8, 4))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = gelu_exact(x), keras.activations.gelu(x)
        scaled_ours, scaled_theirs = tf.reduce_sum(ours * 3.0), tf.reduce_sum(theirs * 3.0)
    values, slopes = exact_erf(x.numpy())
    np.testing.assert_allclose(ours.numpy(), values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    grad_ours, grad_theirs = tape.gradient(scaled_ours, x).numpy(), tape.gradient(scaled_theirs, x).numpy()
    np.testing.assert_allclose(grad_ours, 3.0 * slopes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_ours, grad_theirs, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("gelu", [gelu_approximate, gelu_exact])
def test_bfloat16_gradient_is_the_float32_slope_rounded_once(gelu):
    x = tf.cast(tf.constant(X), tf.bfloat16)
    upstream = tf.cast(tf.constant(np.random.default_rng(1).normal(size=X.shape).astype("float32")), tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = gelu(x)
    grad = tape.gradient(out, x, output_gradients=upstream)
    assert grad.dtype == tf.bfloat16
    x32 = tf.cast(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        out32 = gelu(x32)
    expected = tape.gradient(out32, x32, output_gradients=tf.cast(upstream, tf.float32)).numpy()
    np.testing.assert_array_equal(grad.numpy(), tf.cast(tf.constant(expected), tf.bfloat16).numpy())


def test_bfloat16_is_computed_in_float32_and_rounded_once():
    x = tf.cast(tf.constant(X), tf.bfloat16)
    out = gelu_approximate(x)
    assert out.dtype == tf.bfloat16
    exact = keras_gelu(tf.cast(x, tf.float32)).numpy()
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), exact, rtol=2**-8, atol=1e-6)


def test_exact_bfloat16_is_computed_in_float32_and_rounded_once():
    x = tf.cast(tf.constant(X), tf.bfloat16)
    out = gelu_exact(x)
    assert out.dtype == tf.bfloat16
    rounded = tf.cast(tf.constant(exact_erf(tf.cast(x, tf.float32).numpy())[0].astype("float32")), tf.bfloat16)
    np.testing.assert_array_equal(out.numpy(), rounded.numpy())


def test_only_keras_hubs_approximate_gelu_is_recognized():
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    activations = [layer.activation for layer in backbone._flatten_layers() if isinstance(layer, keras.layers.Dense)]
    assert any(is_gelu_approximate(a) for a in activations)
    assert not is_gelu_approximate(keras.activations.gelu)  # exact GELU keeps Keras' path
    assert not is_gelu_approximate(keras.activations.relu)


def test_each_gelu_gets_its_own_compiled_form_and_other_activations_none():
    assert compiled_gelu(keras.activations.get("gelu")) is gelu_exact
    assert compiled_gelu(keras.activations.gelu) is gelu_exact
    assert compiled_gelu(keras.activations.relu) is None
    assert compiled_gelu(lambda x: keras.activations.gelu(x, approximate=True)) is None  # not recognised: Keras' path
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    assert [compiled_gelu(layer.activation) for layer in backbone._flatten_layers()
            if isinstance(layer, keras.layers.Dense) and compiled_gelu(layer.activation)] == [gelu_approximate]


def recorded(gelu, calls: list):
    """`gelu` recording the shapes it is called on (None stays None: Keras' path)."""
    return None if gelu is None else (lambda x: calls.append((gelu.__name__, tuple(x.shape))) or gelu(x))


@pytest.mark.parametrize("training", [True, False])
def test_the_feed_forward_layer_uses_it_when_training_only_and_computes_as_keras_dense(monkeypatch, training):
    calls = []
    monkeypatch.setattr(feedforward, "compiled_gelu", lambda a: recorded(compiled_gelu(a), calls))
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=8)
    dense = next(layer for layer in backbone._flatten_layers()
                 if isinstance(layer, keras.layers.Dense) and is_gelu_approximate(layer.activation))
    x = tf.random.normal((3, 5, 8), seed=2)
    expected = dense(x).numpy()  # Keras' own Dense
    dense.__class__ = GeluDense
    np.testing.assert_allclose(dense(x, training=training).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert calls == ([("gelu_approximate", (3, 5, 16))] if training else [])


def test_an_exact_gelu_encoders_feed_forward_layer_uses_the_compiled_exact_gelu_when_training(monkeypatch):
    calls = []
    monkeypatch.setattr(feedforward, "compiled_gelu", lambda a: recorded(compiled_gelu(a), calls))
    backbone = keras_hub.models.DistilBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                                   intermediate_dim=16, max_sequence_length=8)
    dense = next(layer for layer in backbone._flatten_layers()
                 if isinstance(layer, keras.layers.Dense) and compiled_gelu(layer.activation) is gelu_exact)
    x = tf.random.normal((3, 5, 8), seed=2)
    expected = dense(x).numpy()
    dense.__class__ = GeluDense
    np.testing.assert_allclose(dense(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert calls == [("gelu_exact", (3, 5, 16))]
