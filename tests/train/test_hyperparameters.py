"""Optimizer hyperparameters made schedulable: `beta_1` and `weight_decay` as variables that a
traced training step reads, their getters and setters, and the plain-float config."""

import keras
import numpy as np
import pytest

from ktbert.train.hyperparameters import (
    get_momentum,
    get_weight_decay,
    make_schedulable,
    plain_config,
    set_momentum,
    set_weight_decay,
)


def tiny_model(optimizer, run_eagerly=False):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=optimizer, loss="mse", run_eagerly=run_eagerly)
    return model


X = np.ones((4, 2), dtype="float32")
Y = np.zeros((4, 1), dtype="float32")


def test_make_schedulable_turns_beta_1_and_weight_decay_into_variables():
    model = tiny_model(keras.optimizers.AdamW(1e-3, weight_decay=0.02, beta_1=0.85))
    optimizer = model.optimizer
    assert type(optimizer.beta_1) is float and type(optimizer.weight_decay) is float
    make_schedulable(model)
    for name, value in (("beta_1", 0.85), ("weight_decay", 0.02)):
        variable = getattr(optimizer, name)
        assert isinstance(variable, keras.Variable)
        assert not variable.trainable and variable.dtype == "float32"
        assert variable.numpy() == np.float32(value)
    assert get_momentum(optimizer) == pytest.approx(0.85) and get_weight_decay(optimizer) == pytest.approx(0.02)


def test_make_schedulable_gives_an_optimizer_without_weight_decay_a_zero_variable():
    model = tiny_model(keras.optimizers.Adam(1e-3))
    assert model.optimizer.weight_decay is None
    assert get_weight_decay(model.optimizer) == 0.0
    make_schedulable(model)
    assert isinstance(model.optimizer.weight_decay, keras.Variable)
    assert get_weight_decay(model.optimizer) == 0.0


def test_make_schedulable_resets_the_traced_step_only_when_it_changed_something():
    model = tiny_model(keras.optimizers.AdamW(1e-3, weight_decay=0.01))
    model.train_on_batch(X, Y)
    assert model.train_function is not None
    make_schedulable(model)
    assert model.train_function is None  # the traced step held the floats

    model.train_on_batch(X, Y)
    traced = model.train_function
    beta_1, weight_decay = model.optimizer.beta_1, model.optimizer.weight_decay
    make_schedulable(model)  # nothing left to change
    assert model.train_function is traced
    assert model.optimizer.beta_1 is beta_1 and model.optimizer.weight_decay is weight_decay


def test_make_schedulable_leaves_a_callable_beta_1_alone():
    schedule = lambda: 0.9  # noqa: E731
    model = tiny_model(keras.optimizers.Adam(1e-3, beta_1=schedule))
    make_schedulable(model)
    assert model.optimizer.beta_1 is schedule
    assert get_momentum(model.optimizer) is None


def test_sgd_has_no_momentum_to_schedule_but_gets_a_weight_decay_variable():
    model = tiny_model(keras.optimizers.SGD(0.1, momentum=0.9))
    assert get_momentum(model.optimizer) is None
    make_schedulable(model)
    assert not hasattr(model.optimizer, "beta_1")
    assert get_momentum(model.optimizer) is None
    assert isinstance(model.optimizer.weight_decay, keras.Variable)


def test_get_momentum_reads_a_plain_float_before_make_schedulable():
    optimizer = keras.optimizers.Adam(beta_1=0.8)
    value = get_momentum(optimizer)
    assert value == 0.8 and type(value) is float
    assert get_weight_decay(keras.optimizers.AdamW(weight_decay=0.03)) == 0.03


@pytest.mark.parametrize("value", [0.95, 0.85, 0.0])
def test_set_and_get_momentum_round_trip(value):
    model = tiny_model(keras.optimizers.AdamW(1e-3))
    make_schedulable(model)
    set_momentum(model.optimizer, value)
    read = get_momentum(model.optimizer)
    assert type(read) is float and read == float(np.float32(value))


@pytest.mark.parametrize("value", [0.01, 0.3, 0.0])
def test_set_and_get_weight_decay_round_trip(value):
    model = tiny_model(keras.optimizers.AdamW(1e-3))
    make_schedulable(model)
    set_weight_decay(model.optimizer, value)
    read = get_weight_decay(model.optimizer)
    assert type(read) is float and read == float(np.float32(value))


def test_a_weight_decay_set_after_tracing_reaches_the_compiled_step():
    # zero inputs: zero gradients, so SGD's weight decay alone moves the kernel,
    # by kernel * (1 - lr * wd) per step
    model = tiny_model(keras.optimizers.SGD(0.1))
    make_schedulable(model)
    zeros = np.zeros((4, 2), dtype="float32")
    model.train_on_batch(zeros, Y)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), np.ones((2, 1)))
    set_weight_decay(model.optimizer, 0.5)
    model.train_on_batch(zeros, Y)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), np.full((2, 1), 0.95), rtol=1e-6)


def test_a_momentum_set_after_tracing_reaches_the_compiled_step():
    # the same two Adam steps, beta_1 changed between them, traced and eager (which reads
    # every value live): equal, and unlike the run that keeps beta_1
    def two_steps(beta_1, run_eagerly):
        model = tiny_model(keras.optimizers.Adam(0.1, beta_1=0.9), run_eagerly=run_eagerly)
        make_schedulable(model)
        model.train_on_batch(X, Y)
        set_momentum(model.optimizer, beta_1)
        model.train_on_batch(X, Y + 5)
        return model.layers[0].kernel.numpy()

    traced = two_steps(0.5, run_eagerly=False)
    np.testing.assert_allclose(traced, two_steps(0.5, run_eagerly=True), rtol=1e-6)
    assert not np.allclose(traced, two_steps(0.9, run_eagerly=False), rtol=1e-4)


def test_plain_config_gives_floats_and_builds_an_equal_fresh_optimizer():
    model = tiny_model(keras.optimizers.AdamW(2e-3, weight_decay=0.02, beta_1=0.9))
    make_schedulable(model)
    set_momentum(model.optimizer, 0.85)
    set_weight_decay(model.optimizer, 0.05)
    config = plain_config(model.optimizer)
    assert type(config["beta_1"]) is float and type(config["weight_decay"]) is float
    assert config["beta_1"] == float(np.float32(0.85)) and config["weight_decay"] == float(np.float32(0.05))
    assert config["learning_rate"] == pytest.approx(2e-3)
    fresh = keras.optimizers.AdamW.from_config(config)
    assert fresh.beta_1 == config["beta_1"] and fresh.weight_decay == config["weight_decay"]


def test_plain_config_of_an_optimizer_without_beta_1():
    model = tiny_model(keras.optimizers.SGD(0.1, momentum=0.5))
    make_schedulable(model)
    config = plain_config(model.optimizer)
    assert "beta_1" not in config
    assert config["weight_decay"] == 0.0 and type(config["weight_decay"]) is float
    assert config["momentum"] == 0.5
