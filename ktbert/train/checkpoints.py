"""Per-epoch checkpoints and the choice of the best epoch by a validation metric.

Each epoch's weights go to `epoch-NNN.safetensors` in the checkpoint folder, and its metrics
(Keras' `val_loss`, `val_accuracy`, and `val_macro_f1` computed here) to `checkpoints.json`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os

import keras
import numpy as np

from ktbert.evaluate import metrics
from ktbert.serve import weights_file

INDEX = "checkpoints.json"


class MacroF1(keras.callbacks.Callback):
    """Makes sure the epoch logs hold `val_macro_f1`, for checkpoints and early stopping.

    ktbert classifiers compile macro-F1 as a metric, so Keras logs it from its own validation
    pass and this callback does nothing. For other models it predicts the whole validation
    data once more at the end of every epoch (as long as one validation pass) and adds
    scikit-learn's macro-F1.

    Args:
        predict: callable. returns the model's outputs on the validation data.
        y_true: numpy array. class indices `(n,)`, or 0/1 rows `(n, classes)` (multi-label,
            thresholded at 0.5).
    """

    def __init__(self, predict, y_true):
        super().__init__()
        self.predict = predict
        self.y_true = np.asarray(y_true)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "val_macro_f1" not in logs:
            logs["val_macro_f1"] = macro_f1(self.y_true, self.predict())


def macro_f1(y_true, proba) -> float:
    y_pred = metrics.predicted_classes(proba, multilabel=np.asarray(y_true).ndim == 2)
    return metrics.f1_scores(y_true, y_pred)["macro_f1"]


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights and the metrics of every epoch into `folder`."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        if not all(math.isfinite(float(v)) for v in (logs or {}).values()):
            return  # a diverged epoch (its weights were restored by the fault guard) is no checkpoint
        name = f"epoch-{epoch + 1:03d}.safetensors"
        # Each file is written aside and renamed into place: Ctrl-C or a crash never leaves
        # a truncated checkpoint or index behind.
        with _replaced(os.path.join(self.folder, name)) as tmp:
            weights_file.save_weights(self.model, tmp)
        records = read_index(self.folder) if os.path.isfile(os.path.join(self.folder, INDEX)) else []
        records = [r for r in records if r["epoch"] != epoch + 1]
        records.append({"epoch": epoch + 1, "file": name,
                        "logs": {k: float(v) for k, v in (logs or {}).items()}})
        with _replaced(os.path.join(self.folder, INDEX)) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(sorted(records, key=lambda r: r["epoch"]), f, indent=2)


@contextlib.contextmanager
def _replaced(path: str):
    """Yields a temporary path beside `path`; renames it onto `path` once the block is done."""
    tmp = f"{path}.partial"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_index(folder: str) -> list:
    path = os.path.join(folder, INDEX)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{folder!r} holds no checkpoints ({INDEX} is missing): train with "
            "`checkpoint_folder=` first."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def best_checkpoint(folder: str, monitor: str = "val_loss") -> dict:
    """The record of the epoch with the best `monitor` (lowest for losses, highest otherwise)."""
    records = read_index(folder)
    scored = [r for r in records if monitor in r["logs"]]
    if not scored:
        present = sorted({k for r in records for k in r["logs"]})
        raise ValueError(f"`monitor` {monitor!r} was not recorded in {folder!r}. Recorded: {present}")
    pick = min if metrics.lower_is_better(monitor) else max
    return pick(scored, key=lambda r: r["logs"][monitor])
