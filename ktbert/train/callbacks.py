"""Keras callbacks that drive the learning rate and momentum step by step and record them."""

from __future__ import annotations

import keras

from ktbert.train import hyperparameters
from ktbert.evaluate.metrics import lower_is_better
from ktbert.train.schedules import triangular


class StepSchedule(keras.callbacks.Callback):
    """Sets the optimizer's rate (and Adam's `beta_1`) before every training step.

    The values used are written into the batch and epoch `logs` as `lr` and `momentum`, so
    Keras' `History` keeps them, and every step's values are kept in `self.lrs`, `self.moms`.

    Args:
        schedule: callable. step index (0-based, counted over the whole run) -> learning rate.
        momentum: callable or None. step index -> `beta_1`; None leaves momentum alone.
    """

    def __init__(self, schedule, momentum=None):
        super().__init__()
        self.schedule = schedule
        self.momentum = momentum
        self.step = 0
        self.lrs: list = []
        self.moms: list = []
        self._lr = None
        self._mom = None

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        self._lr = float(self.schedule(self.step))
        optimizer.learning_rate = self._lr
        if self.momentum is not None:
            self._mom = float(self.momentum(self.step))
            hyperparameters.set_momentum(optimizer, self._mom)
        else:
            self._mom = hyperparameters.get_momentum(optimizer)

    def on_train_batch_end(self, batch, logs=None):
        self.lrs.append(self._lr)
        self.moms.append(self._mom)
        self.step += 1
        self._write(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._write(logs)

    # === State, for training checkpoints ===
    def get_state(self) -> dict:
        """The position in the schedule and every value used so far, as plain JSON."""
        return {"step": self.step, "lrs": list(self.lrs), "moms": list(self.moms)}

    def set_state(self, state: dict) -> None:
        """Goes on from `get_state()`'s position, as if every step before it had run here."""
        self.step = int(state["step"])
        self.lrs[:] = state["lrs"]
        self.moms[:] = state["moms"]

    def _write(self, logs):
        if logs is None or self._lr is None:
            return
        logs["lr"] = self._lr
        if self._mom is not None:
            logs["momentum"] = self._mom


class TriangularSchedule(StepSchedule):
    """ktrain's `autofit` policy: triangular cycles about an epoch long, the peak cut on plateaus.

    The rate climbs from `peak / 10` to `peak` over `ceil(steps_per_epoch / 2)` steps and back
    (`ktbert.train.schedules.triangular`), counted over the whole run as ktrain counts them: with
    an odd number of steps per epoch a cycle is one step longer than an epoch; momentum
    moves the other way between `moms[0]` and `moms[1]`. With `reduce_on_plateau=k`, after `k`
    epochs without improvement of `monitor` the peak is divided by `reduce_factor`.
    """

    def __init__(self, peak: float, steps_per_epoch: int, moms=(0.95, 0.85), monitor: str = "val_loss",
                 reduce_on_plateau: int | None = None, reduce_factor: float = 2.0, verbose: int = 1):
        self.peak = float(peak)
        half = max(1, -(-steps_per_epoch // 2))
        momentum = None
        if moms is not None:
            momentum = lambda step: triangular(step, moms[0], moms[1], half)  # noqa: E731
        super().__init__(lambda step: triangular(step, self.peak / 10, self.peak, half), momentum)
        self.monitor = monitor
        self.reduce_on_plateau = reduce_on_plateau
        self.reduce_factor = float(reduce_factor)
        self.verbose = verbose
        self._best = None
        self._wait = 0

    def get_state(self) -> dict:
        return {**super().get_state(), "peak": self.peak, "best": self._best, "wait": self._wait}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.peak, self._best, self._wait = state["peak"], state["best"], state["wait"]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if not self.reduce_on_plateau or logs is None or self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        better = self._best is None or (value < self._best if lower_is_better(self.monitor) else value > self._best)
        if better:
            self._best, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.reduce_on_plateau:
            self.peak /= self.reduce_factor
            self._wait = 0
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} has not improved for {self.reduce_on_plateau} "
                      f"epoch(s); peak learning rate reduced to {self.peak:.3g}")
