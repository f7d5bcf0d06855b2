"""The training recipe, written once: load -> build -> fit -> decide -> evaluate -> save.

The IMDB demo and the integration tests run it, and the coming command line will; in a notebook it is one
call: `run = ktbert.train_classifier(ktbert.TrainingSettings("Reviews", "Sentiment"), train_df)`.
(It is `train_classifier`, not `train`, because `ktbert.train` is the training room.)
"""

from __future__ import annotations

import dataclasses
import numbers

from ktbert.checks import check_count, check_fraction, check_maxlen, check_non_negative, check_rate, check_seed, echo
from ktbert.data.loaders import texts_from_df
from ktbert.data.preprocessor import TextPreprocessor, check_truncation
from ktbert.data.tables import tokenize_df
from ktbert.data.texts import TextData
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.metrics import scores
from ktbert.model.classifier import check_pooling, text_classifier
from ktbert.model.compiling import BERT_WEIGHT_DECAY
from ktbert.model.precision import check_precision
from ktbert.serve.predictor import Predictor, get_predictor
from ktbert.train.class_weights import check_class_weight
from ktbert.train.learner import Learner, get_learner


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Everything one training run decides, validated when made.

    Args:
        text_column: str or int. the column holding the texts.
        label_columns: str, int or list. the label column, or one 0/1 column per class.
        maxlen: int. tokens per text, [CLS] and [SEP] included.
        encoder: str. "default" (all-MiniLM-L6-v2), a BERT checkpoint folder or preset name.
        label_sep: str or None. separator of several labels in one cell (multi-label).
        clean: dict or None. text clean-up, as the loaders' `clean`.
        truncation: str. "head" or "head+tail", as the loaders' `truncation`.
        precision: str or None. "auto", "float32", "mixed_bfloat16" or "mixed_float16", as `text_classifier`
            takes it (None: `KTBERT_PRECISION`, else "auto").
        bucketing: bool. length-bucketed batches in training and prediction (False: every
            batch padded to `maxlen`).
        val_pct: float. share of the training rows held out when no validation rows are given.
        batch_size: int. texts per training step.
        eval_batch_size: int. texts per prediction step (also the saved predictor's).
        epochs: int. epochs of one-cycle training.
        lr: float or "auto". the peak rate; "auto" runs `lr_find` and takes its `valley`.
        weight_decay: float. decoupled weight decay (the BERT recipe's 0.01 by default).
        pooling: str. "mean" or "cls".
        dropout: float. dropout before the head, in [0, 1).
        class_weight: "balanced", dict or None. weights per class (single-label).
        tune_thresholds: bool. fit per-label thresholds on the validation data (multi-label).
        calibrate: bool. fit temperature scaling on the validation data.
        seed: int or None. seed of the split, the head's weights and the shuffling.
        output: str or None. save the predictor to this folder.
        verbose: int. 0 quiet, 1 progress bars, 2 one line per epoch.

    Examples:
    ```python
    settings = ktbert.TrainingSettings("sentence", "label", maxlen=64, batch_size=8, epochs=1)
    run = ktbert.train_classifier(settings, train_df, val_df)
    run.scores["accuracy"]
    ```
    """

    text_column: str | int
    label_columns: str | int | list
    maxlen: int = 128
    encoder: str = "default"
    label_sep: str | None = None
    clean: dict | None = None
    truncation: str = "head"
    precision: str | None = None
    bucketing: bool = True
    val_pct: float = 0.1
    batch_size: int = 16
    eval_batch_size: int = 32
    epochs: int = 1
    lr: float | str = 5e-5
    weight_decay: float = BERT_WEIGHT_DECAY
    pooling: str = "mean"
    dropout: float = 0.1
    class_weight: str | dict | None = None
    tune_thresholds: bool = False
    calibrate: bool = False
    seed: int | None = 0
    output: str | None = None
    verbose: int = 1

    def __post_init__(self):
        def set_(name, value):  # frozen: the validating constructor is the one place that sets
            object.__setattr__(self, name, value)

        if not isinstance(self.text_column, (str, int)) or isinstance(self.text_column, bool):
            raise TypeError(f"`text_column` must be a column name or position. Received: text_column={self.text_column!r}")
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
        if not isinstance(self.dropout, numbers.Real) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={self.dropout!r}")
        check_class_weight(self.class_weight)
        set_("seed", check_seed(self.seed))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainingRun:
    """What one run of the recipe made.

    Args:
        settings: TrainingSettings. what was asked for.
        learner: Learner. the trained learner (model, data, history).
        predictor: Predictor. the model with its preprocessor and decisions, ready to ship.
        preproc: TextPreprocessor. the fitted preprocessor.
        train_data, val_data: TextData. the tokenized training and validation data.
        test_data: TextData or None. the tokenized test data, if given.
        lr: float. the peak rate trained at (the `valley` suggestion with `lr="auto"`).
        scores: dict. accuracy, micro- and macro-F1 on the test data if given, else on the
            validation data, with the saved decisions applied.
    """

    settings: TrainingSettings
    learner: Learner
    predictor: Predictor
    preproc: TextPreprocessor
    train_data: TextData
    val_data: TextData
    test_data: TextData | None
    lr: float
    scores: dict

    @property
    def eval_data(self) -> TextData:
        """The data `scores` were measured on."""
        return self.test_data if self.test_data is not None else self.val_data

    def interpret(self) -> Interpretation:
        """An `Interpretation` of the predictions on `eval_data` (reports, top losses, plots)."""
        return self.learner.interpret(self.eval_data, self.preproc)


def train_classifier(settings: TrainingSettings, train_df, val_df=None, test_df=None) -> TrainingRun:
    """Runs the recipe: tokenize, build, train with one-cycle, fit decisions, score, save.

    Args:
        settings: TrainingSettings. the run's settings.
        train_df: pandas.DataFrame. the training rows.
        val_df: pandas.DataFrame or None. validation rows, evaluated after every epoch and used
            to fit thresholds and temperature; None holds out `settings.val_pct` of `train_df`.
        test_df: pandas.DataFrame or None. rows scored once at the end and used for no choice;
            None scores the validation data.

    Returns:
        TrainingRun.

    Examples:
    ```python
    run = ktbert.train_classifier(ktbert.TrainingSettings("SMS", "Label", class_weight="balanced"), df)
    print(run.scores)
    ```
    """
    s = _checked(settings)
    trn, val, preproc = _load(s, train_df, val_df)
    if s.tune_thresholds and not preproc.multilabel:  # checked before training, as the test rows
        raise ValueError("`tune_thresholds=True` is for multi-label data (label_sep or several 0/1 "
                         "label columns); this data is single-label. Leave it False.")
    test = None
    if test_df is not None:  # before training, so bad test rows cost no training time
        test = tokenize_df(test_df, preproc, s.text_column, s.label_columns, s.label_sep, what="test_df")
    learner = _learner(s, trn, val, preproc)
    lr = s.lr
    if lr == "auto":
        learner.lr_find(verbose=s.verbose)
        if "valley" not in learner.lr_suggestions:
            raise RuntimeError("lr_find stopped too early to suggest a rate: pass `lr` explicitly.")
        lr = learner.lr_suggestions["valley"]
    learner.fit_onecycle(lr, s.epochs, class_weight=s.class_weight, verbose=s.verbose)
    if s.calibrate:  # first: thresholds are tuned on the calibrated probabilities
        learner.calibrate(verbose=s.verbose)
    if s.tune_thresholds:
        learner.tune_thresholds()
    evaluated = test if test is not None else val
    d = learner.decisions
    run_scores = scores(evaluated.y, learner.predict(evaluated), d.multilabel, d.thresholds, d.threshold)
    predictor = get_predictor(learner, preproc, batch_size=s.eval_batch_size, bucketing=s.bucketing)
    if s.output is not None and learner.is_chief:  # one writer when several machines train
        predictor.save(s.output)
    return TrainingRun(s, learner, predictor, preproc, trn, val, test, float(lr), run_scores)


def build_learner(settings: TrainingSettings, train_df, val_df=None):
    """The recipe's first steps only: tokenize, build and wrap, as `train_classifier` does
    before it trains (the command line's `lr-find` starts here).

    Returns:
        `(learner, trn, val, preproc)`.

    Examples:
    ```python
    learner, trn, val, preproc = build_learner(ktbert.TrainingSettings("text", "label"), df)
    learner.lr_find()
    ```
    """
    s = _checked(settings)
    trn, val, preproc = _load(s, train_df, val_df)
    return _learner(s, trn, val, preproc), trn, val, preproc


def _checked(settings) -> TrainingSettings:
    if not isinstance(settings, TrainingSettings):
        raise TypeError(f"`settings` must be a ktbert.TrainingSettings. Received: {echo(settings)}. Make one "
                        "with ktbert.TrainingSettings(text_column, label_columns, ...).")
    return settings


def _load(s: TrainingSettings, train_df, val_df):
    return texts_from_df(
        train_df, s.text_column, s.label_columns, val_df=val_df, maxlen=s.maxlen, val_pct=s.val_pct,
        random_state=s.seed, verbose=1 if s.verbose else 0, label_sep=s.label_sep, encoder=s.encoder,
        clean=s.clean, truncation=s.truncation,
    )


def _learner(s: TrainingSettings, trn, val, preproc) -> Learner:
    model = text_classifier("bert", trn, preproc, seed=s.seed, verbose=1 if s.verbose else 0,
                            pooling=s.pooling, dropout=s.dropout, precision=s.precision)
    learner = get_learner(model, train_data=trn, val_data=val, batch_size=s.batch_size,
                          eval_batch_size=s.eval_batch_size, seed=s.seed, bucketing=s.bucketing)
    learner.set_weight_decay(s.weight_decay)
    return learner
