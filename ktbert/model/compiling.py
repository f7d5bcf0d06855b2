"""How a classifier is compiled: AdamW (TensorFlow's fused update, `ktbert.model.optimizer`) with
decay off where BERT recipes keep it off, the loss that matches the head, and accuracy plus
macro-F1 as metrics.

Macro-F1 is a compiled metric, so Keras reports `val_macro_f1` from the one validation pass it
already makes each epoch (checkpoints and early stopping can monitor it at no extra cost). It is
a validation metric only: the training step leaves it out (`validation_metrics_paused`), since
F1 over batches of a model that changes every step, with dropout on, tells little and cost a
measurable share of each step (docs/benchmarks/profile.md).
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
from keras import ops

from ktbert.model.keras_internals import build_f1_counters
from ktbert.model.optimizer import AdamW

# Decoupled weight decay skips biases, LayerNorm scales/offsets and embedding tables, as BERT
# fine-tuning recipes do. Matched against each variable's short name.
NO_DECAY = ["bias", "gamma", "beta", "embeddings"]
# The BERT fine-tuning recipe's decay (Devlin et al.; Hugging Face examples); off by default as
# in ktrain and Hugging Face's Trainer, one call away with `learner.set_weight_decay()`.
BERT_WEIGHT_DECAY = 0.01


# While a training step is traced: the set that validation-only metrics add their names to.
_PAUSED = contextvars.ContextVar("ktbert_validation_metrics_paused", default=None)


@contextlib.contextmanager
def validation_metrics_paused():
    """Within it, validation-only metrics (`MacroF1`) do not update; yields the set of their
    names, which the step leaves out of its logs. Read while a step is traced, so the traced
    training step holds none of their update ops."""
    names = set()
    token = _PAUSED.set(names)
    try:
        yield names
    finally:
        _PAUSED.reset(token)


@keras.saving.register_keras_serializable(package="ktbert")
class MacroF1(keras.metrics.F1Score):
    """Macro-averaged F1 as `ktbert.evaluate.metrics.f1_scores` (scikit-learn) computes it.

    Single-label: the most probable class decides, and the mean runs over the classes present
    in the labels or the decisions (a class absent from both is left out, not counted as 0).
    Multi-label: each label is decided at >= 0.5, and the mean runs over all labels.
    Updated by evaluation and validation passes only, never by a training step.

    Args:
        num_classes: int. the model's outputs.
        multilabel: bool. 0/1 label rows instead of class indices.
        name: str. the metric's name in the logs.
    """

    def __init__(self, num_classes: int, multilabel: bool = False, name: str = "macro_f1", dtype=None):
        super().__init__(average=None, threshold=0.5 if multilabel else None, name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.multilabel = bool(multilabel)

    def update_state(self, y_true, y_pred, sample_weight=None):
        paused = _PAUSED.get()
        if paused is not None:
            build_f1_counters(self, self.num_classes)  # Keras' step still reads `result()`
            paused.add(self.name)
            return None
        if self.multilabel:  # Keras cuts at > threshold; ktbert decides at >= 0.5
            y_pred = ops.cast(ops.greater_equal(y_pred, 0.5), "float32")
        else:
            y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes)
        return super().update_state(y_true, y_pred, sample_weight)

    def result(self):
        per_class = super().result()
        if self.multilabel:
            return ops.mean(per_class)
        seen = ops.cast(self.true_positives + self.false_positives + self.false_negatives > 0, per_class.dtype)
        return ops.sum(per_class * seen) / ops.maximum(ops.sum(seen), 1.0)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "multilabel": self.multilabel, "name": self.name,
                "dtype": self.dtype}


def validation_only_names(model) -> set:
    """The names of `model`'s compiled metrics that a training step leaves out (`MacroF1`)."""
    found = set()
    for metric in model.metrics:
        for inner in getattr(metric, "metrics", None) or [metric]:  # Keras' compiled metrics, flattened
            if isinstance(inner, MacroF1):
                found.add(inner.name)
    return found


def default_metrics(num_classes: int, multilabel: bool) -> list:
    """Accuracy and macro-F1 (per label at 0.5 for multi-label models)."""
    accuracy = keras.metrics.BinaryAccuracy(name="accuracy") if multilabel else \
        keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return [accuracy, MacroF1(num_classes, multilabel)]


def compile_classifier(model, learning_rate: float = 2e-5, weight_decay: float = 0.0, metrics=None):
    """Compiles with AdamW (decay never on biases, LayerNorm, embeddings) and the matching loss.

    Under mixed_float16 the AdamW is wrapped in a `keras.optimizers.LossScaleOptimizer` (a
    dynamic loss scale, as Keras does for a mixed_float16 model); its hyperparameters stay on
    the AdamW (`ktbert.train.hyperparameters.base_optimizer`).

    Args:
        model: TextClassifier. the classifier.
        learning_rate: float. the starting rate (schedules set it every step).
        weight_decay: float. decoupled weight decay; 0 (off) unless given, as in ktrain;
            `BERT_WEIGHT_DECAY` (0.01) is the BERT recipe's.
        metrics: list or None. Keras metrics; None gives accuracy and macro-F1.
    """
    optimizer = AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    if model.backbone.compute_dtype == "float16":  # mixed_float16: small gradients underflow without a loss scale
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    if model.multilabel:
        loss = keras.losses.BinaryCrossentropy()
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=metrics or default_metrics(model.num_classes, model.multilabel))
    return model
