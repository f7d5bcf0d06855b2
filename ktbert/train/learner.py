"""The learner: trains a compiled model on `(x, y)` data with ktrain's fit methods.

It owns the training loop's schedules, the learning-rate finder, freezing, weight decay,
checkpoints and history. Batching comes from `ktbert.data.batching`, drawing from `ktbert.evaluate.plots`,
and prediction for shipping lives in `ktbert.serve.predictor`.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from ktbert.train import checkpoints
from ktbert.train import freezing
from ktbert.train import hyperparameters
from ktbert.train import lr_finder
from ktbert.evaluate import plots
from ktbert.serve import saving
from ktbert.data.batching import check_batch_size, num_examples, steps_per_epoch, to_dataset
from ktbert.train.callbacks import StepSchedule, TriangularSchedule
from ktbert.data.texts import TextData
from ktbert.evaluate.metrics import lower_is_better
from ktbert.train.schedules import constant_schedule, one_cycle_momentum, one_cycle_schedule, sgdr_schedule
from ktbert.train.training_state import TrainingState

DEFAULT_EARLY_STOPPING = 5
DEFAULT_REDUCE_ON_PLATEAU = 2
MODEL_FORMAT = "ktbert-model"


def _check_data(data, what: str):
    if data is None:
        return None
    if not isinstance(data, tuple) or len(data) != 2:
        raise TypeError(
            f"`{what}` must be an `(x, y)` pair, as the ktbert loaders return. Received: {type(data).__name__}"
        )
    x, y = data
    y = np.asarray(y)
    if num_examples(x) != len(y):
        raise ValueError(f"`{what}` has {num_examples(x)} examples but {len(y)} labels.")
    return TextData(x, y)


def _check_lr(lr, what: str = "lr") -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not lr > 0:
        raise ValueError(f"`{what}` must be a positive number. Received: {what}={lr!r}")
    return float(lr)


def _check_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer. Received: {what}={value!r}")
    return int(value)


class Learner:
    """Trains a compiled Keras model; made by `ktbert.get_learner`.

    Works with ktbert's text classifiers and `TextData`, and with any compiled Keras 3 model
    and array data `(x, y)`.

    Args:
        model: keras.Model. compiled; a classifier from `text_classifier` or any Keras model.
        train_data: `(x, y)`. from a loader, or arrays.
        val_data: `(x, y)` or None. evaluated after each epoch.
        batch_size: int. examples per training step.
        eval_batch_size: int. examples per evaluation step.
        seed: int or None. seed of the per-epoch shuffling.

    Attributes:
        history: keras.callbacks.History or None. the last fit's history, `lr` and `momentum`
            per epoch included.
        lr_history, momentum_history: list of float. every step's rate and momentum in the
            last fit.
        lr_suggestions: dict. the last `lr_find`'s suggested rates by name.
    """

    def __init__(self, model, train_data, val_data=None, batch_size: int = 32,
                 eval_batch_size: int = 32, seed: int | None = None):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a compiled keras.Model. Received: {type(model).__name__}")
        if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
            raise ValueError("`model` must be compiled: build it with `ktbert.text_classifier` or call model.compile().")
        self.model = model
        self.train_data = _check_data(train_data, "train_data")
        if self.train_data is None:
            raise ValueError("`train_data` is required: pass the training `(x, y)`.")
        self.val_data = _check_data(val_data, "val_data")
        self.batch_size = check_batch_size(batch_size)
        self.eval_batch_size = check_batch_size(eval_batch_size, "eval_batch_size")
        self.seed = seed
        self.history = None
        self.lr_history: list = []
        self.momentum_history: list = []
        self.lr_find_result = None
        self.lr_suggestions: dict = {}
        self.temperature = 1.0
        self.thresholds = None
        hyperparameters.make_schedulable(model)

    # -- datasets ----------------------------------------------------------------------------
    def _train_dataset(self):
        return to_dataset(self.train_data.x, self.train_data.y, self.batch_size, shuffle=True, seed=self.seed)

    def _val_dataset(self):
        if self.val_data is None:
            return None
        return to_dataset(self.val_data.x, self.val_data.y, self.eval_batch_size)

    def steps_per_epoch(self) -> int:
        """Training steps in one epoch."""
        return steps_per_epoch(num_examples(self.train_data.x), self.batch_size)

    # -- training ----------------------------------------------------------------------------
    def _run(self, stepper: StepSchedule, epochs: int, callbacks=None, verbose: int = 1,
             class_weight=None, checkpoint_folder=None, early_stopping=None, monitor="val_loss"):
        extra = []
        needs_f1 = monitor == "val_macro_f1" or checkpoint_folder is not None
        if needs_f1 and self.val_data is not None:
            extra.append(checkpoints.MacroF1(lambda: self.predict(), self.val_data.y))
        if checkpoint_folder is not None:
            extra.append(checkpoints.EpochCheckpoint(checkpoint_folder))
        if early_stopping:
            self._require_val(f"early_stopping monitors {monitor!r}")
            extra.append(keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(early_stopping), restore_best_weights=True,
                mode="min" if lower_is_better(monitor) else "max", verbose=1 if verbose else 0,
            ))
        history = self.model.fit(
            self._train_dataset(),
            validation_data=self._val_dataset(),
            epochs=epochs,
            callbacks=[stepper] + extra + list(callbacks or []),
            verbose=verbose,
            class_weight=resolve_class_weight(class_weight, self.train_data.y),
            shuffle=False,  # the dataset reshuffles itself every epoch
        )
        self.history = history
        self.lr_history = stepper.lrs
        self.momentum_history = stepper.moms
        return history

    def fit(self, lr: float, n_cycles: int = 1, cycle_len: int | None = None, cycle_mult: int = 1,
            lr_decay: float = 1.0, checkpoint_folder: str | None = None, early_stopping: int | None = None,
            monitor: str = "val_loss", callbacks=None, verbose: int = 1, class_weight=None):
        """Trains at a constant rate, or with SGDR (cosine with warm restarts) given `cycle_len`.

        Without `cycle_len`, trains `n_cycles` epochs at `lr`. With it, runs `n_cycles` cycles;
        cycle `c` lasts `cycle_len * cycle_mult**c` epochs and anneals from `lr * lr_decay**c`
        to 0 along a half cosine (`ktbert.schedules.sgdr_schedule`).

        Args:
            lr: float. the (peak) learning rate.
            n_cycles: int. epochs, or cycles with `cycle_len`.
            cycle_len: int or None. epochs in the first cycle.
            cycle_mult: int. each cycle is this many times longer than the one before.
            lr_decay: float. each cycle's peak is this times the one before.
            checkpoint_folder: str or None. save each epoch's weights and metrics there.
            early_stopping: int or None. stop after this many epochs without improvement of
                `monitor`, and restore the best weights.
            monitor: str. "val_loss", "val_accuracy" or "val_macro_f1".
            callbacks: list or None. further Keras callbacks.
            verbose: int. 0 quiet, 1 progress bar, 2 one line per epoch.
            class_weight: "balanced", dict or None. weight per class index; "balanced" weighs
                each class by n / (classes x its count), as scikit-learn does.

        Returns:
            keras.callbacks.History, with `lr` and `momentum` per epoch.
        """
        lr = _check_lr(lr)
        n_cycles = _check_count(n_cycles, "n_cycles")
        if cycle_len is None:
            schedule, epochs = constant_schedule(lr), n_cycles
        else:
            cycle_len = _check_count(cycle_len, "cycle_len")
            cycle_mult = _check_count(cycle_mult, "cycle_mult")
            schedule, epochs = sgdr_schedule(lr, self.steps_per_epoch(), n_cycles, cycle_len, cycle_mult, lr_decay)
        return self._run(StepSchedule(schedule), epochs, callbacks, verbose, class_weight,
                         checkpoint_folder, early_stopping, monitor)

    def fit_onecycle(self, lr: float, epochs: int, pct_start: float = 0.25, div: float = 25.0,
                     div_final: float = 1e5, moms=(0.95, 0.85, 0.95), cycle_momentum: bool = True,
                     checkpoint_folder: str | None = None, callbacks=None, verbose: int = 1, class_weight=None):
        """Trains with the one-cycle policy peaking at `lr`, momentum cycled against it.

        For step `i` of `n` (`pos = i / (n - 1)`, `w = pct_start`,
        `cos_anneal(a, b, p) = b + (a - b) / 2 * (1 + cos(pi * p))`):

        - rate: `cos_anneal(lr / div, lr, pos / w)` while `pos < w`, then
          `cos_anneal(lr, lr / div_final, (pos - w) / (1 - w))`;
        - momentum (Adam's `beta_1`): `cos_anneal(moms[0], moms[1], pos / w)`, then
          `cos_anneal(moms[1], moms[2], (pos - w) / (1 - w))`.

        Defaults (fastai's): `pct_start=0.25`, `div=25`, `div_final=1e5`,
        `moms=(0.95, 0.85, 0.95)`. Adam's bias correction uses the current `beta_1`.

        Args:
            lr: float. the peak learning rate (2e-5 to 1e-4 suits BERT fine-tuning).
            epochs: int. the number of epochs.
            pct_start: float. share of steps warming up.
            div: float. the first rate is `lr / div`.
            div_final: float. the last rate is `lr / div_final`.
            moms: triple of float. momentum at the start, the peak and the end.
            cycle_momentum: bool. cycle momentum (Adam-family optimizers only).
            checkpoint_folder, callbacks, verbose, class_weight: as in `fit`.

        Returns:
            keras.callbacks.History, with `lr` and `momentum` per epoch; `lr_history` and
            `momentum_history` hold every step's.

        Examples:
        ```python
        learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
        learner.fit_onecycle(5e-5, 1)
        ```
        """
        lr = _check_lr(lr)
        epochs = _check_count(epochs, "epochs")
        total = epochs * self.steps_per_epoch()
        schedule = one_cycle_schedule(lr, total, pct_start=pct_start, div=div, div_final=div_final)
        momentum = None
        if cycle_momentum and hyperparameters.get_momentum(self.model.optimizer) is not None:
            momentum = one_cycle_momentum(total, pct_start, moms)
        return self._run(StepSchedule(schedule, momentum), epochs, callbacks, verbose, class_weight,
                         checkpoint_folder)

    def autofit(self, lr: float, epochs: int | None = None, early_stopping: int | None = None,
                reduce_on_plateau: int | None = None, reduce_factor: float = 2.0,
                cycle_momentum: bool = True, monitor: str = "val_loss",
                checkpoint_folder: str | None = None, callbacks=None, verbose: int = 1, class_weight=None):
        """Trains with ktrain's triangular policy; with `epochs=None`, until early stopping.

        Every epoch is one triangular cycle: the rate climbs from `lr / 10` to `lr` over half
        an epoch and back (momentum 0.95 -> 0.85 -> 0.95 against it). With
        `reduce_on_plateau=k` the peak is divided by `reduce_factor` after `k` epochs without
        improvement of `monitor`; with `early_stopping=k` training stops after `k` such epochs
        and the best epoch's weights are restored. `epochs=None` turns both on (patience 5
        and 2 unless given) and trains until it stops.

        Returns:
            keras.callbacks.History, with `lr` and `momentum` per epoch.
        """
        lr = _check_lr(lr)
        if epochs is None:
            self._require_val("autofit with epochs=None stops on the validation metric")
            early_stopping = early_stopping or DEFAULT_EARLY_STOPPING
            reduce_on_plateau = reduce_on_plateau or DEFAULT_REDUCE_ON_PLATEAU
            epochs = 1024
            if verbose:
                print(f"training until {monitor} stops improving: early_stopping={early_stopping}, "
                      f"reduce_on_plateau={reduce_on_plateau}")
        epochs = _check_count(epochs, "epochs")
        if reduce_on_plateau:
            self._require_val(f"reduce_on_plateau monitors {monitor!r}")
        moms = (0.95, 0.85) if cycle_momentum and hyperparameters.get_momentum(self.model.optimizer) is not None else None
        stepper = TriangularSchedule(lr, self.steps_per_epoch(), moms=moms, monitor=monitor,
                                     reduce_on_plateau=reduce_on_plateau, reduce_factor=reduce_factor,
                                     verbose=verbose)
        return self._run(stepper, epochs, callbacks, verbose, class_weight, checkpoint_folder,
                         early_stopping, monitor)

    def _require_val(self, why: str):
        if self.val_data is None:
            raise ValueError(f"{why}, but the learner has no validation data: pass `val_data` to get_learner.")

    # -- learning-rate finder ----------------------------------------------------------------
    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_it: int = 100,
                stop_factor: float = 4.0, max_epochs: int | None = None, beta: float = 0.98,
                show_plot: bool = False, verbose: int = 1):
        """Trains briefly at exponentially growing rates to find a good one; restores the model.

        Runs at most `num_it` steps (capped at `max_epochs` epochs, ktrain's argument), one
        batch each, from `start_lr` to `end_lr`. Stops early once the smoothed loss exceeds
        `stop_factor` times its minimum or turns NaN. The model's weights and the optimizer's
        state are restored exactly afterwards, also after an interrupt or an error.

        Returns:
            LRFindResult, also kept as `self.lr_find_result`; its suggestions (`valley`,
            `steep`, `minimum`) are kept as `self.lr_suggestions`.

        Examples:
        ```python
        learner.lr_find()
        learner.lr_plot()
        learner.fit_onecycle(learner.lr_suggestions["valley"], 1)
        ```
        """
        _check_lr(start_lr, "start_lr")
        _check_lr(end_lr, "end_lr")
        num_it = _check_count(num_it, "num_it")
        if max_epochs is not None:
            num_it = min(num_it, _check_count(max_epochs, "max_epochs") * self.steps_per_epoch())
        state = TrainingState.capture(self.model)
        lr_before = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        try:
            result = lr_finder.run_range_test(
                self.model, self._train_dataset(), start_lr, end_lr,
                num_it, stop_factor=stop_factor, beta=beta, verbose=verbose,
            )
        finally:
            state.restore()
            self.model.optimizer.learning_rate = lr_before
        self.lr_find_result = result
        self.lr_suggestions = dict(result.suggestions)
        if verbose and result.suggestions:
            shown = ", ".join(f"{k}: {v:.2e}" for k, v in result.suggestions.items())
            print(f"\nsuggested learning rates: {shown}. `learner.lr_plot()` shows the curve.")
        if show_plot:
            self.lr_plot()
        return result

    def lr_plot(self, suggest: bool = True, n_skip_beginning: int = 0, n_skip_end: int = 0,
                save_path: str | None = None):
        """Plots the last `lr_find`'s smoothed loss against the rate; returns the figure."""
        if self.lr_find_result is None:
            raise ValueError("No learning-rate finder results: run `learner.lr_find()` first.")
        return plots.plot_lr_find(self.lr_find_result, suggest, n_skip_beginning, n_skip_end, save_path)

    # -- history -----------------------------------------------------------------------------
    def plot(self, plot_type: str = "loss", save_path: str | None = None):
        """Plots the last fit: "loss" (per epoch, validation too), "lr" or "momentum" (per step)."""
        if self.history is None:
            raise ValueError("No training history: fit the model first.")
        if plot_type == "loss":
            h = self.history.history
            extra = {"validation loss": h["val_loss"]} if "val_loss" in h else None
            return plots.plot_series(h["loss"], "epoch", "loss", "training loss", save_path, extra)
        if plot_type == "lr":
            return plots.plot_series(self.lr_history, "step", "learning rate", "learning rate per step", save_path)
        if plot_type == "momentum":
            if not any(m is not None for m in self.momentum_history):
                raise ValueError("This optimizer has no momentum (beta_1) to plot.")
            return plots.plot_series(self.momentum_history, "step", "momentum (beta_1)", "momentum per step", save_path)
        raise ValueError(f"`plot_type` must be 'loss', 'lr' or 'momentum'. Received: plot_type={plot_type!r}")

    # -- weight decay and freezing -----------------------------------------------------------
    def get_weight_decay(self) -> float:
        """The decoupled weight decay of the optimizer (0 when off)."""
        return hyperparameters.get_weight_decay(self.model.optimizer)

    def set_weight_decay(self, wd: float = 0.01) -> None:
        """Sets the decoupled weight decay; biases, LayerNorm and embeddings stay undecayed."""
        if isinstance(wd, bool) or not isinstance(wd, (int, float)) or wd < 0:
            raise ValueError(f"`wd` must be a number >= 0. Received: wd={wd!r}")
        hyperparameters.set_weight_decay(self.model.optimizer, float(wd))

    def freeze(self, freeze_range: int | None = None) -> None:
        """Freezes layers; ktrain's `freeze`.

        For a ktbert classifier, `freeze()` trains only the classification head (the
        feature-based approach), and `freeze(k)` freezes the bottom `k` encoder blocks
        (block 0 is the embeddings, blocks 1..L the transformer layers). For other Keras
        models, `freeze()` trains only the last Dense layer and `freeze(k)` freezes
        `model.layers[:k]`, as ktrain did. The optimizer restarts (its moments are dropped).
        """
        if freeze_range is not None:
            freeze_range = int(freeze_range)
        freezing.set_frozen_blocks(self.model, freeze_range)
        self._recompile()

    def unfreeze(self, n_top: int | None = None) -> None:
        """Makes the encoder trainable: all of it, or (ktbert classifiers) only its top `n_top` layers."""
        if n_top is None:
            freezing.set_frozen_blocks(self.model, 0)
        else:
            blocks = len(freezing.encoder_blocks(self.model))
            freezing.set_frozen_blocks(self.model, blocks - _check_count(n_top, "n_top"))
        self._recompile()

    def print_layers(self, show_weights: bool = True) -> list:
        """Prints each layer with its class, whether it trains and its parameter count; returns the rows."""
        rows = freezing.layer_table(self.model)
        width = max(len(r[0]) for r in rows) if rows else 10
        for i, (name, kind, trainable, count) in enumerate(rows):
            line = f"{i:3d} {name:<{width}} {kind:<28} trainable={trainable}"
            print(line + (f"  params={count:,}" if show_weights else ""))
        return rows

    def _recompile(self) -> None:
        """Compiles again with a fresh optimizer of the same settings: needed after freezing."""
        old = self.model.optimizer
        new = type(old).from_config(hyperparameters.plain_config(old))
        pattern = getattr(old, "_exclude_from_weight_decay_pattern", None)
        if pattern is not None:
            new.exclude_from_weight_decay(var_names=[pattern.pattern])
        config = dict(self.model._compile_config.config)
        config["optimizer"] = new
        self.model.compile(**config)
        hyperparameters.make_schedulable(self.model)

    # -- saving and checkpoints --------------------------------------------------------------
    def save_model(self, folder: str) -> None:
        """Saves the model's weights (safetensors) and its config into `folder`."""
        config = self.model.get_config() if hasattr(self.model, "get_config") else {}

        def write(tmp):
            saving.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {"model_class": type(self.model).__name__, "model": _jsonable(config)}
        saving.write_folder(folder, write, manifest, fmt=MODEL_FORMAT)

    def load_model(self, folder: str) -> None:
        """Loads weights saved by `save_model` into this learner's model (same architecture)."""
        manifest = saving.read_manifest(folder, fmt=MODEL_FORMAT)
        if manifest.get("model_class") != type(self.model).__name__:
            raise saving.SaveFormatError(
                f"{folder!r} holds a {manifest.get('model_class')} but this learner's model is a "
                f"{type(self.model).__name__}."
            )
        saving.load_weights(self.model, os.path.join(folder, saving.WEIGHTS))

    def load_checkpoint(self, folder: str, epoch: int) -> None:
        """Loads the weights saved at the end of `epoch` (1-based) into the model."""
        records = {r["epoch"]: r for r in checkpoints.read_index(folder)}
        if epoch not in records:
            raise ValueError(f"no checkpoint for epoch {epoch} in {folder!r}; saved epochs: {sorted(records)}")
        saving.load_weights(self.model, os.path.join(folder, records[epoch]["file"]))

    def load_best(self, folder: str, monitor: str = "val_loss") -> dict:
        """Loads the epoch with the best `monitor` ("val_loss", "val_accuracy", "val_macro_f1").

        Returns:
            dict. the chosen epoch's record: `epoch`, `file` and its `logs`.
        """
        record = checkpoints.best_checkpoint(folder, monitor)
        self.load_checkpoint(folder, record["epoch"])
        return record

    # -- evaluation --------------------------------------------------------------------------
    def predict(self, data=None) -> np.ndarray:
        """Model outputs (probabilities) for `data` (default: the validation data)."""
        data = self._eval_data(data)
        return self.model.predict(to_dataset(data.x, batch_size=self.eval_batch_size), verbose=0)

    def evaluate(self, data=None) -> dict:
        """Loss and metrics on `data` (default: the validation data), as a dict."""
        data = self._eval_data(data)
        ds = to_dataset(data.x, data.y, self.eval_batch_size)
        return self.model.evaluate(ds, verbose=0, return_dict=True)

    def interpret(self, data=None, preproc=None, class_names=None):
        """An `Interpretation` of the predictions on `data` (default: validation data)."""
        from ktbert.evaluate.interpretation import Interpretation

        return Interpretation.from_learner(self, data, preproc, class_names)

    def validate(self, val_data=None, print_report: bool = True, class_names=None, preproc=None):
        """Classification report and confusion matrix on validation data; ktrain's `validate`.

        Prints precision, recall and F1 per class with macro and weighted averages (micro- and
        macro-F1 for multi-label data), and the expected calibration error, before and after
        `calibrate()` if it was run. The report as data: `learner.interpret().classification_report(as_dict=True)`.

        Returns:
            numpy array. the confusion matrix (rows true, columns predicted); per label 2x2
            matrices for multi-label data.
        """
        from ktbert.evaluate.calibration import apply_temperature

        interp = self.interpret(val_data, preproc, class_names)
        if print_report:
            print(interp.classification_report())
            if interp.multilabel:
                f1 = interp.f1_scores()
                print(f"micro-F1 {f1['micro_f1']:.4f}, macro-F1 {f1['macro_f1']:.4f}")
            line = f"expected calibration error: {interp.expected_calibration_error():.4f}"
            if self.temperature != 1.0:
                calibrated = apply_temperature(interp.proba, self.temperature, interp.multilabel)
                from ktbert.evaluate.metrics import expected_calibration_error

                after = expected_calibration_error(interp.y_true, calibrated)
                line += f" (after temperature scaling, T={self.temperature:.3f}: {after:.4f})"
            print(line)
        return interp.confusion_matrix()

    def top_losses(self, n: int = 8, val_data=None, preproc=None) -> list:
        """The `n` validation examples with the highest loss: `(index, loss, true, predicted)`."""
        return self.interpret(val_data, preproc).top_losses(n)

    def view_top_losses(self, n: int = 8, preproc=None, val_data=None, max_chars: int = 300) -> list:
        """Prints the `n` validation texts with the highest loss; returns them as dicts.

        Each shows the index in the validation data, the loss, the true and predicted class
        and the text, shortened to `max_chars` characters.
        """
        interp = self.interpret(val_data, preproc)
        rows = []
        for index, loss, true, predicted in interp.top_losses(n):
            text = interp.texts[index] if interp.texts is not None else None
            rows.append({"index": index, "loss": loss, "true": true, "predicted": predicted, "text": text})
            print("-" * 60)
            print(f"id {index} | loss {loss:.4f} | true: {true} | predicted: {predicted}")
            if text is not None:
                print(text if len(text) <= max_chars else text[: max_chars - 3] + "...")
        return rows

    def calibrate(self, val_data=None, verbose: int = 1) -> float:
        """Fits temperature scaling on validation data; `get_predictor(learner, preproc)` keeps it.

        Returns:
            float. the temperature (1.0 means the model was already calibrated).
        """
        from ktbert.evaluate.calibration import apply_temperature, fit_temperature
        from ktbert.evaluate.metrics import expected_calibration_error

        data = self._eval_data(val_data)
        proba = self.predict(data)
        multilabel = data.y.ndim == 2
        self.temperature = fit_temperature(proba, data.y, multilabel)
        if verbose:
            before = expected_calibration_error(data.y, proba)
            after = expected_calibration_error(data.y, apply_temperature(proba, self.temperature, multilabel))
            print(f"temperature {self.temperature:.3f}: expected calibration error {before:.4f} -> {after:.4f}")
        return self.temperature

    def tune_thresholds(self, val_data=None) -> list:
        """Per-label decision thresholds maximising each label's F1 (multi-label models).

        `get_predictor(learner, preproc)` keeps them, and `validate` uses them.
        """
        from ktbert.evaluate.calibration import tune_label_thresholds

        data = self._eval_data(val_data)
        if data.y.ndim != 2:
            raise ValueError("tune_thresholds is for multi-label models; for binary ones use "
                             "predictor.tune_threshold(..., target_precision=...).")
        self.thresholds = tune_label_thresholds(self.predict(data), data.y)
        return self.thresholds

    def _eval_data(self, data):
        data = _check_data(data, "data") if data is not None else self.val_data
        if data is None:
            raise ValueError("No data to evaluate: pass `data` or give `val_data` to get_learner.")
        return data


def resolve_class_weight(class_weight, y):
    """Keras' class_weight dict from "balanced", a dict, or None."""
    if class_weight is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2:
        raise ValueError("`class_weight` works for single-label data only; multi-label losses are per label.")
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"`class_weight` must be 'balanced', a dict or None. Received: {class_weight!r}")
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.unique(y)
        weights = compute_class_weight("balanced", classes=classes, y=y)
        return {int(c): float(w) for c, w in zip(classes, weights)}
    if isinstance(class_weight, dict):
        return {int(k): float(v) for k, v in class_weight.items()}
    raise ValueError(f"`class_weight` must be 'balanced', a dict or None. Received: {class_weight!r}")


def _jsonable(config):
    import json

    return json.loads(json.dumps(config, default=lambda o: repr(o)))


def get_learner(model, train_data=None, val_data=None, batch_size: int = 32,
                eval_batch_size: int = 32, workers: int = 1, use_multiprocessing: bool = False,
                seed: int | None = None) -> Learner:
    """Wraps a model and its data for training; ktrain's `get_learner`.

    Args:
        model: keras.Model. a compiled classifier from `text_classifier`, or any compiled
            Keras 3 model (then `train_data` holds arrays).
        train_data: `(x, y)`. from a loader, or arrays.
        val_data: `(x, y)` or None. validation data.
        batch_size: int. examples per training step.
        eval_batch_size: int. examples per evaluation step.
        workers, use_multiprocessing: accepted for ktrain compatibility; tf.data does the work.
        seed: int or None. seed of the per-epoch shuffling.

    Examples:
    ```python
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    learner.fit_onecycle(5e-5, 1)
    ```
    """
    return Learner(model, train_data, val_data, batch_size=batch_size,
                   eval_batch_size=eval_batch_size, seed=seed)
