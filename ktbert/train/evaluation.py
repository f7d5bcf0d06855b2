"""The learner's evaluation calls (ktrain's names): `validate`, `top_losses`, `view_top_losses`,
`interpret`, the HTML `report`, and fitting its decisions: `calibrate` (temperature) and
`tune_thresholds`.

The numbers come from `ktbert.evaluate`: this module predicts once and hands labels,
probabilities, class names and texts to an `Interpretation`.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_count, check_flag, check_verbose
from ktbert.data.texts import TextData
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.metrics import expected_calibration_error
from ktbert.evaluate.report import check_report_path, describe_model, write_report
from ktbert.evaluate.report_data import MAX_EXPLAINED, MAX_TEXTS, MAX_WORDS, TrainingCurves, check_caps
from ktbert.train.learner_parts import LearnerParts


class EvaluationMixin(LearnerParts):
    """Reports, worst examples and decision fitting on labelled data; mixed into `Learner`."""

    def _interpretation(self, data=None, preproc=None, class_names=None, what: str = "data"):
        """`(Interpretation of the calibrated probabilities, the raw probabilities)`."""
        data = self._eval_data(data, what)
        raw = self.predict(data, calibrated=False)
        if class_names is None and preproc is not None:
            class_names = preproc.get_classes()
        if class_names is None:
            class_names = getattr(self.model, "class_names", None) or [str(i) for i in range(raw.shape[1])]
        texts = getattr(data.x, "texts", None)
        if texts is None and preproc is not None and hasattr(data.x, "lengths"):
            texts = [preproc.decode(data.x[i]) for i in range(len(data.x))]
        interp = Interpretation(data.y, self.decisions.calibrate(raw), class_names, texts, decisions=self.decisions)
        return interp, raw

    def interpret(self, data=None, preproc=None, class_names=None) -> Interpretation:
        """An `Interpretation` of the (calibrated) predictions on `data` (default: validation data).

        Class names come from `class_names`, else `preproc`, else the model (ktbert
        classifiers know them), else are "0", "1", ...; texts from the data (ktbert loaders
        keep them), else decoded with `preproc`.
        """
        return self._interpretation(data, preproc, class_names)[0]

    def validate(self, val_data=None, print_report: bool = True, class_names=None, preproc=None):
        """Classification report and confusion matrix on validation data; ktrain's `validate`.

        Prints precision, recall and F1 per class with macro and weighted averages (micro- and
        macro-F1 for multi-label data), and the expected calibration error, before and after
        `calibrate()` if it was run. The report as data: `learner.interpret().classification_report(as_dict=True)`.

        Returns:
            numpy array. the confusion matrix (rows true, columns predicted); per label 2x2
            matrices for multi-label data.
        """
        print_report = check_flag(print_report, "print_report")
        interp, raw = self._interpretation(val_data, preproc, class_names, "val_data")
        if print_report:
            print(interp.classification_report())
            if interp.multilabel:
                f1 = interp.f1_scores()
                print(f"micro-F1 {f1['micro_f1']:.4f}, macro-F1 {f1['macro_f1']:.4f}")
            line = f"expected calibration error: {expected_calibration_error(interp.y_true, raw):.4f}"
            if self.temperature != 1.0:
                line += (f" (after temperature scaling, T={self.temperature:.3f}: "
                         f"{interp.expected_calibration_error():.4f})")
            print(line)
        return interp.confusion_matrix()

    def top_losses(self, n: int = 8, val_data=None, preproc=None) -> list:
        """The `n` validation examples with the highest loss: `(index, loss, true, predicted)`."""
        n = check_count(n, "n")
        return self.interpret(val_data, preproc).top_losses(n)

    def view_top_losses(self, n: int = 8, preproc=None, val_data=None, max_chars: int = 300) -> list:
        """Prints the `n` validation texts with the highest loss; returns them as dicts.

        Each shows the index in the validation data, the loss, the true and predicted class
        and the text, shortened to `max_chars` characters.
        """
        n, max_chars = check_count(n, "n"), check_count(max_chars, "max_chars")
        interp = self.interpret(val_data, preproc)
        rows = []
        for index, loss, true, predicted in interp.top_losses(n):
            text = interp.texts[index] if interp.texts is not None else None
            rows.append({"index": index, "loss": loss, "true": true, "predicted": predicted, "text": text})
            print("-" * 60)
            print(f"id {index} | loss {loss:.4f} | true: {true} | predicted: {predicted}")
            if text is not None:
                print(text if len(text) <= max_chars else text[: max_chars - 3] + "...")
        return rows

    def report(self, path, data=None, preproc=None, class_names=None, *, comparison=None, about=None,
               data_name: str | None = None, title: str = "ktbert report", max_texts: int = MAX_TEXTS,
               max_explained: int = MAX_EXPLAINED, max_words: int = MAX_WORDS) -> str:
        """Writes one self-contained HTML report of the model on `data` (default: validation data).

        The page holds what `validate` prints and more: the model and data, the per-class
        table, the confusion matrix, reliability diagrams before and after temperature scaling,
        the threshold curves, the worst examples (their words highlighted by occlusion when
        `preproc` is given), the last fit's loss and learning-rate curves, the last `lr_find`'s
        plot, and `compare`'s table when passed (`ktbert.evaluate.report.write_report`).

        Args:
            path: str. the .html file to write.
            data: `(x, y)` or None. labelled data; None takes the validation data.
            preproc: TextPreprocessor or None. names the classes, and explains the worst examples.
            class_names: list of str or None. the classes, when there is no `preproc`.
            comparison: pandas.DataFrame or None. `ktbert.compare(..., learner=learner)`'s table.
            about: list of `(name, value)` or None. more lines for "what was evaluated".
            data_name: str or None. what `data` is ("test data"); None says "validation data"
                or "the data passed".
            title: str. the page's title.
            max_texts, max_explained, max_words: int. worst examples shown, of those explained,
                and words scored in each (occlusion predicts once per word).

        Returns:
            str. `path`.

        Examples:
        ```python
        learner.fit_onecycle(5e-5, 2)
        learner.report("report.html", preproc=preproc)
        ```
        """
        path = check_report_path(path)
        check_caps(max_texts, max_explained, max_words)
        interp, raw = self._interpretation(data, preproc, class_names, "data")
        if data_name is None:
            data_name = "validation data" if data is None else "the data passed"
        about = describe_model(self.model, preproc) + [
            ("evaluated on", data_name), ("training data", f"{len(self.train_data.y):,} texts"),
            ("batch size", f"{self.batch_size} (evaluation: {self.eval_batch_size})"),
        ] + list(about or [])
        return write_report(path, interp, raw, predict_proba=None if preproc is None else self._text_proba(preproc),
                            about=about, training=self.training_curves(), comparison=comparison, title=title,
                            max_texts=max_texts, max_explained=max_explained, max_words=max_words)

    def training_curves(self) -> TrainingCurves | None:
        """The last fit's loss and learning-rate series and the last `lr_find`'s result, as the
        report draws them; None before any fit or `lr_find`."""
        if self.history is None and self.lr_find_result is None:
            return None
        history = dict(self.history.history) if self.history is not None else {}
        return TrainingCurves(history, list(self.lr_history), self.lr_find_result)

    def _text_proba(self, preproc):
        """`texts -> calibrated probabilities`, through `preproc` and `predict`."""

        def proba(texts):
            x = preproc.preprocess(texts, keep_texts=False)
            return self.predict(TextData(x, np.zeros(len(x))))

        return proba

    def calibrate(self, val_data=None, verbose: int = 1) -> float:
        """Fits temperature scaling on validation data; `predict` then applies it, and
        `get_predictor(learner, preproc)` keeps it.

        Returns:
            float. the temperature (1.0 means the model was already calibrated).
        """
        verbose = check_verbose(verbose)
        data = self._eval_data(val_data, "val_data")
        raw = self.predict(data, calibrated=False)
        self.decisions = self.decisions.fit_temperature(raw, data.y)
        if verbose:
            before = expected_calibration_error(data.y, raw)
            after = expected_calibration_error(data.y, self.decisions.calibrate(raw))
            print(f"temperature {self.temperature:.3f}: expected calibration error {before:.4f} -> {after:.4f}")
        return self.temperature

    def tune_thresholds(self, val_data=None) -> list:
        """Per-label decision thresholds maximising each label's F1 (multi-label models).

        `get_predictor(learner, preproc)` keeps them, and `validate` uses them.
        """
        data = self._eval_data(val_data, "val_data")
        self.decisions = self.decisions.fit_thresholds(self.predict(data, calibrated=False), data.y)
        return self.thresholds
