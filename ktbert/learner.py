"""The learner: trains a compiled model on `(x, y)` data with ktrain's fit methods.

It owns the training loop's schedule and history; data batching comes from `ktbert.batching`
and prediction lives in `ktbert.predictor`.
"""

from __future__ import annotations

import keras
import numpy as np

from ktbert.batching import check_batch_size, make_dataset, steps_per_epoch
from ktbert.callbacks import StepSchedule
from ktbert.data import TextData
from ktbert.schedules import constant_schedule, one_cycle_schedule


def _check_data(data, what: str):
    if data is None:
        return None
    if not isinstance(data, tuple) or len(data) != 2:
        raise TypeError(
            f"`{what}` must be the `(x, y)` pair a ktbert loader returns. Received: {type(data).__name__}"
        )
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"`{what}` has {len(x)} texts but {len(y)} labels.")
    return TextData(x, np.asarray(y))


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not lr > 0:
        raise ValueError(f"`lr` must be a positive number. Received: lr={lr!r}")
    return float(lr)


def _check_epochs(epochs, what: str = "epochs") -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"`{what}` must be a positive integer. Received: {what}={epochs!r}")
    return int(epochs)


class Learner:
    """Trains a ktbert classifier; made by `ktbert.get_learner`.

    Args:
        model: keras.Model. a compiled classifier from `text_classifier`.
        train_data: TextData. `(x, y)` from a loader.
        val_data: TextData or None. `(x, y)` for validation after each epoch.
        batch_size: int. texts per training step.
        eval_batch_size: int. texts per step when evaluating.
        seed: int or None. seed of the per-epoch shuffling.

    Attributes:
        history: keras.callbacks.History or None. the last fit's history (`lr` included).
        lr_history: list of float. the learning rate of every step of the last fit.
    """

    def __init__(self, model, train_data, val_data=None, batch_size: int = 32,
                 eval_batch_size: int = 32, seed: int | None = None):
        if getattr(model, "optimizer", None) is None:
            raise ValueError("`model` must be compiled: build it with `ktbert.text_classifier`.")
        self.model = model
        self.train_data = _check_data(train_data, "train_data")
        if self.train_data is None:
            raise ValueError("`train_data` is required: pass the training `(x, y)` from a loader.")
        self.val_data = _check_data(val_data, "val_data")
        self.batch_size = check_batch_size(batch_size)
        self.eval_batch_size = check_batch_size(eval_batch_size, "eval_batch_size")
        self.seed = seed
        self.history = None
        self.lr_history: list = []

    # -- datasets ----------------------------------------------------------------------------
    def _train_dataset(self):
        return make_dataset(self.train_data.x, self.train_data.y, self.batch_size, shuffle=True, seed=self.seed)

    def _val_dataset(self):
        if self.val_data is None:
            return None
        return make_dataset(self.val_data.x, self.val_data.y, self.eval_batch_size)

    def steps_per_epoch(self) -> int:
        """Training steps in one epoch."""
        return steps_per_epoch(len(self.train_data.x), self.batch_size)

    # -- training ----------------------------------------------------------------------------
    def _run(self, schedule, epochs: int, callbacks=None, verbose: int = 1, class_weight=None):
        stepper = StepSchedule(schedule)
        history = self.model.fit(
            self._train_dataset(),
            validation_data=self._val_dataset(),
            epochs=epochs,
            callbacks=[stepper] + list(callbacks or []),
            verbose=verbose,
            class_weight=class_weight,
            shuffle=False,  # the dataset reshuffles itself every epoch
        )
        self.history = history
        self.lr_history = stepper.lrs
        return history

    def fit(self, lr: float, n_cycles: int = 1, callbacks=None, verbose: int = 1, class_weight=None):
        """Trains `n_cycles` epochs at the constant rate `lr`.

        Args:
            lr: float. the learning rate.
            n_cycles: int. the number of epochs.
            callbacks: list or None. further Keras callbacks.
            verbose: int. 0 quiet, 1 progress bar, 2 one line per epoch.
            class_weight: dict or None. weight per class index, as Keras takes it.

        Returns:
            keras.callbacks.History, with `lr` per epoch.
        """
        lr = _check_lr(lr)
        epochs = _check_epochs(n_cycles, "n_cycles")
        return self._run(constant_schedule(lr), epochs, callbacks, verbose, class_weight)

    def fit_onecycle(self, lr: float, epochs: int, pct_start: float = 0.25, div: float = 25.0,
                     div_final: float = 1e5, callbacks=None, verbose: int = 1, class_weight=None):
        """Trains with the one-cycle policy peaking at `lr`; see `ktbert.schedules.one_cycle_schedule`.

        The rate rises from `lr / div` to `lr` over the first `pct_start` of all steps along a
        half cosine, then falls to `lr / div_final` along a half cosine.

        Args:
            lr: float. the peak learning rate (2e-5 to 1e-4 suits BERT fine-tuning).
            epochs: int. the number of epochs.
            pct_start: float. share of steps warming up.
            div: float. the first rate is `lr / div`.
            div_final: float. the last rate is `lr / div_final`.
            callbacks, verbose, class_weight: as in `fit`.

        Returns:
            keras.callbacks.History, with `lr` per epoch; `self.lr_history` has every step's.

        Examples:
        ```python
        learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
        learner.fit_onecycle(5e-5, 1)
        ```
        """
        lr = _check_lr(lr)
        epochs = _check_epochs(epochs)
        total = epochs * self.steps_per_epoch()
        schedule = one_cycle_schedule(lr, total, pct_start=pct_start, div=div, div_final=div_final)
        return self._run(schedule, epochs, callbacks, verbose, class_weight)

    # -- evaluation --------------------------------------------------------------------------
    def predict(self, data=None) -> np.ndarray:
        """Model outputs (probabilities) for `data` (default: the validation data)."""
        data = self._eval_data(data)
        return self.model.predict(make_dataset(data.x, batch_size=self.eval_batch_size), verbose=0)

    def evaluate(self, data=None) -> dict:
        """Loss and metrics on `data` (default: the validation data), as a dict."""
        data = self._eval_data(data)
        ds = make_dataset(data.x, data.y, self.eval_batch_size)
        return self.model.evaluate(ds, verbose=0, return_dict=True)

    def _eval_data(self, data):
        data = _check_data(data, "data") if data is not None else self.val_data
        if data is None:
            raise ValueError("No data to evaluate: pass `data` or give `val_data` to get_learner.")
        return data


def get_learner(model, train_data=None, val_data=None, batch_size: int = 32,
                eval_batch_size: int = 32, workers: int = 1, use_multiprocessing: bool = False,
                seed: int | None = None) -> Learner:
    """Wraps a model and its data for training; ktrain's `get_learner`.

    Args:
        model: keras.Model. a compiled classifier from `text_classifier`.
        train_data: TextData. `(x, y)` from a loader.
        val_data: TextData or None. validation `(x, y)`.
        batch_size: int. texts per training step.
        eval_batch_size: int. texts per evaluation step.
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
