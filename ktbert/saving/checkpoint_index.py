"""A checkpoint folder: one safetensors file per epoch and `checkpoints.json`, the index of
their epochs and metrics.

`write_epoch` writes an epoch's weights and its index record, each aside and then renamed into
place (`ktbert.saving.durable.publish_file`: flushed to the disk before the rename, the folder
after it), so Ctrl-C, a crash or a power loss never leaves a truncated file behind.
`read_records` refuses an index that is not what `write_epoch` writes, naming it;
`checkpoint_file` refuses a listed file that is a link, missing or not a regular file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat

from ktbert.checks import cut
from ktbert.saving import durable, weights_file
from ktbert.saving.manifest import SaveFormatError

INDEX = "checkpoints.json"
_RETRAIN = "It was edited or damaged: train again with `checkpoint_folder=` to write it anew."


def write_epoch(folder: str, model, epoch: int, logs: dict) -> None:
    """Saves `model`'s weights as `epoch-NNN.safetensors` and records `logs` for `epoch` (1-based)."""
    first = not os.path.isfile(os.path.join(folder, INDEX))
    durable.make_folders(folder)
    name = f"epoch-{epoch:03d}.safetensors"
    with _replaced(os.path.join(folder, name)) as tmp:
        weights_file.save_weights(model, tmp)
    records = read_index(folder) if os.path.isfile(os.path.join(folder, INDEX)) else []
    records = [r for r in records if r["epoch"] != epoch]
    records.append({"epoch": epoch, "file": name, "logs": {k: float(v) for k, v in logs.items()}})
    with _replaced(os.path.join(folder, INDEX)) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(sorted(records, key=lambda r: r["epoch"]), f, indent=2)
    if first:  # the folder may have been made before (by `EpochCheckpoint`): its own name, flushed once
        durable.fsync_folder(os.path.dirname(os.path.abspath(folder)))


@contextlib.contextmanager
def _replaced(path: str):
    """Yields a temporary path beside `path`; publishes it onto `path` once the block is done."""
    tmp = f"{path}.partial"
    try:
        yield tmp
        durable.publish_file(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_index(folder: str) -> list:
    """The index's records as written, unchecked (`read_records` checks them)."""
    path = os.path.join(folder, INDEX)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{folder!r} holds no checkpoints ({INDEX} is missing): train with "
            "`checkpoint_folder=` first."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_records(folder: str) -> dict:
    """The records of a checkpoint folder's index by epoch, refused (naming the index) unless it
    is what `write_epoch` writes: a list of `{"epoch": int >= 1, "file": a plain file name,
    "logs": {str: number}}`, one per epoch."""
    path = os.path.join(folder, INDEX)
    try:
        records = read_index(folder)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SaveFormatError(f"{path!r} is not valid JSON ({type(err).__name__}). {_RETRAIN}") from err
    if not isinstance(records, list):
        raise SaveFormatError(f"{path!r} must hold a list of epoch records. Received: "
                              f"{type(records).__name__}. {_RETRAIN}")
    by_epoch = {}
    for i, record in enumerate(records):
        logs = record.get("logs") if isinstance(record, dict) else None
        if not (isinstance(record, dict) and type(record.get("epoch")) is int and record["epoch"] >= 1
                and isinstance(record.get("file"), str) and isinstance(logs, dict)
                and all(isinstance(k, str) and type(v) in (int, float) for k, v in logs.items())):
            raise SaveFormatError(
                f'{path!r}: record {i} must be {{"epoch": an integer >= 1, "file": a file name, "logs": '
                f"{{name: number}}}}. Received: {cut(record, 120)}. {_RETRAIN}")
        name = record["file"]
        if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
                or os.path.isabs(name)):
            raise SaveFormatError(
                f"{path!r} lists {name!r} for epoch {record['epoch']}, which is not a plain file name inside "
                f"the folder (no '/', '..', absolute path, backslash or NUL byte). {_RETRAIN}")
        if record["epoch"] in by_epoch:
            raise SaveFormatError(f"{path!r} lists epoch {record['epoch']} twice. {_RETRAIN}")
        by_epoch[record["epoch"]] = record
    return by_epoch


def checkpoint_file(folder: str, record: dict) -> str:
    """The path of a record's weights file, refused when it is a link (which can point anywhere)
    or not a regular file, and named when it is missing."""
    file = os.path.join(folder, record["file"])
    index = os.path.join(folder, INDEX)
    if os.path.islink(file):
        raise SaveFormatError(
            f"{file!r} is a symbolic link: a checkpoint folder holds its own files, and a link can point "
            f"anywhere on the machine. Replace it with the file itself, or train again with `checkpoint_folder=`.")
    if not os.path.lexists(file):
        raise FileNotFoundError(f"{file!r} is missing, though {index!r} lists it for epoch {record['epoch']}: "
                                "load another epoch, or train again with `checkpoint_folder=`.")
    if not stat.S_ISREG(os.lstat(file).st_mode):
        raise SaveFormatError(f"{file!r} is not a regular file (a folder, device or pipe), though "
                              f"{index!r} lists it for epoch {record['epoch']}. {_RETRAIN}")
    return file


def load_epoch(folder: str, model, epoch: int) -> None:
    """Loads the weights saved at the end of `epoch` into `model`, naming the saved epochs when
    it is not among them."""
    records = read_records(folder)
    if epoch not in records:
        raise ValueError(f"no checkpoint for epoch {epoch} in {folder!r}; saved epochs: {sorted(records)}")
    weights_file.load_weights(model, checkpoint_file(folder, records[epoch]))
