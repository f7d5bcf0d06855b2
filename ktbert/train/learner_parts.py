"""What the learner's parts share, declared once: the attributes `Learner` sets and the methods
it defines, which its mixins (the fit methods, the loop, the controls, the evaluation calls) use.

Each mixin inherits `LearnerParts`, so what it relies on is written here with its type and
meaning instead of being assumed; `Learner` (ktbert.train.learner) defines every method below.
"""

from __future__ import annotations

import keras

from ktbert.data.texts import TextData
from ktbert.evaluate.decisions import Decisions, DecisionsMixin
from ktbert.model.training_record import TrainingRecord


class LearnerParts(DecisionsMixin):
    """The attributes and methods shared by `Learner` and its mixins; `temperature`,
    `thresholds` and `threshold` read and set `decisions` (`DecisionsMixin`)."""

    # === Set by Learner.__init__ ===
    model: keras.Model  # compiled; rebuilt inside the strategy's scope when there is one
    train_data: TextData
    val_data: TextData | None
    batch_size: int  # examples per training step
    eval_batch_size: int  # examples per evaluation or prediction step
    seed: int | None  # of the per-epoch shuffling
    bucketing: bool
    strategy: object  # a tf.distribute.Strategy or None
    training_loop: str  # "auto", "keras" or "ktbert"
    snapshot_overhead: float  # the NaN guard's budget for copying the weights
    record: TrainingRecord  # the model's `training_record`, or the learner's own for other Keras models

    # === Kept from the last fit and lr_find ===
    history: keras.callbacks.History | None
    lr_history: list
    momentum_history: list
    lr_find_result: object  # ktbert.train.lr_finder.LRFindResult or None
    lr_suggestions: dict

    @property
    def decisions(self) -> Decisions:
        """Temperature and thresholds, kept in `record` so a predictor made from the model takes them."""
        return self.record.decisions

    @decisions.setter
    def decisions(self, value: Decisions) -> None:
        self.record.decisions = value

    # === Defined by Learner ===
    def _epoch_dataset(self) -> tuple:
        """`(the training dataset, its batches per epoch)`."""
        raise NotImplementedError

    def _val_dataset(self):
        """The validation dataset, or None."""
        raise NotImplementedError

    def _eval_data(self, data, what: str = "data") -> TextData:
        """`data` checked, or the validation data when it is None."""
        raise NotImplementedError

    def _require_val(self, why: str) -> None:
        """Raises, saying `why`, when the learner has no validation data."""
        raise NotImplementedError

    def predict(self, data=None, calibrated: bool = True):
        """Probabilities for `data` (default: the validation data)."""
        raise NotImplementedError

    @property
    def is_chief(self) -> bool:
        """Whether this process writes checkpoints and saves."""
        raise NotImplementedError
