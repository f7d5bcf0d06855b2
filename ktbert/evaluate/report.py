"""One HTML report of a model on labelled data, in one self-contained file to send a colleague.

`write_report` gathers the numbers (`ktbert.evaluate.report_data`), lays them out with their
figures (`ktbert.evaluate.report_html`) and writes the page. `Learner.report`,
`TrainingRun.report` and the command line's `--report` call it.
"""

from __future__ import annotations

import os
import tempfile

from ktbert.checks import echo
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.report_data import MAX_EXPLAINED, MAX_TEXTS, MAX_WORDS, check_caps, gather_report
from ktbert.evaluate.report_html import render
from ktbert.saving import durable

REPORT_EXTENSIONS = (".html", ".htm")


def check_report_path(path, what: str = "path") -> str:
    """Refuses, before any work, a report path that could not be written; returns it as a str."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{what}` must be a file path. Received: {what}={echo(path)}")
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in REPORT_EXTENSIONS:
        raise ValueError(f"`{what}` must name a .html file. Received: {what}={path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"`{what}` {path!r} is a folder: name a .html file.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"`{what}` {path!r}: the folder {folder!r} does not exist.")
    return path


def describe_model(model, preproc=None) -> list:
    """`(name, value)` pairs of what a report is about: the model, its text pipeline and seeds.

    Args:
        model: keras.Model. the classifier.
        preproc: TextPreprocessor or None. its preprocessor.
    """
    try:
        size = f", {model.count_params():,} parameters"
    except ValueError:  # a Keras model not built yet
        size = ""
    about = [("model", f"{type(model).__name__} {model.name!r}{size}")]
    if preproc is not None:
        clean = ", ".join(f"{name}={value!r}" for name, value in preproc.clean.get_config().items()
                          if value is not None and value is not False)
        about += [("encoder", f"{preproc.encoder} ({preproc.family} family)"), ("maxlen", preproc.maxlen),
                  ("truncation", preproc.truncation), ("clean-up", clean or "none"),
                  ("input", "pairs of texts" if preproc.pairs else "single texts")]
    record = getattr(model, "training_record", None)
    if record is not None:
        about += [("seed", record.seed), ("shuffle seed", record.shuffle_seed)]
    return about


def write_text(path: str, text: str) -> None:
    """Writes `text` beside `path` and renames it into place, flushed to the disk before the
    rename (`ktbert.saving.durable.publish_file`), so neither a failed write nor a power loss
    leaves a partial page that looks complete."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=".ktbert-report-", suffix=".html", dir=folder)
    try:
        with open(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from the colleague it is for
        durable.publish_file(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_report(path, interp, raw_proba=None, *, predict_proba=None, about=None, training=None, comparison=None,
                 title: str = "ktbert report", max_texts: int = MAX_TEXTS, max_explained: int = MAX_EXPLAINED,
                 max_words: int = MAX_WORDS) -> str:
    """Writes one self-contained HTML report of predictions on labelled data.

    The page holds what was evaluated (with the library versions), the scores, the per-class
    table, the confusion matrix, reliability diagrams before and after temperature scaling,
    precision and recall against the threshold (binary models) or per-label thresholds and F1
    (multi-label models), the worst examples with their words highlighted, and, when given, the
    training curves and the baselines. Figures are inline PNG: the file loads nothing and needs
    no JavaScript.

    Args:
        path: str. the .html file to write (replaced if present).
        interp: Interpretation. the calibrated predictions, with the model's decisions.
        raw_proba: numpy array or None. the probabilities before temperature scaling (None:
            recovered from `interp`).
        predict_proba: callable or None. list of texts -> calibrated probabilities, to explain
            the worst examples by occlusion; None shows them unexplained.
        about: list of `(name, value)` or None. what was evaluated: model, data, settings.
        training: `ktbert.evaluate.report_data.TrainingCurves` or None. the fit's curves.
        comparison: pandas.DataFrame or None. `ktbert.compare`'s table.
        title: str. the page's title.
        max_texts: int. worst examples shown.
        max_explained: int. of those, explained (occlusion predicts once per word).
        max_words: int. words scored per explained text.

    Returns:
        str. `path`.

    Examples:
    ```python
    predictor = ktbert.load_predictor("sentiment")
    proba = predictor.predict(texts, return_proba=True)
    interp = ktbert.Interpretation(y, proba, predictor.get_classes(), texts, decisions=predictor.decisions)
    ktbert.write_report("report.html", interp, predict_proba=predictor.predict_proba)
    ```
    """
    path = check_report_path(path)
    if not isinstance(interp, Interpretation):
        raise TypeError(f"`interp` must be a ktbert Interpretation (from `learner.interpret()` or "
                        f"`ktbert.Interpretation(y, proba, class_names)`). Received: {echo(interp)}")
    check_caps(max_texts, max_explained, max_words)
    data = gather_report(interp, raw_proba, predict_proba=predict_proba, about=about, training=training,
                         comparison=comparison, title=title, max_texts=max_texts, max_explained=max_explained,
                         max_words=max_words)
    write_text(path, render(data))
    return path
