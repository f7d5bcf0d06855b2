"""A predictor with `quantize="int8"` (`ktbert.model.int8`): where its frozen step multiplies in
int8, how far it moves the probabilities, and how `ktbert predict` and `ktbert serve` take it."""

import platform
import re

import numpy as np
import pytest

import ktbert
from ktbert.cli import main
from ktbert.data.prediction import _PREDICT_STEPS, _predict_step, predict_in_order
from ktbert.model.feedforward import GeluDense, is_gelu
from ktbert.model.keras_internals import nested_layers
from ktbert.model.projections import FlatEinsumDense
from helpers import graph_nodes, quantized_products

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="TensorFlow's oneDNN int8 kernel is built for x86-64 only")
TEXTS = ["the film was wonderful and great", "awful plot", "the acting was poor", "great", "a dull, long film"]


def int8_layers(model) -> int:
    """The layers a frozen int8 step computes in int8: attention projections and GELU layers."""
    return sum(isinstance(layer, FlatEinsumDense) or (type(layer) is GeluDense and is_gelu(layer.activation))
               for layer in nested_layers(model))


def quantized_ops(step) -> dict:
    """How many of the step's graph nodes are int8 products: the public kernel, and the private
    one with the GELU fused (by its fused ops)."""
    counts = {}
    for op, fused in quantized_products(step):
        key = {"QuantizedMatMulWithBiasAndDequantize": op, "_QuantizedMatMul": fused}.get(op)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_loaded_int8_predictor_quantizes_every_projection_and_gelu_layer_but_the_first_and_agrees(sources):
    folder = str(sources["A"])
    floats = ktbert.Predictor.load(folder, batch_size=2)
    floats.warm_up()
    int8 = ktbert.Predictor.load(folder, batch_size=2, quantize="int8")
    assert int8.quantize == "int8" and floats.quantize is None
    expected = floats.predict(TEXTS, return_proba=True)
    got = int8.predict(TEXTS, return_proba=True)
    assert np.abs(got - expected).max() < 0.02
    assert 0 < np.abs(got - expected).max()  # computed otherwise, from the first call on
    assert sorted(_PREDICT_STEPS[int8.model], key=str) == [(False, 1, True)]
    count = int8_layers(int8.model)
    assert count == 5 * 2  # int8's candidates, per block: query, key, value, output and the GELU layer
    # the projections by the public kernel; the tiny BERT's GELU layers (keras-hub's approximate
    # GELU) by the kernel that applies it as it writes, but the first block's, which stays float
    step = _predict_step(int8.model, frozen=True, int8=True)
    assert quantized_ops(step) == {"QuantizedMatMulWithBiasAndDequantize": 4 * 2,
                                   "BiasAdd+GeluApproximate+Dequantize": 1}
    gelu_products = sorted((re.search(r"transformer_layer_(\d+)", node.name).group(1), node.op)
                           for node in graph_nodes(step)
                           if "feedforward_intermediate_dense" in node.name and "MatMul" in node.op)
    assert gelu_products == [("0", "MatMul"), ("1", "_QuantizedMatMul")]
    assert quantized_ops(_predict_step(floats.model, frozen=True)) == {}
    # rows in the input order: reversed texts (of distinct lengths) make the same batches
    np.testing.assert_allclose(int8.predict(TEXTS[::-1], return_proba=True), got[::-1], rtol=0, atol=1e-6)
    # a text's activations are quantized with its batch's range: alone, it moves within int8's error
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(int8.predict(text, return_proba=True), got[i], rtol=0, atol=0.02)


def test_int8_needs_frozen_weights_and_a_model_nothing_trains(sources):
    message = ('quantize="int8" predicts from the weights frozen into the prediction step: it needs '
               "`freeze_weights=True`, for a model nothing trains any more (`Predictor.load` sets it). "
               "Received: freeze_weights=False")
    with pytest.raises(ValueError) as err:
        ktbert.Predictor.load(str(sources["A"]), quantize="int8", freeze_weights=False)
    assert str(err.value) == message
    loaded = ktbert.Predictor.load(str(sources["A"]))
    with pytest.raises(ValueError) as err:
        ktbert.get_predictor(loaded.model, loaded.preproc, quantize="int8")
    assert str(err.value) == message
    training = ktbert.get_predictor(loaded.model, loaded.preproc, freeze_weights=True, quantize="int8")
    loaded.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    compiled = ('quantize="int8" predicts from a snapshot of the weights, and this model is compiled for training, '
                'so they may still change: save the predictor and load it with '
                '`ktbert.Predictor.load(folder, quantize="int8")`.')
    with pytest.raises(ValueError) as err:  # compiled after the predictor was made: told at the call
        training.predict(TEXTS)
    assert str(err.value) == compiled
    with pytest.raises(ValueError) as err:  # compiled before: told when it is made
        ktbert.get_predictor(loaded.model, loaded.preproc, freeze_weights=True, quantize="int8")
    assert str(err.value) == compiled


def test_predict_in_order_refuses_int8_without_a_frozen_step(sources):
    loaded = ktbert.Predictor.load(str(sources["A"]))
    x = loaded.preproc.preprocess(TEXTS, keep_texts=False)
    with pytest.raises(ValueError) as err:
        predict_in_order(loaded.model, x, 2, frozen=False, int8=True)
    assert str(err.value) == (
        "int8 products exist only in the frozen prediction step of tokenized texts: pass `frozen=True` and "
        "TokenizedTexts with `int8=True`. Received: frozen=False, x of type TokenizedTexts")
    with pytest.raises(ValueError, match=r"Received: frozen=True, x of type ndarray"):  # arrays: Keras' predict
        predict_in_order(loaded.model, np.zeros((2, 8), np.int32), 2, frozen=True, int8=True)


def test_new_weights_rebuild_the_int8_step_and_embed_stays_float(sources):
    folder = str(sources["A"])
    int8 = ktbert.Predictor.load(folder, batch_size=2, quantize="int8")
    before = int8.predict(TEXTS, return_proba=True)
    int8.model.set_weights([w * 1.01 for w in int8.model.get_weights()])
    after = int8.predict(TEXTS, return_proba=True)
    assert sorted(_PREDICT_STEPS[int8.model], key=str) == [(False, 2, True)]  # the old snapshot dropped
    assert np.abs(after - before).max() > 1e-4
    floats = ktbert.Predictor.load(folder, batch_size=2)
    floats.model.set_weights(int8.model.get_weights())
    np.testing.assert_allclose(int8.embed(TEXTS), floats.embed(TEXTS), rtol=0, atol=1e-6)


def test_long_texts_in_windows_are_predicted_in_int8_too(sources):
    loaded = ktbert.Predictor.load(str(sources["A"]), batch_size=2)
    long_text = " ".join(["the film was wonderful and the acting was poor"] * 12)
    options = {"long_texts": "windows", "freeze_weights": True}
    floats = ktbert.get_predictor(loaded.model, loaded.preproc, batch_size=2, **options)
    floats.warm_up()
    int8 = ktbert.get_predictor(loaded.model, loaded.preproc, batch_size=2, quantize="int8", **options)
    got = int8.predict([long_text, "great"], return_proba=True)
    assert len(loaded.preproc.windows([long_text])[1]) > 1  # read in several windows
    assert (False, 1, True) in _PREDICT_STEPS[loaded.model] and (False, 1, False) in _PREDICT_STEPS[loaded.model]
    expected = floats.predict([long_text, "great"], return_proba=True)
    assert 0 < np.abs(got - expected).max() < 0.02


def test_ktbert_predict_quantize_int8_writes_the_int8_predictors_labels(sources, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(["predict", str(sources["A"]), str(path), "--proba", "--quantize", "int8"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.strip().splitlines()[1:]]
    expected = ktbert.Predictor.load(str(sources["A"]), quantize="int8").predict(TEXTS, return_proba=True)
    np.testing.assert_allclose(np.array([r[1:] for r in rows], dtype=float), expected, rtol=0, atol=1e-6)
    assert main(["predict", str(sources["A"]), str(path), "--quantize", "int4"]) == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_ktbert_serve_passes_quantize_to_the_loaded_predictor(sources, monkeypatch):
    import ktbert.serve.service as service

    seen = {}
    monkeypatch.setattr(service, "serve_app", lambda app, **kw: seen.setdefault("app", app))
    monkeypatch.setattr(service, "create_app", lambda predictor, **kw: seen.setdefault("predictor", predictor))
    assert main(["serve", str(sources["A"]), "--quantize", "int8"]) == 0
    assert seen["predictor"].quantize == "int8"
