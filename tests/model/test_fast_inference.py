"""The encoder's attention, projections and layer norms, switched in place to ktbert's faster
forms: the same outputs and gradients as Keras' layers in float32, in eager, traced, training
and frozen calls, and the layer norm fused with the layer's own epsilon."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from ktbert.model.attention import FastAttention
from ktbert.model.dropout import FastDropout, use_fast_dropout
from ktbert.model.fast_layers import use_fast_layers
from ktbert.model.keras_internals import nested_layers
from ktbert.model.layer_norm import FusableLayerNorm, frozen_norms, fusable_norm, input_scale
from ktbert.model.projections import FlatDense, FlatEinsumDense

LENGTHS = [9, 3, 12, 1]


def tiny_backbone(dropout=0.0):
    """A 3-block BERT whose biases and layer-norm weights are not the initial zeros and ones
    (Grappler folds those away, and they would hide a wrong bias or scale)."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=3, num_heads=2, hidden_dim=16,
                                             intermediate_dim=32, max_sequence_length=32, dropout=dropout,
                                             dtype="float32")
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        if variable.path.endswith(("bias", "beta")):
            variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
        elif variable.path.endswith("gamma"):
            variable.assign(rng.uniform(0.5, 1.5, size=variable.shape).astype("float32"))
    return backbone


def switched(backbone):
    counts = use_fast_layers(backbone)
    return backbone, (counts["gelu"], counts["attention"], counts["projections"], counts["norms"], counts["dropout"])


def inputs(width=12):
    rng = np.random.default_rng(1)
    mask = (np.arange(width)[None, :] < np.array(LENGTHS)[:, None]).astype("int32")
    return {"token_ids": tf.constant(rng.integers(1, 30, size=(len(LENGTHS), width)) * mask, tf.int32),
            "segment_ids": tf.zeros((len(LENGTHS), width), tf.int32), "padding_mask": tf.constant(mask)}


def test_every_attention_projection_and_layer_norm_is_switched_and_the_config_kept():
    backbone = tiny_backbone()
    config = backbone.get_config()
    _, counts = switched(backbone)
    # 3 GELU layers; 3 attention layers; 3 x (q, k, v, output) projections, 3 feed-forward outputs
    # and the pooler; 3 x 2 layer norms and the embeddings'; 3 x 3 dropouts (attention weights,
    # attention output, feed-forward output) and the embeddings'
    assert counts == (3, 3, 16, 7, 10)
    assert switched(backbone)[1] == (0, 0, 0, 0, 0)  # already switched
    assert backbone.get_config() == config  # saves are unchanged
    kinds = {type(layer) for layer in nested_layers(backbone)}
    assert {FastAttention, FlatEinsumDense, FlatDense, FusableLayerNorm, FastDropout} <= kinds
    assert not kinds & {keras.layers.MultiHeadAttention, keras.layers.EinsumDense, keras.layers.LayerNormalization,
                        keras.layers.Dropout}


@pytest.mark.parametrize("traced", [False, True])
def test_inference_equals_keras_layers(traced):
    plain, fast = tiny_backbone(), switched(tiny_backbone())[0]
    def call(model):
        infer = lambda x: model(x, training=False)  # noqa: E731
        return tf.function(infer) if traced else infer

    expected, actual = call(plain)(inputs()), call(fast)(inputs())
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(actual[key].numpy(), expected[key].numpy(), rtol=0, atol=1e-5)


def test_padded_keys_get_no_attention():
    fast = switched(tiny_backbone())[0]
    x = inputs()
    changed = dict(x, token_ids=tf.where(x["padding_mask"] > 0, x["token_ids"], 7))  # other ids where padded
    a, b = fast(x, training=False)["sequence_output"], fast(changed, training=False)["sequence_output"]
    valid = x["padding_mask"].numpy().astype(bool)
    np.testing.assert_allclose(a.numpy()[valid], b.numpy()[valid], rtol=0, atol=1e-6)


def test_training_outputs_and_gradients_equal_keras_layers_dropout_included():
    plain, fast = tiny_backbone(dropout=0.1), switched(tiny_backbone(dropout=0.1))[0]
    assert use_fast_dropout(plain) == 10  # both draw the same masks: the other forms are what is compared
    results = []
    for model in (plain, fast):
        with tf.GradientTape() as tape:
            out = model(inputs(), training=True)["sequence_output"]
            loss = tf.reduce_sum(out * out)
        grads = tape.gradient(loss, model.trainable_variables)  # None for the pooler, unused here
        results.append((out.numpy(), [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]))
    (out_a, grads_a), (out_b, grads_b) = results
    np.testing.assert_allclose(out_b, out_a, rtol=0, atol=1e-5)  # the same dropout masks, drawn in the same order
    assert [g is None for g in grads_b] == [g is None for g in grads_a]
    assert sum(g is not None for g in grads_a) > 30
    for a, b in zip(grads_a, grads_b):
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)


def test_a_frozen_trace_fuses_the_layer_norms_and_equals_keras():
    plain, fast = tiny_backbone(), switched(tiny_backbone())[0]
    weights = [tf.constant(v.numpy()) for v in fast.trainable_variables]

    @tf.function
    def frozen(x):
        with frozen_norms():
            return fast.stateless_call(weights, [v.value for v in fast.non_trainable_variables], x,
                                       training=False)[0]

    np.testing.assert_allclose(frozen(inputs())["sequence_output"].numpy(),
                               plain(inputs(), training=False)["sequence_output"].numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("epsilon", [1e-12, 1e-5, 1e-3])
def test_the_fused_layer_norm_computes_with_the_layers_epsilon(epsilon):
    """TensorFlow 2.21's fused kernel adds 0.001 whatever the graph's epsilon; the input scale
    makes up for it. Inputs with a variance of 1e-4 show an epsilon of 1e-3 plainly."""
    rng = np.random.default_rng(2)
    x = rng.normal(scale=0.01, size=(3, 5, 64)).astype("float32")
    gamma, beta = rng.uniform(0.5, 1.5, 64).astype("float32"), rng.normal(size=64).astype("float32")
    scale = input_scale(epsilon)
    assert scale is not None
    step = tf.function(lambda t: fusable_norm(t, tf.constant(gamma), tf.constant(beta), epsilon, scale))
    x64 = x.astype("float64")
    exact = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + epsilon) * gamma + beta
    np.testing.assert_allclose(step(tf.constant(x)).numpy(), exact, rtol=0, atol=1e-4)


def test_einsum_dense_with_another_equation_keeps_keras_computation():
    layer = keras.layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c")
    x = np.random.default_rng(3).normal(size=(2, 3)).astype("float32")
    expected = layer(x).numpy()
    layer.__class__ = FlatEinsumDense
    np.testing.assert_array_equal(layer(x).numpy(), expected)


@pytest.mark.parametrize("unknown_width", [False, True])
@pytest.mark.parametrize("equation,output_shape,bias_axes,input_shape", [
    ("abc,cde->abde", (None, 2, 4), "de", (3, 5, 8)),  # query, key, value
    ("abcd,cde->abe", (None, 8), "e", (3, 5, 2, 4)),  # the attention's output
])
def test_projections_train_as_2d_products_with_keras_gradients(equation, output_shape, bias_axes, input_shape,
                                                                unknown_width):
    """In training too, the attention projections are one 2-D product and a bias add (no einsum
    forward or backward), with the outputs and gradients of Keras' einsum; also traced with the
    batch and width unknown, as a bucketed training step is."""
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(size=input_shape).astype("float32"))
    plain = keras.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes)
    plain.build(input_shape)
    plain.bias.assign(rng.normal(size=plain.bias.shape).astype("float32"))
    flat = FlatEinsumDense.from_config(plain.get_config())
    flat.build(input_shape)
    flat.set_weights(plain.get_weights())

    signature = [tf.TensorSpec([None, None, *input_shape[2:]], tf.float32)] if unknown_width else None

    def step(layer):
        @tf.function(input_signature=signature)
        def train(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * y)
            return y, tape.gradient(loss, [x, *layer.trainable_variables])
        return train

    train_plain, train_flat = step(plain), step(flat)
    (y_a, grads_a), (y_b, grads_b) = train_plain(x), train_flat(x)
    np.testing.assert_allclose(y_b.numpy(), y_a.numpy(), rtol=0, atol=1e-5)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)
    ops_flat = {op.type for op in train_flat.get_concrete_function(x).graph.get_operations()}
    ops_plain = {op.type for op in train_plain.get_concrete_function(x).graph.get_operations()}
    assert {"Einsum", "BatchMatMulV2"} & ops_plain  # the premise: Keras' einsum is an einsum or batched product
    assert not {"Einsum", "BatchMatMulV2"} & ops_flat and {"MatMul", "BiasAdd", "BiasAddGrad"} <= ops_flat
