"""Dropout from 16 random bits per value (`FastDropout`): the rate exact to 1/65536, kept values
scaled to keep each expectation, seeded masks reproducible, gradients through the same mask,
and Keras' own computation wherever the 16-bit form does not apply."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ktbert.model.dropout import FastDropout, drop_threshold, sixteen_bit_dropout, use_fast_dropout


def fast(rate=0.1, seed=3, **kwargs):
    layer = keras.layers.Dropout(rate, seed=seed, **kwargs)
    assert use_fast_dropout(keras.Sequential([layer])) == 1
    assert type(layer) is FastDropout
    return layer


@pytest.mark.parametrize("shape", [(400, 500), (401, 499), (7,)])  # even last axis, odd, odd size
def test_the_dropped_share_is_the_rate_to_one_in_65536_and_kept_values_keep_the_expectation(shape):
    out = sixteen_bit_dropout(tf.ones(shape), 0.1, tf.constant([1, 2])).numpy()
    assert out.shape == shape
    p = 6554 / 65536
    assert drop_threshold(0.1) == 6554
    assert set(np.unique(out)) <= {0.0, np.float32(1 / (1 - p))}  # kept values scaled by exactly 1 / (1 - p)
    if out.size > 1000:
        dropped = np.mean(out == 0)
        assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / out.size)
        assert abs(out.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / out.size)


def test_the_bits_of_neighbouring_values_are_independent():
    # Two values share one 32-bit draw: their drops must still be independent.
    out = sixteen_bit_dropout(tf.ones((1000, 1000)), 0.5, tf.constant([4, 5])).numpy().reshape(-1, 2) == 0
    both = np.mean(out[:, 0] & out[:, 1])
    assert abs(both - 0.25) < 5 * np.sqrt(0.25 * 0.75 / len(out))


def test_seeded_layers_draw_the_same_masks_and_successive_calls_new_ones():
    x = tf.ones((8, 16, 32), tf.bfloat16)
    a, b = fast(seed=7, dtype="mixed_bfloat16"), fast(seed=7, dtype="mixed_bfloat16")  # as in the encoder
    first_a, first_b = a(x, training=True).numpy(), b(x, training=True).numpy()
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(a(x, training=True).numpy(), first_a)
    assert first_a.dtype == x.dtype.as_numpy_dtype


def test_inference_and_untouched_cases_compute_as_keras_dropout():
    x = tf.random.normal((4, 6, 8), seed=0)
    layer = fast()
    assert layer(x, training=False) is x
    assert np.all(fast(rate=1.0)(x, training=True).numpy() == 0)
    keras_layer = keras.layers.Dropout(0.3, noise_shape=(4, 1, 8), seed=5)
    shaped = fast(rate=0.3, seed=5, noise_shape=(4, 1, 8))
    np.testing.assert_array_equal(shaped(x, training=True).numpy(), keras_layer(x, training=True).numpy())
    assert fast(name="d").get_config() == keras.layers.Dropout(0.1, seed=3, name="d").get_config()


def test_the_gradient_flows_through_the_same_mask_and_scale():
    x = tf.random.normal((16, 64), seed=1)
    layer = fast(rate=0.25)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * 3.0)
    grad = tape.gradient(loss, x).numpy()
    kept = y.numpy() != 0
    np.testing.assert_allclose(grad[kept], 3.0 * 65536 / (65536 - 16384), rtol=1e-6)
    assert np.all(grad[~kept] == 0)


def test_a_traced_call_with_an_unknown_width_drops_as_the_eager_one():
    layer = fast(rate=0.2, seed=11)
    step = tf.function(lambda x: layer(x, training=True),
                       input_signature=[tf.TensorSpec([None, None], tf.float32)])
    out = step(tf.ones((33, 17))).numpy()
    assert out.shape == (33, 17) and 0 < np.mean(out == 0) < 0.5
