"""Int8 dense products for a frozen prediction step: opt-in (`Predictor(quantize="int8")`),
never the default.

Inside a frozen step (`ktbert.model.frozen`) the encoder's attention projections (query, key,
value, output) and feed-forward GELU layers multiply in 8-bit integers on TensorFlow's oneDNN
kernels (AVX-512 VNNI or AMX where the CPU has them), instead of float32. Both kinds share one
arithmetic:
- the weights, symmetric per matrix: `round(W * 127 / max|W|)`, computed from the graph's
  constants once (the optimizer folds it);
- the activations, per batch and matrix: `round((x - min x) * 255 / (max x - min x))` as
  unsigned 8-bit; the product is corrected for the offset through the bias.
The projections run on the public kernel `QuantizedMatMulWithBiasAndDequantize`. A GELU layer
runs on a kernel that applies the GELU as it writes the product: the public one has no
activation, and GELU after it, one element-wise op at a time over the encoder's largest
activations, took about what int8 saved on those layers. TensorFlow's oneDNN build has that
kernel as the private op `_QuantizedMatMul` (fused ops `BiasAdd`, `GeluApproximate` or
`GeluExact`, `Dequantize`), which no public API names: `_fused_product` builds it in the step's
graph (`ktbert.model.keras_internals.graph_op`), and a probe of its values decides whether it
is used (without it, the public kernel and the GELU after it).
The feed-forward output layers stay float32: their input, GELU's output, has a few channels far
larger than the rest, and quantizing them too changed several times as many labels
(docs/benchmarks/int8_prediction.md, `benchmarks/int8_prediction.py`). The first block's GELU
layer stays float32 too (the first traced: `FLOAT_GELU_LAYERS`): with products kept float a
block, a kind or one product at a time, it was the one whose int8 error moved the most labels;
keeping it float cut the largest probability difference from float by 23-54% and the mean one by
13-27% on the three benchmark sets, for about 3% of the speed on short texts. Activations are
quantized per batch, as PyTorch's dynamic quantization does, so a text's probabilities can
differ slightly with the texts it is batched with.

TensorFlow builds without oneDNN (not x86) lack those kernels: `check_quantize` says so.
"""

from __future__ import annotations

from ktbert.checks import check_choice
from ktbert.model.gelu import compiled_gelu, gelu_approximate, gelu_exact
from ktbert.model.keras_internals import graph_op
from ktbert.model.trace_switch import TraceSwitch

QUANTIZE_MODES = (None, "int8")
FUSED_OP = "_QuantizedMatMul"  # TensorFlow's private oneDNN int8 product with fused ops
_INT8 = TraceSwitch()  # on while a frozen step with int8 products is being traced
FLOAT_GELU_LAYERS = 1  # how many GELU layers, the first traced, stay float (the module docstring)
_KERNEL = {"available": None, "fused": None}


def int8_products():
    """Within this block, layers traced in this thread's frozen step multiply in int8, but for
    the first `FLOAT_GELU_LAYERS` GELU layers traced (`int8_gelu_active`)."""
    return _INT8.on({"float_gelu_left": FLOAT_GELU_LAYERS})


def int8_active() -> bool:
    """Whether an attention projection being traced now, in this thread, multiplies in int8."""
    return _INT8.active()


def int8_gelu_active() -> bool:
    """Whether the feed-forward GELU layer being traced now, in this thread, multiplies in int8;
    asked once per layer call, in the order of the computation: the first `FLOAT_GELU_LAYERS`
    asking within an `int8_products` block are told no (they stay float)."""
    state = _INT8.value()
    if state is None:
        return False
    if state["float_gelu_left"] > 0:
        state["float_gelu_left"] -= 1
        return False
    return True


def int8_product(x, kernel, bias, activation=None):
    """`activation(x @ kernel + bias)` for a 2-D `x`, in 8-bit integers, as float32 (no
    activation when None). A GELU is applied by the product's own kernel where this TensorFlow
    has it (`ktbert.model.int8`), any other activation after it."""
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
    bias = bias + low * column_sums  # the product of the offset `low`, which the levels leave out
    fused = _fused_name(activation)
    if fused is not None and _fused_available():
        return _fused_product(levels, weights, bias, 255.0 * scale, top, fused)
    y = tf.raw_ops.QuantizedMatMulWithBiasAndDequantize(
        a=levels, b=weights, bias=bias, min_a=0.0, max_a=255.0 * scale, min_b=-top, max_b=top,
        min_freezed_output=-1.0, max_freezed_output=1.0, Toutput=tf.float32, input_quant_mode="SCALED")
    return y if activation is None else activation(y)


def _fused_name(activation):
    """oneDNN's name for `activation` if it is a GELU the fused kernel applies, else None."""
    forms = {gelu_approximate: "GeluApproximate", gelu_exact: "GeluExact"}
    return forms.get(compiled_gelu(activation)) if activation is not None else None


def _fused_product(levels, weights, bias, max_a, top, activation: str):
    """TensorFlow's private oneDNN op `_QuantizedMatMul` with `BiasAdd`, `activation` and
    `Dequantize` fused: the same product as the public `QuantizedMatMulWithBiasAndDequantize`
    in SCALED mode, the activation applied as it writes. Built in a graph (a private op has no
    eager wrapper): eagerly, through a one-off `tf.function`."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return tf.function(_fused_product, autograph=False)(levels, weights, bias, max_a, top, activation)
    return graph_op(
        FUSED_OP, name="quantized_matmul", device_inputs=[],
        host_inputs=[levels, weights, bias, tf.constant(0.0), max_a, -top, top],
        Thost_outputs=[tf.float32], Tdevice_outputs=[], T1=tf.quint8, T2=tf.qint8, Tbias=tf.float32,
        Tout=tf.float32, U=tf.float32, fused_ops=["BiasAdd", activation, "Dequantize"],
        input_quant_mode="SCALED", output_quant_mode="SCALED", transpose_a=False, transpose_b=False,
        is_weight_const=True, is_bias_const=False, leakyrelu_alpha=0.2)[0]  # every attribute named; that one unused


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


def _fused_available() -> bool:
    """Whether the fused kernel (`_fused_product`) exists here and applies both GELUs right
    (tried once: inputs 1 and -1 on the 8-bit grids give GELU(1) and GELU(-1), within 1e-4)."""
    if _KERNEL["fused"] is None:
        import tensorflow as tf

        expected = {"GeluApproximate": (0.841192, -0.158808), "GeluExact": (0.841345, -0.158655)}
        try:
            with tf.init_scope():  # eagerly, even when first asked while a step is traced
                levels = tf.raw_ops.Bitcast(input=tf.constant([[255, 0], [0, 255]], tf.uint8), type=tf.quint8)
                weights = tf.raw_ops.Bitcast(input=tf.constant([[127], [0]], tf.int8), type=tf.qint8)
                # levels x 2/255 - 1 is [[1, -1], [-1, 1]]; times [[1], [0]]: [[1], [-1]]
                _KERNEL["fused"] = all(
                    all(abs(float(got) - want) < 1e-4 for got, want in zip(
                        _fused_product(levels, weights, tf.constant([-1.0]), tf.constant(2.0), tf.constant(1.0),
                                       name).numpy()[:, 0], values))
                    for name, values in expected.items())
        except (RuntimeError, ValueError, TypeError, tf.errors.OpError):  # no such op, other attributes, no kernel
            _KERNEL["fused"] = False
    return _KERNEL["fused"]
