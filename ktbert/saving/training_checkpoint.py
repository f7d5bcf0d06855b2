"""Training checkpoints: the whole state of a run at one step, for resuming it after the process died.

A checkpoint is a sealed save folder `step-NNNNNNNNN` inside a checkpoint folder, written with
the same atomic, checksummed writes as a predictor save (`ktbert.saving.manifest.write_folder`
over `ktbert.saving.folder_writes`): it is written aside and renamed into place, so a process
killed while writing one leaves the checkpoints before it as they were (and a `.ktbert-save-*`
folder that the next write sweeps away). It holds:

- `state.safetensors`: arrays in the order the caller gave them (`ktbert.train` gives every
  variable of the model, its optimizer and its metrics), their names in the metadata;
- optionally more array files (`best.safetensors`: early stopping's best weights);
- `ktbert.json`: the manifest (format `ktbert-training-checkpoint`, the checksum of every file)
  and under `training_checkpoint` the caller's JSON content (position, history, schedule).

The newest `KEEP` checkpoints are kept; older ones are renamed aside (`.ktbert-drop-*`) and
removed. `read_latest` returns the newest checkpoint whose files match their checksums, and
says which newer ones it passed over and why.

Imports run one way: training_checkpoint > weights_file > manifest > folder_writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from ktbert.saving import folder_writes, manifest, weights_file
from ktbert.saving.manifest import SaveFormatError

FORMAT = "ktbert-training-checkpoint"
STATE = "state.safetensors"
BEST = "best.safetensors"
KEEP = 2  # the newest and the one before it, so a damaged newest still leaves one to resume from
DROP_PREFIX = ".ktbert-drop-"
_NAME = re.compile(r"step-(\d{9})")


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint after `step` steps: `step-000000120`."""
    return f"step-{step:09d}"


def write_checkpoint(folder: str, step: int, arrays: dict, names: dict, content: dict, keep: int = KEEP) -> str:
    """Writes a checkpoint into `folder` atomically, then drops all but the newest `keep`.

    Args:
        folder: str. the checkpoint folder (made when missing).
        step: int. the steps trained; names the checkpoint.
        arrays: dict. file name -> list of numpy arrays (`STATE`, optionally `BEST`).
        names: dict. file name -> the arrays' names (variable paths), kept in the metadata.
        content: dict. plain JSON: the run's position, history and schedule.
        keep: int. checkpoints kept.

    Returns:
        str. the checkpoint's folder.
    """
    path = os.path.join(folder, checkpoint_name(step))

    def write(tmp):
        for name, values in arrays.items():
            write_arrays(os.path.join(tmp, name), values, names[name])

    manifest.write_folder(path, write, {"training_checkpoint": content}, fmt=FORMAT)
    drop(folder, [p for _, p in list_checkpoints(folder)[keep:]])
    return path


def write_arrays(path: str, values: list, names: list) -> None:
    """Writes `values` to a safetensors file, keyed `0000`, `0001`, ... in order."""
    tensors = {f"{i:04d}": np.asarray(value, order="C") for i, value in enumerate(values)}
    save_file(tensors, path, metadata={"paths": json.dumps(list(names))})


def list_checkpoints(folder: str) -> list:
    """`(step, path)` of every checkpoint folder in `folder`, newest first; links are left out."""
    try:
        entries = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        match = _NAME.fullmatch(entry)
        path = os.path.join(folder, entry)
        if match and os.path.isdir(path) and not os.path.islink(path):
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def drop(folder: str, paths: list) -> None:
    """Removes checkpoints: each is renamed aside first, so a process killed while removing it
    leaves no half-removed checkpoint that looks like a damaged one; leftovers are swept here."""
    for path in paths:
        try:
            os.rename(path, tempfile.mkdtemp(prefix=DROP_PREFIX, dir=folder) + "/checkpoint")
        except OSError:
            continue
    for entry in os.listdir(folder):
        if entry.startswith(DROP_PREFIX):
            shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)


def read_latest(folder: str) -> tuple:
    """The newest checkpoint in `folder` whose files match their checksums.

    Returns:
        `(path, content, passed_over)`: the checkpoint's folder, the content it was written
        with, and `(path, reason)` for each newer checkpoint that was damaged or incomplete.

    Raises:
        FileNotFoundError: `folder` holds no complete checkpoint.
    """
    passed_over = []
    for _, path in list_checkpoints(folder):
        try:
            with folder_writes.reading(path):
                found = manifest.read_manifest(path, fmt=FORMAT, required=(STATE,))
            content = found.get("training_checkpoint")
            if not isinstance(content, dict):
                raise SaveFormatError(f"{path!r}: its {manifest.MANIFEST} holds no `training_checkpoint` object.")
            if content.get("best_weights") and BEST not in found.get("files", {}):
                raise SaveFormatError(f"{path!r}: its {manifest.MANIFEST} does not list {BEST}, which it says it holds.")
            return path, content, passed_over
        except (SaveFormatError, OSError) as err:
            passed_over.append((path, str(err)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`resume` {folder!r} is not a folder: name the `checkpoint_folder` a run with "
                                "`checkpoint_every=` wrote into.")
    reasons = "".join(f" {os.path.basename(p)}: {reason}" for p, reason in passed_over)
    raise FileNotFoundError(
        f"`resume` {folder!r} holds no complete training checkpoint (a `step-NNNNNNNNN` folder written with "
        f"`checkpoint_every=`).{reasons} Train without `resume` to start afresh.")


def read_arrays(path: str, layout: list) -> list:
    """The arrays of a file `write_arrays` wrote, checked against `layout`, one
    `(name, shape, dtype)` per array, before any is read: their count, dtypes and shapes.
    Names are only shown: Keras numbers the names of unnamed layers per process."""
    header = weights_file.read_safetensors_header(path)
    keys = [f"{i:04d}" for i in range(len(layout))]
    found = sorted(k for k in header if k != "__metadata__")
    if found != keys:
        raise SaveFormatError(f"{path!r} holds {len(found)} arrays, but this run has {len(layout)}: the checkpoint "
                              "belongs to another model or optimizer.")
    for key, (name, shape, dtype) in zip(keys, layout):
        entry = header[key]
        saved = (weights_file.SAFETENSORS_DTYPES[entry["dtype"]][0], tuple(entry["shape"]))
        if saved != (dtype, tuple(shape)):
            raise SaveFormatError(
                f"{path!r}: array {key} ({name}) is {saved[0]} of shape {saved[1]} in the checkpoint but "
                f"{dtype} of shape {tuple(shape)} in this run: the checkpoint belongs to another model or optimizer.")
    try:
        with safe_open(path, framework="numpy") as f:
            return [f.get_tensor(key) for key in keys]
    except (SafetensorError, OSError) as err:
        raise SaveFormatError(f"{path!r} could not be read as safetensors ({err}); nothing was restored.") from err
