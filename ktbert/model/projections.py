"""The encoder's other dense products (the attention's query, key, value and output projections,
the feed-forward output), computed as 2-D matrix products.

Keras' `EinsumDense` runs these as `einsum` with the bias added after, and `Dense` on a rank-3
input as `tensordot`: with constant weights (a frozen prediction step, `ktbert.model.frozen`)
the same arithmetic written as a 2-D `matmul` + `bias_add` is one fused oneDNN kernel that
reorders its weights once (AMX `brgemm` where the CPU has it), as `GeluDense` does for the
feed-forward GELU layer.

The attention projections take the 2-D form in training too: TensorFlow differentiates
Keras' einsum into further einsums or batched products, a 2-D product into two plain products
and a `BiasAddGrad`. In float32 whole training epochs ran 1.09x (SST-2) and 1.14x (IMDB)
faster, with no gain on AG News (`docs/benchmarks/without_bf16/training_forms.md`). A plain
`Dense` (the feed-forward output) already trains as a 2-D product (Keras' `matmul` of a
rank-3 input by a matrix is a `tensordot`), so it keeps Keras' path there. LoRA-enabled and
quantized layers keep Keras' own path, and so does any `EinsumDense` whose equation is not
one of the two an encoder block uses.

`use_flat_projections` switches the instances of a built backbone in place (same weights, same
config: saves and exports are unchanged).
"""

from __future__ import annotations

import keras
from keras import ops

from ktbert.model.feedforward import GeluDense, is_gelu
from ktbert.model.int8 import int8_active, int8_product
from ktbert.model.keras_internals import switch_layers

# equation -> how many trailing axes of the input, and of the output, the product joins
_FLAT_EQUATIONS = {
    "abc,cde->abde": (1, 2),  # (batch, width, hidden) -> (batch, width, heads, size): q, k, v
    "abcd,cde->abe": (2, 1),  # (batch, width, heads, size) -> (batch, width, hidden): the output
}


@keras.saving.register_keras_serializable(package="ktbert")
class FlatDense(GeluDense):
    """`keras.layers.Dense` whose inference on inputs of rank 3 or more is one 2-D product
    (`GeluDense`'s computation, for a layer with another activation or none)."""


@keras.saving.register_keras_serializable(package="ktbert")
class FlatEinsumDense(keras.layers.EinsumDense):
    """`keras.layers.EinsumDense` whose training and inference, for the encoder's projection
    equations, are one 2-D product plus the bias."""

    def call(self, inputs, training=None):
        axes = _FLAT_EQUATIONS.get(self.equation)
        if (axes is None or self.lora_enabled or self.quantization_mode is not None
                or self.bias is None or len(inputs.shape) != 3 + axes[0] - 1):
            return super().call(inputs, training=training)
        import tensorflow as tf

        joined_in, _ = axes
        kernel = ops.cast(self.kernel, self.compute_dtype)
        if tuple(self.bias.shape) != tuple(kernel.shape[joined_in:]):  # a bias over other axes
            return super().call(inputs, training=training)
        size_in = 1
        for dim in kernel.shape[:joined_in]:
            size_in *= dim
        x = ops.cast(inputs, self.compute_dtype)
        flat = tf.reshape(x, [-1, size_in])
        if int8_active():  # a frozen step's int8 product (`ktbert.model.int8`)
            y = ops.cast(int8_product(flat, tf.reshape(self.kernel, [size_in, -1]), tf.reshape(self.bias, [-1])),
                         self.compute_dtype)
        else:
            y = tf.matmul(flat, tf.reshape(kernel, [size_in, -1]))
            y = tf.nn.bias_add(y, tf.reshape(ops.cast(self.bias, self.compute_dtype), [-1]))
        if self.activation is not None:
            y = self.activation(y)
        leading = tf.shape(x)[:len(inputs.shape) - joined_in]
        return tf.reshape(y, tf.concat([leading, kernel.shape[joined_in:]], axis=0))


def use_flat_projections(backbone) -> int:
    """Switches every plain `EinsumDense` inside `backbone` to `FlatEinsumDense`, and every
    plain `Dense` without GELU (those have `ktbert.model.feedforward.use_fused_gelu`) to
    `FlatDense`; returns how many."""
    return (switch_layers(backbone, keras.layers.EinsumDense, FlatEinsumDense)
            + switch_layers(backbone, keras.layers.Dense, FlatDense, when=lambda layer: not is_gelu(layer.activation)))
