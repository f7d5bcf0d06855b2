"""ktbert's AdamW: Keras' AdamW math through TensorFlow's fused Adam kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ktbert.model.optimizer import AdamW
from ktbert.train.hyperparameters import make_schedulable, set_momentum, set_weight_decay

START = np.array([[1.0, -2.0], [0.5, 3.0]], "float32")
GRADIENTS = [np.array([[0.5, -1.0], [2.0, 1e-3]], "float32"), np.array([[-0.25, 0.0], [1.5, -2.0]], "float32"),
             np.array([[3.0, 0.1], [-0.5, 0.75]], "float32")]


def run(optimizer, gradients, decay=None, momentum=None):
    """The variable and the optimizer's moments after applying `gradients` one step each, with
    the decay and momentum variables set (as schedules set them) before the second step."""
    variable = keras.Variable(START.copy(), name="kernel")
    optimizer.build([variable])
    holder = type("Model", (), {"optimizer": optimizer, "distribute_strategy": tf.distribute.get_strategy(),
                                "train_function": None})()
    make_schedulable(holder)
    step = tf.function(lambda g: optimizer.apply([g], [variable]))
    for k, gradient in enumerate(gradients):
        if k == 1 and decay is not None:
            set_weight_decay(optimizer, decay)
        if k == 1 and momentum is not None:
            set_momentum(optimizer, momentum)
        step(tf.constant(gradient))
    return variable.numpy(), [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("decay, momentum", [(None, None), (0.05, None), (0.0, 0.8), (0.02, 0.85)])
def test_fused_update_equals_keras_adamw(decay, momentum):
    """The same update up to float32 rounding. The kernel takes the betas as float32 numbers, so
    its `1 - beta_2` is that of 0.99900001 (1.3e-5 away from 0.001, where Keras subtracts in
    Python floats): the reference is given the betas as float32 numbers too."""
    betas = {"beta_1": float(np.float32(0.9)), "beta_2": float(np.float32(0.999))}
    expected = run(keras.optimizers.AdamW(0.1, weight_decay=0.0, **betas), GRADIENTS, decay, momentum)
    got = run(AdamW(0.1, weight_decay=0.0), GRADIENTS, decay, momentum)
    np.testing.assert_allclose(got[0] - START, expected[0] - START, rtol=2e-6)
    for a, b in zip(got[1], expected[1]):  # the step count and the moments
        np.testing.assert_allclose(a, b, rtol=2e-6)
    assert not np.allclose(got[0], run(AdamW(0.1, weight_decay=0.0), GRADIENTS[:1])[0])  # the steps moved it


def test_zero_decay_leaves_weights_as_no_decay():
    """With the decay variable at 0 the decay branch is skipped: the same weights as without any."""
    plain = run(AdamW(0.1, weight_decay=0.0), GRADIENTS)
    assert np.array_equal(run(AdamW(0.1, weight_decay=0.0), GRADIENTS, decay=0.0)[0], plain[0])
    decayed = run(AdamW(0.1, weight_decay=0.0), GRADIENTS, decay=0.5)[0]
    assert np.abs(decayed - plain[0]).max() > 1e-3


def test_repeated_rows_of_a_sparse_gradient_are_summed_before_the_update():
    """An embedding's gradient (`IndexedSlices`, a row per token, repeated tokens repeated) is
    summed per row first, as Adam's math and PyTorch's dense embedding gradients have it."""
    table = np.arange(8, dtype="float32").reshape(4, 2)

    def after(optimizer, gradient):
        variable = keras.Variable(table.copy(), name="embeddings")
        optimizer.build([variable])
        tf.function(lambda: optimizer.apply([gradient], [variable]))()
        return variable.numpy()

    rows = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]), tf.constant([1, 1, 3]),
                            tf.constant([4, 2]))
    got = after(AdamW(0.1, weight_decay=0.0), rows)
    betas = {"beta_1": float(np.float32(0.9)), "beta_2": float(np.float32(0.999))}
    expected = after(keras.optimizers.AdamW(0.1, weight_decay=0.0, **betas), tf.convert_to_tensor(rows))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    summed_apart = after(keras.optimizers.AdamW(0.1, weight_decay=0.0, **betas), rows)  # Keras squares each row
    assert np.abs(summed_apart[1] - got[1]).max() > 1e-3
    assert np.array_equal(got[[0, 2]], table[[0, 2]])  # rows without gradient stay


def test_amsgrad_runs_keras_update():
    expected = run(keras.optimizers.AdamW(0.1, weight_decay=0.0, amsgrad=True), GRADIENTS)
    got = run(AdamW(0.1, weight_decay=0.0, amsgrad=True), GRADIENTS)
    np.testing.assert_array_equal(got[0], expected[0])


def test_config_round_trip_keeps_the_class():
    optimizer = AdamW(3e-5, weight_decay=0.01, beta_1=0.85)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is AdamW
    assert again.get_config() == optimizer.get_config()


def traced_step(optimizer, variables):
    """A traced `optimizer.apply` of one gradient per variable, and its graph's op types."""
    optimizer.build(variables)
    step = tf.function(lambda grads: optimizer.apply(grads, variables))
    grads = [tf.constant(g) for g in GRADIENTS[:len(variables)]]
    graph = step.get_concrete_function(grads).graph
    return step, grads, [op.type for op in graph.get_operations()]


def test_a_traced_step_shares_its_scalars_among_the_variables():
    """The betas' powers, the rate and epsilon are made once per step, not once per variable,
    and every variable still gets its own fused update with Keras' numbers."""
    variables = [keras.Variable(START.copy() * (k + 1), name=f"kernel_{k}") for k in range(3)]
    step, grads, types = traced_step(AdamW(0.1, weight_decay=0.0), variables)
    assert types.count("ResourceApplyAdam") == 3
    assert types.count("Pow") == 2  # beta_1 and beta_2 to the step's power: 6 when made per variable
    step(grads)
    betas = {"beta_1": float(np.float32(0.9)), "beta_2": float(np.float32(0.999))}
    reference = [keras.Variable(START.copy() * (k + 1), name=f"kernel_{k}") for k in range(3)]
    keras_adamw = keras.optimizers.AdamW(0.1, weight_decay=0.0, **betas)
    keras_adamw.build(reference)
    tf.function(lambda g: keras_adamw.apply(g, reference))(grads)
    for got, expected, k in zip(variables, reference, range(3)):
        np.testing.assert_allclose(got.numpy() - START * (k + 1), expected.numpy() - START * (k + 1), rtol=2e-6)


def test_a_new_trace_makes_its_own_scalars():
    """A second traced step (another graph) does not reuse the first one's tensors."""
    variables = [keras.Variable(START.copy(), name="kernel")]
    optimizer = AdamW(0.1, weight_decay=0.0)
    first, grads, _ = traced_step(optimizer, variables)
    first(grads)
    second = tf.function(lambda g: optimizer.apply(g, variables))
    second(grads)  # would fail with tensors of the first graph
    assert int(optimizer.iterations.numpy()) == 2
