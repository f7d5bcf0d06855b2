"""The predictor: a trained classifier with its preprocessor, to predict and to ship.

`predict` takes raw strings and returns class names or probabilities; `save` writes a folder
that `Predictor.load` restores without the training code, the encoder package or pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ktbert import __version__
from ktbert.checks import check_count, check_flag, check_path, check_seed, echo
from ktbert.data.batching import predict_in_order
from ktbert.data.preprocessor import CONFIG_FILE, VOCAB_FILE, TextPreprocessor
from ktbert.data.texts import TokenizedTexts
from ktbert.evaluate.calibration import tune_binary_threshold
from ktbert.evaluate.explain import occlusion
from ktbert.model.classifier import SEED_ATTRIBUTE, SHUFFLE_SEED_ATTRIBUTE, TextClassifier, rebuild_classifier
from ktbert.model.precision import check_precision
from ktbert.model.saved_config import check_classifier_config, weight_layout
from ktbert.serve import folder_writes, saving, weights_file
from ktbert.serve.decisions import DECISIONS_ATTRIBUTE, Decisions, DecisionsMixin


LONG_TEXTS = ("truncate", "windows")
WINDOW_POOLINGS = ("mean", "max")


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
        long_texts: str. texts longer than `maxlen`: "truncate" reads them as the
            preprocessor cuts them (as in training); "windows" reads every token in
            overlapping windows of `maxlen` (64 windows per text at most, a warning names a
            longer text) and pools the windows' probabilities; `calibrate` and the threshold
            tuning then fit on the pooled probabilities too. Saved.
        window_stride: int or None. tokens between window starts; None: half a window. Saved.
        window_pooling: str. "mean" or "max" of the windows' probabilities. Saved.
        bucketing: bool. predict in length-bucketed batches (rows still come back in input
            order); False pads every batch to `maxlen`.

    Attributes:
        seed: int or None. the seed the classifier was trained with, saved in the manifest's
            `training.seed` (None: an unseeded run), so a save says how to reproduce it.

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc)
    predictor.predict(["what a film!"])          # ['pos']
    predictor.save("sentiment")
    ktbert.Predictor.load("sentiment").predict("dull", return_proba=True)
    ```
    """

    def __init__(self, model, preproc: TextPreprocessor, batch_size: int = 32, temperature: float = 1.0,
                 thresholds=None, threshold: float | None = None, long_texts: str = "truncate",
                 window_stride: int | None = None, window_pooling: str = "mean", bucketing: bool = True):
        if not isinstance(model, TextClassifier):
            raise TypeError(
                "`model` must be a classifier built by `ktbert.text_classifier`. "
                f"Received: {echo(model)}"
            )
        if not isinstance(preproc, TextPreprocessor):
            raise TypeError(f"`preproc` must be a TextPreprocessor (the loader's third result). Received: {echo(preproc)}")
        if model.num_classes != len(preproc.get_classes()):
            raise ValueError(
                f"`model` has {model.num_classes} outputs but `preproc` names "
                f"{len(preproc.get_classes())} classes: they do not belong together."
            )
        self.model = model
        self.preproc = preproc
        # saved, so a save says how it was trained: the classifier's seed and the shuffling's
        self.seed = getattr(model, SEED_ATTRIBUTE, None)
        self.shuffle_seed = getattr(model, SHUFFLE_SEED_ATTRIBUTE, None)
        self.batch_size = check_count(batch_size, "batch_size")
        if long_texts not in LONG_TEXTS:
            raise ValueError(f"`long_texts` must be one of {list(LONG_TEXTS)}. Received: long_texts={long_texts!r}")
        if window_pooling not in WINDOW_POOLINGS:
            raise ValueError(f"`window_pooling` must be one of {list(WINDOW_POOLINGS)}. "
                             f"Received: window_pooling={window_pooling!r}")
        if window_stride is not None:
            window_stride = check_count(window_stride, "window_stride")
            if window_stride > preproc.maxlen - 2:
                raise ValueError(f"`window_stride` must be at most maxlen - 2 = {preproc.maxlen - 2}, or "
                                 f"windows would skip tokens. Received: window_stride={window_stride}")
        self.long_texts = long_texts
        self.window_stride = window_stride
        self.window_pooling = window_pooling
        self.bucketing = check_flag(bucketing, "bucketing")
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
        return_proba = check_flag(return_proba, "return_proba")
        single = isinstance(texts, str)
        proba = self._proba([texts] if single else texts)
        if return_proba:
            return proba[0] if single else proba
        labels = self.decisions.labels(proba, self.get_classes())
        return labels[0] if single else labels

    def _proba(self, texts) -> np.ndarray:
        if self.long_texts == "windows":
            return self._proba_windows(texts)
        return self._proba_tokenized(self.preproc.preprocess(texts, keep_texts=False))

    def _proba_tokenized(self, x, calibrated: bool = True) -> np.ndarray:
        proba = np.asarray(predict_in_order(self.model, x, self.batch_size, self.bucketing), dtype=np.float32)
        return self.decisions.calibrate(proba) if calibrated else proba

    def _proba_windows(self, texts, calibrated: bool = True) -> np.ndarray:
        """Each text's windows predicted, pooled per text, then calibrated once (the temperature
        and thresholds are fitted on pooled probabilities too: see `_labelled`)."""
        windows, owners = self.preproc.windows(texts, stride=self.window_stride)
        proba = self._proba_tokenized(windows, calibrated=False)
        pooled = np.zeros((len(texts), proba.shape[1]), dtype=np.float32)
        if self.window_pooling == "mean":
            np.add.at(pooled, owners, proba)
            pooled /= np.bincount(owners, minlength=len(texts))[:, None]
        else:
            np.maximum.at(pooled, owners, proba)
            if not self.preproc.multilabel:  # one distribution per text again
                pooled /= pooled.sum(axis=1, keepdims=True)
        return self.decisions.calibrate(pooled) if calibrated else pooled

    def prediction_config(self) -> dict:
        """How long texts are read, as saved."""
        return {"long_texts": self.long_texts, "window_stride": self.window_stride,
                "window_pooling": self.window_pooling}

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
        if not isinstance(text, str):
            raise TypeError(f"`text` must be one string: explain one text at a time. Received: text={echo(text)}")
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
        if not isinstance(val_data, tuple) or len(val_data) != 2 or not isinstance(val_data[0], TokenizedTexts):
            raise TypeError(f"`val_data` must be the `(x, y)` validation data a ktbert loader returned. "
                            f"Received: {echo(val_data)}")
        x, y = val_data
        if self.long_texts == "windows":  # fitted on what `predict` will pool, not on truncations
            if x.texts is None:
                raise ValueError("`val_data` holds no raw texts, which `long_texts='windows'` needs to "
                                 "read them whole: load it with a ktbert loader (they keep them).")
            return self._proba_windows(x.texts, calibrated), np.asarray(y)
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
    def export(self, folder: str) -> str:
        """Writes a TensorFlow SavedModel that takes raw strings and returns probabilities,
        decisions and class names, with tokenization, truncation, clean-up, temperature and
        thresholds inside the graph, for TensorFlow Serving or `tf.saved_model.load` without
        ktbert. See `ktbert.serve.export.export_saved_model` and docs/serving.md.

        Examples:
        ```python
        predictor.export("sentiment-savedmodel")
        ```
        """
        from ktbert.serve.export import export_saved_model

        return export_saved_model(self, check_path(folder, "folder", "folder"))

    def save(self, folder: str) -> None:
        """Writes the predictor to `folder`: manifest, safetensors weights, vocabulary.

        An existing ktbert save at `folder` is replaced atomically; a folder holding anything
        else is refused.
        """
        folder = check_path(folder, "folder", "folder")

        def write(tmp):
            self.preproc.save(tmp)
            weights_file.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {
            "ktbert_version": __version__,
            "model": json.loads(json.dumps(self.model.get_config())),
            "decision": self.decision_config(),
            "prediction": self.prediction_config(),
            "training": {"seed": self.seed, "shuffle_seed": self.shuffle_seed},
        }
        saving.write_folder(folder, write, manifest)

    @classmethod
    def load(cls, folder: str, batch_size: int = 32, bucketing: bool = True,
             precision: str | None = None) -> "Predictor":
        """Restores a predictor written by `save`; refuses foreign or corrupted folders.

        Before anything is built, the manifest's model config is checked against an allow-list
        (`ktbert.model.saved_config`) and its sizes against the weights file's header; every
        refusal is a `SaveFormatError` naming the file.

        `precision` ("auto", "float32", "mixed_bfloat16", "mixed_float16") overrides the saved
        one; by default the model computes as it was saved, except that a mixed-precision model
        computes as "auto" chooses on a machine that would emulate its half-precision type.
        """
        folder = check_path(folder, "folder", "folder")
        if precision is not None:
            check_precision(precision)
        # The caller's mistakes, not the save's: told as such, before anything is read.
        check_count(batch_size, "batch_size")
        check_flag(bucketing, "bucketing")
        manifest_path = os.path.join(folder, saving.MANIFEST)
        weights_path = os.path.join(folder, saving.WEIGHTS)
        with folder_writes.reading(folder):  # no save swaps the folder while its files are read
            manifest = saving.read_manifest(folder, required=(CONFIG_FILE, VOCAB_FILE, saving.WEIGHTS))
            try:  # before anything is built: the model config may name only a TextClassifier's parts
                check_classifier_config(manifest.get("model"))
            except ValueError as err:
                raise saving.SaveFormatError(
                    f"{manifest_path!r} is refused: {str(err).rstrip('.')}. It was not "
                    "written by ktbert's `Predictor.save` (or was edited since): load only saves you trust, or "
                    "save the predictor again."
                ) from err
            # The sizes the config names must be those of the weights it came with: a config asking
            # for a larger model than its file holds is refused before a variable is allocated.
            count, shapes = weight_layout(manifest["model"])
            weights_file.check_layout(weights_path, weights_file.read_safetensors_header(weights_path),
                                      count, shapes, manifest_path)
            try:
                preproc = TextPreprocessor.load(folder)
            except (KeyError, TypeError, ValueError, OSError) as err:
                raise saving.SaveFormatError(
                    f"{folder!r} could not be restored: its configuration is damaged ({err})."
                ) from err
            try:
                model = rebuild_classifier(manifest["model"], precision)
            except Exception as err:  # whatever Keras or TensorFlow raise on a config they cannot build
                raise saving.SaveFormatError(
                    f"{manifest_path!r} holds a model config that could not be built ({type(err).__name__}: "
                    f"{' '.join(str(err).split())[:300]}). It was not written by ktbert's `Predictor.save` (or was "
                    "edited since): save the predictor again."
                ) from err
            weights_file.load_weights(model, weights_path)
        decision = manifest.get("decision", {})
        prediction = manifest.get("prediction", {})  # older saves have none: texts truncated
        try:
            if not isinstance(decision, dict) or not isinstance(prediction, dict):
                raise TypeError("`decision` and `prediction` must be JSON objects")
            training = manifest.get("training", {})  # format version 2 saves before 0.1.0 have none
            if not isinstance(training, dict):
                raise TypeError("`training` must be a JSON object")
            setattr(model, SEED_ATTRIBUTE, check_seed(training.get("seed"), "training.seed"))
            setattr(model, SHUFFLE_SEED_ATTRIBUTE, check_seed(training.get("shuffle_seed"), "training.shuffle_seed"))
            return cls(model, preproc, batch_size=batch_size, temperature=decision.get("temperature", 1.0),
                       thresholds=decision.get("thresholds"), threshold=decision.get("threshold"),
                       long_texts=prediction.get("long_texts", "truncate"),
                       window_stride=prediction.get("window_stride"),
                       window_pooling=prediction.get("window_pooling", "mean"), bucketing=bucketing)
        except (TypeError, ValueError) as err:
            raise saving.SaveFormatError(
                f"{os.path.join(folder, saving.MANIFEST)!r} holds decisions or settings this ktbert cannot use "
                f"({err}). Save the predictor again."
            ) from err


def get_predictor(model, preproc: TextPreprocessor, batch_size: int = 32, **options) -> Predictor:
    """Pairs a trained model with its preprocessor; ktrain's `get_predictor`.

    Args:
        model: TextClassifier (usually `learner.model`) or the Learner itself: either way the
            learner's decisions (temperature from `learner.calibrate()`, thresholds from
            `learner.tune_thresholds()`) carry over.
        preproc: TextPreprocessor. the preprocessor the loader returned.
        batch_size: int. texts per prediction step.
        **options: `long_texts`, `window_stride`, `window_pooling`, `bucketing`, and
            `temperature`, `thresholds`, `threshold` (which replace the learner's), as
            `Predictor` takes them.

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc, long_texts="windows")
    ```
    """
    # A learner is recognised by what it holds, not by its class: serving never imports training.
    if isinstance(getattr(model, "decisions", None), Decisions) and hasattr(model, "model"):
        model = model.model
    # A learner keeps its decisions on its model, so `learner.model` carries them as well.
    decisions = getattr(model, DECISIONS_ATTRIBUTE, None)
    config = decisions.get_config() if isinstance(decisions, Decisions) else {}
    return Predictor(model, preproc, batch_size=batch_size, **{**config, **options})


def load_predictor(folder: str, batch_size: int = 32, bucketing: bool = True,
                   precision: str | None = None) -> Predictor:
    """Restores a saved predictor; ktrain's `load_predictor` (see `Predictor.load`)."""
    return Predictor.load(folder, batch_size=batch_size, bucketing=bucketing, precision=precision)
