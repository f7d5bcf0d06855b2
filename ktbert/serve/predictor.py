"""The predictor: a trained classifier with its preprocessor, to predict and to ship.

`predict` takes raw strings and returns class names or probabilities; `save` writes a folder
that `Predictor.load` restores without the training code, the encoder package or pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ktbert import __version__
from ktbert.checks import check_count
from ktbert.data.batching import make_dataset
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.data.texts import TokenizedTexts
from ktbert.evaluate.calibration import tune_binary_threshold
from ktbert.evaluate.explain import occlusion
from ktbert.model.classifier import TextClassifier
from ktbert.serve import saving
from ktbert.serve.decisions import DECISIONS_ATTRIBUTE, Decisions, DecisionsMixin


class Predictor(DecisionsMixin):
    """Predicts classes of raw texts; made by `ktbert.get_predictor` or `Predictor.load`.

    Args:
        model: TextClassifier. the trained model.
        preproc: TextPreprocessor. the preprocessor the model was trained with.
        batch_size: int. texts per prediction step.
        temperature: float. divides the logits before probabilities are returned (temperature
            scaling; 1.0 changes nothing). Fit it with `calibrate`.
        thresholds: list of float or None. per-label decision thresholds (multi-label).
        threshold: float or None. decision threshold on the second class's probability
            (binary models); None takes the most probable class.

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc)
    predictor.predict(["what a film!"])          # ['pos']
    predictor.save("sentiment")
    ktbert.Predictor.load("sentiment").predict("dull", return_proba=True)
    ```
    """

    def __init__(self, model, preproc: TextPreprocessor, batch_size: int = 32, temperature: float = 1.0,
                 thresholds=None, threshold: float | None = None):
        if not isinstance(model, TextClassifier):
            raise TypeError(
                "`model` must be a classifier built by `ktbert.text_classifier`. "
                f"Received: {type(model).__name__}"
            )
        if not isinstance(preproc, TextPreprocessor):
            raise TypeError(f"`preproc` must be a TextPreprocessor. Received: {type(preproc).__name__}")
        if model.num_classes != len(preproc.get_classes()):
            raise ValueError(
                f"`model` has {model.num_classes} outputs but `preproc` names "
                f"{len(preproc.get_classes())} classes: they do not belong together."
            )
        self.model = model
        self.preproc = preproc
        self.batch_size = check_count(batch_size, "batch_size")
        self.decisions = Decisions(model.num_classes, preproc.multilabel, temperature, thresholds, threshold)

    def get_classes(self) -> list:
        """The class names, in the order of the probability columns."""
        return self.preproc.get_classes()

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities `(n, classes)` for a list of texts, `(classes,)` for one string."""
        return self.predict(texts, return_proba=True)

    def predict(self, texts, return_proba: bool = False):
        """Predicts the classes of `texts`.

        Args:
            texts: str or list of str. one text gives one result, a list a list.
            return_proba: bool. return probabilities instead of class names.

        Returns:
            For single-label models, a class name per text; for multi-label models, the list
            of class names at or above their threshold (0.5 unless tuned) per text; with
            `return_proba`, a float array `(n, classes)` (`(classes,)` for one string), after
            temperature scaling.
        """
        single = isinstance(texts, str)
        proba = self._proba([texts] if single else texts)
        if return_proba:
            return proba[0] if single else proba
        labels = self.decisions.labels(proba, self.get_classes())
        return labels[0] if single else labels

    def _proba(self, texts) -> np.ndarray:
        return self._proba_tokenized(self.preproc.preprocess(texts, keep_texts=False))

    def _proba_tokenized(self, x, calibrated: bool = True) -> np.ndarray:
        proba = np.asarray(
            self.model.predict(make_dataset(x, batch_size=self.batch_size), verbose=0), dtype=np.float32
        )
        return self.decisions.calibrate(proba) if calibrated else proba

    def explain(self, text: str, class_name: str | None = None, max_words: int = 256):
        """Which words drove the prediction, by occlusion (see `ktbert.evaluate.explain`).

        Args:
            text: str. the text to explain.
            class_name: str or None. the class to explain; None explains the class `predict`
                answers (multi-label models: the most probable label).
            max_words: int. the words scored at most.

        Returns:
            Explanation: `.pairs` gives `(word, score)` in text order, `.top(k)` the strongest,
            `.html()` (shown inline in notebooks) the text with words highlighted.
        """
        names = self.get_classes()
        if class_name is not None:
            if class_name not in names:
                raise ValueError(f"`class_name` {class_name!r} is not a class; classes: {names}")
            index = names.index(class_name)
        elif self.preproc.multilabel:
            index = None  # the most probable label
        else:  # the class `predict` answers, threshold included
            index = int(self.decisions.decide(self._proba([text]))[0])
        return occlusion(self._proba, text, names, index, max_words)

    # -- decisions ---------------------------------------------------------------------------
    def _labelled(self, val_data, calibrated: bool = True):
        """Probabilities and labels of `(x, y)` data that a ktbert loader tokenized."""
        x, y = val_data
        if not isinstance(x, TokenizedTexts):
            raise ValueError("`val_data` must be the `(x, y)` a ktbert loader returned.")
        return self._proba_tokenized(x, calibrated), np.asarray(y)

    def calibrate(self, val_data) -> float:
        """Fits temperature scaling on `(x, y)` validation data; returns the temperature."""
        raw, y = self._labelled(val_data, calibrated=False)
        self.decisions = self.decisions.fit_temperature(raw, y)
        return self.temperature

    def tune_thresholds(self, val_data) -> list:
        """Per-label thresholds maximising each label's F1 on validation data (multi-label)."""
        raw, y = self._labelled(val_data, calibrated=False)
        self.decisions = self.decisions.fit_thresholds(raw, y)
        return self.thresholds

    def set_thresholds(self, thresholds) -> None:
        """Sets the per-label decision thresholds of a multi-label model."""
        self.thresholds = thresholds

    def set_threshold(self, threshold: float) -> None:
        """Sets the decision threshold on the second class's probability (binary models)."""
        self.threshold = threshold

    def tune_threshold(self, val_data, target_precision: float | None = None,
                       target_recall: float | None = None) -> float:
        """Sets the binary threshold reaching a target precision (or recall) for the second class."""
        proba, y = self._labelled(val_data)
        self.set_threshold(tune_binary_threshold(proba[:, 1], y, target_precision, target_recall))
        return self.threshold

    # -- saving ------------------------------------------------------------------------------
    def save(self, folder: str) -> None:
        """Writes the predictor to `folder`: manifest, safetensors weights, vocabulary.

        An existing ktbert save at `folder` is replaced atomically; a folder holding anything
        else is refused.
        """
        def write(tmp):
            self.preproc.save(tmp)
            saving.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {
            "ktbert_version": __version__,
            "model": json.loads(json.dumps(self.model.get_config())),
            "decision": self.decision_config(),
        }
        saving.write_folder(folder, write, manifest)

    @classmethod
    def load(cls, folder: str, batch_size: int = 32) -> "Predictor":
        """Restores a predictor written by `save`; refuses foreign or corrupted folders."""
        manifest = saving.read_manifest(folder)
        try:
            preproc = TextPreprocessor.load(folder)
            model = TextClassifier.from_config(manifest["model"])
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise saving.SaveFormatError(
                f"{folder!r} could not be restored: its configuration is damaged ({err})."
            ) from err
        saving.load_weights(model, os.path.join(folder, saving.WEIGHTS))
        decision = manifest.get("decision", {})
        return cls(model, preproc, batch_size=batch_size, temperature=decision.get("temperature", 1.0),
                   thresholds=decision.get("thresholds"), threshold=decision.get("threshold"))


def get_predictor(model, preproc: TextPreprocessor, batch_size: int = 32) -> Predictor:
    """Pairs a trained model with its preprocessor; ktrain's `get_predictor`.

    Args:
        model: TextClassifier (usually `learner.model`) or the Learner itself: either way the
            learner's decisions (temperature from `learner.calibrate()`, thresholds from
            `learner.tune_thresholds()`) carry over.
        preproc: TextPreprocessor. the preprocessor the loader returned.
        batch_size: int. texts per prediction step.
    """
    # A learner is recognised by what it holds, not by its class: serving never imports training.
    if isinstance(getattr(model, "decisions", None), Decisions) and hasattr(model, "model"):
        model = model.model
    # A learner keeps its decisions on its model, so `learner.model` carries them as well.
    decisions = getattr(model, DECISIONS_ATTRIBUTE, None)
    config = decisions.get_config() if isinstance(decisions, Decisions) else {}
    return Predictor(model, preproc, batch_size=batch_size, **config)


def load_predictor(folder: str, batch_size: int = 32) -> Predictor:
    """Restores a saved predictor; ktrain's `load_predictor`."""
    return Predictor.load(folder, batch_size=batch_size)
