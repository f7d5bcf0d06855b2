"""The predictor: a trained classifier with its preprocessor, to predict and to ship.

`predict` takes raw strings and returns class names or probabilities; `save` writes a folder
that `Predictor.load` restores without the training code, the encoder package or pickle.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_count, check_flag, check_path, echo
from ktbert.data.prediction import predict_in_order
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.data.texts import TokenizedTexts
from ktbert.defaults import BATCH_SIZE
from ktbert.evaluate.calibration import tune_binary_threshold
from ktbert.evaluate.decisions import Decisions, DecisionsMixin
from ktbert.model.classifier import TextClassifier
from ktbert.model.int8 import check_quantize
from ktbert.model.precision import check_precision
from ktbert.saving.predictor_folder import read_predictor, unusable_settings, write_predictor
from ktbert.serve.embeddings import embed
from ktbert.serve.explaining import explain
from ktbert.serve.export import export_predictor
from ktbert.serve.freezing import FreezePolicy, check_freezing
from ktbert.serve.long_texts import LONG_TEXTS, WINDOW_POOLINGS, check_long_texts, pool_windows  # noqa: F401


class Predictor(DecisionsMixin):
    """Predicts classes of raw texts; made by `ktbert.get_predictor` or `Predictor.load`.

    Args:
        model: TextClassifier. the trained model.
        preproc: TextPreprocessor. the preprocessor the model was trained with.
        batch_size: int. texts per prediction step at `maxlen` tokens; with bucketing,
            shorter texts share larger steps (at most `batch_size * maxlen` padded tokens).
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
        freeze_weights: bool. once `warm_up` ran or 65,536 tokens were predicted, predict with
            the encoder's fused feed-forward weights as constants of the prediction graph
            (`ktbert.model.frozen`: faster, identical probabilities). Only for a model nothing
            trains any more: `Predictor.load` sets it; `get_predictor` leaves it off, so a
            predictor sharing a learner's model follows its further training.
        quantize: str or None. "int8": `predict` multiplies in 8-bit integers from the first
            call, with `freeze_weights` (`ktbert.model.int8`); None (default): float. Not saved.

    Attributes:
        seed: int or None. the seed the classifier was trained with, saved in the manifest's
            `training.seed` (None: an unseeded run), so a save says how to reproduce it.
        shuffle_seed: int or None. the seed the learner shuffled with (`training.shuffle_seed`).

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc)
    predictor.predict(["what a film!"])          # ['pos']
    predictor.save("sentiment")
    ktbert.Predictor.load("sentiment").predict("dull", return_proba=True)
    ```
    """

    def __init__(self, model, preproc: TextPreprocessor, batch_size: int = BATCH_SIZE, temperature: float = 1.0,
                 thresholds=None, threshold: float | None = None, long_texts: str = "truncate",
                 window_stride: int | None = None, window_pooling: str = "mean", bucketing: bool = True,
                 freeze_weights: bool = False, quantize: str | None = None):
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
        # saved, so a save says how it was made: the classifier's seed and the learner's shuffling's
        self.seed = model.training_record.seed
        self.shuffle_seed = model.training_record.shuffle_seed
        self.batch_size = check_count(batch_size, "batch_size")
        self.long_texts, self.window_stride, self.window_pooling = check_long_texts(
            long_texts, window_stride, window_pooling, preproc.maxlen)
        self.bucketing = check_flag(bucketing, "bucketing")
        self.decisions = Decisions(model.num_classes, preproc.multilabel, temperature, thresholds, threshold)
        self.freeze_weights = check_flag(freeze_weights, "freeze_weights")
        self.quantize = check_quantize(quantize)
        self._freeze = FreezePolicy(self.freeze_weights, required=self.quantize is not None, model=model)

    def get_classes(self) -> list:
        """The class names, in the order of the probability columns."""
        return self.preproc.get_classes()

    def predict_proba(self, texts) -> np.ndarray:
        """Probabilities `(n, classes)` for a list of texts, `(classes,)` for one string."""
        return self.predict(texts, return_proba=True)

    def predict(self, texts, return_proba: bool = False):
        """Predicts the classes of `texts`.

        Args:
            texts: str or list of str. one text gives one result, a list a list. A model of
                text pairs takes an `(a, b)` tuple, or a list of them.
            return_proba: bool. return probabilities instead of class names.

        Returns:
            For single-label models, a class name per text; for multi-label models, the list
            of class names at or above their threshold (0.5 unless tuned) per text; with
            `return_proba`, a float array `(n, classes)` (`(classes,)` for one string), after
            temperature scaling.
        """
        return_proba = check_flag(return_proba, "return_proba")
        single = self._single(texts)
        proba = self._proba([texts] if single else texts)
        if return_proba:
            return proba[0] if single else proba
        labels = self.decisions.labels(proba, self.get_classes())
        return labels[0] if single else labels

    def _single(self, texts) -> bool:
        """Whether `texts` is one text (a string, or an `(a, b)` tuple for a model of pairs: one
        with a missing text is one pair too, refused as such by `check_pairs`)."""
        return isinstance(texts, str) or (self.preproc.pairs and isinstance(texts, tuple) and len(texts) == 2
                                          and not any(isinstance(t, (tuple, list)) for t in texts))

    def _proba(self, texts) -> np.ndarray:
        if self.long_texts == "windows":
            return self._proba_windows(texts)
        return self._proba_tokenized(self.preproc.preprocess(texts, keep_texts=False))

    def _proba_tokenized(self, x, calibrated: bool = True) -> np.ndarray:
        proba = np.asarray(predict_in_order(self.model, x, self.batch_size, self.bucketing, frozen=self._frozen(x),
                                            int8=self.quantize == "int8"), dtype=np.float32)
        return self.decisions.calibrate(proba) if calibrated else proba

    def _frozen(self, x) -> bool:
        """Whether to predict `x` with the weights frozen (`ktbert.serve.freezing`)."""
        return self._freeze.frozen(self.model, x)

    def warm_up(self) -> None:
        """Makes the prediction step ready before the first real call (`ktbert serve` calls it
        at start-up): traces it on one short text, freezing the weights of a loaded predictor."""
        self._freeze.warm_up()
        self.predict(("warm-up", "warm-up") if self.preproc.pairs else "warm-up")

    def _proba_windows(self, texts, calibrated: bool = True) -> np.ndarray:
        """Each text's windows predicted, pooled per text, then calibrated once (the temperature
        and thresholds are fitted on pooled probabilities too: see `_labelled`)."""
        windows, owners = self.preproc.windows(texts, stride=self.window_stride)
        pooled = pool_windows(self._proba_tokenized(windows, calibrated=False), owners, len(texts),
                              self.window_pooling, self.preproc.multilabel)
        return self.decisions.calibrate(pooled) if calibrated else pooled

    def embed(self, texts) -> np.ndarray:
        """The fine-tuned encoder's text vectors, pooled as the classifier pools them (before
        its head): float32 `(n, hidden)` for a list, `(hidden,)` for one string; rows in the
        input order, batched as `predict` batches (`ktbert.serve.embeddings`).

        Examples:
        ```python
        vectors = predictor.embed(["what a film!", "dull"])  # (2, 384) for all-MiniLM-L6-v2
        ```
        """
        single = self._single(texts)
        vectors = embed(self, [texts] if single else texts)
        return vectors[0] if single else vectors

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
        return explain(self, text, class_name, max_words)

    # === Decisions ===
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

    def tune_threshold(self, val_data, target_precision: float | None = None,
                       target_recall: float | None = None) -> float:
        """Sets the binary threshold reaching a target precision (or recall) for the second class."""
        proba, y = self._labelled(val_data)
        self.set_threshold(tune_binary_threshold(proba[:, 1], y, target_precision, target_recall))
        return self.threshold

    def set_thresholds(self, thresholds) -> None:
        """Sets the per-label decision thresholds of a multi-label model."""
        self.thresholds = thresholds

    def set_threshold(self, threshold: float) -> None:
        """Sets the decision threshold on the second class's probability (binary models)."""
        self.threshold = threshold

    # === Saving ===
    def export(self, folder: str, format: str = "savedmodel") -> str:  # noqa: A002 (Keras' name)
        """Writes the predictor for running without ktbert and returns the folder's path:
        `format="savedmodel"`, a TensorFlow SavedModel that takes raw strings and returns
        probabilities, decisions and class names (`ktbert.serve.export.export_saved_model`);
        `format="onnx"`, an ONNX model of token ids with a Hugging Face `tokenizer.json`
        (`ktbert.serve.onnx_export.export_onnx`). docs/serving.md shows both in use.

        Examples:
        ```python
        predictor.export("sentiment-savedmodel")
        predictor.export("sentiment-onnx", format="onnx")
        ```
        """
        return export_predictor(self, check_path(folder, "folder", "folder"), format)

    def save(self, folder: str) -> None:
        """Writes the predictor to `folder`: manifest, safetensors weights, vocabulary.

        An existing ktbert save at `folder` is replaced atomically; a folder holding anything
        else is refused.
        """
        write_predictor(check_path(folder, "folder", "folder"), self.model, self.preproc, self.decision_config(),
                        self.prediction_config(), {"seed": self.seed, "shuffle_seed": self.shuffle_seed})

    @classmethod
    def load(cls, folder: str, batch_size: int = BATCH_SIZE, bucketing: bool = True,
             precision: str | None = None, freeze_weights: bool = True, quantize: str | None = None) -> "Predictor":
        """Restores a predictor written by `save`; refuses foreign or corrupted folders.

        Before anything is built, the manifest's model config is checked against an allow-list
        (`ktbert.saving.saved_config`) and its sizes against the weights file's header; every
        refusal is a `SaveFormatError` naming the file (`ktbert.saving.predictor_folder`).

        `precision` ("auto", "float32", "mixed_bfloat16", "mixed_float16") overrides the saved
        one; by default the model computes as it was saved, except that a mixed-precision model
        computes as "auto" chooses on a machine that would emulate its half-precision type.

        `freeze_weights` and `quantize` as in `Predictor`; freezing is on: the model is this one's alone.
        """
        folder = check_path(folder, "folder", "folder")
        if precision is not None:
            check_precision(precision)
        # The caller's mistakes, not the save's: told as such, before anything is read.
        check_count(batch_size, "batch_size")
        check_flag(bucketing, "bucketing")
        check_freezing(check_flag(freeze_weights, "freeze_weights"), check_quantize(quantize) is not None)
        parts = read_predictor(folder, precision)
        decision, prediction = parts.decision, parts.prediction
        try:
            predictor = cls(parts.model, parts.preproc, batch_size=batch_size,
                            temperature=decision.get("temperature", 1.0), thresholds=decision.get("thresholds"),
                            threshold=decision.get("threshold"), long_texts=prediction.get("long_texts", "truncate"),
                            window_stride=prediction.get("window_stride"),
                            window_pooling=prediction.get("window_pooling", "mean"), bucketing=bucketing,
                            freeze_weights=freeze_weights, quantize=quantize)
        except (TypeError, ValueError) as err:
            raise unusable_settings(folder, err) from err
        return predictor
