"""Saving and loading the learner's model (weights and config, not a predictor)."""

import fcntl
import json
import os
import re

import keras
import numpy as np
import pytest

import ktbert
from helpers import TINY_VOCAB
from ktbert.saving import weights_file
from ktbert.train.controls import ControlsMixin


def test_save_model_and_load_model(learner, tmp_path):
    folder = str(tmp_path / "model")
    learner.save_model(folder)
    saved = [v.numpy().copy() for v in learner.model.weights]
    learner.fit(1e-2, 1, verbose=0)
    learner.load_model(folder)
    for v, w in zip(learner.model.weights, saved):
        np.testing.assert_array_equal(v.numpy(), w)
    predictor_folder = str(tmp_path / "predictor")
    ktbert.get_predictor(learner.model, _preproc_of(learner)).save(predictor_folder)
    with pytest.raises(ktbert.SaveFormatError, match="is not a ktbert model save: its ktbert.json says format='ktbert-predictor'"):
        learner.load_model(predictor_folder)


def _preproc_of(learner):
    return ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16, class_names=["neg", "pos"])


class Host(ControlsMixin):
    """The learner's controls over a small Keras model, without data or training."""

    def __init__(self):
        keras.utils.set_random_seed(0)
        self.model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="hidden"),
                                       keras.layers.Dense(1, name="out")], name="net")
        self.model.compile(optimizer="adam", loss="mse")


def test_load_model_refuses_a_weights_file_the_manifest_does_not_list(tmp_path):
    folder = tmp_path / "model"
    Host().save_model(str(folder))
    manifest = json.loads((folder / "ktbert.json").read_text())
    del manifest["files"]["weights.safetensors"]  # unlisted: it would be read with no checksum
    (folder / "ktbert.json").write_text(json.dumps(manifest))
    with pytest.raises(ktbert.SaveFormatError, match=re.escape(
            f"{str(folder / 'ktbert.json')!r} does not list weights.safetensors, which ktbert reads")):
        Host().load_model(str(folder))


def test_load_model_reads_the_weights_while_saves_are_held_back(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    source = Host()
    source.model.set_weights([w + 1 for w in source.model.get_weights()])
    source.save_model(str(folder))
    read, load_weights = [], weights_file.load_weights

    def load_weights_checking_the_lock(model, path):
        # A save swaps the folder under an exclusive flock on its parent: it must not get one now.
        fd = os.open(str(tmp_path), os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        read.append(path)
        load_weights(model, path)

    monkeypatch.setattr(weights_file, "load_weights", load_weights_checking_the_lock)
    target = Host()
    target.load_model(str(folder))
    assert read == [str(folder / "weights.safetensors")]
    for v, w in zip(target.model.weights, source.model.weights):
        np.testing.assert_array_equal(v.numpy(), w.numpy())


@pytest.mark.parametrize("call, error, says", [
    (lambda host: host.save_model(5), TypeError, "`folder` must be a folder path (str). Received: folder=5"),
    (lambda host: host.load_model(5), TypeError, "`folder` must be a folder path (str). Received: folder=5"),
    (lambda host: host.load_model(""), TypeError, "`folder` must be a folder path (str). Received: folder=''"),
    (lambda host: host.freeze("x"), TypeError,
     "`freeze_range` must be a non-negative integer (the bottom blocks to freeze) or None (train only the head). "
     "Received: freeze_range='x'"),
    (lambda host: host.freeze(1.5), TypeError, "Received: freeze_range=1.5"),
    (lambda host: host.freeze(True), TypeError, "Received: freeze_range=True"),
    (lambda host: host.freeze(-1), ValueError, "Received: freeze_range=-1"),
    (lambda host: host.unfreeze(n_top="x"), ValueError, "`n_top` must be a positive integer. Received: n_top='x'"),
    (lambda host: host.unfreeze(exclude_range=-1), ValueError,
     "`exclude_range` must be a non-negative integer (the bottom blocks that stay frozen) or None (train everything). "
     "Received: exclude_range=-1"),
    (lambda host: host.unfreeze(1.5), TypeError, "Received: unfreeze(1.5)"),
    (lambda host: host.print_layers(show_wd="yes"), TypeError,
     "`show_wd` must be True or False. Received: show_wd='yes'"),
])
def test_the_controls_check_their_arguments(call, error, says):
    with pytest.raises(error, match=re.escape(says)):
        call(Host())
