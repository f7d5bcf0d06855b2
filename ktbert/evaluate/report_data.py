"""The numbers of a report on labelled data, gathered from an `Interpretation` and what a run
left: scores, confusion, calibration before and after temperature scaling, thresholds, the worst
examples with their explanations, training curves and baselines.

Everything is computed here and nothing is drawn; `ktbert.evaluate.report_html` lays it out.
The numbers are the evaluation room's own (`Interpretation`, `metrics`, `calibration`,
`occlusion`), so the report says what `validate`, `calibrate` and `explain` say.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import sys

import numpy as np

from ktbert.checks import check_count, check_whole_number
from ktbert.evaluate import metrics
from ktbert.evaluate.calibration import apply_temperature, fit_temperature
from ktbert.evaluate.explain import occlusion

MAX_TEXTS = 20  # worst examples shown
MAX_EXPLAINED = 5  # of those, highlighted by occlusion: one prediction per word each
MAX_WORDS = 100  # words scored per explained text
MAX_CHARS = 1000  # characters shown per text
N_BINS = 15  # the reliability diagram's bins, as `expected_calibration_error`'s default
VERSIONS = (("ktbert", "ktbert"), ("tensorflow", "tensorflow"), ("keras", "keras"), ("keras_hub", "keras-hub"))
THRESHOLD_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclasses.dataclass
class TrainingCurves:
    """What a fit left to draw.

    Args:
        history: dict. per-epoch series by name (`loss`, `val_loss`, ...), as Keras' `History`.
        lr: list of float. the learning rate of every step.
        lr_find: object or None. the last `lr_find`'s result (`lrs`, `smoothed`, `suggestions`).
    """

    history: dict
    lr: list
    lr_find: object = None


@dataclasses.dataclass
class Calibration:
    """The reliability of the probabilities before and after temperature scaling.

    Args:
        before, after: dict. `ktbert.evaluate.metrics.reliability_bins` of the raw and the
            scaled probabilities.
        ece_before, ece_after: float. their expected calibration errors.
        temperature: float. the temperature of `after`.
        applied: bool. the model applies this temperature (False: fitted on the report's
            data to show what `calibrate` would change).
    """

    before: dict
    after: dict
    ece_before: float
    ece_after: float
    temperature: float
    applied: bool


@dataclasses.dataclass
class ReportData:
    """Everything a report shows; made by `gather_report`."""

    title: str
    about: list  # (name, value) pairs: what was evaluated
    class_names: list
    multilabel: bool
    n_texts: int
    scores: dict  # accuracy, micro_f1, macro_f1
    per_class: dict  # scikit-learn's classification report, as a dict
    confusion: np.ndarray  # (classes, classes), or (labels, 2, 2) for multi-label data
    calibration: Calibration
    threshold_curve: dict | None  # binary models: precision and recall against the threshold
    label_thresholds: list | None  # multi-label models: a row per label
    top_losses: list  # a dict per example shown
    texts_note: str  # what the caps left out
    training: TrainingCurves | None = None
    comparison: list | None = None  # a dict per model: compare()'s table


def versions() -> list:
    """`(name, version)` of ktbert and the libraries it runs on ("not installed" when absent)."""
    found = []
    for module, distribution in VERSIONS:
        version = getattr(sys.modules.get(module), "__version__", None)
        if version is None:
            try:
                version = importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                version = "not installed"
        found.append((distribution, str(version)))
    return found


def describe_decisions(decisions) -> str:
    """The decision rule in words: temperature and threshold(s)."""
    parts = [f"temperature {decisions.temperature:.3f}" if decisions.temperature != 1.0 else "no temperature scaling"]
    if decisions.multilabel:
        parts.append("tuned per-label thresholds" if decisions.thresholds else "threshold 0.5 per label")
    elif decisions.threshold is not None:
        parts.append(f"threshold {decisions.threshold:.3f} on the second class")
    else:
        parts.append("the most probable class")
    return ", ".join(parts)


def calibration(interp, raw_proba=None, n_bins: int = N_BINS) -> Calibration:
    """Reliability before and after temperature scaling.

    With a temperature in `interp.decisions`, `after` is what the model returns; without one,
    a temperature is fitted on this data, to show what `calibrate` would change. Without
    `raw_proba`, the raw probabilities are recovered by undoing the temperature (exact up to
    float32 rounding).
    """
    decisions, y = interp.decisions, interp.y_true
    if raw_proba is None:
        raw_proba = apply_temperature(interp.proba, 1.0 / decisions.temperature, interp.multilabel)
    raw_proba = np.asarray(raw_proba)
    applied = decisions.temperature != 1.0
    if applied:
        temperature, after = decisions.temperature, interp.proba
    else:
        temperature = fit_temperature(raw_proba, y, interp.multilabel)
        after = apply_temperature(raw_proba, temperature, interp.multilabel)
    return Calibration(metrics.reliability_bins(y, raw_proba, n_bins), metrics.reliability_bins(y, after, n_bins),
                       metrics.expected_calibration_error(y, raw_proba, n_bins),
                       metrics.expected_calibration_error(y, after, n_bins), float(temperature), applied)


def threshold_curve(interp) -> dict | None:
    """Binary single-label models: precision and recall of the second class at every threshold
    of a 0.01 grid, with the decision rule `decide` applies (probability >= threshold)."""
    if interp.multilabel or len(interp.class_names) != 2:
        return None
    positive, truth = interp.proba[:, 1], np.asarray(interp.y_true) == 1
    precision, recall = [], []
    for t in THRESHOLD_GRID:
        decided = positive >= t
        hits = int(np.sum(decided & truth))
        precision.append(hits / decided.sum() if decided.any() else np.nan)
        recall.append(hits / truth.sum() if truth.any() else np.nan)
    chosen = interp.decisions.threshold
    return {"thresholds": THRESHOLD_GRID, "precision": np.array(precision), "recall": np.array(recall),
            "positive": interp.class_names[1], "threshold": 0.5 if chosen is None else float(chosen),
            "tuned": chosen is not None}


def label_thresholds(interp, per_class: dict) -> list | None:
    """Multi-label models: per label its threshold, precision, recall, F1 and support."""
    if not interp.multilabel:
        return None
    cuts = interp.decisions.thresholds or (0.5,) * len(interp.class_names)
    return [{"label": name, "threshold": float(cut), **{k: per_class[name][k] for k in
                                                         ("precision", "recall", "f1-score", "support")}}
            for name, cut in zip(interp.class_names, cuts)]


def shown_text(text, max_chars: int = MAX_CHARS) -> str:
    """A text (or an `(a, b)` pair) as shown, cut to `max_chars` characters."""
    if isinstance(text, (tuple, list)):
        text = "  ||  ".join(str(t) for t in text)
    text = str(text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"


def top_losses(interp, predict_proba=None, max_texts: int = MAX_TEXTS, max_explained: int = MAX_EXPLAINED,
               max_words: int = MAX_WORDS) -> list:
    """The `max_texts` worst examples; the first `max_explained` single texts explained by
    occlusion of their first `max_words` words when `predict_proba` (texts -> probabilities)
    is given. Each explains the class the model answered (multi-label: its most probable label),
    as `Predictor.explain` does."""
    rows = []
    for rank, (index, loss, true, predicted) in enumerate(interp.top_losses(max_texts)):
        text = interp.texts[index] if interp.texts is not None else None
        row = {"index": index, "loss": loss, "true": true, "predicted": predicted,
               "text": None if text is None else shown_text(text), "explanation": None, "words": 0}
        if predict_proba is not None and rank < max_explained and isinstance(text, str) and text.strip():
            target = None if interp.multilabel else int(interp.y_pred[index])
            row["explanation"] = occlusion(predict_proba, text, interp.class_names, target, max_words)
            row["words"] = len(text.split())
        rows.append(row)
    return rows


def texts_note(n_texts: int, rows: list, max_texts: int, max_words: int) -> str:
    """What the page says about the caps on texts shown and explained."""
    explained = sum(row["explanation"] is not None for row in rows)
    note = (f"Showing the {len(rows)} examples with the highest loss out of {n_texts:,} (at most {max_texts}; "
            f"texts cut to {MAX_CHARS:,} characters).")
    if explained:
        note += (f" The first {explained} are explained by occlusion of their first {max_words} words "
                 "(one prediction per word).")
    return note


def comparison_rows(table) -> list | None:
    """`compare()`'s DataFrame (or a list of dicts) as a list of dicts, the model name first."""
    if table is None:
        return None
    if hasattr(table, "reset_index"):
        table = table.reset_index().to_dict("records")
    return [dict(row) for row in table]


def check_caps(max_texts, max_explained, max_words) -> tuple:
    """The caps on examples shown, explained and words scored, checked."""
    return (check_count(max_texts, "max_texts"), check_whole_number(max_explained, "max_explained"),
            check_count(max_words, "max_words"))


def gather_report(interp, raw_proba=None, *, predict_proba=None, about=None, training=None, comparison=None,
                  title: str = "ktbert report", max_texts: int = MAX_TEXTS, max_explained: int = MAX_EXPLAINED,
                  max_words: int = MAX_WORDS) -> ReportData:
    """Computes everything a report shows.

    Args:
        interp: Interpretation. the (calibrated) predictions on labelled data, with the
            decisions the model applies.
        raw_proba: numpy array or None. the probabilities before temperature scaling (None:
            recovered from `interp`).
        predict_proba: callable or None. list of texts -> calibrated probabilities, to explain
            the worst examples; None explains none.
        about: list of `(name, value)` or None. what was evaluated: model, data, settings.
        training: TrainingCurves or None. the fit's curves.
        comparison: pandas.DataFrame or None. `ktbert.compare`'s table.
        title: str. the page's title.
        max_texts, max_explained, max_words: int. caps on the examples shown, explained, and
            the words scored in each.
    """
    max_texts, max_explained, max_words = check_caps(max_texts, max_explained, max_words)
    per_class = interp.classification_report(as_dict=True)
    rows = top_losses(interp, predict_proba, max_texts, max_explained, max_words)
    n_texts = len(interp.y_true)
    about = list(about or []) + [("data size", f"{n_texts:,} texts"), ("classes", ", ".join(interp.class_names)),
                                 ("decisions", describe_decisions(interp.decisions))] + versions()
    return ReportData(
        title=title, about=about, class_names=list(interp.class_names), multilabel=interp.multilabel,
        n_texts=n_texts, scores=metrics.scores(interp.y_true, interp.proba, interp.decisions), per_class=per_class,
        confusion=np.asarray(interp.confusion_matrix()), calibration=calibration(interp, raw_proba),
        threshold_curve=threshold_curve(interp), label_thresholds=label_thresholds(interp, per_class),
        top_losses=rows, texts_note=texts_note(n_texts, rows, max_texts, max_words), training=training,
        comparison=comparison_rows(comparison),
    )
