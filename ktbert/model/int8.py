"""Int8 dense products for a frozen prediction step: opt-in (`Predictor(quantize="int8")`),
never the default.

Inside a frozen step (`ktbert.model.frozen`) the encoder's attention projections (query, key,
value, output) and feed-forward GELU layers multiply in 8-bit integers with TensorFlow's
oneDNN kernel `QuantizedMatMulWithBiasAndDequantize` (AVX-512 VNNI or AMX where the CPU has
them), instead of float32:
- the weights, symmetric per matrix: `round(W * 127 / max|W|)`, computed from the graph's
  constants once (the optimizer folds it);
- the activations, per batch and matrix: `round((x - min x) * 255 / (max x - min x))` as
  unsigned 8-bit; the product is corrected for the offset through the bias.
The feed-forward output layers stay float32: their input, GELU's output, has a few channels
far larger than the rest, and quantizing them too changed several times as many labels
(docs/benchmarks/int8_prediction.md, `benchmarks/int8_prediction.py`). Activations are
quantized per batch, as PyTorch's dynamic quantization does, so a text's probabilities can
differ slightly with the texts it is batched with.

TensorFlow builds without oneDNN (not x86) lack that kernel: `check_quantize` says so.
"""

from __future__ import annotations

from ktbert.checks import check_choice
from ktbert.model.trace_switch import TraceSwitch

QUANTIZE_MODES = (None, "int8")
_INT8 = TraceSwitch()  # on while a frozen step with int8 products is being traced
_KERNEL = {"available": None}


def int8_products():
    """Within this block, layers traced in this thread's frozen step multiply in int8."""
    return _INT8.on()


def int8_active() -> bool:
    """Whether a layer being traced now, in this thread, computes its dense product in int8."""
    return _INT8.active()


def int8_product(x, kernel, bias):
    """`x @ kernel + bias` for a 2-D `x`, in 8-bit integers, as float32."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    kernel, bias = tf.cast(kernel, tf.float32), tf.cast(bias, tf.float32)
    top = tf.maximum(tf.reduce_max(tf.abs(kernel)), 1e-30)
    steps = tf.round(kernel * (127.0 / top))
    weights = tf.raw_ops.Bitcast(input=tf.cast(steps, tf.int8), type=tf.qint8)
    column_sums = tf.reduce_sum(steps, axis=0) * (top / 127.0)
    low, high = tf.reduce_min(x), tf.reduce_max(x)
    scale = tf.where(high > low, (high - low) / 255.0, 1.0)
    levels = tf.raw_ops.Bitcast(input=tf.cast(tf.round((x - low) * (1.0 / scale)), tf.uint8), type=tf.quint8)
    return tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
        a=levels, b=weights, bias=bias + low * column_sums, min_a=0.0, max_a=255.0 * scale, min_b=-top, max_b=top,
        min_freezed_output=-1.0, max_freezed_output=1.0, Toutput=tf.float32, input_quant_mode="SCALED")


def check_quantize(quantize):
    """`quantize` if it is None (float) or "int8" and this TensorFlow can run int8 products."""
    check_choice(quantize, QUANTIZE_MODES, "quantize", 'None predicts in float, "int8" in 8-bit integer products')
    if quantize == "int8" and not _kernel_available():
        raise RuntimeError(
            'quantize="int8" needs TensorFlow\'s oneDNN int8 matrix product '
            "(QuantizedMatMulWithBiasAndDequantize), which this TensorFlow build lacks (it comes with "
            "TensorFlow for x86-64 Linux and Windows): predict without `quantize`.")
    return quantize


def _kernel_available() -> bool:
    """Whether the int8 product runs here and is right (tried once: [0, 1] times [1, 1] is 1,
    exactly, the input's and the weights' 8-bit grids holding every value)."""
    if _KERNEL["available"] is None:
        import tensorflow as tf

        try:
            value = int8_product(tf.constant([[0.0, 1.0]]), tf.constant([[1.0], [1.0]]), tf.zeros((1,)))
            _KERNEL["available"] = abs(float(value[0, 0]) - 1.0) < 1e-4
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            _KERNEL["available"] = False
    return _KERNEL["available"]
