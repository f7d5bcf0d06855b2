"""Per-epoch checkpoints: the files and index EpochCheckpoint writes, and the choice of the best."""

import json
import os
import re

import keras
import numpy as np
import pytest

from ktbert.saving.manifest import SaveFormatError
from ktbert.saving.weights_file import load_weights
from ktbert.train.checkpoints import EpochCheckpoint, best_checkpoint
from ktbert.train.controls import ControlsMixin


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


def small_model(name=None):
    layers = [keras.Input((2,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(1, name="out")]
    model = keras.Sequential(layers, name=name)
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


class Host(ControlsMixin):
    """The learner's controls over a small Keras model, without data or training."""

    def __init__(self):
        self.model = small_model(name="net")


@pytest.fixture
def checkpointed(tmp_path):
    """A folder with two epochs checkpointed from a small model, and a host model to load them into."""
    folder = tmp_path / "ckpt"
    callback = EpochCheckpoint(str(folder))
    callback.set_model(small_model(name="net"))
    callback.on_epoch_end(0, {"val_loss": 0.75})
    callback.on_epoch_end(1, {"val_loss": 0.5})
    return folder, Host()


def rewrite_index(folder, change):
    records = json.loads((folder / "checkpoints.json").read_text())
    (folder / "checkpoints.json").write_text(json.dumps(change(records)))


def test_load_checkpoint_and_load_best_read_a_checkpoint_folder(checkpointed):
    folder, host = checkpointed
    host.load_checkpoint(str(folder), 1)
    assert host.load_best(str(folder))["epoch"] == 2


@pytest.mark.parametrize("name, says", [
    ("../outside.safetensors", "which is not a plain file name inside the folder"),
    ("ABSOLUTE", "which is not a plain file name inside the folder"),
    ("sub/epoch-001.safetensors", "which is not a plain file name inside the folder"),
    ("..", "which is not a plain file name inside the folder"),
    ("epoch-001.safetensors\0.png", "which is not a plain file name inside the folder"),
])
def test_a_checkpoint_file_outside_the_folder_is_refused(checkpointed, tmp_path, name, says):
    folder, host = checkpointed
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((folder / "epoch-001.safetensors").read_bytes())
    name = str(outside) if name == "ABSOLUTE" else name
    rewrite_index(folder, lambda records: [{**records[0], "file": name}, records[1]])
    with pytest.raises(SaveFormatError, match=re.escape(f"{str(folder / 'checkpoints.json')!r} lists {name!r} for "
                                                        f"epoch 1, {says}")):
        host.load_checkpoint(str(folder), 1)


def test_a_checkpoint_file_that_is_a_link_is_refused(checkpointed, tmp_path):
    folder, host = checkpointed
    elsewhere = tmp_path / "elsewhere.safetensors"
    os.replace(folder / "epoch-001.safetensors", elsewhere)
    os.symlink(elsewhere, folder / "epoch-001.safetensors")
    with pytest.raises(SaveFormatError, match=re.escape(f"{str(folder / 'epoch-001.safetensors')!r} is a symbolic "
                                                        "link")):
        host.load_checkpoint(str(folder), 1)


def test_a_missing_checkpoint_file_is_named(checkpointed):
    folder, host = checkpointed
    (folder / "epoch-001.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"{str(folder / 'epoch-001.safetensors')!r} is missing, though {str(folder / 'checkpoints.json')!r} "
            "lists it for epoch 1")):
        host.load_checkpoint(str(folder), 1)


INDEX_CASES = {  # id: (the index's text, what the message says)
    "not JSON": ("[{not json", "is not valid JSON (JSONDecodeError)"),
    "an object": ('{"epoch": 1}', "must hold a list of epoch records. Received: dict"),
    "a record that is a list": ('[[1, "epoch-001.safetensors", {}]]', "record 0 must be"),
    "an epoch that is a string": ('[{"epoch": "1", "file": "epoch-001.safetensors", "logs": {}}]', "record 0 must be"),
    "an epoch of 0": ('[{"epoch": 0, "file": "epoch-001.safetensors", "logs": {}}]', "record 0 must be"),
    "a file that is a number": ('[{"epoch": 1, "file": 7, "logs": {}}]', "record 0 must be"),
    "no logs": ('[{"epoch": 1, "file": "epoch-001.safetensors"}]', "record 0 must be"),
    "a log that is a string": ('[{"epoch": 1, "file": "epoch-001.safetensors", "logs": {"val_loss": "low"}}]',
                               "record 0 must be"),
    "an epoch listed twice": ('[{"epoch": 1, "file": "epoch-001.safetensors", "logs": {}}, '
                              '{"epoch": 1, "file": "epoch-002.safetensors", "logs": {}}]', "lists epoch 1 twice"),
}


@pytest.mark.parametrize("text, says", INDEX_CASES.values(), ids=INDEX_CASES.keys())
def test_a_damaged_checkpoint_index_is_refused_naming_it(checkpointed, text, says):
    folder, host = checkpointed
    (folder / "checkpoints.json").write_text(text)
    for load in (lambda: host.load_checkpoint(str(folder), 1), lambda: host.load_best(str(folder))):
        with pytest.raises(SaveFormatError, match=re.escape(f"{str(folder / 'checkpoints.json')!r}")) as refusal:
            load()
        assert says in str(refusal.value)
        assert "checkpoint_folder=" in str(refusal.value)  # the fix: train again with checkpoints


def test_a_log_of_nan_is_a_number(checkpointed):  # a diverged epoch logs NaN, which JSON keeps
    folder, host = checkpointed
    rewrite_index(folder, lambda records: [records[0], {**records[1], "logs": {"val_loss": float("nan")}}])
    assert host.load_best(str(folder))["epoch"] == 1


@pytest.mark.parametrize("call, error, says", [
    (lambda host, folder: host.load_checkpoint(5, 1), TypeError,
     "`folder` must be a folder path (str). Received: folder=5"),
    (lambda host, folder: host.load_checkpoint(folder, "1"), ValueError,
     "`epoch` must be a positive integer. Received: epoch='1'"),
    (lambda host, folder: host.load_checkpoint(folder, 0), ValueError,
     "`epoch` must be a positive integer. Received: epoch=0"),
    (lambda host, folder: host.load_best(5), TypeError, "`folder` must be a folder path (str). Received: folder=5"),
    (lambda host, folder: host.load_best(folder, monitor=3), TypeError,
     "`monitor` must be the name of a metric in the epoch logs, such as 'val_loss'. Received: monitor=3"),
])
def test_checkpoint_loads_check_their_arguments(checkpointed, call, error, says):
    folder, host = checkpointed
    with pytest.raises(error, match=re.escape(says)):
        call(host, str(folder))
