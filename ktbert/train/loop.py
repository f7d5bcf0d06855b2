"""The one training loop every fit method runs (`TrainingLoop._run`), and the history it keeps.

A fit method plans a schedule and hands it here with its extras, all keyword-only: early
stopping, checkpoints, class weights, callbacks, and training checkpoints every N steps or a
resumed run (`ktbert.train.resuming`). The loop runs Keras' `fit` (or, under a tf.distribute
strategy, the loop that works there), guards against a loss that turns NaN, reports Ctrl-C,
and writes ktrain's history layout.
"""

from __future__ import annotations

import keras

from ktbert.checks import check_choice, check_count, check_path, check_verbose, echo
from ktbert.evaluate.metrics import lower_is_better
from ktbert.train import checkpoints, distribute, resuming
from ktbert.train.callbacks import StepSchedule
from ktbert.train.class_weights import resolve_class_weight
from ktbert.train.faults import NonFiniteGuard, TrainingDiverged, report_interrupt
from ktbert.train.learner_parts import LearnerParts

MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")


class TrainingLoop(LearnerParts):
    """The learner's loop; mixed into `Learner`."""

    def _run(self, dataset, stepper: StepSchedule, epochs: int, *, callbacks=None, verbose: int = 1,
             class_weight=None, checkpoint_folder=None, early_stopping=None, monitor: str = "val_loss",
             checkpoint_every=None, resume=None, fit_arguments=None):
        """Trains on `dataset` for `epochs` with the schedule `stepper` and the requested extras:
        `model.fit`, or under a tf.distribute strategy the loop that works there (`distribute.fit`).
        `fit_arguments` (the fit method and its arguments) identify the run in its checkpoints.

        Returns:
            keras.callbacks.History in ktrain's layout (also kept as `self.history`).
        """
        callbacks = check_callbacks(callbacks)
        verbose = check_verbose(verbose)
        early_stopping = None if early_stopping in (None, 0) else check_count(early_stopping, "early_stopping")
        if checkpoint_folder is not None:
            checkpoint_folder = check_path(checkpoint_folder, "checkpoint_folder", "folder")
        check_choice(monitor, MONITORS, "monitor")
        if early_stopping:
            self._require_val(f"early_stopping monitors {monitor!r}")
        weights = resolve_class_weight(class_weight, self.train_data.y)
        run = resuming.prepare(self, dataset, epochs, checkpoint_folder=checkpoint_folder,
                               checkpoint_every=checkpoint_every, resume=resume, fit_arguments={
                                   **(fit_arguments or {}), "epochs": epochs, "early_stopping": early_stopping,
                                   "monitor": monitor, "class_weight": weights})
        extra, stopping = [], None
        needs_f1 = monitor == "val_macro_f1" or checkpoint_folder is not None
        if needs_f1 and self.val_data is not None:
            extra.append(checkpoints.MacroF1(lambda: self.predict(calibrated=False), self.val_data.y))
        if checkpoint_folder is not None and self.is_chief:  # one writer per run
            extra.append(checkpoints.EpochCheckpoint(checkpoint_folder))
        if early_stopping:
            stopping = keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(early_stopping), restore_best_weights=True,
                mode="min" if lower_is_better(monitor) else "max", verbose=1 if verbose else 0,
            )
            extra.append(stopping)
        guard = NonFiniteGuard(self.snapshot_overhead)
        record = keras.callbacks.History()
        every = [stepper, guard] + extra + callbacks + [record]
        if run is not None:  # last: it saves (and restores) the others' state
            every.append(run.callback(stepper, guard, stopping, record))
        steps_before = (int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) if run is None
                        else run.steps_before)
        if run is not None and run.resumed is not None and verbose:
            print(run.describe())
        try:
            if run is None:
                distribute.fit(self.model, dataset, self.strategy, self.training_loop,
                               validation_data=self._val_dataset(), epochs=epochs, callbacks=every,
                               verbose=verbose, class_weight=weights)
            else:
                run.train(self.model, every, verbose, self._val_dataset(), weights, self.training_loop)
        except KeyboardInterrupt:
            done = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) - steps_before
            if done == len(stepper.lrs) + 1:  # the step ran; Ctrl-C came before its callbacks
                stepper.on_train_batch_end(done - 1)
            self._keep_history(record, stepper)
            kept = (f"the weights after step {len(self.lr_history)} of this fit" if guard.failed_step is None else
                    f"{guard.restored()}, restored when training diverged at step {guard.failed_step}")
            report_interrupt("Training", (
                f"The learner keeps {kept} and the history up to there ({len(record.epoch)} complete "
                "epoch(s) in `learner.history`, each step's rate in `learner.lr_history`); fit again to go on."))
            raise
        self._keep_history(record, stepper)
        if guard.failed_step is not None:
            lr = stepper.lrs[guard.failed_step - 1] if len(stepper.lrs) >= guard.failed_step else None
            raise TrainingDiverged(guard.message(lr))
        return self.history

    def _keep_history(self, record, stepper: StepSchedule) -> None:
        """The fit's history in ktrain's layout, also when it ended early."""
        if not hasattr(record, "epoch"):  # interrupted before training began
            record.epoch = []
        if record.model is None:
            record.set_model(self.model)
        self.history = per_step_history(record, stepper)
        self.lr_history = stepper.lrs
        self.momentum_history = stepper.moms


def check_callbacks(callbacks) -> list:
    """`callbacks` as a list of Keras callbacks (None: none), or a TypeError saying what to pass."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, keras.callbacks.Callback) for c in callbacks):
        raise TypeError(f"`callbacks` must be a list of keras.callbacks.Callback objects, or None. Received: "
                        f"{echo(callbacks)}. Pass e.g. callbacks=[keras.callbacks.CSVLogger('log.csv')].")
    return list(callbacks)


def per_step_history(history, stepper: StepSchedule):
    """ktrain's history layout: `lr`, `momentum` and `iterations` hold one value per step.

    Keras records the callback's per-epoch values under `lr` and `momentum`; they move to
    `epoch_lr` and `epoch_momentum`.
    """
    logs = history.history
    for key in ("lr", "momentum"):
        if key in logs:
            logs[f"epoch_{key}"] = logs.pop(key)
    logs["lr"] = list(stepper.lrs)
    if any(m is not None for m in stepper.moms):
        logs["momentum"] = list(stepper.moms)
    logs["iterations"] = list(range(1, len(stepper.lrs) + 1))
    return history
