"""Per-epoch checkpoints and the choice of the best epoch by a validation metric.

Each epoch's weights go to `epoch-NNN.safetensors` in the checkpoint folder, and its metrics
(Keras' `val_loss`, `val_accuracy`, and `val_macro_f1` computed here) to `checkpoints.json`;
the folder's format is `ktbert.saving.checkpoint_index`'s.
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from ktbert.evaluate import metrics
from ktbert.evaluate.decisions import Decisions
from ktbert.saving import checkpoint_index


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
    """Macro-F1 of the plain decisions (most probable class, 0.5 per label) on `proba`."""
    y_pred = Decisions.for_labels(y_true, np.asarray(proba).shape[1]).decide(proba)
    return metrics.f1_scores(y_true, y_pred)["macro_f1"]


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the weights and the metrics of every epoch into `folder` (`ktbert.saving.checkpoint_index`)."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        if not all(math.isfinite(float(v)) for v in (logs or {}).values()):
            return  # a diverged epoch (its weights were restored by the fault guard) is no checkpoint
        checkpoint_index.write_epoch(self.folder, self.model, epoch + 1, logs or {})


def best_checkpoint(folder: str, monitor: str = "val_loss") -> dict:
    """The record of the epoch with the best `monitor` (lowest for losses, highest otherwise)."""
    records = list(checkpoint_index.read_records(folder).values())
    scored = [r for r in records if monitor in r["logs"]]
    if not scored:
        present = sorted({k for r in records for k in r["logs"]})
        raise ValueError(f"`monitor` {monitor!r} was not recorded in {folder!r}. Recorded: {present}")
    pick = min if metrics.lower_is_better(monitor) else max
    return pick(scored, key=lambda r: r["logs"][monitor])
