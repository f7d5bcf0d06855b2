"""The fit methods of the learner (ktrain's names): `fit`, `fit_onecycle`, `autofit`, `lr_find`.

Each plans its schedule from the batches the training dataset really yields
(`Learner.steps_per_epoch`, counted on a copy so the shuffling order of the fit is untouched)
and hands the dataset and the schedule to the learner's one loop (`ktbert.train.loop`).
"""

from __future__ import annotations

import keras

from ktbert.checks import check_choice, check_count, check_flag, check_rate
from ktbert.evaluate import plots
from ktbert.train import distribute, hyperparameters, lr_finder
from ktbert.train.callbacks import StepSchedule, TriangularSchedule
from ktbert.train.faults import deferred_interrupts, report_interrupt
from ktbert.train.learner_parts import LearnerParts
from ktbert.train.schedules import constant_schedule, one_cycle_momentum, one_cycle_schedule, sgdr_schedule
from ktbert.train.training_state import TrainingState

DEFAULT_EARLY_STOPPING = 5
DEFAULT_REDUCE_ON_PLATEAU = 2
PLOT_TYPES = ("loss", "lr", "momentum")


class FitMixin(LearnerParts):
    """Training schedules and the learning-rate finder; mixed into `Learner`."""

    def fit(self, lr: float, n_cycles: int = 1, cycle_len: int | None = None, cycle_mult: int = 1,
            lr_decay: float = 1.0, checkpoint_folder: str | None = None, early_stopping: int | None = None,
            monitor: str = "val_loss", callbacks=None, verbose: int = 1, class_weight=None,
            checkpoint_every: int | None = None, resume: str | None = None):
        """Trains at a constant rate, or with SGDR (cosine with warm restarts) given `cycle_len`.

        Without `cycle_len`, trains `n_cycles` epochs at `lr`. With it, runs `n_cycles` cycles;
        cycle `c` lasts `cycle_len * cycle_mult**c` epochs and anneals from `lr * lr_decay**c`
        to 0 along a half cosine (`ktbert.train.schedules.sgdr_schedule`).

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
            checkpoint_every: int or None. also write the whole training state (weights, optimizer,
                schedule, position in the shuffled data, history, early stopping, dropout seeds,
                metrics) into `checkpoint_folder` every this many steps and when training ends.
            resume: str or None. a `checkpoint_folder` written with `checkpoint_every`: go on from
                its newest complete checkpoint, as if the run had not stopped (docs/reliability.md).
                The model, data and fit arguments must be the run's; others are refused.

        Returns:
            keras.callbacks.History: `lr`, `momentum` and `iterations` per step (ktrain's
            layout), losses, metrics, `epoch_lr` and `epoch_momentum` per epoch.

        Examples:
        ```python
        learner.fit(1e-4, 3, checkpoint_folder="ckpt", checkpoint_every=200)
        # the process was killed: a new one builds the same learner and goes on
        learner.fit(1e-4, 3, checkpoint_folder="ckpt", checkpoint_every=200, resume="ckpt")
        ```
        """
        lr = check_rate(lr)
        n_cycles = check_count(n_cycles, "n_cycles")
        dataset, steps = self._epoch_dataset()
        if cycle_len is None:
            schedule, epochs = constant_schedule(lr), n_cycles
        else:
            cycle_len = check_count(cycle_len, "cycle_len")
            cycle_mult = check_count(cycle_mult, "cycle_mult")
            lr_decay = check_rate(lr_decay, "lr_decay")
            schedule, epochs = sgdr_schedule(lr, steps, n_cycles, cycle_len, cycle_mult, lr_decay)
        arguments = {"fit": "fit", "lr": lr, "n_cycles": n_cycles, "cycle_len": cycle_len, "cycle_mult": cycle_mult,
                     "lr_decay": lr_decay}
        return self._run(dataset, StepSchedule(schedule), epochs, callbacks=callbacks, verbose=verbose,
                         class_weight=class_weight, checkpoint_folder=checkpoint_folder,
                         early_stopping=early_stopping, monitor=monitor, checkpoint_every=checkpoint_every,
                         resume=resume, fit_arguments=arguments)

    def fit_onecycle(self, lr: float, epochs: int, pct_start: float = 0.25, div: float = 25.0,
                     div_final: float = 1e5, moms=(0.95, 0.85, 0.95), cycle_momentum: bool = True,
                     checkpoint_folder: str | None = None, callbacks=None, verbose: int = 1, class_weight=None,
                     max_momentum: float | None = None, min_momentum: float | None = None,
                     checkpoint_every: int | None = None, resume: str | None = None):
        """Trains with the one-cycle policy peaking at `lr`, momentum cycled against it.

        For step `i` of `n` (`pos = i / (n - 1)`; `w = floor(pct_start * (n - 1) + 0.5) / (n - 1)`,
        `pct_start` moved to the nearest step so the peak `lr` is one step's rate exactly;
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
            max_momentum, min_momentum: float or None. ktrain's names: `moms` becomes
                `(max_momentum, min_momentum, max_momentum)`.
            cycle_momentum: bool. cycle momentum (Adam-family optimizers only).
            checkpoint_folder, callbacks, verbose, class_weight, checkpoint_every, resume: as in `fit`.

        Returns:
            keras.callbacks.History: `lr`, `momentum` and `iterations` per step, as in `fit`.

        Examples:
        ```python
        learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
        learner.fit_onecycle(5e-5, 1)
        ```
        """
        lr = check_rate(lr)
        epochs = check_count(epochs, "epochs")
        moms = _momentum_range(moms, max_momentum, min_momentum)
        div, div_final = check_rate(div, "div"), check_rate(div_final, "div_final")
        dataset, steps = self._epoch_dataset()
        total = epochs * steps
        schedule = one_cycle_schedule(lr, total, pct_start=pct_start, div=div, div_final=div_final)
        momentum = None
        if cycle_momentum and hyperparameters.get_momentum(self.model.optimizer) is not None:
            momentum = one_cycle_momentum(total, pct_start, moms)
        arguments = {"fit": "fit_onecycle", "lr": lr, "pct_start": pct_start, "div": div, "div_final": div_final,
                     "moms": moms if momentum is not None else None}
        return self._run(dataset, StepSchedule(schedule, momentum), epochs, callbacks=callbacks, verbose=verbose,
                         class_weight=class_weight, checkpoint_folder=checkpoint_folder,
                         checkpoint_every=checkpoint_every, resume=resume, fit_arguments=arguments)

    def autofit(self, lr: float, epochs: int | None = None, early_stopping: int | None = None,
                reduce_on_plateau: int | None = None, reduce_factor: float = 2.0,
                cycle_momentum: bool = True, monitor: str = "val_loss",
                checkpoint_folder: str | None = None, callbacks=None, verbose: int = 1, class_weight=None,
                max_momentum: float = 0.95, min_momentum: float = 0.85,
                checkpoint_every: int | None = None, resume: str | None = None):
        """Trains with ktrain's triangular policy; with `epochs=None`, until early stopping.

        Each triangular cycle lasts about an epoch: the rate climbs from `lr / 10` to `lr` over
        `ceil(steps_per_epoch / 2)` steps and back (momentum 0.95 -> 0.85 -> 0.95 against it),
        cycles counted over the whole run as in ktrain. With
        `reduce_on_plateau=k` the peak is divided by `reduce_factor` after `k` epochs without
        improvement of `monitor`; with `early_stopping=k` training stops after `k` such epochs
        and the best epoch's weights are restored. `epochs=None` turns both on (patience 5
        and 2 unless given) and trains until it stops. `max_momentum` and `min_momentum`
        (ktrain's names) bound the momentum. `checkpoint_every` and `resume` are `fit`'s.

        Returns:
            keras.callbacks.History: `lr`, `momentum` and `iterations` per step, as in `fit`.
        """
        lr = check_rate(lr)
        if epochs is None:
            self._require_val("autofit with epochs=None stops on the validation metric")
            early_stopping = early_stopping or DEFAULT_EARLY_STOPPING
            reduce_on_plateau = reduce_on_plateau or DEFAULT_REDUCE_ON_PLATEAU
            epochs = 1024
            if verbose:
                print(f"training until {monitor} stops improving: early_stopping={early_stopping}, "
                      f"reduce_on_plateau={reduce_on_plateau}")
        epochs = check_count(epochs, "epochs")
        if reduce_on_plateau not in (None, 0):
            reduce_on_plateau = check_count(reduce_on_plateau, "reduce_on_plateau")
        if reduce_on_plateau:
            self._require_val(f"reduce_on_plateau monitors {monitor!r}")
        moms = _momentum_range((max_momentum, min_momentum, max_momentum))[:2]
        if not cycle_momentum or hyperparameters.get_momentum(self.model.optimizer) is None:
            moms = None
        dataset, steps = self._epoch_dataset()
        stepper = TriangularSchedule(lr, steps, moms=moms, monitor=monitor,
                                     reduce_on_plateau=reduce_on_plateau, reduce_factor=reduce_factor,
                                     verbose=verbose)
        arguments = {"fit": "autofit", "lr": lr, "reduce_on_plateau": reduce_on_plateau,
                     "reduce_factor": reduce_factor, "moms": moms}
        return self._run(dataset, stepper, epochs, callbacks=callbacks, verbose=verbose, class_weight=class_weight,
                         checkpoint_folder=checkpoint_folder, early_stopping=early_stopping, monitor=monitor,
                         checkpoint_every=checkpoint_every, resume=resume, fit_arguments=arguments)

    # === Learning-rate finder ===
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
        check_rate(start_lr, "start_lr")
        check_rate(end_lr, "end_lr")
        num_it = check_count(num_it, "num_it")
        dataset, steps = self._epoch_dataset()
        if max_epochs is not None:
            num_it = min(num_it, check_count(max_epochs, "max_epochs") * steps)
        with distribute.scope(self.strategy):  # the snapshot may build the optimizer's variables
            state = TrainingState.capture(self.model)
        lr_before = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        try:
            result = lr_finder.run_range_test(
                self.model, dataset, start_lr, end_lr,
                num_it, stop_factor=stop_factor, beta=beta, verbose=verbose,
                strategy=self.strategy, loop=self.training_loop,
            )
        except KeyboardInterrupt:
            report_interrupt("lr_find", "The weights and optimizer state from before lr_find are restored now; "
                             "the learner is as it was. Run lr_find again, or with a smaller `num_it`.")
            raise
        finally:
            with deferred_interrupts():
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
        suggest = check_flag(suggest, "suggest")
        if self.lr_find_result is None:
            raise ValueError("No learning-rate finder results: run `learner.lr_find()` first.")
        return plots.plot_lr_find(self.lr_find_result, suggest, n_skip_beginning, n_skip_end, save_path)

    # === History ===
    def plot(self, plot_type: str = "loss", save_path: str | None = None):
        """Plots the last fit: "loss" (per epoch, validation too), "lr" or "momentum" (per step)."""
        check_choice(plot_type, PLOT_TYPES, "plot_type")
        if self.history is None:
            raise ValueError("No training history: fit the model first.")
        if plot_type == "loss":
            return plots.plot_loss_history(self.history.history, save_path)
        if plot_type == "lr":
            return plots.plot_series(self.lr_history, "step", "learning rate", "learning rate per step", save_path)
        if not any(m is not None for m in self.momentum_history):
            raise ValueError("This optimizer has no momentum (beta_1) to plot.")
        return plots.plot_series(self.momentum_history, "step", "momentum (beta_1)", "momentum per step", save_path)


def _momentum_range(moms, max_momentum=None, min_momentum=None) -> tuple:
    """`(start, peak, end)` momentum, from `moms` or ktrain's `max_momentum`/`min_momentum`."""
    if max_momentum is not None or min_momentum is not None:
        high = moms[0] if max_momentum is None else max_momentum
        low = moms[1] if min_momentum is None else min_momentum
        moms = (high, low, high)
    if not isinstance(moms, (tuple, list)) or len(moms) != 3 or not all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and 0 <= m < 1 for m in moms):
        raise ValueError(
            "`moms` must be three momentum values in [0, 1): start, peak of the rate, end. "
            f"Received: moms={moms!r}"
        )
    return tuple(float(m) for m in moms)
