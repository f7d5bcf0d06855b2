"""The encoders' GELUs, as one compiled pass each way in training.

keras-hub's BERT, ALBERT and ELECTRA blocks apply the tanh-approximated GELU,
`keras.activations.gelu(x, approximate=True)`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
DistilBERT, RoBERTa, XLM-RoBERTa and DeBERTaV3 apply the exact one, `keras.activations.gelu`:
`0.5 x erfc(-x / sqrt(2))`. TensorFlow runs either as a chain of element-wise ops over the
encoder's largest activations (four times its hidden size), and its gradient as a dozen more,
each a pass over memory; the exact one in the activation's own dtype (bfloat16 in mixed
precision), rounding after each op.

`gelu_approximate` computes the first as `x / (1 + exp(-2 z))` (z the tanh's argument above), in
one XLA-compiled pass, and its gradient
`s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2)` (s = 1 / (1 + exp(-2 z))) in another,
from the layer's input. On one (16, 48, 1536) bfloat16 activation, an AG News batch's, both
passes took 3.2 ms against Keras' 8.2 ms (docs/benchmarks/training_forms.md has whole epochs).
`gelu_exact` computes the second as `0.5 x erfc(-x / sqrt(2))` and its gradient
`0.5 erfc(-x / sqrt(2)) + x exp(-x^2 / 2) / sqrt(2 pi)`, the same way.
Both compute in float32 whatever the input's dtype and round once to it. On float32 inputs the
values agree with a float64 computation within 1e-6 and the gradients within 1e-5; with
Keras', within 1e-6 and 2e-5 (Keras' float32 gradient of the approximate GELU is 0 where its
tanh rounds to -1).

XLA compiles each pass once per input shape (a bucketed training run has a dozen widths).
`ktbert.model.feedforward.GeluDense` uses them in training steps only (`compiled_gelu`);
prediction keeps TensorFlow's own fused matmul-bias-GELU kernel.
"""

from __future__ import annotations

import functools
import math

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
CUBIC = 0.044715
SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def is_gelu_approximate(activation) -> bool:
    """Whether `activation` is keras-hub's tanh-approximated GELU, by name."""
    return getattr(activation, "__name__", "") == "gelu_approximate"


def is_gelu_exact(activation) -> bool:
    """Whether `activation` is Keras' exact GELU (`"gelu"`, `keras.activations.gelu`)."""
    import keras

    return activation is keras.activations.gelu


def compiled_gelu(activation):
    """The compiled form of `activation` (`gelu_approximate` or `gelu_exact`), or None for
    any other activation."""
    if is_gelu_approximate(activation):
        return gelu_approximate
    if is_gelu_exact(activation):
        return gelu_exact
    return None


def _compiled(value, slope):
    """A function with `value(x)` as its output and `slope(x)` times the upstream gradient as
    its gradient, each one XLA-compiled pass computed in float32 and rounded once to `x`'s dtype."""
    import tensorflow as tf

    @tf.function(jit_compile=True, autograph=False)
    def forward(x):
        return tf.cast(value(tf.cast(x, tf.float32)), x.dtype)

    @tf.function(jit_compile=True, autograph=False)
    def backward(x, upstream):
        return tf.cast(tf.cast(upstream, tf.float32) * slope(tf.cast(x, tf.float32)), x.dtype)

    @tf.custom_gradient
    def function(x):
        return forward(x), lambda upstream: backward(x, upstream)

    return function


@functools.cache
def _passes():
    """The compiled approximate GELU (made on first use: importing TensorFlow)."""
    import tensorflow as tf

    # 0.5 (1 + tanh(z)) is 1 / (1 + exp(-2 z)): the same function, without the cancellation of
    # 1 + tanh(z) for negative z (XLA's tanh, and its sigmoid, which it computes from tanh, are
    # rational approximations off by 1e-5 near -1 and 0).
    def sigmoid(u):
        return tf.math.reciprocal(1.0 + tf.exp(-u))  # exp overflows to inf for u < -88: 1 / inf = 0

    def value(x):
        return x * sigmoid(2.0 * SQRT_2_OVER_PI * x * (1.0 + CUBIC * x * x))

    def slope(x):
        square = x * x
        s = sigmoid(2.0 * SQRT_2_OVER_PI * x * (1.0 + CUBIC * square))
        return s + 2.0 * SQRT_2_OVER_PI * x * s * (1.0 - s) * (1.0 + 3.0 * CUBIC * square)

    return _compiled(value, slope)


def gelu_approximate(x):
    """keras-hub's `gelu_approximate(x)`, forward and gradient each one compiled pass."""
    return _passes()(x)


@functools.cache
def _exact_passes():
    """The compiled exact GELU (made on first use)."""
    import tensorflow as tf

    def value(x):
        return 0.5 * x * tf.math.erfc(-SQRT_HALF * x)

    def slope(x):
        return 0.5 * tf.math.erfc(-SQRT_HALF * x) + INV_SQRT_2PI * x * tf.exp(-0.5 * x * x)

    return _compiled(value, slope)


def gelu_exact(x):
    """Keras' exact `gelu(x)`, forward and gradient each one compiled pass."""
    return _exact_passes()(x)
