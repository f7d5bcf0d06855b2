"""The learner: a compiled model with its data; ktrain's `get_learner`.

Its parts attach as mixins, each declaring what it shares in `ktbert.train.learner_parts`: the
loop every fit method runs (`ktbert.train.loop`), the fit methods (`ktbert.train.fitting`),
training controls (`ktbert.train.controls`) and the evaluation calls (`ktbert.train.evaluation`).
This module keeps the data, the datasets and prediction. Decisions (temperature, thresholds)
are `ktbert.evaluate.decisions`' and live in the model's `training_record`.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from ktbert.checks import check_count, check_flag, check_seed, echo
from ktbert.data.batching import count_batches, num_examples, to_dataset, with_cardinality
from ktbert.data.prediction import predict_in_order
from ktbert.data.ktrain_arguments import warn_ignored
from ktbert.data.texts import TextData
from ktbert.defaults import BATCH_SIZE
from ktbert.evaluate.decisions import Decisions
from ktbert.model.classifier import TextClassifier
from ktbert.model.training_record import TrainingRecord
from ktbert.train import distribute, hyperparameters
from ktbert.train.controls import ControlsMixin
from ktbert.train.evaluation import EvaluationMixin
from ktbert.train.faults import DEFAULT_SNAPSHOT_OVERHEAD, report_interrupt
from ktbert.train.fitting import FitMixin
from ktbert.train.loop import MONITORS, TrainingLoop  # noqa: F401  (MONITORS: the loop's, named here too)

IGNORED_BY_TF_DATA = "are ignored: ktbert's batches come from tf.data, which needs no worker processes"


def check_data(data, what: str):
    """`(x, y)` as `TextData`, checked for matching lengths; None stays None."""
    if data is None:
        return None
    if not isinstance(data, tuple) or len(data) != 2:
        raise TypeError(
            f"`{what}` must be an `(x, y)` pair, as the ktbert loaders return. Received: {echo(data)}"
        )
    x, y = data
    if y is None:
        raise ValueError(f"`{what}` has no labels (its y is None): pass labelled `(x, y)` data, as the ktbert "
                         "loaders return, or predict unlabelled texts with a predictor.")
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


class Learner(FitMixin, TrainingLoop, ControlsMixin, EvaluationMixin):
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

    def __init__(self, model, train_data, val_data=None, batch_size: int = BATCH_SIZE,
                 eval_batch_size: int = BATCH_SIZE, seed: int | None = None, bucketing: bool = True, strategy=None):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a compiled keras.Model. Received: {echo(model)}. Build one with "
                            "`ktbert.text_classifier('bert', trn, preproc)`.")
        if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
            raise ValueError("`model` must be compiled: build it with `ktbert.text_classifier` or call model.compile().")
        self.strategy = distribute.resolve_strategy(strategy)
        self.training_loop = "auto"
        self.snapshot_overhead = DEFAULT_SNAPSHOT_OVERHEAD
        self.model = distribute.place_model(model, self.strategy)
        # A ktbert classifier carries its record (a copy rebuilt for a strategy shares it), so a
        # predictor made from the model finds the learner's decisions and seeds; any other Keras
        # model gets one of the learner's own.
        self.record = model.training_record if isinstance(model, TextClassifier) else TrainingRecord()
        if isinstance(self.model, TextClassifier):
            self.model.training_record = self.record
        self.train_data = check_data(train_data, "train_data")
        if self.train_data is None:
            raise ValueError("`train_data` is required: pass the training `(x, y)`.")
        self.val_data = check_data(val_data, "val_data")
        self.batch_size = check_count(batch_size, "batch_size")
        self.eval_batch_size = check_count(eval_batch_size, "eval_batch_size")
        # unseeded, the learner shuffles with the classifier's seed, so one seed covers a run
        self.seed = check_seed(seed) if seed is not None else self.record.seed
        self.record.shuffle_seed = self.seed
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

    # === Datasets ===
    def _train_dataset(self):
        return to_dataset(self.train_data.x, self.train_data.y, self.batch_size, shuffle=True,
                          seed=distribute.shuffle_seed(self.strategy, self.seed), bucketing=self.bucketing,
                          model=self.model)

    def _val_dataset(self):
        if self.val_data is None:
            return None
        return to_dataset(self.val_data.x, self.val_data.y, self.eval_batch_size, bucketing=self.bucketing,
                          model=self.model)

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

    # === Prediction ===
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
        ds = to_dataset(data.x, data.y, self.eval_batch_size, bucketing=self.bucketing, model=self.model)
        with _reported_interrupt():
            return distribute.evaluate(self.model, ds, self.strategy, self.training_loop)


@contextlib.contextmanager
def _reported_interrupt():
    """Ctrl-C while predicting or evaluating changes nothing; says so and lets it through."""
    try:
        yield
    except KeyboardInterrupt:
        report_interrupt("Evaluation", "Nothing was changed: the learner's weights, history and "
                         "decisions are as they were.")
        raise


def get_learner(model, train_data=None, val_data=None, batch_size: int = BATCH_SIZE,
                eval_batch_size: int = BATCH_SIZE, workers: int | None = None, use_multiprocessing: bool | None = None,
                seed: int | None = None, bucketing: bool = True, strategy=None) -> Learner:
    """Wraps a model and its data for training; ktrain's `get_learner`.

    Args:
        model: keras.Model. a compiled classifier from `text_classifier`, or any compiled
            Keras 3 model (then `train_data` holds arrays).
        train_data: `(x, y)`. from a loader, or arrays.
        val_data: `(x, y)` or None. validation data.
        batch_size: int. examples per training step.
        eval_batch_size: int. examples per evaluation step.
        workers, use_multiprocessing: accepted for ktrain compatibility and ignored, with a
            warning (tf.data does the work).
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
    warn_ignored(IGNORED_BY_TF_DATA, workers=workers, use_multiprocessing=use_multiprocessing)
    return Learner(model, train_data, val_data, batch_size=batch_size,
                   eval_batch_size=eval_batch_size, seed=seed, bucketing=bucketing, strategy=strategy)
