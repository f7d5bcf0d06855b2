"""How a classifier is compiled: AdamW with decay off where BERT recipes keep it off, the loss
that matches the head, and accuracy plus macro-F1 as metrics.

Macro-F1 is a compiled metric, so Keras reports `val_macro_f1` from the one validation pass it
already makes each epoch (checkpoints and early stopping can monitor it at no extra cost).
"""

from __future__ import annotations

import keras
from keras import ops

# Decoupled weight decay skips biases, LayerNorm scales/offsets and embedding tables, as BERT
# fine-tuning recipes do. Matched against each variable's short name.
NO_DECAY = ["bias", "gamma", "beta", "embeddings"]
# The BERT fine-tuning recipe's decay (Devlin et al.; Hugging Face examples); off by default as
# in ktrain and Hugging Face's Trainer, one call away with `learner.set_weight_decay()`.
BERT_WEIGHT_DECAY = 0.01


@keras.saving.register_keras_serializable(package="ktbert")
class SparseMacroF1(keras.metrics.F1Score):
    """Macro-averaged F1 from class indices and probabilities (the most probable class decides).

    Args:
        num_classes: int. the model's outputs.
        name: str. the metric's name in the logs.
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", dtype=None):
        super().__init__(average="macro", threshold=None, name=name, dtype=dtype)
        self.num_classes = int(num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}


def default_metrics(num_classes: int, multilabel: bool) -> list:
    """Accuracy and macro-F1 (per label at 0.5 for multi-label models)."""
    if multilabel:
        return [keras.metrics.BinaryAccuracy(name="accuracy"),
                keras.metrics.F1Score(average="macro", threshold=0.5, name="macro_f1")]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), SparseMacroF1(num_classes)]


def compile_classifier(model, learning_rate: float = 2e-5, weight_decay: float = 0.0, metrics=None):
    """Compiles with AdamW (decay never on biases, LayerNorm, embeddings) and the matching loss.

    Args:
        model: TextClassifier. the classifier.
        learning_rate: float. the starting rate (schedules set it every step).
        weight_decay: float. decoupled weight decay; 0 (off) unless given, as in ktrain;
            `BERT_WEIGHT_DECAY` (0.01) is the BERT recipe's.
        metrics: list or None. Keras metrics; None gives accuracy and macro-F1.
    """
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    optimizer.exclude_from_weight_decay(var_names=NO_DECAY)
    if model.multilabel:
        loss = keras.losses.BinaryCrossentropy()
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=metrics or default_metrics(model.num_classes, model.multilabel))
    return model
