"""A loaded predictor predicts with its weights frozen into the step's graph; one made by
`get_predictor` reads the learner's variables and follows its training."""

import numpy as np
import pytest
import tensorflow as tf

import ktbert
import ktbert.serve.freezing as freezing_module
from ktbert.data.prediction import _PREDICT_STEPS, _predict_step, predict_in_order
from ktbert.model.feedforward import GeluDense
from ktbert.model.layer_norm import FusableLayerNorm
from ktbert.model.projections import FlatDense, FlatEinsumDense
from ktbert.model.frozen import frozen_call, weights_version
from ktbert.model.keras_internals import nested_layers
from ktbert.saving.weights_file import load_weights, save_weights

TEXTS = ["the film was wonderful and great", "awful plot", "the acting was poor", "great"]


@pytest.fixture(scope="module")
def saved(trained_sentiment, tmp_path_factory):
    """(the learner, the folder its predictor was saved to)."""
    learner, _, _, preproc = trained_sentiment
    folder = str(tmp_path_factory.mktemp("frozen") / "sentiment")
    ktbert.get_predictor(learner.model, preproc, batch_size=2).save(folder)
    return learner, folder


def step_keys(model):
    return sorted(_PREDICT_STEPS.get(model, {}), key=str)


def variable_proba(predictor, texts=TEXTS):
    """The probabilities computed from the model's variables (no frozen step)."""
    x = predictor.preproc.preprocess(texts, keep_texts=False)
    return predictor.decisions.calibrate(np.asarray(predict_in_order(predictor.model, x, 2, frozen=False)))


def loaded_and_warm(folder):
    loaded = ktbert.Predictor.load(folder, batch_size=2)
    loaded.warm_up()
    return loaded


def test_a_warm_loaded_predictor_predicts_from_frozen_weights_and_a_shared_one_from_variables(saved):
    learner, folder = saved
    shared = ktbert.get_predictor(learner.model, ktbert.Predictor.load(folder).preproc, batch_size=2)
    loaded = loaded_and_warm(folder)
    expected = shared.predict(TEXTS, return_proba=True)
    # the same arithmetic, fused differently: equal to float32 rounding
    np.testing.assert_allclose(loaded.predict(TEXTS, return_proba=True), expected, rtol=0, atol=1e-6)
    assert step_keys(loaded.model) == [(False, 1, False)]  # reading the save's weights was the first change
    assert (False, None, False) in step_keys(learner.model) and all(k[1] is None for k in step_keys(learner.model))


def test_the_encoder_blocks_dense_and_layer_norm_weights_are_constants_and_nothing_else(saved):
    _, folder = saved
    loaded = loaded_and_warm(folder)
    layers = nested_layers(loaded.model)
    fused = [layer for layer in layers if isinstance(layer, (GeluDense, FlatEinsumDense, FusableLayerNorm))]
    kinds = [type(layer) for layer in fused]
    # the tiny encoder's two blocks: q, k, v and output projections, 2 feed-forward layers and 2
    # layer norms each, plus the embeddings' layer norm and the pooler (a FlatDense)
    assert (kinds.count(FlatEinsumDense), kinds.count(GeluDense), kinds.count(FlatDense)) == (8, 2, 3)
    assert kinds.count(FusableLayerNorm) == 5
    captured = {id(v) for v in _predict_step(loaded.model, frozen=True).get_concrete_function().variables}
    constants = {id(w) for layer in fused for w in layer.weights}
    assert captured == {id(w.value) for w in loaded.model.weights if id(w) not in constants}


def test_set_weights_and_load_weights_rebuild_the_frozen_step(saved, tmp_path):
    _, folder = saved
    loaded = loaded_and_warm(folder)
    before = loaded.predict(TEXTS, return_proba=True)
    version = weights_version(loaded.model)
    head = loaded.model.get_layer("classifier")
    weights = loaded.model.get_weights()
    changed = [w.copy() for w in weights]
    changed[-2] = -changed[-2]  # the head's kernel, negated: the classes swap sides
    loaded.model.set_weights(changed)
    assert weights_version(loaded.model) == version + 1
    after = loaded.predict(TEXTS, return_proba=True)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, variable_proba(loaded), rtol=0, atol=1e-6)
    # the older snapshot was dropped (the other step is `variable_proba`'s)
    assert step_keys(loaded.model) == [(False, version + 1, False), (False, None, False)]
    # ktbert's own weights reader counts too.
    path = str(tmp_path / "weights.safetensors")
    loaded.model.set_weights(weights)
    save_weights(loaded.model, path)
    loaded.model.set_weights(changed)
    load_weights(loaded.model, path)
    assert weights_version(loaded.model) == version + 4
    np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), before)  # the same frozen step
    assert head.kernel.shape == changed[-2].shape


def test_a_cold_loaded_predictor_freezes_once_it_predicted_enough_tokens_to_pay_for_it(saved, monkeypatch):
    _, folder = saved
    loaded = ktbert.Predictor.load(folder, batch_size=2)
    tokens = lambda texts: int(np.sum(loaded.preproc.preprocess(texts, keep_texts=False).lengths))  # noqa: E731
    monkeypatch.setattr(freezing_module, "FREEZE_MIN_TOKENS", tokens(TEXTS) + tokens(TEXTS[:1]))
    loaded.predict(TEXTS)  # fewer tokens: read from the variables
    assert step_keys(loaded.model) == [(False, None, False)]
    loaded.predict(TEXTS[:1])  # enough in all, counting this call's
    assert step_keys(loaded.model) == [(False, 1, False), (False, None, False)]
    assert loaded._frozen(loaded.preproc.preprocess(TEXTS[:1], keep_texts=False)) is True  # from then on
    big = loaded.preproc.preprocess(TEXTS * 4, keep_texts=False)
    fresh = ktbert.Predictor.load(folder, batch_size=2)
    assert fresh._frozen(big) is True  # one call can be enough by itself
    shared = ktbert.get_predictor(loaded.model, loaded.preproc, batch_size=2)
    assert shared.freeze_weights is False and shared._frozen(big) is False  # get_predictor's do not freeze
    opted = ktbert.get_predictor(loaded.model, loaded.preproc, batch_size=2, freeze_weights=True)
    assert opted._frozen(big) is True
    assert ktbert.load_predictor(folder, freeze_weights=False)._frozen(big) is False
    with pytest.raises(TypeError, match=r"^`freeze_weights` must be True or False\. Received: freeze_weights='yes'$"):
        ktbert.Predictor.load(folder, freeze_weights="yes")


def test_a_loaded_model_compiled_to_train_again_reads_its_variables(saved):
    _, folder = saved
    loaded = loaded_and_warm(folder)
    x = loaded.preproc.preprocess(TEXTS, keep_texts=False)
    assert loaded._frozen(x) is True
    loaded.model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert loaded._frozen(x) is False
    loaded.predict(TEXTS)
    assert step_keys(loaded.model) == [(False, 1, False), (False, None, False)]


def test_a_frozen_call_is_traced_once(saved):
    _, folder = saved
    model = ktbert.Predictor.load(folder).model
    call = tf.function(frozen_call(model))
    inputs = {"token_ids": tf.constant([[2, 5, 3]]), "padding_mask": tf.constant([[1, 1, 1]])}
    first = call(inputs).numpy()
    np.testing.assert_allclose(first, model(inputs, training=False).numpy(), rtol=0, atol=1e-6)
    wider = {"token_ids": tf.constant([[2, 5, 6, 3]]), "padding_mask": tf.constant([[1, 1, 1, 1]])}
    message = r"\n    RuntimeError: A frozen model call is traced once; make a new one with `frozen_call\(model\)`\.\n"
    with pytest.raises(RuntimeError, match=message):
        call(wider)
