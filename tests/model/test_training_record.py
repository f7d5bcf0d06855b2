"""The classifier's one field for what it carries from training: seeds and the learner's decisions."""

import json
import os

import keras
import numpy as np

import ktbert
from ktbert.evaluate.decisions import Decisions
from ktbert.model.training_record import TrainingRecord


def test_a_classifier_records_its_seed_and_no_loose_attributes(make_toy_split):
    trn, _, preproc = make_toy_split(seed=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=3, verbose=0)
    assert model.training_record == TrainingRecord(seed=3)
    assert [name for name in vars(model) if name.startswith("ktbert")] == []


def test_the_learner_writes_its_shuffle_seed_and_decisions_into_the_models_record(make_toy_split):
    trn, val, preproc = make_toy_split(seed=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=3, verbose=0)
    learner = ktbert.get_learner(model, trn, val, seed=11)
    assert learner.record is model.training_record
    assert (model.training_record.seed, model.training_record.shuffle_seed) == (3, 11)
    learner.temperature = 1.5
    assert model.training_record.decisions == Decisions(2, temperature=1.5)
    assert ktbert.get_predictor(model, preproc).temperature == 1.5


def test_a_save_keeps_the_seeds_and_a_load_puts_them_back(make_toy_split, tmp_path):
    trn, val, preproc = make_toy_split(seed=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=3, verbose=0)
    ktbert.get_learner(model, trn, val, seed=11)
    ktbert.get_predictor(model, preproc).save(str(tmp_path / "p"))
    with open(os.path.join(tmp_path, "p", "ktbert.json"), encoding="utf-8") as f:
        assert json.load(f)["training"] == {"seed": 3, "shuffle_seed": 11}
    loaded = ktbert.load_predictor(str(tmp_path / "p"))
    assert loaded.model.training_record == TrainingRecord(seed=3, shuffle_seed=11)
    assert (loaded.seed, loaded.shuffle_seed) == (3, 11)


def test_another_keras_model_is_left_as_it_is_and_the_learner_keeps_its_own_record():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.zeros((8, 3), "float32"), np.array([0, 1] * 4)
    learner = ktbert.get_learner(model, (x, y), seed=5)
    assert not hasattr(model, "training_record")
    assert learner.record == TrainingRecord(shuffle_seed=5, decisions=Decisions(2))
