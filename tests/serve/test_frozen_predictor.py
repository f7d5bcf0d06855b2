"""A loaded predictor predicts with its weights frozen into the step's graph; one made by
`get_predictor` reads the learner's variables and follows its training."""

import numpy as np
import pytest
import tensorflow as tf

import ktbert
import ktbert.model.frozen as frozen
from ktbert.data.batching import _PREDICT_STEPS, _predict_step, predict_in_order
from ktbert.model.frozen import frozen_call, weights_version
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


def test_a_loaded_predictor_predicts_from_frozen_weights_and_a_shared_one_from_variables(saved):
    learner, folder = saved
    shared = ktbert.get_predictor(learner.model, ktbert.Predictor.load(folder).preproc, batch_size=2)
    loaded = ktbert.Predictor.load(folder, batch_size=2)
    expected = shared.predict(TEXTS, return_proba=True)
    np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), expected)
    assert step_keys(loaded.model) == [(False, 1)]  # reading the save's weights was the first change
    assert (False, None) in step_keys(learner.model) and all(k[1] is None for k in step_keys(learner.model))
    # The tiny encoder has no variable above `LARGE` elements: every weight is a constant.
    assert _predict_step(loaded.model, frozen=True).get_concrete_function().variables == ()


def test_large_variables_stay_variables_in_the_frozen_graph(saved, monkeypatch):
    _, folder = saved
    monkeypatch.setattr(frozen, "LARGE", 0)
    loaded = ktbert.Predictor.load(folder, batch_size=2)
    expected = variable_proba(loaded)
    np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), expected)
    captured = _predict_step(loaded.model, frozen=True).get_concrete_function().variables
    assert len(captured) == len(loaded.model.weights)


def test_set_weights_and_load_weights_rebuild_the_frozen_step(saved, tmp_path):
    _, folder = saved
    loaded = ktbert.Predictor.load(folder, batch_size=2)
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
    np.testing.assert_array_equal(after, variable_proba(loaded))
    # the older snapshot was dropped (the other step is `variable_proba`'s)
    assert step_keys(loaded.model) == [(False, version + 1), (False, None)]
    # ktbert's own weights reader counts too.
    path = str(tmp_path / "weights.safetensors")
    loaded.model.set_weights(weights)
    save_weights(loaded.model, path)
    loaded.model.set_weights(changed)
    load_weights(loaded.model, path)
    assert weights_version(loaded.model) == version + 4
    np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), before)
    assert head.kernel.shape == changed[-2].shape


def test_a_loaded_model_compiled_to_train_again_reads_its_variables(saved):
    _, folder = saved
    loaded = ktbert.Predictor.load(folder, batch_size=2)
    assert loaded._frozen() is True
    loaded.model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert loaded._frozen() is False
    loaded.predict(TEXTS)
    assert step_keys(loaded.model) == [(False, None)]


def test_a_frozen_call_is_traced_once(saved):
    _, folder = saved
    model = ktbert.Predictor.load(folder).model
    call = tf.function(frozen_call(model))
    inputs = {"token_ids": tf.constant([[2, 5, 3]]), "padding_mask": tf.constant([[1, 1, 1]])}
    first = call(inputs).numpy()
    np.testing.assert_allclose(first, model(inputs, training=False).numpy(), rtol=0, atol=1e-6)
    wider = {"token_ids": tf.constant([[2, 5, 6, 3]]), "padding_mask": tf.constant([[1, 1, 1, 1]])}
    with pytest.raises(RuntimeError, match=r"\n    RuntimeError: A frozen model call is traced once; make a new one with "
                                           r"`frozen_call\(model\)`\.\n"):
        call(wider)
