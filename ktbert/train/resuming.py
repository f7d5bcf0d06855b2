"""Periodic training checkpoints and resuming from them: what `checkpoint_every=` and `resume=`
add to the learner's loop (`ktbert.train.loop`).

`prepare` checks the two arguments, reads the newest complete checkpoint of `resume` (passing
over a damaged or half-written one, with a warning), refuses one written by another run, naming
what differs, puts its variables back and plans the `fit` calls: the rest of the interrupted
epoch, then the epochs after it, with the shuffled batches in the order the uninterrupted run
would have seen them (`ktbert.data.resumed_batches`). `CheckpointedRun.train` runs them with
one set of callbacks (`ktbert.train.step_checkpoints`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import keras

from ktbert.checks import check_count, check_path
from ktbert.data.batching import draw_seed
from ktbert.data.resumed_batches import resumed_datasets
from ktbert.data.texts import TokenizedTexts
from ktbert.model.frozen import mark_weights_changed
from ktbert.saving import training_checkpoint as files
from ktbert.train import distribute, hyperparameters, run_state
from ktbert.train.step_checkpoints import OneRunCallbacks, RunParts, StepCheckpoint
from ktbert.train.training_state import run_variables

_MAX_SHOWN = 6  # differences named in a refusal


@dataclasses.dataclass
class CheckpointedRun:
    """One fit with `checkpoint_every=` or `resume=`: where it writes, what it resumes, its `fit` calls.

    Attributes:
        folder: str or None. where checkpoints are written (None: nowhere).
        every: int or None. steps between checkpoints.
        steps: int. batches per epoch.
        epochs: int. the fit's epochs.
        identity: dict. `fingerprint` and shuffling `seed`, written into every checkpoint.
        variables: list. every variable a checkpoint holds, in its order.
        phases: list. `(dataset, initial_epoch, epochs)` of each `fit` call.
        resumed: dict or None. the checkpoint resumed: its `path`, `content`, `metrics` and `best_weights`.
        steps_before: int. the optimizer's step count before this run's first step.
    """

    folder: str | None
    every: int | None
    steps: int
    epochs: int
    identity: dict
    variables: list
    phases: list
    resumed: dict | None
    steps_before: int

    def describe(self) -> str:
        """Where a resumed run goes on from, in words."""
        step = self.resumed["content"]["step"]
        epoch, batch = divmod(step, self.steps)
        where = ("its end" if len(self.phases) == 1 and self.phases[0][1] == self.epochs else
                 f"epoch {epoch + 1}, batch {batch + 1} of {self.steps}")
        return f"resuming from {self.resumed['path']} (step {step}): going on at {where}"

    def callback(self, stepper, guard, early_stopping, record) -> StepCheckpoint:
        """The fit's last callback: it writes the checkpoints and restores the resumed state."""
        parts = RunParts(stepper, guard, early_stopping, record)
        return StepCheckpoint(self.folder, self.every, self.steps, self.variables, self.identity, parts, self.resumed)

    def train(self, model, callbacks: list, verbose: int, validation_data, class_weight, loop: str):
        """Runs the planned `fit` calls; one call, as any fit's, unless the run resumes."""
        if self.resumed is None:
            dataset, _, epochs = self.phases[0]
            return distribute.fit(model, dataset, None, loop, epochs=epochs, callbacks=callbacks, verbose=verbose,
                                  validation_data=validation_data, class_weight=class_weight)
        listed = OneRunCallbacks(callbacks, verbose, self.epochs, int(self.phases[0][0].cardinality()), model)
        for i, (dataset, first, epochs) in enumerate(self.phases):
            listed.last = i == len(self.phases) - 1
            listed.set_steps(int(dataset.cardinality()))
            hyperparameters.build_for_training(model, dataset)
            model.fit(dataset, shuffle=False, epochs=epochs, initial_epoch=first, callbacks=listed, verbose=verbose,
                      validation_data=validation_data, class_weight=class_weight)
            if model.stop_training:
                break
        listed.finish()
        return model.history


def prepare(learner, dataset, epochs: int, *, checkpoint_folder, checkpoint_every, resume,
            fit_arguments: dict) -> CheckpointedRun | None:
    """Checks `checkpoint_every` and `resume`, restores the checkpoint resumed and plans the fit;
    None when neither is given (the fit runs as always)."""
    if checkpoint_every is None and resume is None:
        return None
    if checkpoint_every is not None:
        checkpoint_every = check_count(checkpoint_every, "checkpoint_every")
        if checkpoint_folder is None:
            raise ValueError("`checkpoint_every` writes the training state into `checkpoint_folder`: pass that "
                             f"folder too. Received: checkpoint_every={checkpoint_every}, checkpoint_folder=None")
    resume = None if resume is None else check_path(resume, "resume", "folder")
    _check_supported(learner)
    if checkpoint_every is not None and not _same_folder(checkpoint_folder, resume):
        _refuse_earlier_checkpoints(checkpoint_folder)
    model = learner.model
    steps = int(dataset.cardinality())
    hyperparameters.build_for_training(model, dataset)  # the optimizer's and metrics' variables exist now
    variables = run_variables(model)
    found = None if resume is None else _read(resume)
    seed = learner.seed if learner.seed is not None else (found[1]["seed"] if found else draw_seed())
    batches = {"batch_size": learner.batch_size, "steps_per_epoch": steps, "bucketing": learner.bucketing,
               "shuffle seed": seed}
    now = run_state.fingerprint(model, variables, learner.train_data, learner.val_data, batches, fit_arguments)
    identity = {"fingerprint": now, "seed": seed}
    x, y = learner.train_data.x, learner.train_data.y
    if found is None:
        if learner.seed is None:  # the fit's dataset drew a seed nobody knows: draw one to record
            dataset = resumed_datasets(x, y, learner.batch_size, seed, 0, 0, learner.bucketing, learner.model)[1]
        return CheckpointedRun(checkpoint_folder, checkpoint_every, steps, epochs, identity, variables,
                               [(dataset, 0, epochs)], None, _iterations(model))
    path, content, passed_over = found
    differ = run_state.differences(content["fingerprint"], now)
    if differ:
        more = f"; and {len(differ) - _MAX_SHOWN} more" if len(differ) > _MAX_SHOWN else ""
        raise ValueError(
            f"`resume` {path!r} was written by another run: {'; '.join(differ[:_MAX_SHOWN])}{more}. Resume with the "
            "model, data and fit arguments it was written with, or train without `resume=` to start afresh.")
    if passed_over and checkpoint_every is not None and _same_folder(checkpoint_folder, resume):
        files.drop(resume, [p for p, _ in passed_over])  # damaged: this run writes those steps again
    resumed = _restore(model, variables, path, content)
    step = content["step"]
    epoch, batch = divmod(step, steps)
    if content["finished"] or content["stop_training"]:
        phases = [(dataset, epochs, epochs)]  # nothing left to train: the callbacks end the run
    else:
        rest, later = resumed_datasets(x, y, learner.batch_size, seed, epoch, batch, learner.bucketing,
                                       learner.model)
        phases = [(later, epoch, epochs)] if rest is None else [(rest, epoch, epoch + 1)] + (
            [(later, epoch + 1, epochs)] if epoch + 1 < epochs else [])
    return CheckpointedRun(checkpoint_folder, checkpoint_every, steps, epochs, identity, variables, phases,
                           resumed, _iterations(model) - step)


def _check_supported(learner) -> None:
    if learner.strategy is not None:
        raise ValueError(
            "`checkpoint_every` and `resume` are not supported under a tf.distribute strategy: each replica's "
            f"position in the data is not saved. Received: strategy={type(learner.strategy).__name__}. Use "
            "`checkpoint_folder=` (the weights after every epoch) there.")
    x = learner.train_data.x
    if not isinstance(x, TokenizedTexts):
        raise ValueError(
            "`checkpoint_every` and `resume` need training texts tokenized by a ktbert loader: array data is "
            "shuffled inside tf.data, where the position in an epoch cannot be saved. Received: train_data of "
            f"{type(x).__name__}. Load the texts with `ktbert.texts_from_df` (or another ktbert loader).")


def _same_folder(a, b) -> bool:
    return a is not None and b is not None and os.path.realpath(a) == os.path.realpath(b)


def _refuse_earlier_checkpoints(folder: str) -> None:
    found = files.list_checkpoints(folder)
    if found:
        names = ", ".join(os.path.basename(path) for _, path in found[:3])
        raise FileExistsError(
            f"`checkpoint_folder` {folder!r} already holds training checkpoints of an earlier run ({names}). Pass "
            f"resume={folder!r} to go on with that run, or choose another folder (or remove them) to start afresh.")


def _read(folder: str) -> tuple:
    """The newest complete checkpoint of `folder`, with a warning naming newer ones passed over."""
    path, content, passed_over = files.read_latest(folder)
    for skipped, reason in passed_over:
        warnings.warn(f"`resume`: passed over {os.path.basename(skipped)}, which could not be read ({reason}); "
                      f"resuming from {os.path.basename(path)}.", stacklevel=5)
    return path, content, passed_over


def _restore(model, variables: list, path: str, content: dict) -> dict:
    """Assigns the checkpoint's variables (after every array is read and checked) and returns what
    the callbacks restore at the start of the fit."""
    layout = [(v.path, tuple(v.shape), keras.backend.standardize_dtype(v.dtype)) for v in variables]
    values = files.read_arrays(os.path.join(path, files.STATE), layout)
    best = None
    if content.get("best_weights"):
        weights = [(v.path, tuple(v.shape), keras.backend.standardize_dtype(v.dtype)) for v in model.weights]
        best = files.read_arrays(os.path.join(path, files.BEST), weights)
    for variable, value in zip(variables, values):
        variable.assign(value)
    mark_weights_changed(model)
    metric_ids = {id(v) for v in model.metrics_variables}
    metrics = [(v, value) for v, value in zip(variables, values) if id(v) in metric_ids]
    return {"path": path, "content": content, "metrics": metrics, "best_weights": best}


def _iterations(model) -> int:
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))
