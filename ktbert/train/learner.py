"""The learner: a compiled model with its data, and the one training loop every fit method runs.

The fit methods (`ktbert.train.fitting`), training controls (`ktbert.train.controls`) and the
evaluation wrappers (`ktbert.train.evaluation`) attach as mixins; this module keeps the data,
the loop and the history. Decisions (temperature, thresholds) live in `ktbert.serve.decisions`.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from ktbert.checks import check_count, check_flag, check_path, check_seed, check_verbose, echo
from ktbert.data.batching import count_batches, num_examples, predict_in_order, to_dataset, with_cardinality
from ktbert.data.texts import TextData
from ktbert.evaluate.metrics import lower_is_better
from ktbert.model.classifier import SEED_ATTRIBUTE, SHUFFLE_SEED_ATTRIBUTE
from ktbert.serve.decisions import DECISIONS_ATTRIBUTE, Decisions, DecisionsMixin
from ktbert.train import checkpoints, distribute, hyperparameters
from ktbert.train.callbacks import StepSchedule
from ktbert.train.class_weights import resolve_class_weight
from ktbert.train.controls import ControlsMixin
from ktbert.train.evaluation import EvaluationMixin
from ktbert.train.faults import DEFAULT_SNAPSHOT_OVERHEAD, NonFiniteGuard, TrainingDiverged, report_interrupt
from ktbert.train.fitting import FitMixin


MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")


def check_data(data, what: str):
    """`(x, y)` as `TextData`, checked for matching lengths; None stays None."""
    if data is None:
        return None
    if not isinstance(data, tuple) or len(data) != 2:
        raise TypeError(
            f"`{what}` must be an `(x, y)` pair, as the ktbert loaders return. Received: {echo(data)}"
        )
    x, y = data
    y = np.asarray(y)
    if num_examples(x) != len(y):
        raise ValueError(f"`{what}` has {num_examples(x)} examples but {len(y)} labels.")
    return TextData(x, y)


def _num_outputs(model, y) -> int:
    if y.ndim == 2:
        return int(y.shape[1])
    count = getattr(model, "num_classes", None)
    if count is None:
        count = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else int(y.max()) + 1
    return int(count)


class Learner(FitMixin, ControlsMixin, EvaluationMixin, DecisionsMixin):
    """Trains a compiled Keras model; made by `ktbert.get_learner`.

    Works with ktbert's text classifiers and `TextData`, and with any compiled Keras 3 model
    and array data `(x, y)`.

    Args:
        model: keras.Model. compiled; a classifier from `text_classifier` or any Keras model.
        train_data: `(x, y)`. from a loader, or arrays.
        val_data: `(x, y)` or None. evaluated after each epoch.
        batch_size: int. examples per training step.
        eval_batch_size: int. examples per evaluation step.
        seed: int or None. seed of the per-epoch shuffling; None takes the seed the classifier
            was built with (`text_classifier(seed=)`), if any.
        bucketing: bool. length-bucketed batches (each padded to its longest text) for
            training, evaluation and prediction; False pads every batch to `maxlen`.
        strategy: tf.distribute.Strategy or None. trains on several devices or machines
            (docs/distributed.md); None takes the enclosing `strategy.scope()`'s, if any.
            `batch_size` and `eval_batch_size` are global: each batch is shared among the
            replicas. A model built outside the strategy's scope is rebuilt inside it, so
            `learner.model` is the model that trains.

    Attributes:
        history: keras.callbacks.History or None. the last fit's history: per epoch the
            losses and metrics (and `epoch_lr`, `epoch_momentum`), per step `lr`, `momentum`
            and `iterations`, as ktrain's.
        lr_history, momentum_history: list of float. every step's rate and momentum in the
            last fit.
        lr_suggestions: dict. the last `lr_find`'s suggested rates by name.
        decisions: Decisions. temperature (`calibrate`) and thresholds (`tune_thresholds`),
            applied by `predict` and carried to `get_predictor(learner, preproc)`.
        strategy: tf.distribute.Strategy or None. the strategy it trains under.
        training_loop: str. "auto" (Keras' `fit`, or ktbert's own loop under
            MultiWorkerMirroredStrategy, where `fit` fails), "keras" or "ktbert".
        snapshot_overhead: float. share of training time spent copying the weights, so a loss
            that turns NaN or infinite can restore the last good ones (default 0.005; 1.0
            copies after every step; `ktbert.train.faults.NonFiniteGuard`).

    A fit whose loss turns NaN or infinite stops, restores the last good weights and raises
    `TrainingDiverged`. Ctrl-C during a fit leaves the weights of the last completed step and
    the history up to there (`history`, `lr_history`), says so, and raises KeyboardInterrupt.
    """

    def __init__(self, model, train_data, val_data=None, batch_size: int = 32,
                 eval_batch_size: int = 32, seed: int | None = None, bucketing: bool = True, strategy=None):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a compiled keras.Model. Received: {echo(model)}. Build one with "
                            "`ktbert.text_classifier('bert', trn, preproc)`.")
        if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
            raise ValueError("`model` must be compiled: build it with `ktbert.text_classifier` or call model.compile().")
        self.strategy = distribute.resolve_strategy(strategy)
        self.training_loop = "auto"
        self.snapshot_overhead = DEFAULT_SNAPSHOT_OVERHEAD
        self.model = distribute.place_model(model, self.strategy)
        self.train_data = check_data(train_data, "train_data")
        if self.train_data is None:
            raise ValueError("`train_data` is required: pass the training `(x, y)`.")
        self.val_data = check_data(val_data, "val_data")
        self.batch_size = check_count(batch_size, "batch_size")
        self.eval_batch_size = check_count(eval_batch_size, "eval_batch_size")
        # unseeded, the learner shuffles with the classifier's seed, so one seed covers a run
        self.seed = check_seed(seed) if seed is not None else getattr(model, SEED_ATTRIBUTE, None)
        # both seeds ride on the model (a copy rebuilt for a strategy too), so its save records them
        setattr(self.model, SEED_ATTRIBUTE, getattr(model, SEED_ATTRIBUTE, None))
        setattr(self.model, SHUFFLE_SEED_ATTRIBUTE, self.seed)
        self.bucketing = check_flag(bucketing, "bucketing")
        self.history = None
        self.lr_history: list = []
        self.momentum_history: list = []
        self.lr_find_result = None
        self.lr_suggestions: dict = {}
        y = self.train_data.y
        self.decisions = Decisions(_num_outputs(self.model, y), multilabel=y.ndim == 2)
        hyperparameters.make_schedulable(self.model)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes checkpoints and should save the model: True unless it is
        a worker other than the chief under MultiWorkerMirroredStrategy."""
        return distribute.is_chief(self.strategy)

    @property
    def decisions(self) -> Decisions:
        return getattr(self.model, DECISIONS_ATTRIBUTE)

    @decisions.setter
    def decisions(self, value: Decisions) -> None:
        # Kept on the model, so `get_predictor(learner.model, preproc)` carries them too.
        setattr(self.model, DECISIONS_ATTRIBUTE, value)

    # -- datasets ----------------------------------------------------------------------------
    def _train_dataset(self):
        return to_dataset(self.train_data.x, self.train_data.y, self.batch_size, shuffle=True,
                          seed=distribute.shuffle_seed(self.strategy, self.seed), bucketing=self.bucketing)

    def _val_dataset(self):
        if self.val_data is None:
            return None
        return to_dataset(self.val_data.x, self.val_data.y, self.eval_batch_size, bucketing=self.bucketing)

    def steps_per_epoch(self) -> int:
        """Training steps in one epoch: the batches the training dataset really yields."""
        return count_batches(self._train_dataset())

    def _epoch_dataset(self):
        """The training dataset and its batches per epoch. A count tf.data cannot tell is taken
        on a copy (so the fit's shuffling order is untouched) and declared on the dataset, so
        Keras sees whole epochs."""
        dataset = self._train_dataset()
        steps = int(dataset.cardinality())
        if steps < 0:
            steps = self.steps_per_epoch()
            dataset = with_cardinality(dataset, steps)
        return dataset, steps

    def _eval_data(self, data, what: str = "data"):
        data = check_data(data, what) if data is not None else self.val_data
        if data is None:
            raise ValueError("No data to evaluate: pass `data` or give `val_data` to get_learner.")
        return data

    def _require_val(self, why: str):
        if self.val_data is None:
            raise ValueError(f"{why}, but the learner has no validation data: pass `val_data` to get_learner.")

    # -- the training loop -------------------------------------------------------------------
    def _run(self, dataset, stepper: StepSchedule, epochs: int, callbacks=None, verbose: int = 1,
             class_weight=None, checkpoint_folder=None, early_stopping=None, monitor="val_loss"):
        """Trains on `dataset` with the schedule `stepper` and the requested extras: `model.fit`,
        or under a tf.distribute strategy the loop that works there (`distribute.fit`)."""
        callbacks = _check_callbacks(callbacks)
        verbose = check_verbose(verbose)
        early_stopping = None if early_stopping in (None, 0) else check_count(early_stopping, "early_stopping")
        if checkpoint_folder is not None:
            checkpoint_folder = check_path(checkpoint_folder, "checkpoint_folder", "folder")
        if monitor not in MONITORS:
            raise ValueError(f"`monitor` must be one of {list(MONITORS)}. Received: monitor={echo(monitor)}")
        extra = []
        needs_f1 = monitor == "val_macro_f1" or checkpoint_folder is not None
        if needs_f1 and self.val_data is not None:
            extra.append(checkpoints.MacroF1(lambda: self.predict(calibrated=False), self.val_data.y))
        if checkpoint_folder is not None and self.is_chief:  # one writer per run
            extra.append(checkpoints.EpochCheckpoint(checkpoint_folder))
        if early_stopping:
            self._require_val(f"early_stopping monitors {monitor!r}")
            extra.append(keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(early_stopping), restore_best_weights=True,
                mode="min" if lower_is_better(monitor) else "max", verbose=1 if verbose else 0,
            ))
        guard = NonFiniteGuard(self.snapshot_overhead)
        record = keras.callbacks.History()
        steps_before = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        try:
            distribute.fit(
                self.model, dataset, self.strategy, self.training_loop,
                validation_data=self._val_dataset(),
                epochs=epochs,
                callbacks=[stepper, guard] + extra + list(callbacks or []) + [record],
                verbose=verbose,
                class_weight=resolve_class_weight(class_weight, self.train_data.y),
            )
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
        self.history = _per_step_history(record, stepper)
        self.lr_history = stepper.lrs
        self.momentum_history = stepper.moms

    # -- prediction --------------------------------------------------------------------------
    def predict(self, data=None, calibrated: bool = True) -> np.ndarray:
        """Probabilities for `data` (default: the validation data).

        Calibrated like the predictor's: after `calibrate()`, the learner's temperature is
        applied, so `learner.predict` and `get_predictor(learner, preproc).predict` agree.
        `calibrated=False` gives the model's raw outputs.
        """
        data = self._eval_data(data)
        with _reported_interrupt():
            proba = predict_in_order(self.model, data.x, self.eval_batch_size, self.bucketing)
        return self.decisions.calibrate(proba) if calibrated else proba

    def evaluate(self, data=None) -> dict:
        """Loss and metrics of the model (uncalibrated) on `data` (default: validation data)."""
        data = self._eval_data(data)
        ds = to_dataset(data.x, data.y, self.eval_batch_size, bucketing=self.bucketing)
        with _reported_interrupt():
            return distribute.evaluate(self.model, ds, self.strategy, self.training_loop)


def _check_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, keras.callbacks.Callback) for c in callbacks):
        raise TypeError(f"`callbacks` must be a list of keras.callbacks.Callback objects, or None. Received: "
                        f"{echo(callbacks)}. Pass e.g. callbacks=[keras.callbacks.CSVLogger('log.csv')].")
    return list(callbacks)


@contextlib.contextmanager
def _reported_interrupt():
    """Ctrl-C while predicting or evaluating changes nothing; says so and lets it through."""
    try:
        yield
    except KeyboardInterrupt:
        report_interrupt("Evaluation", "Nothing was changed: the learner's weights, history and "
                         "decisions are as they were.")
        raise


def _per_step_history(history, stepper: StepSchedule):
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


def get_learner(model, train_data=None, val_data=None, batch_size: int = 32,
                eval_batch_size: int = 32, workers: int = 1, use_multiprocessing: bool = False,
                seed: int | None = None, bucketing: bool = True, strategy=None) -> Learner:
    """Wraps a model and its data for training; ktrain's `get_learner`.

    Args:
        model: keras.Model. a compiled classifier from `text_classifier`, or any compiled
            Keras 3 model (then `train_data` holds arrays).
        train_data: `(x, y)`. from a loader, or arrays.
        val_data: `(x, y)` or None. validation data.
        batch_size: int. examples per training step.
        eval_batch_size: int. examples per evaluation step.
        workers, use_multiprocessing: accepted for ktrain compatibility; tf.data does the work.
        seed: int or None. seed of the per-epoch shuffling; None takes the classifier's seed.
            With the same seeds (`random_state=` of the loader, `seed=` here and on
            `text_classifier`), two runs on one machine give identical weights and histories.
        bucketing: bool. group texts of similar length into batches, each padded only to its
            longest text (much faster on short texts); False pads every batch to `maxlen`.
        strategy: tf.distribute.Strategy or None. train on several GPUs or CPU devices
            (`MirroredStrategy`) or machines (`MultiWorkerMirroredStrategy`), see
            docs/distributed.md; None takes the enclosing `strategy.scope()`'s, if any.
            `batch_size` is then the global batch, shared among the replicas.

    Examples:
    ```python
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    learner.fit_onecycle(5e-5, 1)
    ```
    """
    return Learner(model, train_data, val_data, batch_size=batch_size,
                   eval_batch_size=eval_batch_size, seed=seed, bucketing=bucketing, strategy=strategy)
