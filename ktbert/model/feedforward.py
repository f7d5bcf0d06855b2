"""The encoder's feed-forward GELU layers, computed as one fused kernel when predicting.

Keras' `Dense` multiplies a (batch, width, features) input through `tensordot` (a reshape, a
matrix product, a reshape back), then adds the bias and applies the activation: TensorFlow's
graph optimizer cannot fuse across the reshape, so GELU's eight element-wise ops run one by one
over the largest activations of the encoder (four times its hidden size). `GeluDense` does the
same arithmetic as a 2-D matrix product, `bias_add` and GELU, the pattern TensorFlow's oneDNN
remapper turns into one fused matmul with the GELU applied as it writes (docs/benchmarks/profile.md
has what it saves). Only in inference: a training step needs GELU's input for its gradient, so
it keeps Keras' own path, and so do LoRA-enabled or quantized layers.

keras-hub builds these layers inside its encoder blocks; `use_fused_gelu` switches the
instances of a built backbone to `GeluDense` in place (same weights, same config: saves and
exports are unchanged).
"""

from __future__ import annotations

import keras
from keras import ops

from ktbert.model.keras_internals import nested_layers


class GeluDense(keras.layers.Dense):
    """`keras.layers.Dense` whose inference on rank-3 inputs is one fusable 2-D product."""

    def call(self, inputs, training=None):
        if (training or self.bias is None or len(inputs.shape) < 3 or self.lora_enabled
                or getattr(self, "quantization_mode", None)):
            return super().call(inputs)
        import tensorflow as tf

        x = ops.cast(inputs, self.compute_dtype)
        flat = tf.reshape(x, [-1, inputs.shape[-1]])
        y = tf.matmul(flat, ops.cast(self.kernel, self.compute_dtype))
        y = self.activation(tf.nn.bias_add(y, ops.cast(self.bias, self.compute_dtype)))
        return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.units]], axis=0))


def is_gelu(activation) -> bool:
    return "gelu" in getattr(activation, "__name__", "")


def use_fused_gelu(backbone) -> int:
    """Switches every plain `Dense` with a GELU activation inside `backbone` to `GeluDense`;
    returns how many."""
    count = 0
    for layer in nested_layers(backbone):
        if type(layer) is keras.layers.Dense and is_gelu(layer.activation):
            layer.__class__ = GeluDense
            count += 1
    return count
