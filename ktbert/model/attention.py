"""The encoder's self-attention, computed as batched matrix products with an additive mask.

Keras' `MultiHeadAttention` (which keras-hub's encoder blocks use) computes the scores with
`einsum`, masks them with `where` over a (batch, heads, width, width) mask broadcast from the
padding mask, and applies a Softmax layer: `where` alone reads and writes every score once more,
and the `einsum`s reorder their operands on every call. `FastAttention` computes the same thing
as PyTorch's and ONNX Runtime's BERT do:
- the heads moved ahead of the positions,
- `matmul(q, k^T) * scale + bias`, with the padding mask as a bias of -1e9 (-3e4 in float16)
  on the padded keys (the pattern TensorFlow's oneDNN remapper runs as one fused batched
  product),
- a softmax,
- `matmul(p, v)`, then the heads moved back.

The padded keys get -1e9 added instead of being replaced by -1e9: either way their weight
underflows to exactly 0, so the probabilities agree to float32 rounding (1e-6). Measured on
32 x 256 tokens, 12 heads, bfloat16: 27 ms against 66 ms per layer
(docs/benchmarks/fast_layers.md has the whole-model figures). Dropout on the attention weights
is the layer's own Keras Dropout, applied where Keras applies it, so training draws the same
masks; attention scores asked for, causal masks and attention over other axes keep Keras' own
path.

keras-hub builds these layers inside its encoder blocks; `use_fast_attention` switches the
instances of a built backbone in place (same weights, same config: saves and exports are
unchanged).
"""

from __future__ import annotations

import keras

from ktbert.model.keras_internals import keras_attention, switch_layers

MASKED = {"float16": -3e4}  # added to the scores of padded keys, as Keras' Softmax puts in
MASKED_DEFAULT = -1e9        # their place: float16 holds no -1e9 (it would be -inf, and 0 * -inf NaN)


@keras.saving.register_keras_serializable(package="ktbert")
class FastAttention(keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` whose attention over one axis is two batched matrix
    products around a softmax, with the mask added as a bias."""

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, use_causal_mask=False):
        if (return_attention_scores or use_causal_mask or len(query.shape) != 4
                or tuple(self._attention_axes) != (1,)):
            return keras_attention(self, query, key, value, attention_mask, training, return_attention_scores,
                                   use_causal_mask=use_causal_mask)
        import tensorflow as tf

        heads_first = [0, 2, 1, 3]  # (batch, positions, heads, size) <-> (batch, heads, positions, size)
        q, k, v = (tf.transpose(t, heads_first) for t in (query, key, value))
        scores = tf.matmul(q, k, transpose_b=True) * tf.cast(self._inverse_sqrt_key_dim, q.dtype)
        if attention_mask is not None:
            keep = tf.cast(attention_mask, q.dtype)
            while len(keep.shape) < 4:  # (batch, [queries,] keys) -> (batch, 1, queries or 1, keys)
                keep = tf.expand_dims(keep, axis=1)
            scores = scores + (1.0 - keep) * tf.cast(MASKED.get(q.dtype.name, MASKED_DEFAULT), q.dtype)
        weights = tf.nn.softmax(scores, axis=-1)
        if self._dropout > 0.0:
            weights = self._dropout_layer(weights, training=training)
        return tf.transpose(tf.matmul(weights, v), heads_first), None


def use_fast_attention(backbone) -> int:
    """Switches every plain `MultiHeadAttention` inside `backbone` to `FastAttention`; returns
    how many."""
    return switch_layers(backbone, keras.layers.MultiHeadAttention, FastAttention)
