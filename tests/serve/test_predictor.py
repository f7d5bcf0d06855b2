import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ktbert
from ktbert.saving.manifest import SaveFormatError
from helpers import PROJECT, sentiment_frame

TEXTS = ["the film was wonderful and great", "awful plot", "the acting was poor"]


@pytest.fixture(scope="module")
def trained(make_toy_split, make_learner):
    """A predictor (batches of 2) of a model trained on 64 rows of seed 2, validation the first
    16 of them, batches of 8, one-cycle 5e-3 for 4 epochs."""
    split = make_toy_split(seed=2, val="head", val_rows=16)
    learner = make_learner(split, batch_size=8)
    learner.fit_onecycle(5e-3, 4, verbose=0)
    return ktbert.get_predictor(learner.model, split[2], batch_size=2)


def test_predict_labels_and_probabilities(trained):
    assert trained.predict(TEXTS) == ["pos", "neg", "neg"]
    assert trained.predict("wonderful film") == "pos"
    proba = trained.predict(TEXTS, return_proba=True)
    assert proba.shape == (3, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert trained.predict_proba("awful").shape == (2,)
    assert trained.get_classes() == ["neg", "pos"]


def test_save_and_load_in_this_process(trained, tmp_path):
    folder = tmp_path / "sentiment"
    trained.save(str(folder))
    assert sorted(os.listdir(folder)) == ["ktbert.json", "preprocessor.json", "vocab.txt", "weights.safetensors"]
    original = trained.predict(TEXTS, return_proba=True)
    loaded = ktbert.Predictor.load(str(folder), batch_size=2)
    assert loaded.get_classes() == ["neg", "pos"]
    np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), original)
    # Another batch size changes oneDNN's summation order, not the model: equal to 1e-6.
    rebatched = ktbert.Predictor.load(str(folder), batch_size=3)
    assert rebatched.batch_size == 3
    assert np.max(np.abs(rebatched.predict(TEXTS, return_proba=True) - original)) <= 1e-6


def test_probabilities_equal_after_reload_in_a_fresh_process(trained, tmp_path):
    folder = tmp_path / "shipped"
    trained.save(str(folder))
    out = tmp_path / "proba.npy"
    code = (
        "import sys, numpy as np, ktbert\n"
        f"p = ktbert.load_predictor({str(folder)!r})\n"
        f"np.save({str(out)!r}, p.predict({TEXTS!r}, return_proba=True))\n"
    )
    env = dict(os.environ, PYTHONPATH=PROJECT)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(tmp_path), timeout=300)
    reloaded = np.load(out)
    assert np.max(np.abs(reloaded - trained.predict(TEXTS, return_proba=True))) <= 1e-6


def test_folder_that_is_not_a_save(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(tmp_path)!r} is not a ktbert save: ktbert.json is missing (found: ['notes.txt']). "
        "Save a predictor with `predictor.save(folder)`."
    )):
        ktbert.load_predictor(str(tmp_path))


def test_ktrain_predictor_folder_is_recognised(tmp_path):
    (tmp_path / "tf_model.preproc").write_bytes(b"\x80\x04pickle")
    with pytest.raises(SaveFormatError, match="It looks like a ktrain predictor: those are pickled"):
        ktbert.load_predictor(str(tmp_path))


def test_corrupted_weights_are_refused(trained, tmp_path):
    folder = tmp_path / "save"
    trained.save(str(folder))
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(folder)!r} is corrupted: weights.safetensors does not match the checksum in ktbert.json"
    )):
        ktbert.Predictor.load(str(folder))


def test_foreign_manifest_and_newer_version(trained, tmp_path):
    folder = tmp_path / "save"
    trained.save(str(folder))
    manifest = json.loads((folder / "ktbert.json").read_text())
    (folder / "ktbert.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(SaveFormatError, match=re.escape(
        "was saved in format version 99; this ktbert reads versions up to 2. Upgrade ktbert"
    )):
        ktbert.Predictor.load(str(folder))
    (folder / "ktbert.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SaveFormatError, match=re.escape(
        "is not a ktbert predictor save: its ktbert.json says format='something-else'"
    )):
        ktbert.Predictor.load(str(folder))
    (folder / "ktbert.json").write_text("{not json")
    with pytest.raises(SaveFormatError, match="ktbert.json' is corrupted: it is not valid JSON"):
        ktbert.Predictor.load(str(folder))


def test_save_refuses_to_overwrite_other_files_and_replaces_its_own(trained, tmp_path):
    (tmp_path / "data.csv").write_text("precious")
    with pytest.raises(FileExistsError, match=re.escape(
        f"{str(tmp_path)!r} exists and holds files that are not a ktbert save (['data.csv']); "
        "choose another folder so nothing is lost."
    )):
        trained.save(str(tmp_path))
    assert (tmp_path / "data.csv").read_text() == "precious"
    folder = tmp_path / "model"
    trained.save(str(folder))
    trained.save(str(folder))  # a second save replaces the first
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".ktbert")) == []
    ktbert.Predictor.load(str(folder))


def test_multilabel_predict_returns_label_lists(tiny_encoder):
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative|film")
    trn, val, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df,
                                             maxlen=16, encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    predictor = ktbert.get_predictor(model, preproc)
    labels = predictor.predict(["good film", "bad film"])
    assert isinstance(labels, list) and all(isinstance(row, list) for row in labels)
    assert set(predictor.get_classes()) == {"film", "negative", "positive"}
    assert predictor.predict_proba(["good"]).shape == (1, 3)


def test_get_predictor_checks_its_arguments(trained):
    with pytest.raises(TypeError, match=re.escape(
        "`model` must be a classifier built by `ktbert.text_classifier`. Received: 'model'"
    )):
        ktbert.get_predictor("model", trained.preproc)
