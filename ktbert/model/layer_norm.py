"""The encoder's layer norms, computed as one oneDNN kernel in a frozen prediction step.

Keras' `LayerNormalization` computes a layer norm as seven element-wise ops and two means over
the largest activations but one. TensorFlow's oneDNN remapper replaces one form of that
arithmetic (`x * s + (beta - s * mean)` with `s = rsqrt(var + epsilon) * gamma`, where
`gamma`, `beta` and `epsilon` are constants and the input has rank 2 or 3) by one
`_MklLayerNorm` kernel: 2 ms against 7 ms on 32 x 256 x 384 float32 values. `FusableLayerNorm`
computes that form while `frozen_norms` is on, which `ktbert.model.frozen` turns on while it
traces a step whose layer-norm weights are constants; everywhere else (training, a step that
reads variables) it is Keras' own layer.

The fused kernel in TensorFlow 2.21 ignores the graph's epsilon and adds 0.001. A layer norm is
the same function of `x * k` with epsilon `epsilon * k**2`, so the input is multiplied by
`k = sqrt(0.001 / epsilon)` to get the layer's own epsilon exactly. `input_scale` finds the
epsilon the kernel adds by computing one known layer norm, and checks the result against a
float64 one: where the kernel honours epsilon the scale is 1, and where the check fails the
layer keeps Keras' computation.
"""

from __future__ import annotations

import keras
import numpy as np

from ktbert.model.keras_internals import switch_layers
from ktbert.model.trace_switch import TraceSwitch

_FROZEN = TraceSwitch()  # on while a frozen step is being traced
_SCALES: dict = {}  # epsilon -> the input scale that makes the fused kernel use it, or None


def frozen_norms():
    """While on, `FusableLayerNorm` layers traced in this thread compute the fusable form."""
    return _FROZEN.on()


def fusable_norm(x, gamma, beta, epsilon: float, scale: float = 1.0):
    """A layer norm over the last axis of the float32 tensor `x`, in the form oneDNN's remapper
    fuses when `gamma` and `beta` are constants; `x` is multiplied by `scale` first."""
    import tensorflow as tf

    if scale != 1.0:
        x = x * tf.constant(scale, x.dtype)
    axis = [len(x.shape) - 1]  # the remapper wants the last axis, counted from the front
    mean = tf.reduce_mean(x, axis=axis, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=axis, keepdims=True)
    normalizer = tf.math.rsqrt(variance + tf.constant(epsilon, x.dtype)) * gamma
    return x * normalizer + (beta - normalizer * mean)


def input_scale(epsilon: float):
    """The factor by which a layer norm's input is multiplied so that the fused kernel computes
    it with `epsilon`, or None where that cannot be made exact (then the layer is not fused).
    Measured once per process and epsilon, eagerly."""
    if epsilon not in _SCALES:
        import tensorflow as tf

        with tf.init_scope():
            _SCALES[epsilon] = _measured_scale(float(epsilon))
    return _SCALES[epsilon]


def _measured_scale(epsilon: float):
    import tensorflow as tf

    # gamma and beta other than ones and zeros, which Grappler would fold away before fusing
    width, gamma, beta = 8, 1.5, 0.25
    weights = np.full(width, gamma, np.float32), np.full(width, beta, np.float32)

    def run(x, scale):
        step = tf.function(lambda t: fusable_norm(t, *(tf.constant(w) for w in weights), epsilon, scale))
        return (step(tf.constant(x)).numpy() - beta) / gamma

    a = 0.01  # a tiny variance (a**2), so that the epsilon added shows in the result
    probe = np.tile(np.array([-a, a], np.float32), width // 2)[None, None, :]
    added = a * a * (1.0 / float(run(probe, 1.0)[0, 0, 1]) ** 2 - 1.0)
    scale = 1.0 if added < 10 * epsilon + 1e-9 else float(np.sqrt(added / epsilon))
    check = np.random.default_rng(0).normal(scale=0.05, size=(2, 3, width)).astype(np.float32)
    exact = (check - check.mean(-1, keepdims=True)) / np.sqrt(check.astype(np.float64).var(-1, keepdims=True) + epsilon)
    return scale if np.max(np.abs(run(check, scale) - exact)) < 1e-4 else None


@keras.saving.register_keras_serializable(package="ktbert")
class FusableLayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` that, while `frozen_norms` is on, computes the form
    oneDNN fuses (in float32, as Keras does, cast back to the compute dtype)."""

    def call(self, inputs, training=None):
        rank = len(inputs.shape)
        axes = list(self.axis) if isinstance(self.axis, (list, tuple)) else [self.axis]
        if (training or not _FROZEN.active() or rank not in (2, 3) or not (self.center and self.scale)
                or self.rms_scaling or [a % rank for a in axes] != [rank - 1]):
            return super().call(inputs)
        scale = input_scale(self.epsilon)
        if scale is None:
            return super().call(inputs)
        import tensorflow as tf

        outputs = fusable_norm(tf.cast(inputs, tf.float32), self.gamma, self.beta, self.epsilon, scale)
        return tf.cast(outputs, self.compute_dtype)


def use_fusable_norms(backbone) -> int:
    """Switches every plain `LayerNormalization` inside `backbone` to `FusableLayerNorm`;
    returns how many."""
    return switch_layers(backbone, keras.layers.LayerNormalization, FusableLayerNorm)
