"""The training checkpoint folder: sealed, atomic checkpoints, the newest kept, a damaged or
half-written one passed over, arrays checked against the run before they are read."""

import os

import numpy as np
import pytest

from ktbert.saving import SaveFormatError
from ktbert.saving import training_checkpoint as files

ARRAYS = [np.arange(6, dtype="float32").reshape(2, 3), np.array(7, dtype="int64"), np.array([1, 2], "uint32")]
NAMES = ["dense/kernel", "adam/iteration", "seed_generator/seed_generator_state"]
LAYOUT = [(name, a.shape, str(a.dtype)) for name, a in zip(NAMES, ARRAYS)]


def write(folder, step):
    return files.write_checkpoint(str(folder), step, {files.STATE: [a + step for a in ARRAYS]},
                                  {files.STATE: NAMES}, {"step": step})


def test_the_newest_two_checkpoints_are_kept_and_read_back(tmp_path):
    for step in (3, 6, 9):
        write(tmp_path, step)
    assert sorted(os.listdir(tmp_path)) == ["step-000000006", "step-000000009"]
    path, content, passed_over = files.read_latest(str(tmp_path))
    assert (path, content, passed_over) == (str(tmp_path / "step-000000009"), {"step": 9}, [])
    for found, expected in zip(files.read_arrays(os.path.join(path, files.STATE), LAYOUT), ARRAYS, strict=True):
        np.testing.assert_array_equal(found, expected + 9)
        assert found.dtype == expected.dtype and found.shape == expected.shape


def test_a_damaged_newest_checkpoint_is_passed_over_for_the_one_before(tmp_path):
    write(tmp_path, 3)
    newest = write(tmp_path, 6)
    with open(os.path.join(newest, files.STATE), "r+b") as f:
        f.truncate(os.path.getsize(f.name) - 1)
    path, content, [(skipped, reason)] = files.read_latest(str(tmp_path))
    assert (path, content, skipped) == (str(tmp_path / "step-000000003"), {"step": 3}, newest)
    assert reason == (f"{newest!r} is corrupted: state.safetensors does not match the checksum in ktbert.json (the "
                      "file was changed or truncated after saving). Save the predictor again.")


def test_a_checkpoint_being_written_is_not_one_yet(tmp_path):
    write(tmp_path, 3)
    os.mkdir(tmp_path / ".ktbert-save-half")  # what a process killed while writing leaves
    (tmp_path / ".ktbert-save-half" / files.STATE).write_bytes(b"half")
    assert files.read_latest(str(tmp_path))[0] == str(tmp_path / "step-000000003")
    write(tmp_path, 6)  # the next write sweeps it
    assert sorted(os.listdir(tmp_path)) == ["step-000000003", "step-000000006"]


def test_a_folder_without_a_complete_checkpoint_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        files.read_latest(str(tmp_path / "missing"))
    assert str(caught.value) == (f"`resume` {str(tmp_path / 'missing')!r} is not a folder: name the "
                                 "`checkpoint_folder` a run with `checkpoint_every=` wrote into.")
    os.mkdir(tmp_path / "step-000000004")  # no manifest: never a complete checkpoint
    with pytest.raises(FileNotFoundError) as caught:
        files.read_latest(str(tmp_path))
    assert str(caught.value).startswith(
        f"`resume` {str(tmp_path)!r} holds no complete training checkpoint (a `step-NNNNNNNNN` folder written with "
        "`checkpoint_every=`). step-000000004: ")
    assert str(caught.value).endswith(" Train without `resume` to start afresh.")


def test_arrays_of_another_model_are_refused_before_any_is_read(tmp_path):
    state = os.path.join(write(tmp_path, 3), files.STATE)
    with pytest.raises(SaveFormatError) as caught:
        files.read_arrays(state, LAYOUT[:2])
    assert str(caught.value) == (f"{state!r} holds 3 arrays, but this run has 2: the checkpoint belongs to another "
                                 "model or optimizer.")
    wider = [LAYOUT[0][:1] + ((2, 4), "float32")] + LAYOUT[1:]
    with pytest.raises(SaveFormatError) as caught:
        files.read_arrays(state, wider)
    assert str(caught.value) == (f"{state!r}: array 0000 (dense/kernel) is float32 of shape (2, 3) in the checkpoint "
                                 "but float32 of shape (2, 4) in this run: the checkpoint belongs to another model "
                                 "or optimizer.")
