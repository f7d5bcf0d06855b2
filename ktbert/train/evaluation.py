"""The learner's evaluation calls (ktrain's names): `validate`, `top_losses`, `view_top_losses`,
`interpret`, and fitting its decisions: `calibrate` (temperature) and `tune_thresholds`.

The numbers come from `ktbert.evaluate`: this module predicts once and hands labels,
probabilities, class names and texts to an `Interpretation`.
"""

from __future__ import annotations

from ktbert.checks import check_count, check_flag, check_verbose
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.metrics import expected_calibration_error
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
