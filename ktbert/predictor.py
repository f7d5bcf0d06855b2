"""The predictor: a trained classifier with its preprocessor, to predict and to ship.

`predict` takes raw strings and returns class names or probabilities; `save` writes a folder
that `Predictor.load` restores without the training code, the encoder package or pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ktbert import saving
from ktbert.batching import check_batch_size, make_dataset
from ktbert.preprocessor import TextPreprocessor


class Predictor:
    """Predicts classes of raw texts; made by `ktbert.get_predictor` or `Predictor.load`.

    Args:
        model: TextClassifier. the trained model.
        preproc: TextPreprocessor. the preprocessor the model was trained with.
        batch_size: int. texts per prediction step.

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc)
    predictor.predict(["what a film!"])          # ['pos']
    predictor.save("sentiment")
    ktbert.Predictor.load("sentiment").predict("dull", return_proba=True)
    ```
    """

    def __init__(self, model, preproc: TextPreprocessor, batch_size: int = 32):
        from ktbert.model import TextClassifier

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
        self.batch_size = check_batch_size(batch_size)

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
            of class names whose probability is at least 0.5 per text; with `return_proba`, a
            float array `(n, classes)` (`(classes,)` for one string).
        """
        single = isinstance(texts, str)
        batch = [texts] if single else texts
        x = self.preproc.preprocess(batch, keep_texts=False)
        proba = np.asarray(
            self.model.predict(make_dataset(x, batch_size=self.batch_size), verbose=0), dtype=np.float32
        )
        if return_proba:
            return proba[0] if single else proba
        names = self.get_classes()
        if self.preproc.multilabel:
            labels = [[names[j] for j in np.flatnonzero(row >= 0.5)] for row in proba]
        else:
            labels = [names[j] for j in proba.argmax(axis=1)]
        return labels[0] if single else labels

    # -- saving ------------------------------------------------------------------------------
    def save(self, folder: str) -> None:
        """Writes the predictor to `folder`: manifest, safetensors weights, vocabulary.

        An existing ktbert save at `folder` is replaced atomically; a folder holding anything
        else is refused.
        """
        from ktbert import __version__

        def write(tmp):
            self.preproc.save(tmp)
            saving.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {
            "ktbert_version": __version__,
            "model": json.loads(json.dumps(self.model.get_config())),
        }
        saving.write_folder(folder, write, manifest)

    @classmethod
    def load(cls, folder: str, batch_size: int = 32) -> "Predictor":
        """Restores a predictor written by `save`; refuses foreign or corrupted folders."""
        from ktbert.model import TextClassifier

        manifest = saving.read_manifest(folder)
        try:
            preproc = TextPreprocessor.load(folder)
            model = TextClassifier.from_config(manifest["model"])
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise saving.SaveFormatError(
                f"{folder!r} could not be restored: its configuration is damaged ({err})."
            ) from err
        saving.load_weights(model, os.path.join(folder, saving.WEIGHTS))
        return cls(model, preproc, batch_size=batch_size)


def get_predictor(model, preproc: TextPreprocessor, batch_size: int = 32) -> Predictor:
    """Pairs a trained model with its preprocessor; ktrain's `get_predictor`.

    Args:
        model: TextClassifier. usually `learner.model`.
        preproc: TextPreprocessor. the preprocessor the loader returned.
        batch_size: int. texts per prediction step.
    """
    return Predictor(model, preproc, batch_size=batch_size)


def load_predictor(folder: str, batch_size: int = 32) -> Predictor:
    """Restores a saved predictor; ktrain's `load_predictor`."""
    return Predictor.load(folder, batch_size=batch_size)
