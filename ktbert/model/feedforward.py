"""The encoder's feed-forward GELU layers, computed as one fused kernel when predicting.

Keras' `Dense` multiplies a (batch, width, features) input through `tensordot` (a reshape, a
matrix product, a reshape back), then adds the bias and applies the activation: TensorFlow's
graph optimizer cannot fuse across the reshape, so GELU's eight element-wise ops run one by one
over the largest activations of the encoder (four times its hidden size). `GeluDense` does the
same arithmetic as a 2-D matrix product, `bias_add` and GELU, the pattern TensorFlow's oneDNN
remapper turns into one fused matmul with the GELU applied as it writes
(docs/benchmarks/fused_gelu.md has what it saves). That fusion is for inference only: a
training step needs GELU's input for its gradient. There, keras-hub's tanh-approximated GELU and
Keras' exact one are applied by `ktbert.model.gelu.compiled_gelu` (one compiled pass each way);
other activations and LoRA-enabled layers keep Keras' own path.
Keras' `quantize` refuses subclasses of `Dense` (a model's `quantize` skips them with a
warning): quantizing these layers needs them switched back to `keras.layers.Dense` first.

keras-hub builds these layers inside its encoder blocks; `use_fused_gelu` switches the
instances of a built backbone to `GeluDense` in place (same weights, same config: saves and
exports are unchanged).
"""

from __future__ import annotations

import keras
from keras import ops

from ktbert.model.gelu import compiled_gelu
from ktbert.model.int8 import int8_gelu_active, int8_product
from ktbert.model.keras_internals import switch_layers


@keras.saving.register_keras_serializable(package="ktbert")
class GeluDense(keras.layers.Dense):
    """`keras.layers.Dense` whose inference on inputs of rank 3 or more is one fusable 2-D
    product (the leading axes flattened, then restored), and whose training applies keras-hub's
    approximate GELU in one compiled pass each way."""

    def call(self, inputs, training=None):
        rank = inputs.shape.rank if hasattr(inputs.shape, "rank") else len(inputs.shape)
        gelu = compiled_gelu(self.activation) if training and not self.lora_enabled else None
        if gelu is not None:
            x = ops.matmul(inputs, self.kernel)  # Keras' Dense, then the activation
            if self.bias is not None:
                x = ops.add(x, self.bias)
            return gelu(x)
        if training or self.bias is None or rank is None or rank < 3 or self.lora_enabled:
            return super().call(inputs, training=training)
        import tensorflow as tf

        x = ops.cast(inputs, self.compute_dtype)
        flat = tf.reshape(x, [-1, self.kernel.shape[0]])
        if is_gelu(self.activation) and int8_gelu_active():  # not the feed-forward output (`ktbert.model.int8`)
            y = ops.cast(int8_product(flat, self.kernel, self.bias, self.activation), self.compute_dtype)
        else:
            y = tf.matmul(flat, ops.cast(self.kernel, self.compute_dtype))
            y = self.activation(tf.nn.bias_add(y, ops.cast(self.bias, self.compute_dtype)))
        return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.units]], axis=0))


def is_gelu(activation) -> bool:
    """Whether `activation` is a GELU (Keras' own, or keras-hub's approximate one), by name."""
    return "gelu" in getattr(activation, "__name__", "")


def use_fused_gelu(backbone) -> int:
    """Switches every plain `Dense` with a GELU activation inside `backbone` to `GeluDense`;
    returns how many."""
    return switch_layers(backbone, keras.layers.Dense, GeluDense, when=lambda layer: is_gelu(layer.activation))
