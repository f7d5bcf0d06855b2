"""Per-epoch checkpoints: the files and index EpochCheckpoint writes, and the choice of the best."""

import json
import os
import re

import keras
import numpy as np
import pytest

from ktbert.serve.weights_file import load_weights
from ktbert.train.checkpoints import EpochCheckpoint, best_checkpoint


def test_checkpoints_and_best_epoch(learner, tmp_path):
    folder = str(tmp_path / "ckpt")
    learner.fit(3e-3, 3, checkpoint_folder=folder, verbose=0)
    with open(os.path.join(folder, "checkpoints.json")) as f:
        records = json.load(f)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"val_loss", "val_accuracy", "val_macro_f1", "loss", "lr"} <= set(records[0]["logs"])
    for monitor, pick in (("val_loss", min), ("val_macro_f1", max), ("val_accuracy", max)):
        best = pick(records, key=lambda r: r["logs"][monitor])
        chosen = learner.load_best(folder, monitor=monitor)
        assert chosen["epoch"] == best["epoch"]
        if monitor == "val_loss":
            assert learner.evaluate()["loss"] == pytest.approx(best["logs"]["val_loss"], rel=1e-5)
    with pytest.raises(ValueError, match=re.escape("no checkpoint for epoch 9")):
        learner.load_checkpoint(folder, 9)


def small_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse")
    return model


def write_index(folder, logs_per_epoch):
    records = [{"epoch": i + 1, "file": f"epoch-{i + 1:03d}.safetensors", "logs": logs}
               for i, logs in enumerate(logs_per_epoch)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoints.json").write_text(json.dumps(records))


def test_epoch_checkpoint_writes_each_epochs_weights_and_logs(tmp_path):
    folder = tmp_path / "ckpt"
    model = small_model()
    callback = EpochCheckpoint(str(folder))
    assert os.listdir(folder) == []  # made at once, empty until an epoch ends
    callback.set_model(model)
    first = [v.numpy().copy() for v in model.weights]
    callback.on_epoch_end(0, {"loss": np.float32(0.5), "val_loss": 0.75})
    model.set_weights([w + 1 for w in first])
    callback.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.5})
    assert sorted(os.listdir(folder)) == ["checkpoints.json", "epoch-001.safetensors", "epoch-002.safetensors"]
    assert json.loads((folder / "checkpoints.json").read_text()) == [
        {"epoch": 1, "file": "epoch-001.safetensors", "logs": {"loss": 0.5, "val_loss": 0.75}},
        {"epoch": 2, "file": "epoch-002.safetensors", "logs": {"loss": 0.25, "val_loss": 0.5}},
    ]
    load_weights(model, str(folder / "epoch-001.safetensors"))
    for v, w in zip(model.weights, first):
        np.testing.assert_array_equal(v.numpy(), w)


def test_epoch_checkpoint_replaces_the_record_of_an_epoch_run_again(tmp_path):
    folder = tmp_path / "ckpt"
    callback = EpochCheckpoint(str(folder))
    callback.set_model(small_model())
    callback.on_epoch_end(1, {"val_loss": 0.5})
    callback.on_epoch_end(0, {"val_loss": 0.75})
    callback.on_epoch_end(1, {"val_loss": 0.25})
    assert json.loads((folder / "checkpoints.json").read_text()) == [
        {"epoch": 1, "file": "epoch-001.safetensors", "logs": {"val_loss": 0.75}},
        {"epoch": 2, "file": "epoch-002.safetensors", "logs": {"val_loss": 0.25}},
    ]


def test_best_checkpoint_takes_the_lowest_loss_and_the_highest_of_the_rest(tmp_path):
    folder = tmp_path / "ckpt"
    write_index(folder, [
        {"loss": 0.9, "val_loss": 0.50, "val_accuracy": 0.70, "val_macro_f1": 0.60},
        {"loss": 0.7, "val_loss": 0.30, "val_accuracy": 0.80, "val_macro_f1": 0.75},
        {"loss": 0.5, "val_loss": 0.40, "val_accuracy": 0.90, "val_macro_f1": 0.70},
    ])
    chosen = {m: best_checkpoint(str(folder), m)["epoch"] for m in ("val_loss", "loss", "val_accuracy", "val_macro_f1")}
    assert chosen == {"val_loss": 2, "loss": 3, "val_accuracy": 3, "val_macro_f1": 2}
    assert best_checkpoint(str(folder)) == {
        "epoch": 2, "file": "epoch-002.safetensors",
        "logs": {"loss": 0.7, "val_loss": 0.30, "val_accuracy": 0.80, "val_macro_f1": 0.75}}


def test_best_checkpoint_skips_epochs_that_did_not_record_the_monitor(tmp_path):
    folder = tmp_path / "ckpt"
    write_index(folder, [{"val_loss": 0.1}, {"val_loss": 0.5, "val_macro_f1": 0.4}, {"val_loss": 0.6, "val_macro_f1": 0.3}])
    assert best_checkpoint(str(folder), "val_macro_f1")["epoch"] == 2


def test_best_checkpoint_errors_name_the_folder_and_what_is_there(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"{str(empty)!r} holds no checkpoints (checkpoints.json is missing): train with "
        "`checkpoint_folder=` first."
    )):
        best_checkpoint(str(empty))
    folder = tmp_path / "ckpt"
    write_index(folder, [{"loss": 0.9, "val_loss": 0.5}, {"loss": 0.7, "val_accuracy": 0.8}])
    with pytest.raises(ValueError, match=re.escape(
        f"`monitor` 'val_macro_f1' was not recorded in {str(folder)!r}. Recorded: ['loss', 'val_accuracy', 'val_loss']"
    )):
        best_checkpoint(str(folder), "val_macro_f1")
