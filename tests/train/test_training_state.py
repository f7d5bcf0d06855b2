"""Exact snapshots of a model and its optimizer: after some training, `restore` brings every
variable back bit for bit (weights, moments, step counter, rate, dropout seed)."""

import keras
import numpy as np
import pytest

from ktbert.train.training_state import TrainingState, ensure_optimizer_built


def tiny_model(optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=optimizer or keras.optimizers.AdamW(1e-2, weight_decay=0.01),
                  loss="sparse_categorical_crossentropy")
    return model


X = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0], [0.0, 2.0, 1.0], [1.5, 0.5, 0.5]], dtype="float32")
Y = np.array([0, 1, 1, 0])


def values(model):
    """Every model and optimizer variable's value, keyed by path."""
    return {v.path: np.array(v.numpy(), copy=True)
            for v in list(model.variables) + list(model.optimizer.variables)}


def assert_bit_identical(before, after):
    assert set(before) == set(after)
    for path, value in before.items():
        assert after[path].dtype == value.dtype, path
        assert np.array_equal(after[path], value), path


def test_ensure_optimizer_built_builds_the_slots_of_a_fresh_optimizer():
    model = tiny_model()
    assert not model.optimizer.built
    assert len(model.optimizer.variables) == 2  # the step counter and the rate only
    ensure_optimizer_built(model)
    optimizer = model.optimizer
    assert optimizer.built
    slots = [v for v in optimizer.variables if v.path.endswith(("_momentum", "_velocity"))]
    assert len(slots) == 2 * len(model.trainable_variables) == 8
    assert all(not np.any(v.numpy()) for v in slots)  # zeros before any step
    assert int(optimizer.iterations.numpy()) == 0


def test_ensure_optimizer_built_keeps_a_built_optimizer():
    model = tiny_model()
    model.train_on_batch(X, Y)
    slots = list(model.optimizer.variables)
    moments = [np.array(v.numpy(), copy=True) for v in slots]
    ensure_optimizer_built(model)
    assert [id(v) for v in model.optimizer.variables] == [id(v) for v in slots]
    for v, m in zip(slots, moments):
        assert np.array_equal(v.numpy(), m)


def test_capture_holds_every_model_and_optimizer_variable_once():
    model = tiny_model()
    state = TrainingState.capture(model)
    expected = list(model.variables) + list(model.optimizer.variables)
    assert [id(v) for v in state.variables] == [id(v) for v in expected]
    assert len({id(v) for v in state.variables}) == len(state.variables)
    assert any("seed_generator" in v.path for v in state.variables)
    # host copies, not views of the variables
    assert all(isinstance(a, np.ndarray) for a in state.values)


@pytest.mark.parametrize("trained_before", [False, True], ids=["fresh", "trained"])
def test_restore_after_training_gives_bit_identical_variables(trained_before):
    model = tiny_model()
    if trained_before:
        model.fit(X, Y, batch_size=2, epochs=1, verbose=0)
    state = TrainingState.capture(model)
    before = values(model)

    model.fit(X, Y, batch_size=2, epochs=2, verbose=0)
    model.optimizer.learning_rate.assign(0.5)
    during = values(model)
    changed = {p for p in before if not np.array_equal(before[p], during[p])}
    optimizer, dropout = model.optimizer, model.layers[1]
    must_change = [*model.trainable_variables, optimizer.iterations, optimizer.learning_rate,
                   dropout.seed_generator.state]
    assert {v.path for v in must_change} <= changed
    assert any(p.endswith("_momentum") for p in changed) and any(p.endswith("_velocity") for p in changed)

    state.restore()
    assert_bit_identical(before, values(model))


def test_restore_brings_the_model_back_to_what_it_predicted():
    model = tiny_model()
    state = TrainingState.capture(model)
    predicted = model.predict(X, verbose=0)
    model.fit(X, Y, batch_size=4, epochs=3, verbose=0)
    assert not np.array_equal(model.predict(X, verbose=0), predicted)
    state.restore()
    assert np.array_equal(model.predict(X, verbose=0), predicted)


def test_a_restored_model_trains_on_exactly_as_before():
    model = tiny_model()
    state = TrainingState.capture(model)
    model.fit(X, Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    first = values(model)
    state.restore()
    model.fit(X, Y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert_bit_identical(first, values(model))


def test_restore_can_be_used_in_a_finally():
    model = tiny_model()
    state = TrainingState.capture(model)
    before = values(model)
    with pytest.raises(RuntimeError, match="interrupted"):
        try:
            model.fit(X, Y, batch_size=2, epochs=1, verbose=0)
            raise RuntimeError("interrupted")
        finally:
            state.restore()
    assert_bit_identical(before, values(model))


def test_restore_brings_back_a_schedulable_optimizers_momentum_and_weight_decay():
    from ktbert.train.hyperparameters import make_schedulable

    model = tiny_model()
    make_schedulable(model)
    state = TrainingState.capture(model)
    before = values(model)
    model.optimizer.beta_1.assign(0.5)
    model.optimizer.weight_decay.assign(0.3)
    model.train_on_batch(X, Y)
    state.restore()
    assert_bit_identical(before, values(model))
    assert float(model.optimizer.beta_1.numpy()) == np.float32(0.9)
    assert float(model.optimizer.weight_decay.numpy()) == np.float32(0.01)
