"""Keras callbacks that drive the learning rate step by step and record what they set."""

from __future__ import annotations

import keras
import numpy as np


class StepSchedule(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before every training step from `schedule(step)`.

    The rate used is written into the batch and epoch `logs` as `lr`, so Keras' `History`
    keeps it, and every step's rate is kept in `self.lrs`.

    Args:
        schedule: callable. step index (0-based, counted over the whole run) -> learning rate.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.step = 0
        self.lrs: list = []
        self._current = None

    def on_train_batch_begin(self, batch, logs=None):
        self._current = float(self.schedule(self.step))
        self.model.optimizer.learning_rate = self._current

    def on_train_batch_end(self, batch, logs=None):
        self.lrs.append(self._current)
        self.step += 1
        if logs is not None:
            logs["lr"] = self._current

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._current is not None:
            logs["lr"] = self._current


def read_learning_rate(optimizer) -> float:
    """The rate the optimizer's next step will use, as a Python float."""
    return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
