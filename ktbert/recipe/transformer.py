"""ktrain's `text.Transformer`: one object that tokenizes for an encoder and builds its classifier.

```python
t = ktbert.text.Transformer("path/to/roberta-base", maxlen=128, class_names=["neg", "pos"])
trn = t.preprocess_train(x_train, y_train)
val = t.preprocess_test(x_test, y_test)
learner = ktbert.get_learner(t.get_classifier(), train_data=trn, val_data=val, batch_size=16)
learner.fit_onecycle(5e-5, 1)
ktbert.get_predictor(learner.model, preproc=t).save("model")
```

It is a thin layer over the loaders' pieces: `preprocess_train` encodes labels as
`texts_from_array` does and keeps a `TextPreprocessor`, which `preprocess_test`, `get_classifier`
and `get_predictor` then use.
"""

from __future__ import annotations

import os
import warnings

from ktbert.checks import check_texts
from ktbert.data.building import TextOptions, new_preprocessor
from ktbert.data.labels import EncodedLabels, encode_array_labels
from ktbert.data.preprocessor import TextPreprocessor
from ktbert.data.texts import TextData
from ktbert.defaults import MAXLEN, TRUNCATION


class Transformer:
    """ktrain's `text.Transformer(model_name, maxlen=, class_names=)` for any supported encoder.

    Args:
        model_name: str. the encoder: "default" (all-MiniLM-L6-v2), a keras-hub preset folder, a
            Hugging Face checkpoint folder, or a keras-hub preset name or `hf://` handle (both
            download: they need a network). A Hugging Face model id such as "roberta-base" is
            read as `hf://roberta-base`. See docs/encoders.md.
        maxlen: int. tokens kept per text, the special tokens included (ktrain's default, 128).
        class_names: list of str. the classes, in output order; required when the labels are
            integers, else read from the training labels (sorted).
        classes: list of str. ktrain's older name of `class_names`.
        batch_size: accepted for ktrain compatibility and ignored: give it to `get_learner`.
        use_with_learner: accepted for ktrain compatibility; the data always suits a learner.
        multilabel: bool or None. None: decided by the labels (a 2-D 0/1 array is multi-label).
        clean: dict, TextCleaner or None. clean-up before tokenizing (`ktbert.TextCleaner`).
        truncation: str. "head" or "head+tail".

    Raises:
        ValueError: an encoder name that is neither a folder nor downloadable here, with how to
            bring the folder.
    """

    def __init__(self, model_name: str, maxlen: int = MAXLEN, class_names=None, classes=None, batch_size=None,
                 use_with_learner: bool = True, multilabel=None, clean=None, truncation: str = TRUNCATION):
        from ktbert.model.encoders import load_encoder_settings

        if batch_size is not None:
            warnings.warn("`batch_size` is ignored here: give it to `ktbert.get_learner(..., batch_size=)`.",
                          stacklevel=2)
        self.name = _encoder_spec(model_name)
        self.maxlen = maxlen
        self.class_names = list(class_names or classes or [])
        self.multilabel = multilabel
        self.clean, self.truncation = clean, truncation
        self.settings = load_encoder_settings(self.name)  # the error for an unreachable encoder comes now
        self.preproc: TextPreprocessor | None = None

    # === Data ===
    def preprocess_train(self, texts, y=None, mode: str = "train", verbose: int = 1) -> TextData:
        """Encodes the training texts and labels, and fixes the classes and the preprocessor.

        Args:
            texts: list of str, or of `(a, b)` pairs.
            y: labels: class names, integers (positions of `class_names`), or a 2-D 0/1 array.
            mode: "train" (ktrain's default); "test" is `preprocess_test`.
            verbose: int. 1 prints the number of texts and classes.
        """
        if mode == "test":
            return self.preprocess_test(texts, y, verbose=verbose)
        if y is None:
            raise ValueError("`y` is required to train: pass the training texts' labels.")
        texts = check_texts(texts, "texts", allow_empty=False)
        labels = encode_array_labels(y, self.class_names or None, None, "y")
        if self.multilabel is not None and bool(self.multilabel) != labels.multilabel:
            labels = EncodedLabels(labels.y, labels.class_names, bool(self.multilabel))
        options = TextOptions(maxlen=self.maxlen, encoder=self.name, clean=self.clean, truncation=self.truncation)
        self.preproc = new_preprocessor(labels, options, self.settings)
        self.class_names = self.preproc.get_classes()
        data = TextData(self.preproc.preprocess(texts), labels.y)
        if verbose:
            print(f"{len(texts):,} training texts, {len(self.class_names)} classes: {self.class_names}")
        return data

    def preprocess_test(self, texts, y=None, mode: str = "test", verbose: int = 1) -> TextData:
        """Encodes a validation or test set with the training classes (`TextPreprocessor.preprocess_test`)."""
        return self._fitted().preprocess_test(texts, y, verbose=verbose)

    # === Model ===
    def get_classifier(self, fpath=None, multilabel=None, metrics=None, pooling: str = "mean", dropout=None,
                       seed=None):
        """The classifier over this encoder's pretrained weights, for `get_learner`.

        Args:
            fpath: accepted for ktrain compatibility; must be None (load a saved predictor with
                `ktbert.load_predictor`).
            multilabel: bool or None. must agree with the training labels when given.
            metrics: accepted for ktrain compatibility and ignored (the learner reports accuracy
                and F1).
            pooling, dropout, seed: as `ktbert.text_classifier` takes them.
        """
        from ktbert.model.classifier import text_classifier

        preproc = self._fitted()
        if fpath is not None:
            raise ValueError("`fpath` is not supported: load a saved model with `ktbert.load_predictor(folder)`.")
        if multilabel is not None and bool(multilabel) != preproc.multilabel:
            raise ValueError(f"`multilabel={multilabel}` disagrees with the training labels, which are "
                             f"{'multi' if preproc.multilabel else 'single'}-label.")
        options = {} if dropout is None else {"dropout": dropout}
        return text_classifier("bert", None, preproc, pooling=pooling, seed=seed, verbose=0,
                               multilabel=preproc.multilabel, **options)

    def get_classes(self) -> list:
        return list(self.class_names)

    def get_preprocessor(self) -> TextPreprocessor:
        """The fitted `TextPreprocessor` (what `get_predictor` takes)."""
        return self._fitted()

    def _fitted(self) -> TextPreprocessor:
        if self.preproc is None:
            raise RuntimeError("Call `preprocess_train(texts, labels)` first: it fixes the classes.")
        return self.preproc

    def __repr__(self) -> str:
        return f"Transformer({self.name!r}, maxlen={self.maxlen}, classes={self.class_names})"


def _encoder_spec(model_name) -> str:
    """A folder, "default", a keras-hub preset name or handle as given; any other name is taken
    for a Hugging Face model id (`hf://` + name), as ktrain's `Transformer` read it."""
    from ktbert.model.encoders import resolve_encoder

    spec = resolve_encoder(model_name)
    if os.path.isdir(spec) or "://" in spec or model_name in (None, "default"):
        return spec if model_name not in (None, "default") else "default"
    import keras_hub

    return spec if spec in keras_hub.models.Backbone.presets else f"hf://{spec}"
