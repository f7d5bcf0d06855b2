"""The safetensors weights file: every variable round-trips bit for bit; another model's weights are refused."""

import re

import keras
import numpy as np
import pytest

from ktbert.saving.manifest import SaveFormatError
from ktbert.saving.weights_file import load_weights, save_weights


def model(hidden=3, layers=2, seed=0):
    keras.utils.set_random_seed(seed)
    stack = [keras.layers.Dense(hidden, name=f"hidden_{i}") for i in range(layers - 1)]
    net = keras.Sequential([keras.Input((4,)), *stack, keras.layers.Dense(2, name="out")], name="net")
    net.layers[-1].bias.assign(np.arange(2, dtype="float32") + seed)  # biases start at zero: make them differ
    return net


def test_weights_round_trip_bit_for_bit(tmp_path):
    path = str(tmp_path / "w.safetensors")
    source, target = model(seed=0), model(seed=1)
    assert not np.array_equal(source.weights[0].numpy(), target.weights[0].numpy())
    save_weights(source, path)
    load_weights(target, path)
    for a, b in zip(source.weights, target.weights):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_of_another_model_are_refused(tmp_path):
    path = str(tmp_path / "w.safetensors")
    save_weights(model(layers=2), path)
    deeper = model(layers=3)
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{path!r} holds 4 weight tensors but the model has 6: the file belongs to another model."
    )):
        load_weights(deeper, path)
    wider = model(hidden=5)
    before = [v.numpy().copy() for v in wider.weights]
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{path!r}: weight net/hidden_0/kernel has shape (4, 3) in the file but (4, 5) in the model: "
        "the file belongs to another model."
    )):
        load_weights(wider, path)
    for v, w in zip(wider.weights, before):  # checked before anything is assigned
        np.testing.assert_array_equal(v.numpy(), w)


class Scalar:
    """What `save_weights` and `load_weights` use of a Keras variable, for a float32 scalar
    (10,001 real variables take ten seconds to create)."""

    dtype, shape = "float32", ()

    def __init__(self, path, value):
        self.path, self.value = path, np.float32(value)

    def numpy(self):
        return np.asarray(self.value)

    def assign(self, value):
        assert np.shape(value) == self.shape
        self.value = np.float32(value)


class ManyScalars:
    def __init__(self, count, offset=0.0):
        self.weights = [Scalar(f"many/w{i}", i + offset) for i in range(count)]


def test_weights_past_9999_tensors_are_matched_in_variable_order(tmp_path):
    # Keys run "0000".."9999", "10000": as text "10000" sorts before "1001", so a load that sorted
    # the keys would put tensor 10000 into variable 1001.
    path = str(tmp_path / "w.safetensors")
    save_weights(ManyScalars(10_001), path)
    target = ManyScalars(10_001, offset=0.5)
    load_weights(target, path)
    np.testing.assert_array_equal([v.value for v in target.weights], np.arange(10_001, dtype="float32"))


def test_a_scalar_weight_keeps_its_shape(tmp_path):
    path = str(tmp_path / "w.safetensors")
    source = keras.Variable(np.float32(2.5), name="temperature")
    target = keras.Variable(np.float32(1.0), name="temperature")
    save_weights(type("Model", (), {"weights": [source]}), path)
    load_weights(type("Model", (), {"weights": [target]}), path)
    assert target.numpy() == 2.5 and target.shape == ()


class Recorded:
    """A float32 variable that logs each assignment into `log`."""

    dtype = "float32"

    def __init__(self, variable, log):
        self.path, self.shape, self.log, self.variable = variable.path, variable.shape, log, variable

    def assign(self, value):
        self.log.append(("assign", self.path))
        self.variable.assign(value)


class LoggingFile:
    """safetensors' reader, logging each tensor read and failing at read number `fail_at`."""

    def __init__(self, inner, log, fail_at=None):
        self.inner, self.log, self.fail_at = inner, log, fail_at

    def __enter__(self):
        self.inner.__enter__()
        return self

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)

    def get_tensor(self, key):
        self.log.append(("read", key))
        if self.fail_at is not None and sum(op == "read" for op, _ in self.log) == self.fail_at:
            raise OSError("Input/output error")
        return self.inner.get_tensor(key)


class Weights:
    def __init__(self, net, log):
        self.weights = [Recorded(v, log) for v in net.weights]


def reading_with_log(monkeypatch, log, fail_at=None):
    from ktbert.saving import weights_file

    real = weights_file.safe_open
    monkeypatch.setattr(weights_file, "safe_open", lambda *a, **k: LoggingFile(real(*a, **k), log, fail_at))


def test_weights_are_read_and_assigned_one_tensor_at_a_time(tmp_path, monkeypatch):
    # A load never holds a second copy of the whole model: each tensor is assigned before the next is read.
    path = str(tmp_path / "w.safetensors")
    save_weights(model(layers=3, seed=0), path)
    log = []
    reading_with_log(monkeypatch, log)
    target = model(layers=3, seed=1)
    load_weights(Weights(target, log), path)
    assert [op for op, _ in log] == ["read", "assign"] * 6
    assert [name for op, name in log if op == "assign"] == [v.path for v in target.weights]
    for a, b in zip(model(layers=3, seed=0).weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_read_error_part_way_says_how_many_weights_were_loaded(tmp_path, monkeypatch):
    path = str(tmp_path / "w.safetensors")
    save_weights(model(layers=3), path)
    log = []
    reading_with_log(monkeypatch, log, fail_at=3)
    target, saved = model(layers=3, seed=1), model(layers=3, seed=0)
    before = [v.numpy().copy() for v in target.weights]
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{path!r} could not be read as safetensors (Input/output error); the model now holds 2 of its 6 "
        "weights from this file and the rest from before: do not use it until a load succeeds (load another "
        "checkpoint or saved model). If the file is damaged, save the model again."
    )):
        load_weights(Weights(target, log), path)
    for i, variable in enumerate(target.weights):
        np.testing.assert_array_equal(variable.numpy(), saved.weights[i].numpy() if i < 2 else before[i])
    log.clear()
    reading_with_log(monkeypatch, log, fail_at=1)
    target = model(layers=3, seed=1)
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{path!r} could not be read as safetensors (Input/output error); no weight was changed. If the "
        "file is damaged, save the model again."
    )):
        load_weights(Weights(target, log), path)
    for variable, value in zip(target.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)
