"""Int8 products (`ktbert.model.int8`): the arithmetic, the switch a frozen step traces under,
and the check of the option."""

import platform

import numpy as np
import pytest

from ktbert.model.int8 import check_quantize, int8_active, int8_gelu_active, int8_product, int8_products
from helpers import quantized_products


# TensorFlow has the oneDNN int8 kernel on x86-64 (CI's machines); elsewhere it is refused
needs_kernel = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                  reason="TensorFlow's oneDNN int8 kernel is built for x86-64 only")


def random_factors(seed: int, rows: int, inner: int, units: int, weight_scale: float):
    """A normal input, kernel (times `weight_scale`) and bias, in float32, drawn in that order."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, inner)).astype(np.float32)
    kernel = (rng.normal(size=(inner, units)) * weight_scale).astype(np.float32)
    return x, kernel, rng.normal(size=units).astype(np.float32)


@needs_kernel
def test_a_product_on_the_grids_is_exact():
    # x on a 255-step grid from its minimum to its maximum, the weights on a 127-step grid up to
    # their largest magnitude: 8-bit integers represent both exactly
    rng = np.random.default_rng(0)
    low, scale, top = -1.75, 0.0125, 0.6
    levels = rng.integers(0, 256, size=(6, 40))
    levels[0, 0], levels[0, 1] = 0, 255
    x = (low + scale * levels).astype(np.float32)
    steps = rng.integers(-127, 128, size=(40, 24))
    steps[3, 5] = 127
    kernel = (steps * (top / 127)).astype(np.float32)
    bias = rng.normal(size=24).astype(np.float32)
    expected = x.astype(np.float64) @ kernel.astype(np.float64) + bias
    np.testing.assert_allclose(int8_product(x, kernel, bias).numpy(), expected, rtol=0, atol=2e-5)


@needs_kernel
def test_a_product_off_the_grids_errs_within_half_a_step_of_each_factor():
    x, kernel, bias = random_factors(1, 32, 64, 48, 0.05)
    got = int8_product(x, kernel, bias).numpy()
    exact = x.astype(np.float64) @ kernel + bias
    x_step, w_step = (x.max() - x.min()) / 255, np.abs(kernel).max() / 127
    bound = 0.5 * (x_step * np.abs(kernel).sum(0) + w_step * np.abs(x).sum(1, keepdims=True)
                   + 64 * x_step * w_step)
    assert np.all(np.abs(got - exact) <= bound + 1e-5)
    assert np.abs(got - exact).max() > 1e-4  # it did quantize


@needs_kernel
def test_a_constant_input_is_multiplied_exactly():
    # no activation step at all (its range is empty); weights on their grid
    kernel = (np.array([[127, -40], [12, 63]]) * (2.0 / 127)).astype(np.float32)
    x = np.full((3, 2), 0.75, np.float32)
    got = int8_product(x, kernel, np.array([1.0, -1.0], np.float32)).numpy()
    np.testing.assert_allclose(got, x @ kernel + [1.0, -1.0], rtol=0, atol=1e-6)


def test_the_switch_holds_only_within_its_block_and_its_thread():
    import threading

    seen = []
    assert not int8_active() and not int8_gelu_active()
    with int8_products():
        assert int8_active()
        other = threading.Thread(target=lambda: seen.append((int8_active(), int8_gelu_active())))
        other.start()
        other.join()
    assert not int8_active() and not int8_gelu_active() and seen == [(False, False)]


def test_the_first_gelu_layer_traced_in_a_block_stays_float():
    with int8_products():
        assert [int8_gelu_active() for _ in range(4)] == [False, True, True, True]
        assert int8_active()  # the projections are not counted
    with int8_products():  # a new trace counts again
        assert [int8_gelu_active() for _ in range(2)] == [False, True]


def test_how_many_gelu_layers_stay_float_is_one_setting(monkeypatch):
    import ktbert.model.int8 as int8

    monkeypatch.setattr(int8, "FLOAT_GELU_LAYERS", 0)
    with int8_products():
        assert int8_gelu_active()
    monkeypatch.setattr(int8, "FLOAT_GELU_LAYERS", 2)
    with int8_products():
        assert [int8_gelu_active() for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize("value", ["int4", "INT8", 8, True])
def test_an_unknown_mode_is_refused_by_name(value):
    with pytest.raises(ValueError) as err:
        check_quantize(value)
    assert str(err.value) == (f"`quantize` must be one of [None, 'int8']. Received: quantize={value!r}. "
                              'None predicts in float, "int8" in 8-bit integer products')


def test_the_int8_kernel_is_missing_is_said_plainly(monkeypatch):
    import ktbert.model.int8 as int8_module

    monkeypatch.setitem(int8_module._KERNEL, "available", False)
    with pytest.raises(RuntimeError, match=r"this TensorFlow build lacks"):
        check_quantize("int8")
    assert check_quantize(None) is None


@needs_kernel
def test_tensorflow_here_runs_the_int8_kernel():
    # CI's TensorFlow (x86-64 Linux) has oneDNN: the option works where the suite runs
    assert check_quantize("int8") == "int8"


def gelu_of(name: str):
    import keras

    from ktbert.model.gelu import gelu_approximate

    return gelu_approximate if name == "approximate" else keras.activations.gelu


@needs_kernel
@pytest.mark.parametrize("name, fused", [("approximate", "GeluApproximate"), ("exact", "GeluExact")])
def test_a_gelu_is_applied_by_the_fused_kernel_as_gelu_after_the_product_would(monkeypatch, name, fused):
    import tensorflow as tf

    import ktbert.model.int8 as int8_module

    activation = gelu_of(name)
    x, kernel, bias = random_factors(2, 16, 32, 40, 0.1)
    # the probe runs while a step is traced, as in a predictor's first call: CI's TensorFlow passes it
    monkeypatch.setitem(int8_module._KERNEL, "fused", None)
    step = tf.function(lambda: int8_product(x, kernel, bias, activation))
    assert quantized_products(step) == [("_QuantizedMatMul", f"BiasAdd+{fused}+Dequantize")]
    assert int8_module._KERNEL["fused"] is True
    got = step().numpy()
    after = np.asarray(activation(int8_product(x, kernel, bias)))  # the public kernel, then the GELU
    np.testing.assert_allclose(got, after, rtol=0, atol=1e-5)
    exact = np.asarray(activation(x.astype(np.float64) @ kernel + bias))
    assert 1e-4 < np.abs(got - exact).max() < 0.05  # quantized, within int8's error


@needs_kernel
def test_an_activation_the_kernel_does_not_fuse_is_applied_after_the_product():
    import keras
    import tensorflow as tf

    x, kernel, bias = random_factors(3, 8, 16, 12, 0.2)
    step = tf.function(lambda: int8_product(x, kernel, bias, keras.activations.relu))
    assert quantized_products(step) == [("QuantizedMatMulWithBiasAndDequantize", "")]
    np.testing.assert_array_equal(step().numpy(), np.maximum(int8_product(x, kernel, bias).numpy(), 0))


def test_a_tensorflow_without_the_fused_op_is_probed_once_and_refused(monkeypatch):
    import ktbert.model.int8 as int8_module

    monkeypatch.setattr(int8_module, "FUSED_OP", "_NoSuchOp")  # TensorFlow says "Unrecognized Op name"
    monkeypatch.setitem(int8_module._KERNEL, "fused", None)
    assert int8_module._fused_available() is False

    def asked_again(*args):
        raise AssertionError("the probe ran twice")

    monkeypatch.setattr(int8_module, "_fused_product", asked_again)
    assert int8_module._fused_available() is False


@needs_kernel
def test_without_the_fused_op_a_gelu_layer_runs_the_public_kernel_then_the_gelu(monkeypatch):
    import tensorflow as tf

    import ktbert.model.int8 as int8_module

    monkeypatch.setattr(int8_module, "FUSED_OP", "_NoSuchOp")
    monkeypatch.setitem(int8_module._KERNEL, "fused", None)
    activation = gelu_of("approximate")
    x = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    kernel = np.array([[0.3, -0.2], [0.1, 0.4]], np.float32)
    step = tf.function(lambda: int8_product(x, kernel, np.zeros(2, np.float32), activation))
    assert quantized_products(step) == [("QuantizedMatMulWithBiasAndDequantize", "")]
    np.testing.assert_allclose(step().numpy(), np.asarray(activation(int8_product(x, kernel, np.zeros(2, np.float32)))),
                               rtol=0, atol=1e-6)
