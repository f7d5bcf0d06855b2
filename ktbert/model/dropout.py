"""The encoder's dropout, drawn from 16 random bits per value instead of a random float.

Keras' `Dropout` (TensorFlow's `stateless_dropout`) draws one uniform random number per value
in the input's dtype: in a bfloat16 training step of the default encoder on AG News, those
draws took 21-23 ms of a 230-260 ms step (two profiles), most of them over the attention
weights, and a bfloat16 draw costs 1.5x a float32 one. `FastDropout` draws half as many 32-bit random integers,
splits each into two 16-bit ones, and drops a value when its 16 bits fall below
`round(rate * 65536)`: about 2x less time per dropout (docs/benchmarks/training_forms.md has
whole epochs).

The rate is then exact to 1/65536 (0.1 drops with probability 6554/65536 = 0.1000061), and the
kept values are scaled by 1 / (1 - that probability), so each value's expectation is kept
exactly, as Keras' does. The layer's own seed generator supplies the seeds, so seeded runs stay
reproducible; the masks differ from those Keras' layer would draw. Rates of 0 and 1, rates
finer than 1/65536, and `noise_shape` keep Keras' own computation.

keras-hub builds these layers inside its encoder blocks; `use_fast_dropout` switches the
instances of a built backbone in place (same config: saves and exports are unchanged).
"""

from __future__ import annotations

import keras

from ktbert.model.keras_internals import switch_layers

LEVELS = 65536  # values of 16 random bits


def drop_threshold(rate: float) -> int:
    """How many of the 65,536 values of 16 random bits drop a value at `rate`."""
    return round(float(rate) * LEVELS)


def sixteen_bit_dropout(x, rate: float, seed):
    """`x` with each value zeroed with probability `drop_threshold(rate) / 65536` and the
    others scaled by 1 / (1 - that probability); `seed` is a stateless seed (two integers)."""
    import tensorflow as tf

    threshold = drop_threshold(rate)
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)  # as Keras casts its seeds
    shape = tf.shape(x)
    last = x.shape[-1] if len(x.shape) else None
    if last is not None and last % 2 == 0:  # two 16-bit halves per 32 bits along the last axis
        bits = tf.random.stateless_uniform(tf.concat([shape[:-1], [last // 2]], 0), seed, minval=None,
                                           maxval=None, dtype=tf.uint32)
        halves = tf.reshape(tf.bitcast(bits, tf.int16), shape)
    else:
        size = tf.size(x)
        bits = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
        halves = tf.reshape(tf.reshape(tf.bitcast(bits, tf.int16), [-1])[:size], shape)
    keep = halves >= threshold - LEVELS // 2  # the int16 view of 16 uniform bits is uniform on [-32768, 32767]
    scale = tf.cast(LEVELS / (LEVELS - threshold), x.dtype)
    return tf.where(keep, x * scale, tf.zeros([], x.dtype))


@keras.saving.register_keras_serializable(package="ktbert")
class FastDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` whose training masks come from 16 random bits per value."""

    def call(self, inputs, training=False):
        threshold = drop_threshold(self.rate)
        if not training or self.noise_shape is not None or not 0 < threshold < LEVELS:
            return super().call(inputs, training=training)
        return sixteen_bit_dropout(inputs, self.rate, self.seed_generator.next())


def use_fast_dropout(layer) -> int:
    """Switches every plain `Dropout` inside `layer` to `FastDropout`; returns how many."""
    return switch_layers(layer, keras.layers.Dropout, FastDropout)
