"""The training recipe: settings validated when made, one call from DataFrames to a saved predictor."""

import re
import warnings

import numpy as np
import pytest

import ktbert
from ktbert.recipe.settings import TrainingSettings
from ktbert.recipe.training_run import train_classifier
from helpers import sentiment_frame


@pytest.mark.parametrize("kwargs, error, message", [
    ({"maxlen": 4}, ValueError, "`maxlen` must be between 8 and 512. Received: maxlen=4"),
    ({"epochs": 0}, ValueError, "`epochs` must be a positive integer. Received: epochs=0"),
    ({"batch_size": 2.5}, ValueError, "`batch_size` must be a positive integer. Received: batch_size=2.5"),
    ({"lr": "fast"}, ValueError, "`lr` must be a positive number. Received: lr='fast'"),
    ({"val_pct": 1.5}, ValueError, "`val_pct` must lie strictly between 0 and 1. Received: val_pct=1.5"),
    ({"weight_decay": -1}, ValueError, "`weight_decay` must be a number >= 0. Received: weight_decay=-1"),
    ({"pooling": "max"}, ValueError, "`pooling` must be one of ['mean', 'cls']. Received: pooling='max'"),
    ({"dropout": 1.0}, ValueError, "`dropout` must be a number in [0, 1). Received: dropout=1.0"),
    ({"class_weight": "even"}, ValueError, "`class_weight` must be 'balanced', a dict or None. Received: class_weight='even'"),
    ({"seed": "0"}, TypeError, "`seed` must be an integer from 0 to 2**32 - 1, or None. Received: seed='0'"),
])
def test_settings_refuse_bad_values_by_name(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        TrainingSettings("text", "label", **kwargs)


def test_settings_need_a_label_column():
    with pytest.raises(ValueError, match=re.escape("`label_columns` is required")):
        TrainingSettings("text", None)


def test_recipe_trains_scores_saves_and_equals_the_steps_it_replaces(tiny_encoder, tmp_path):
    train_df, test_df = sentiment_frame(64, seed=2), sentiment_frame(24, seed=3)
    settings = TrainingSettings("text", "label", maxlen=16, encoder=tiny_encoder, batch_size=16, epochs=2,
                                lr=5e-3, seed=0, verbose=0, output=str(tmp_path / "model"))
    run = train_classifier(settings, train_df, test_df=test_df)
    assert (len(run.train_data.x), len(run.val_data.x), len(run.test_data.x)) == (57, 7, 24)
    assert run.lr == 5e-3 and run.learner.get_weight_decay() == pytest.approx(0.01)
    assert len(run.learner.history.history["lr"]) == 2 * 4
    proba = run.learner.predict(run.test_data)
    accuracy = float(np.mean(proba.argmax(axis=1) == run.test_data.y))
    assert run.scores["accuracy"] == pytest.approx(accuracy)
    assert set(run.scores) == {"accuracy", "micro_f1", "macro_f1"}
    loaded = ktbert.load_predictor(str(tmp_path / "model"))
    texts = test_df.text.tolist()
    np.testing.assert_array_equal(loaded.predict(texts, return_proba=True), run.predictor.predict(texts, return_proba=True))
    # the same steps written out by hand give the same model
    trn, val, preproc = ktbert.texts_from_df(train_df, "text", "label", maxlen=16, random_state=0,
                                             encoder=tiny_encoder, verbose=0)
    learner = ktbert.get_learner(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0),
                                 trn, val, batch_size=16, seed=0)
    learner.set_weight_decay(0.01)
    learner.fit_onecycle(5e-3, 2, verbose=0)
    np.testing.assert_allclose(learner.predict(run.test_data), proba, rtol=1e-5, atol=1e-6)


def test_recipe_with_lr_auto_trains_at_the_valley(tiny_encoder):
    settings = TrainingSettings("text", "label", maxlen=16, encoder=tiny_encoder, batch_size=8, epochs=1,
                                lr="auto", seed=0, verbose=0)
    run = train_classifier(settings, sentiment_frame(64, seed=2))
    assert run.lr == run.learner.lr_suggestions["valley"]
    assert max(run.learner.history.history["lr"]) == run.lr


def test_test_rows_with_a_class_training_lacks_are_refused(tiny_encoder):
    test_df = sentiment_frame(8, seed=3)
    test_df.loc[0, "label"] = "meh"
    settings = TrainingSettings("text", "label", maxlen=16, encoder=tiny_encoder, epochs=1, seed=0, verbose=0)
    with pytest.raises(ValueError, match=re.escape("test_df['label'] has label(s) ['meh'] that the training data does not have")):
        train_classifier(settings, sentiment_frame(32, seed=2), test_df=test_df)


def test_tune_thresholds_on_single_label_data_is_refused_before_training(tiny_encoder, monkeypatch):
    import ktbert.recipe.training_run as recipe

    monkeypatch.setattr(recipe, "text_classifier", lambda *a, **k: pytest.fail("built a model"))
    settings = TrainingSettings("text", "label", maxlen=16, encoder=tiny_encoder, tune_thresholds=True, verbose=0)
    with pytest.raises(ValueError, match=re.escape("`tune_thresholds=True` is for multi-label data")):
        train_classifier(settings, sentiment_frame(32, seed=2))


def test_settings_cannot_be_changed_past_their_checks():
    import dataclasses

    settings = TrainingSettings("text", "label")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.epochs = 0
    assert dataclasses.replace(settings, epochs=3).epochs == 3
    with pytest.raises(ValueError, match=re.escape("`epochs` must be a positive integer. Received: epochs=0")):
        dataclasses.replace(settings, epochs=0)


def test_multilabel_recipe_calibrates_then_tunes_thresholds_on_the_calibrated_probabilities(tiny_encoder):
    df = sentiment_frame(48, seed=2)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative")
    settings = TrainingSettings("text", "labels", label_sep="|", maxlen=16, encoder=tiny_encoder, batch_size=8,
                                epochs=2, lr=5e-3, calibrate=True, tune_thresholds=True, val_pct=0.3, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train_classifier(settings, df)
    assert not [w for w in caught if "tune them again" in str(w.message)]  # calibrating after tuning warns
    from ktbert.evaluate.calibration import tune_label_thresholds

    learner = run.learner
    assert learner.temperature != 1.0
    assert learner.thresholds == tune_label_thresholds(learner.predict(), run.val_data.y)
    assert run.predictor.decision_config() == learner.decision_config()
