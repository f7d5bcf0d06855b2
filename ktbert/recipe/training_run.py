"""The training recipe, written once: load -> build -> fit -> decide -> evaluate -> save.

The IMDB demo, the command line's `ktbert train` and the integration tests run it; in a notebook
it is one call: `run = ktbert.train_classifier(ktbert.TrainingSettings("Reviews", "Sentiment"), df)`.
(It is `train_classifier`, not `train`, because `ktbert.train` is the training room.) It trains
with the training room and hands the model to the serving room's predictor, so it sits above both.
"""

from __future__ import annotations

import dataclasses

from ktbert.checks import echo
from ktbert.data.loaders import texts_from_df
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.data.tables import tokenize_df
from ktbert.data.texts import TextData
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.metrics import scores
from ktbert.evaluate.report import check_report_path, describe_model, write_report
from ktbert.model.classifier import text_classifier
from ktbert.recipe.fitting import fit_learner
from ktbert.recipe.settings import TrainingSettings
from ktbert.serve.factories import get_predictor
from ktbert.serve.predictor import Predictor
from ktbert.train.learner import Learner, get_learner


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
        """An `Interpretation` of the predictions on `eval_data` (reports, top losses, plots):
        with `long_texts="windows"`, of the predictor's pooled windows, as `scores`."""
        data = self.eval_data
        if self.predictor.long_texts == "windows":
            texts = data.x.texts
            return Interpretation(data.y, self.predictor.predict_proba(texts), self.preproc.get_classes(), texts,
                                  decisions=self.predictor.decisions)
        return self.learner.interpret(data, self.preproc)

    def report(self, path, comparison=None, **options) -> str:
        """Writes the HTML report of the run on `eval_data`, the data `scores` were measured on:
        the settings, the scores, the figures, the worst examples explained, the loss and
        learning-rate curves (and the `lr_find` plot with `lr="auto"`).

        Args:
            path: str. the .html file to write.
            comparison: pandas.DataFrame or None. `ktbert.compare`'s table, shown side by side.
            **options: `Learner.report`'s `title`, `max_texts`, `max_explained`, `max_words`.

        Returns:
            str. `path`.

        Examples:
        ```python
        run = ktbert.train_classifier(settings, df)
        run.report("report.html")
        ```
        """
        name = "test data" if self.test_data is not None else "validation data"
        settings = ", ".join(f"{key}={value!r}" for key, value in self.settings.to_dict().items())
        about = [("peak learning rate", f"{self.lr:.3g}"), ("settings", settings)]
        if self.predictor.long_texts != "windows":
            return self.learner.report(path, self.eval_data, self.preproc, comparison=comparison, about=about,
                                       data_name=name, **options)
        # The predictor's pooled windows and decisions, as `scores`; the raw probabilities are
        # recovered by undoing its temperature.
        path = check_report_path(path)
        about = describe_model(self.learner.model, self.preproc) + [
            ("evaluated on", name), ("training data", f"{len(self.train_data.y):,} texts")] + about
        return write_report(path, self.interpret(), predict_proba=self.predictor.predict_proba, about=about,
                            training=self.learner.training_curves(), comparison=comparison, **options)


def train_classifier(settings: TrainingSettings, train_df, val_df=None, test_df=None) -> TrainingRun:
    """Runs the recipe: tokenize, build, train with the settings' schedule, fit decisions, score, save.

    With `long_texts="windows"` the predictor reads long texts in windows, and the temperature,
    the thresholds and `scores` are fitted and measured on its pooled probabilities.

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
    fit_learner(learner, s, lr)
    evaluated = test if test is not None else val
    if s.long_texts == "windows":
        predictor, run_scores = _windowed_decisions(s, learner, preproc, val, evaluated)
    else:
        if s.calibrate:  # first: thresholds are tuned on the calibrated probabilities
            learner.calibrate(verbose=s.verbose)
        if s.tune_thresholds:
            learner.tune_thresholds()
        run_scores = scores(evaluated.y, learner.predict(evaluated), learner.decisions)
        predictor = _predictor(s, learner, preproc)
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


def _predictor(s: TrainingSettings, learner, preproc) -> Predictor:
    return get_predictor(learner, preproc, batch_size=s.eval_batch_size, bucketing=s.bucketing,
                         long_texts=s.long_texts, window_stride=s.window_stride, window_pooling=s.window_pooling)


def _windowed_decisions(s: TrainingSettings, learner, preproc, val, evaluated):
    """The predictor reading long texts in windows, its decisions fitted on the pooled
    probabilities of the validation texts, and its scores on `evaluated`."""
    predictor = _predictor(s, learner, preproc)
    if s.calibrate:  # first: thresholds are tuned on the calibrated probabilities
        predictor.calibrate(val)
    if s.tune_thresholds:
        predictor.tune_thresholds(val)
    proba = predictor.predict_proba(evaluated.x.texts)
    return predictor, scores(evaluated.y, proba, predictor.decisions)


def _learner(s: TrainingSettings, trn, val, preproc) -> Learner:
    model = text_classifier("bert", trn, preproc, seed=s.seed, verbose=1 if s.verbose else 0,
                            pooling=s.pooling, dropout=s.dropout, precision=s.precision)
    learner = get_learner(model, train_data=trn, val_data=val, batch_size=s.batch_size,
                          eval_batch_size=s.eval_batch_size, seed=s.seed, bucketing=s.bucketing)
    learner.set_weight_decay(s.weight_decay)
    return learner
