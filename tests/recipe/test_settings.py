"""`TrainingSettings`' schedule and long-text options: checked when made, named in every refusal,
and the whole settings round-tripping through their dict and JSON form."""

import dataclasses
import json
import re

import pytest

from ktbert.recipe.fitting import SCHEDULES, STOPPING_SCHEDULES
from ktbert.recipe.settings import TrainingSettings


@pytest.mark.parametrize("kwargs, error, message", [
    ({"schedule": "cosine"}, ValueError,
     "`schedule` must be one of ['onecycle', 'autofit', 'constant', 'sgdr']. Received: schedule='cosine'"),
    ({"schedule": "constant", "early_stopping": 0}, ValueError,
     "`early_stopping` must be a positive integer. Received: early_stopping=0"),
    ({"early_stopping": 2}, ValueError,
     "`early_stopping` needs a schedule that can stop early, one of ['autofit', 'constant', 'sgdr']: one-cycle "
     "plans its rate over all `epochs`. Received: early_stopping=2, schedule='onecycle'"),
    ({"monitor": "val_f1"}, ValueError,
     "`monitor` must be one of ['val_loss', 'val_accuracy', 'val_macro_f1']. Received: monitor='val_f1'"),
    ({"schedule": "autofit", "reduce_on_plateau": 1.5}, ValueError,
     "`reduce_on_plateau` must be a positive integer. Received: reduce_on_plateau=1.5"),
    ({"schedule": "sgdr", "reduce_on_plateau": 2}, ValueError,
     "`reduce_on_plateau` lowers autofit's peak rate: it needs schedule='autofit'. Received: reduce_on_plateau=2, "
     "schedule='sgdr'"),
    ({"long_texts": "all"}, ValueError,
     "`long_texts` must be one of ['truncate', 'windows']. Received: long_texts='all'"),
    ({"long_texts": "windows", "maxlen": 64, "window_stride": 63}, ValueError,
     "`window_stride` must be at most maxlen - 2 = 62, or windows would skip tokens. Received: window_stride=63"),
    ({"window_pooling": "median"}, ValueError,
     "`window_pooling` must be one of ['mean', 'max']. Received: window_pooling='median'"),
    ({"class_weight": {"pos": 2.0}}, ValueError,
     "`class_weight` must map class indices (0, 1, ...) to numbers. Received: class_weight={'pos': 2.0}"),
])
def test_the_schedule_and_long_text_options_refuse_bad_values_by_name(kwargs, error, message):
    with pytest.raises(error) as caught:
        TrainingSettings("text", "label", **kwargs)
    assert str(caught.value) == message


def test_windows_are_refused_for_text_pairs():
    with pytest.raises(ValueError, match=re.escape(
            "`long_texts='windows'` reads single long texts; a model of text pairs reads each pair once, its texts "
            "truncated round robin to `maxlen`. Leave long_texts='truncate'. Received: text_column=['q', 'a']")):
        TrainingSettings(("q", "a"), "label", long_texts="windows")


@pytest.mark.parametrize("schedule", STOPPING_SCHEDULES)
def test_every_schedule_but_one_cycle_takes_early_stopping(schedule):
    settings = TrainingSettings("text", "label", schedule=schedule, early_stopping=3, monitor="val_macro_f1")
    assert (settings.schedule, settings.early_stopping, settings.monitor) == (schedule, 3, "val_macro_f1")
    assert set(SCHEDULES) - set(STOPPING_SCHEDULES) == {"onecycle"}


def test_the_defaults_train_as_before():
    settings = TrainingSettings("text", "label")
    assert (settings.schedule, settings.early_stopping, settings.monitor, settings.reduce_on_plateau) == (
        "onecycle", None, "val_loss", None)
    assert (settings.long_texts, settings.window_stride, settings.window_pooling) == ("truncate", None, "mean")
    assert settings.weight_decay == 0.01


@pytest.mark.parametrize("settings", [
    TrainingSettings("Reviews", "Sentiment", maxlen=256, clean={"html_breaks": True}, truncation="head+tail",
                     precision="float32", bucketing=False, val_pct=0.2, batch_size=8, eval_batch_size=64, epochs=10,
                     lr="auto", weight_decay=0.0, pooling="cls", dropout=0.2, class_weight={0: 1, 1: 3},
                     calibrate=True, seed=None, output="imdb", verbose=0, schedule="autofit", early_stopping=3,
                     monitor="val_accuracy", reduce_on_plateau=1, long_texts="windows", window_stride=64,
                     window_pooling="max"),
    TrainingSettings(("question", "answer"), ["a", "b", "c"], label_sep=None, schedule="sgdr", early_stopping=1,
                     tune_thresholds=True, class_weight="balanced"),
    TrainingSettings("text", "label"),
], ids=["every option", "pairs", "defaults"])
def test_settings_round_trip_through_their_dict_and_json(settings):
    config = settings.to_dict()
    assert list(config) == [f.name for f in dataclasses.fields(TrainingSettings)]
    assert TrainingSettings.from_dict(config) == settings
    assert TrainingSettings.from_dict(json.loads(json.dumps(config))) == settings


def test_class_weights_keep_their_class_indices_through_json():
    settings = TrainingSettings("text", "label", class_weight={0: 1, 1: 3})
    assert settings.class_weight == {0: 1.0, 1: 3.0}
    assert json.loads(json.dumps(settings.to_dict()))["class_weight"] == {"0": 1.0, "1": 3.0}
    assert TrainingSettings.from_dict(json.loads(json.dumps(settings.to_dict()))).class_weight == {0: 1.0, 1: 3.0}


def test_from_dict_refuses_what_is_not_a_settings_dict():
    with pytest.raises(TypeError) as caught:
        TrainingSettings.from_dict("text,label")
    assert str(caught.value) == ("`config` must be a dict of settings, as `to_dict()` returns. "
                                 "Received: 'text,label'")
    config = dict(TrainingSettings("text", "label").to_dict(), lr_schedule="onecycle")
    with pytest.raises(ValueError) as caught:
        TrainingSettings.from_dict(config)
    assert str(caught.value).startswith("`config` holds ['lr_schedule'], which TrainingSettings does not take. "
                                        "Known: ['text_column', 'label_columns', 'maxlen',")
    with pytest.raises(ValueError, match=re.escape("`early_stopping` must be a positive integer. "
                                                   "Received: early_stopping=-1")):
        TrainingSettings.from_dict(dict(TrainingSettings("text", "label").to_dict(), schedule="constant",
                                        early_stopping=-1))
