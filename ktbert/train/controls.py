"""Training controls of the learner: weight decay, freezing, model saves and checkpoints."""

from __future__ import annotations

import json
import numbers
import os
import stat

from ktbert.checks import check_count, check_flag, check_non_negative, check_path, cut, echo
from ktbert.model.compiling import BERT_WEIGHT_DECAY
from ktbert.serve import folder_writes, saving, weights_file
from ktbert.train import checkpoints, freezing, hyperparameters

MODEL_FORMAT = "ktbert-model"
_RETRAIN = "It was edited or damaged: train again with `checkpoint_folder=` to write it anew."


class ControlsMixin:
    """What trains and how it is saved; mixed into `Learner`."""

    # -- weight decay and freezing -----------------------------------------------------------
    def get_weight_decay(self) -> float:
        """The decoupled weight decay of the optimizer (0 when off)."""
        return hyperparameters.get_weight_decay(self.model.optimizer)

    def set_weight_decay(self, wd: float = BERT_WEIGHT_DECAY) -> None:
        """Sets the decoupled weight decay; biases, LayerNorm and embeddings stay undecayed.

        Off (0) until set, as in ktrain; `set_weight_decay()` applies the BERT recipe's 0.01.
        """
        hyperparameters.set_weight_decay(self.model.optimizer, check_non_negative(wd, "wd"))

    def freeze(self, freeze_range: int | None = None) -> None:
        """Freezes layers; ktrain's `freeze`.

        For a ktbert classifier, `freeze()` trains only the classification head (the
        feature-based approach), and `freeze(k)` freezes the bottom `k` encoder blocks
        (block 0 is the embeddings, blocks 1..L the transformer layers). For other Keras
        models, `freeze()` trains only the last Dense layer and `freeze(k)` freezes
        `model.layers[:k]`, as ktrain did. The optimizer restarts (its moments are dropped).
        """
        if freeze_range is not None:
            message = ("`freeze_range` must be a non-negative integer (the bottom blocks to freeze) or None "
                       f"(train only the head). Received: freeze_range={echo(freeze_range)}")
            if isinstance(freeze_range, bool) or not isinstance(freeze_range, numbers.Integral):
                raise TypeError(message)
            if freeze_range < 0:
                raise ValueError(message)
            freeze_range = int(freeze_range)
        freezing.set_frozen_blocks(self.model, freeze_range)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def unfreeze(self, n_top: int | None = None) -> None:
        """Makes the encoder trainable: all of it, or (ktbert classifiers) only its top `n_top` layers."""
        if n_top is None:
            freezing.set_frozen_blocks(self.model, 0)
        else:
            n_top = check_count(n_top, "n_top")
            blocks = len(freezing.encoder_blocks(self.model))
            freezing.set_frozen_blocks(self.model, blocks - n_top)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def print_layers(self, show_weights: bool = True) -> list:
        """Prints each layer with its class, whether it trains and its parameter count; returns the rows."""
        show_weights = check_flag(show_weights, "show_weights")
        rows = freezing.layer_table(self.model)
        width = max(len(r[0]) for r in rows) if rows else 10
        for i, (name, kind, trainable, count) in enumerate(rows):
            line = f"{i:3d} {name:<{width}} {kind:<28} trainable={trainable}"
            print(line + (f"  params={count:,}" if show_weights else ""))
        return rows

    # -- saving and checkpoints --------------------------------------------------------------
    def save_model(self, folder: str) -> None:
        """Saves the model's weights (safetensors) and its config into `folder`."""
        folder = check_path(folder, "folder", "folder")
        config = self.model.get_config() if hasattr(self.model, "get_config") else {}

        def write(tmp):
            weights_file.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {"model_class": type(self.model).__name__, "model": json.loads(json.dumps(config, default=repr))}
        saving.write_folder(folder, write, manifest, fmt=MODEL_FORMAT)

    def load_model(self, folder: str) -> None:
        """Loads weights saved by `save_model` into this learner's model (same architecture)."""
        folder = check_path(folder, "folder", "folder")
        with folder_writes.reading(folder):  # no save swaps the folder between the checksum and the read
            manifest = saving.read_manifest(folder, fmt=MODEL_FORMAT, required=(saving.WEIGHTS,))
            if manifest.get("model_class") != type(self.model).__name__:
                raise saving.SaveFormatError(
                    f"{folder!r} holds a {manifest.get('model_class')} but this learner's model is a "
                    f"{type(self.model).__name__}."
                )
            weights_file.load_weights(self.model, os.path.join(folder, saving.WEIGHTS))

    def load_checkpoint(self, folder: str, epoch: int) -> None:
        """Loads the weights saved at the end of `epoch` (1-based) into the model."""
        folder = check_path(folder, "folder", "folder")
        epoch = check_count(epoch, "epoch")
        records = _checkpoint_records(folder)
        if epoch not in records:
            raise ValueError(f"no checkpoint for epoch {epoch} in {folder!r}; saved epochs: {sorted(records)}")
        weights_file.load_weights(self.model, _checkpoint_file(folder, records[epoch]))

    def load_best(self, folder: str, monitor: str = "val_loss") -> dict:
        """Loads the epoch with the best `monitor` ("val_loss", "val_accuracy", "val_macro_f1").

        Returns:
            dict. the chosen epoch's record: `epoch`, `file` and its `logs`.
        """
        folder = check_path(folder, "folder", "folder")
        if not isinstance(monitor, str):
            raise TypeError("`monitor` must be the name of a metric in the epoch logs, such as 'val_loss'. "
                            f"Received: monitor={echo(monitor)}")
        _checkpoint_records(folder)  # refused here, naming the index, if it is not what EpochCheckpoint writes
        record = checkpoints.best_checkpoint(folder, monitor)
        self.load_checkpoint(folder, record["epoch"])
        return record


def _checkpoint_records(folder: str) -> dict:
    """The records of a checkpoint folder's index by epoch, refused (naming the index) unless it
    is what `EpochCheckpoint` writes: a list of `{"epoch": int >= 1, "file": a plain file name,
    "logs": {str: number}}`, one per epoch."""
    path = os.path.join(folder, checkpoints.INDEX)
    try:
        records = checkpoints.read_index(folder)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise saving.SaveFormatError(f"{path!r} is not valid JSON ({type(err).__name__}). {_RETRAIN}") from err
    if not isinstance(records, list):
        raise saving.SaveFormatError(f"{path!r} must hold a list of epoch records. Received: "
                                     f"{type(records).__name__}. {_RETRAIN}")
    by_epoch = {}
    for i, record in enumerate(records):
        logs = record.get("logs") if isinstance(record, dict) else None
        if not (isinstance(record, dict) and type(record.get("epoch")) is int and record["epoch"] >= 1
                and isinstance(record.get("file"), str) and isinstance(logs, dict)
                and all(isinstance(k, str) and type(v) in (int, float) for k, v in logs.items())):
            raise saving.SaveFormatError(
                f'{path!r}: record {i} must be {{"epoch": an integer >= 1, "file": a file name, "logs": '
                f"{{name: number}}}}. Received: {cut(record, 120)}. {_RETRAIN}")
        name = record["file"]
        if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
                or os.path.isabs(name)):
            raise saving.SaveFormatError(
                f"{path!r} lists {name!r} for epoch {record['epoch']}, which is not a plain file name inside "
                f"the folder (no '/', '..', absolute path, backslash or NUL byte). {_RETRAIN}")
        if record["epoch"] in by_epoch:
            raise saving.SaveFormatError(f"{path!r} lists epoch {record['epoch']} twice. {_RETRAIN}")
        by_epoch[record["epoch"]] = record
    return by_epoch


def _checkpoint_file(folder: str, record: dict) -> str:
    """The path of a record's weights file, refused when it is a link (which can point anywhere)
    or not a regular file, and named when it is missing."""
    file = os.path.join(folder, record["file"])
    index = os.path.join(folder, checkpoints.INDEX)
    if os.path.islink(file):
        raise saving.SaveFormatError(
            f"{file!r} is a symbolic link: a checkpoint folder holds its own files, and a link can point "
            f"anywhere on the machine. Replace it with the file itself, or train again with `checkpoint_folder=`.")
    if not os.path.lexists(file):
        raise FileNotFoundError(f"{file!r} is missing, though {index!r} lists it for epoch {record['epoch']}: "
                                "load another epoch, or train again with `checkpoint_folder=`.")
    if not stat.S_ISREG(os.lstat(file).st_mode):
        raise saving.SaveFormatError(f"{file!r} is not a regular file (a folder, device or pipe), though "
                                     f"{index!r} lists it for epoch {record['epoch']}. {_RETRAIN}")
    return file
