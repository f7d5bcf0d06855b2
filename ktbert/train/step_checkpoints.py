"""The callbacks of a checkpointed or resumed fit: `StepCheckpoint` writes the whole training state
every N steps and puts a checkpoint's state back when a fit resumes; `OneRunCallbacks` lets
Keras train a resumed run in two `fit` calls (the rest of the interrupted epoch, then the epochs
after it) while every callback sees one run: one `on_train_begin`, one `on_train_end`.

What a checkpoint holds is `ktbert.train.run_state`'s (callbacks, history, identity) and
`ktbert.train.training_state.run_variables` (weights, seed generators, optimizer, metrics); how
it is written is `ktbert.saving.training_checkpoint`'s.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from ktbert.saving import training_checkpoint
from ktbert.train import run_state


@dataclasses.dataclass
class RunParts:
    """The callbacks of one fit whose state a checkpoint carries."""

    stepper: object  # StepSchedule
    guard: object  # NonFiniteGuard
    early_stopping: object  # keras.callbacks.EarlyStopping or None
    record: object  # keras.callbacks.History


class StepCheckpoint(keras.callbacks.Callback):
    """Writes a training checkpoint every `every` steps of the fit (counted over the whole run),
    and when the fit ends; restores a checkpoint's callback and metric state when resuming.

    A checkpoint due at the last step of an epoch is written at the end of that epoch, after
    its validation, early stopping and epoch checkpoint, so a run resumed from it starts the
    next epoch with nothing of the last one missing. No checkpoint is written for a step whose
    loss was not finite. This callback must be the last of the fit's, so the others have
    updated (or, at the start, reset) their state before it reads (or restores) it.

    Args:
        folder: str or None. the checkpoint folder; None writes nothing (resuming only).
        every: int or None. steps between checkpoints.
        steps_per_epoch: int. the batches of one epoch.
        variables: list. `run_variables(model)`, in the order the checkpoint holds them.
        identity: dict. written into every checkpoint: `fingerprint` and the shuffling `seed`.
        parts: RunParts. the callbacks whose state is saved.
        resumed: dict or None. `{"content": ..., "metrics": [(variable, value)], "best_weights": list or None}`
            of the checkpoint this fit resumes.
    """

    def __init__(self, folder, every, steps_per_epoch: int, variables: list, identity: dict, parts: RunParts,
                 resumed: dict | None = None):
        super().__init__()
        self.folder, self.every, self.steps_per_epoch = folder, every, steps_per_epoch
        self.variables, self.identity, self.parts, self.resumed = variables, identity, parts, resumed
        # Mid-epoch, the metrics hold the epoch's running totals; at an epoch's end, the
        # validation's, which the next epoch starts without.
        self._metrics_pending = resumed is not None and resumed["content"]["step"] % steps_per_epoch != 0
        self._last_written = None

    # === Resuming ===
    def on_train_begin(self, logs=None):
        if self.resumed is None:
            return
        content = self.resumed["content"]
        parts = self.parts
        run_state.restore_callbacks(content, parts.stepper, parts.early_stopping, parts.record,
                                    self.resumed["best_weights"])
        parts.guard.start_at(content["step"])
        self._last_written = (content["step"], content["finished"])

    def on_epoch_begin(self, epoch, logs=None):
        if self._metrics_pending:  # after Keras reset the metrics for the epoch
            self._metrics_pending = False
            for variable, value in self.resumed["metrics"]:
                variable.assign(value)

    # === Writing ===
    def on_train_batch_end(self, batch, logs=None):
        step = self.parts.stepper.step
        if self._due(step) and step % self.steps_per_epoch and self.parts.guard.failed_step is None:
            self.write(step)

    def on_epoch_end(self, epoch, logs=None):
        step = self.parts.stepper.step
        finite = all(math.isfinite(v) for v in (logs or {}).values() if isinstance(v, (int, float)))
        if self._due(step) and step % self.steps_per_epoch == 0 and finite and self.parts.guard.failed_step is None:
            self.write(step)

    def on_train_end(self, logs=None):
        if self.folder is not None and self.every and self.parts.guard.failed_step is None:
            self.write(self.parts.stepper.step, finished=True)

    def _due(self, step: int) -> bool:
        return self.folder is not None and bool(self.every) and step > 0 and step % self.every == 0

    def write(self, step: int, finished: bool = False) -> str | None:
        """Writes the checkpoint after `step` steps; returns its folder (None when the same was written already)."""
        if self._last_written == (step, finished):
            return None
        parts = self.parts
        content = {"step": step, "finished": finished, "stop_training": bool(self.model.stop_training),
                   **self.identity, **run_state.callback_state(parts.stepper, parts.early_stopping, parts.record)}
        arrays = {training_checkpoint.STATE: [np.asarray(v.numpy()) for v in self.variables]}
        names = {training_checkpoint.STATE: [v.path for v in self.variables]}
        best = getattr(parts.early_stopping, "best_weights", None)
        content["best_weights"] = best is not None
        if best is not None:
            arrays[training_checkpoint.BEST] = list(best)
            names[training_checkpoint.BEST] = [v.path for v in self.model.weights]
        path = training_checkpoint.write_checkpoint(self.folder, step, arrays, names, content)
        self._last_written = (step, finished)
        return path


class OneRunCallbacks(keras.callbacks.CallbackList):
    """Keras' `CallbackList` for one run trained in several `fit` calls: `on_train_begin` reaches
    the callbacks at the first call only, `on_train_end` at the last (`finish`), so early
    stopping, the history and the checkpoints see one run. Set `last` before the last call;
    `steps` (the progress bar's) with `set_steps` before each."""

    def __init__(self, callbacks, verbose: int, epochs: int, steps: int, model):
        super().__init__(callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
                         steps=steps, model=model)
        self.begun, self.last, self.ended = False, False, False
        self._logs = None

    def set_steps(self, steps: int) -> None:
        self.set_params({**(self.params or {}), "steps": steps})

    def on_train_begin(self, logs=None):
        if not self.begun:
            self.begun = True
            super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        self._logs = logs if logs is not None else self._logs
        if self.last:
            self.finish()

    def finish(self) -> None:
        """Ends the run for every callback (once), with the last epoch's logs."""
        if not self.ended:
            self.ended = True
            super().on_train_end(self._logs)
