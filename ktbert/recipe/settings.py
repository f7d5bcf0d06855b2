"""`TrainingSettings`: everything one run of the training recipe decides, validated when made."""

from __future__ import annotations

import dataclasses
import numbers

from ktbert.checks import (check_choice, check_count, check_dropout, check_fraction, check_maxlen, check_non_negative,
                           check_path, check_rate, check_seed, echo)
from ktbert.data.pipeline import check_truncation
from ktbert.defaults import BATCH_SIZE, DROPOUT, ENCODER, LR, MAXLEN, TRAIN_BATCH_SIZE, TRUNCATION, VAL_PCT
from ktbert.model.classifier import check_pooling
from ktbert.model.compiling import BERT_WEIGHT_DECAY
from ktbert.model.precision import check_precision
from ktbert.recipe.fitting import SCHEDULES, STOPPING_SCHEDULES
from ktbert.serve.long_texts import check_long_texts
from ktbert.train.class_weights import check_class_weight
from ktbert.train.loop import MONITORS


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Everything one training run decides, validated when made.

    Args:
        text_column: str or int. the column holding the texts; a list of two for text pairs.
        label_columns: str, int or list. the label column, or one 0/1 column per class.
        maxlen: int. tokens per text, [CLS] and [SEP] included.
        encoder: str. "default" (all-MiniLM-L6-v2), an encoder folder or preset name (docs/encoders.md).
        label_sep: str or None. separator of several labels in one cell (multi-label).
        clean: dict or None. text clean-up, as the loaders' `clean`.
        truncation: str. "head" or "head+tail", as the loaders' `truncation`.
        precision: str or None. "auto", "float32", "mixed_bfloat16" or "mixed_float16", as `text_classifier`
            takes it (None: `KTBERT_PRECISION`, else "auto").
        bucketing: bool. length-bucketed batches in training and prediction (False: every
            batch padded to `maxlen`).
        val_pct: float. share of the training rows held out when no validation rows are given.
        batch_size: int. texts per training step.
        eval_batch_size: int. texts per prediction step at `maxlen` tokens, more when shorter
            (also the saved predictor's).
        epochs: int. epochs of training (at most, with `early_stopping`).
        lr: float or "auto". the peak rate; "auto" runs `lr_find` and takes its `valley`.
        weight_decay: float. decoupled weight decay (the BERT recipe's 0.01 by default); 0 turns it off.
        pooling: str. "mean" or "cls".
        dropout: float. dropout before the head, in [0, 1).
        class_weight: "balanced", dict or None. weights per class (single-label); a dict maps
            class indices to weights (JSON's string keys "0", "1" are read as indices).
        tune_thresholds: bool. fit per-label thresholds on the validation data (multi-label).
        calibrate: bool. fit temperature scaling on the validation data.
        seed: int or None. seed of the split, the head's weights and the shuffling.
        output: str or None. save the predictor to this folder.
        verbose: int. 0 quiet, 1 progress bars, 2 one line per epoch.
        schedule: str. the learning-rate schedule: "onecycle" (`fit_onecycle`), "autofit"
            (ktrain's triangular policy), "constant" (`fit` at `lr`) or "sgdr" (`fit` with
            `cycle_len=1`: a cosine from `lr` down to 0 every epoch).
        early_stopping: int or None. stop after this many epochs without improvement of
            `monitor` and restore the best epoch's weights ("autofit", "constant", "sgdr").
        monitor: str. what early stopping and `reduce_on_plateau` watch: "val_loss",
            "val_accuracy" or "val_macro_f1".
        reduce_on_plateau: int or None. halve autofit's peak rate after this many epochs
            without improvement of `monitor` ("autofit" only).
        long_texts: str. how the saved predictor reads texts longer than `maxlen`: "truncate"
            (as in training) or "windows" (every token, in overlapping windows whose
            probabilities are pooled); with "windows", `calibrate`, `tune_thresholds` and
            the scores use the pooled probabilities.
        window_stride: int or None. tokens between window starts; None: half a window.
        window_pooling: str. "mean" or "max" of the windows' probabilities.
        checkpoint_folder: str or None. write each epoch's weights there (the fit's
            `checkpoint_folder`), and with `checkpoint_every` the whole training state.
        checkpoint_every: int or None. write the training state every this many steps, so a
            killed run can go on with `resume`.
        resume: str or None. a checkpoint folder of this run: go on from its newest checkpoint
            (with the same settings and data; others are refused).

    Examples:
    ```python
    settings = ktbert.TrainingSettings("sentence", "label", maxlen=64, batch_size=8, epochs=1)
    run = ktbert.train_classifier(settings, train_df, val_df)
    run.scores["accuracy"]
    ```
    """

    text_column: str | int
    label_columns: str | int | list
    maxlen: int = MAXLEN
    encoder: str = ENCODER
    label_sep: str | None = None
    clean: dict | None = None
    truncation: str = TRUNCATION
    precision: str | None = None
    bucketing: bool = True
    val_pct: float = VAL_PCT
    batch_size: int = TRAIN_BATCH_SIZE
    eval_batch_size: int = BATCH_SIZE
    epochs: int = 1
    lr: float | str = LR
    weight_decay: float = BERT_WEIGHT_DECAY
    pooling: str = "mean"
    dropout: float = DROPOUT
    class_weight: str | dict | None = None
    tune_thresholds: bool = False
    calibrate: bool = False
    seed: int | None = 0
    output: str | None = None
    verbose: int = 1
    schedule: str = "onecycle"
    early_stopping: int | None = None
    monitor: str = "val_loss"
    reduce_on_plateau: int | None = None
    long_texts: str = "truncate"
    window_stride: int | None = None
    window_pooling: str = "mean"
    checkpoint_folder: str | None = None
    checkpoint_every: int | None = None
    resume: str | None = None

    def __post_init__(self):
        def set_(name, value):  # frozen: the validating constructor is the one place that sets
            object.__setattr__(self, name, value)

        if isinstance(self.text_column, (list, tuple)):  # two columns: text pairs
            if len(self.text_column) != 2 or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                                     for c in self.text_column):
                raise TypeError("`text_column` must be a column name or position, or two of them for text pairs. "
                                f"Received: text_column={self.text_column!r}")
            set_("text_column", list(self.text_column))
        elif not isinstance(self.text_column, (str, int)) or isinstance(self.text_column, bool):
            raise TypeError("`text_column` must be a column name or position, or two of them for text pairs. "
                            f"Received: text_column={self.text_column!r}")
        if self.label_columns is None or self.label_columns == [] or self.label_columns == "":
            raise ValueError("`label_columns` is required: name the label column, or one 0/1 column per class.")
        set_("maxlen", check_maxlen(self.maxlen))
        check_truncation(self.truncation)
        if self.precision is not None:
            check_precision(self.precision)
        set_("val_pct", check_fraction(self.val_pct, "val_pct"))
        set_("batch_size", check_count(self.batch_size, "batch_size"))
        set_("eval_batch_size", check_count(self.eval_batch_size, "eval_batch_size"))
        set_("epochs", check_count(self.epochs, "epochs"))
        if self.lr != "auto":
            set_("lr", check_rate(self.lr, "lr"))
        set_("weight_decay", check_non_negative(self.weight_decay, "weight_decay"))
        check_pooling(self.pooling)
        set_("dropout", check_dropout(self.dropout))
        check_class_weight(self.class_weight)
        if isinstance(self.class_weight, dict):
            set_("class_weight", _weights_by_index(self.class_weight))
        set_("seed", check_seed(self.seed))
        check_choice(self.schedule, SCHEDULES, "schedule")
        if self.early_stopping is not None:
            set_("early_stopping", check_count(self.early_stopping, "early_stopping"))
            if self.schedule not in STOPPING_SCHEDULES:
                raise ValueError(
                    f"`early_stopping` needs a schedule that can stop early, one of {list(STOPPING_SCHEDULES)}: "
                    "one-cycle plans its rate over all `epochs`. Received: "
                    f"early_stopping={self.early_stopping}, schedule={self.schedule!r}")
        check_choice(self.monitor, MONITORS, "monitor")
        if self.reduce_on_plateau is not None:
            set_("reduce_on_plateau", check_count(self.reduce_on_plateau, "reduce_on_plateau"))
            if self.schedule != "autofit":
                raise ValueError("`reduce_on_plateau` lowers autofit's peak rate: it needs schedule='autofit'. "
                                 f"Received: reduce_on_plateau={self.reduce_on_plateau}, schedule={self.schedule!r}")
        for name in ("checkpoint_folder", "resume"):
            if getattr(self, name) is not None:
                set_(name, check_path(getattr(self, name), name, "folder"))
        if self.checkpoint_every is not None:
            set_("checkpoint_every", check_count(self.checkpoint_every, "checkpoint_every"))
            if self.checkpoint_folder is None:
                raise ValueError("`checkpoint_every` writes the training state into `checkpoint_folder`: pass that "
                                 f"folder too. Received: checkpoint_every={self.checkpoint_every}, "
                                 "checkpoint_folder=None")
        long_texts = check_long_texts(self.long_texts, self.window_stride, self.window_pooling, self.maxlen)
        for name, value in zip(("long_texts", "window_stride", "window_pooling"), long_texts):
            set_(name, value)
        if self.long_texts == "windows" and isinstance(self.text_column, list):
            raise ValueError("`long_texts='windows'` reads single long texts; a model of text pairs reads each pair "
                             "once, its texts truncated round robin to `maxlen`. Leave long_texts='truncate'. "
                             f"Received: text_column={self.text_column!r}")

    # === Config ===
    def to_dict(self) -> dict:
        """Every setting by name: plain values that `json.dumps` writes and `from_dict` reads back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict) -> "TrainingSettings":
        """Settings from `to_dict()`'s dict (or its JSON, read back), checked as when made.

        Examples:
        ```python
        text = json.dumps(settings.to_dict())
        ktbert.TrainingSettings.from_dict(json.loads(text)) == settings  # True
        ```
        """
        if not isinstance(config, dict):
            raise TypeError(f"`config` must be a dict of settings, as `to_dict()` returns. Received: {echo(config)}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(config) - set(known), key=str)
        if unknown:
            raise ValueError(f"`config` holds {unknown}, which TrainingSettings does not take. Known: {known}")
        return cls(**config)


def _weights_by_index(class_weight: dict) -> dict:
    """`class_weight` keyed by class index, as Keras takes it; JSON's "0", "1" keys read as 0, 1."""
    weights = {}
    for key, value in class_weight.items():
        index = int(key) if isinstance(key, str) and key.isdigit() else key
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or isinstance(value, bool) \
                or not isinstance(value, numbers.Real):
            raise ValueError("`class_weight` must map class indices (0, 1, ...) to numbers. "
                             f"Received: class_weight={class_weight!r}")
        weights[int(index)] = float(value)
    return weights
