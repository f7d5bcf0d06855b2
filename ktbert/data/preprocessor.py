"""The preprocessor ktrain's loaders return: the text pipeline of an encoder, and the task's classes.

It turns raw texts into token ids with its `TextPipeline` (`ktbert.data.pipeline`), and holds
what prediction needs to undo the encoding of labels: the class names and whether the task is
multi-label. It saves as JSON plus a vocabulary file; no pickle.
"""

from __future__ import annotations

import threading

import numpy as np

from ktbert.checks import (check_count, check_maxlen, check_pairs, check_stride, check_texts, check_texts_or_pairs,
                           is_pairs)
from ktbert.data.chunks import tokenize_in_chunks
from ktbert.data.cleaning import TextCleaner
from ktbert.data.pipeline import TextPipeline, check_truncation
from ktbert.data.preprocessor_files import CONFIG_FILE, PreprocessorFiles  # noqa: F401  (saves name it)
from ktbert.data.texts import TokenizedTexts
from ktbert.data.tokenizers import (VOCAB_FILE, check_assets, decode, make_tokenizer,  # noqa: F401  (a BERT save's)
                                   vocabulary_size)
from ktbert.data.windows import MAX_WINDOWS, window_spans
from ktbert.defaults import ENCODER, MAXLEN, TRUNCATION
from ktbert.model.families import DEFAULT_FAMILY, family_named


class TextPreprocessor(PreprocessorFiles):
    """The encoder's tokenization, truncation to `maxlen`, and the task's class names.

    Args:
        vocabulary: list, dict or None. the encoder's WordPiece vocabulary (a list, index =
            token id), a BPE vocabulary (a dict, token -> id), or None for a SentencePiece family.
        maxlen: int. tokens kept per text, [CLS] and [SEP] included; 8 to 512 (or the
            encoder's `max_sequence_length`).
        class_names: list of str. the classes, in the order of the model's outputs.
        multilabel: bool. whether a text can have several classes.
        lowercase: bool. lowercase before WordPiece (uncased vocabularies).
        strip_accents: bool. remove accents before WordPiece (uncased vocabularies).
        encoder: str. the encoder this vocabulary belongs to ("default", a folder, a preset).
        clean: dict, TextCleaner or None. optional clean-up before tokenizing (hashtags,
            @mentions, HTML line breaks); see `ktbert.data.cleaning.TextCleaner`.
        truncation: str. how a text longer than `maxlen` is cut: "head" keeps its start;
            "head+tail" keeps a quarter of the tokens from its start and the rest from its end
            (Sun et al., 2019: the end of a review often holds its verdict).
        max_sequence_length: int or None. the encoder's longest input, which `maxlen` may not
            exceed (None: 512); checked, not saved.
        family: str. the encoder's family (`ktbert.model.families`): "bert" (the default),
            "distil_bert", "roberta", "xlm_roberta", "deberta_v3", "albert" or "electra".
        merges: list of str or None. the BPE merge rules of the "roberta" family.
        proto: bytes or None. the SentencePiece model of "xlm_roberta", "deberta_v3", "albert".
        pairs: bool. the task classifies pairs of texts (`(a, b)` tuples), packed as the
            family packs two segments and truncated round robin (`TextPipeline.pairs`).

    Attributes:
        pipeline: TextPipeline. the text path every use of this preprocessor runs: the
            loaders, `predict`, the service and the SavedModel export.

    Examples:
    ```python
    trn, val, preproc = ktbert.texts_from_df(df, "text", label_columns="label", maxlen=64)
    ids = preproc.preprocess(["a fine film"])
    preproc.get_classes()
    ```
    """

    def __init__(
        self,
        vocabulary,
        maxlen: int = MAXLEN,
        class_names=(),
        multilabel: bool = False,
        lowercase: bool = True,
        strip_accents: bool = True,
        encoder: str = ENCODER,
        clean=None,
        truncation: str = TRUNCATION,
        max_sequence_length: int | None = None,
        family: str = DEFAULT_FAMILY,
        merges=None,
        proto=None,
        pairs: bool = False,
    ):
        self.family = family_named(family).name
        self.pairs = bool(pairs)
        self.vocabulary, self.merges, self.proto = check_assets(self.family, vocabulary, merges, proto)
        self.maxlen = check_maxlen(maxlen, max_sequence_length)
        self.class_names = [str(c) for c in class_names]
        self.multilabel = bool(multilabel)
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.encoder = str(encoder)
        self.clean = TextCleaner.from_value(clean)
        self.truncation = check_truncation(truncation)
        self._pipeline = None
        self._traced_functions = {}  # traced once per preprocessor: the pipeline, windows' bodies
        self._lock = threading.Lock()  # threads of a service build them once

    # === The text pipeline ===
    @property
    def pipeline(self) -> TextPipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self.new_pipeline()
        return self._pipeline

    def new_pipeline(self) -> TextPipeline:
        """A new `TextPipeline` of these settings, over a new tokenizer layer (an export tracks
        its own, whose TensorFlow resources no later `tf.random.set_seed` has touched)."""
        family = family_named(self.family)
        return TextPipeline(self.make_tokenizer(), self.maxlen, self.truncation, self.clean,
                            pair_separators=family.pair_separators, segments=family.segments)

    def make_tokenizer(self):
        """A new keras-hub tokenizer layer of this encoder's family over these assets."""
        return make_tokenizer(self.family, self.vocabulary, self.merges, self.proto, self.lowercase,
                              self.strip_accents)

    wordpiece_tokenizer = make_tokenizer  # its name when every encoder was a BERT

    @property
    def vocabulary_size(self) -> int:
        """Token ids the tokenizer gives: the size of the encoder's embedding table."""
        return vocabulary_size(self.pipeline.tokenizer)

    def _traced(self, key, make):
        """`make(pipeline)`, a function of a batch of strings, as a `tf.function` over this
        preprocessor's pipeline, traced once and kept under `key`."""
        pipeline = self.pipeline
        with self._lock:
            if key not in self._traced_functions:
                import tensorflow as tf

                self._traced_functions[key] = tf.function(make(pipeline), autograph=False,
                                                          input_signature=[tf.TensorSpec([None], tf.string)])
            return self._traced_functions[key]

    def _ragged_rows(self, key, make, texts):
        """`_traced(key, make)` over `texts` (see `tokenize_in_chunks`); built again once if TensorFlow
        dropped the tokenizer's resources."""
        import tensorflow as tf

        try:
            return tokenize_in_chunks(self._traced(key, make), texts)
        except tf.errors.NotFoundError as err:
            if "Resource" not in str(err):
                raise
            # `tf.random.set_seed` (which `keras.utils.set_random_seed` and `text_classifier(seed=)`
            # call) drops the TensorFlow resources made before it, a SentencePiece model's among them.
            with self._lock:
                self._pipeline, self._traced_functions = None, {}
            return tokenize_in_chunks(self._traced(key, make), texts)

    def preprocess(self, texts, keep_texts: bool = True) -> TokenizedTexts:
        """Tokenizes `texts` into [CLS] ids [SEP], truncated to `maxlen` ids in all (as
        `truncation` says), with the pipeline.

        Args:
            texts: list of str. the texts; None, NaN and non-strings are refused.
            keep_texts: bool. keep the original strings on the result (for showing losses).
        """
        if is_pairs(texts) or self.pairs:
            return self._preprocess_pairs(texts, keep_texts)
        texts = check_texts(texts)
        values, lengths = self._ragged_rows("packed", lambda pipeline: pipeline, texts)
        return TokenizedTexts(values, lengths, self.maxlen, texts if keep_texts else None, self.pipeline.pad_id)

    def _preprocess_pairs(self, pairs, keep_texts: bool) -> TokenizedTexts:
        """Text pairs as `TextPipeline.pairs` packs them; `firsts` set where the family has segments."""
        import tensorflow as tf

        self.check_kind(pairs)
        texts_a, texts_b = check_pairs(pairs)
        tokens = self.pipeline.pair_budget
        make = lambda pipeline: lambda t: pipeline.bodies(t, tokens, head_only=True)  # noqa: E731
        rows = []
        for texts in (texts_a, texts_b):
            values, lengths = self._ragged_rows(("pair bodies", tokens), make, texts)
            rows.append(tf.RaggedTensor.from_row_lengths(values, lengths.astype(np.int64)))
        pipeline = self.pipeline
        packed, firsts = pipeline.packed_pairs(*pipeline.truncated_pairs(*rows))
        return TokenizedTexts(packed.flat_values.numpy(), packed.row_lengths().numpy(), self.maxlen,
                              list(zip(texts_a, texts_b)) if keep_texts else None, pipeline.pad_id,
                              firsts.numpy() if pipeline.segments else None)

    def check_kind(self, texts) -> None:
        """Refuses pairs for a single-text preprocessor and single texts for a pair one, saying which
        (entries that are tuples or lists of another length than 2 are left to `check_pairs`, which
        names the first by position)."""
        if is_pairs(texts) and not self.pairs:
            raise ValueError("This model classifies single texts, but the input holds (text_a, text_b) pairs. "
                             "Pass a list of strings, or train a pair model (e.g. texts_from_df(df, ['a', 'b'], ...)).")
        first = next(iter(texts), None) if isinstance(texts, (list, tuple)) else None
        if self.pairs and not is_pairs(texts) and not isinstance(first, (tuple, list)):
            raise ValueError("This model classifies pairs of texts: pass a list of (text_a, text_b) pairs, e.g. "
                             "predict([('a question', 'an answer')]).")

    def preprocess_test(self, texts, y, verbose: int = 0) -> "TextData":
        """A labelled set scored after training (a test set), encoded with this preprocessor's
        classes, `maxlen` and clean-up; ktrain's `preproc.preprocess_test(x_test, y_test)`.

        Score it with `learner.validate(val_data=test)` or `learner.evaluate(test)`.

        Args:
            texts: list of str, or of `(a, b)` tuples for a model of text pairs. the texts.
            y: the labels, as the training labels were given: class names, integer positions
                of `get_classes()`, or a 2-D 0/1 array `(n, classes)`. A class the training data
                did not have is refused by name.
            verbose: int. accepted for ktrain compatibility; nothing is printed.

        Examples:
        ```python
        trn, val, preproc = ktbert.texts_from_df(train_df, "text", "label")
        test = preproc.preprocess_test(test_df["text"].tolist(), test_df["label"].tolist())
        learner.validate(val_data=test)
        ```
        """
        from ktbert.data.labels import EncodedLabels, encode_array_labels
        from ktbert.data.texts import TextData

        self.check_kind(texts)
        texts = check_texts_or_pairs(texts, "x_test", allow_empty=False)
        if y is None:
            raise ValueError("`y` is required: pass the test texts' labels, to score them with "
                             "`learner.validate(val_data=...)`. To label new texts, use a predictor.")
        fitted = EncodedLabels(np.zeros(0), self.get_classes(), self.multilabel)
        labels = encode_array_labels(y, self.get_classes(), None, "y_test", fitted)
        if len(labels.y) != len(texts):
            raise ValueError(f"`x_test` and `y_test` differ in length: {len(texts)} texts, {len(labels.y)} labels.")
        return TextData(self.preprocess(texts), labels.y)

    def windows(self, texts, stride: int | None = None, max_windows: int = MAX_WINDOWS):
        """Cuts each text into overlapping windows of `maxlen` tokens, for texts longer than
        the model reads at once.

        Every token is in at least one window: windows start every `stride` tokens and the
        last one ends on the text's last token. A text that fits gives one window.

        Args:
            texts: list of str. the texts.
            stride: int or None. tokens between window starts; None: half a window.
            max_windows: int. windows per text at most; beyond them a text's end is dropped.

        Returns:
            `(windows, owners)`: TokenizedTexts of all windows, and for each window the index
            of its text.
        """
        import tensorflow as tf

        if self.pairs:
            raise ValueError("Sliding windows read single long texts; a pair model reads each pair once, its "
                             "texts truncated round robin to `maxlen`. Predict pairs without long_texts='windows'.")
        self.check_kind(texts)
        texts = check_texts(texts)
        budget = self.pipeline.budget
        stride = max(1, budget // 2) if stride is None else check_stride(stride, budget)
        max_windows = check_count(max_windows, "max_windows")
        tokens = budget + stride * (max_windows - 1)
        values, lengths = self._ragged_rows(
            ("bodies", tokens), lambda pipeline: lambda t: pipeline.bodies(t, tokens, head_only=True), texts)
        pipeline = self.pipeline
        starts, sizes, owners = window_spans(lengths, budget, stride, max_windows, self.maxlen)
        flat = np.concatenate([values[s : s + k] for s, k in zip(starts, sizes)]) if starts else values[:0]
        packed = pipeline.packed(tf.RaggedTensor.from_row_lengths(flat, np.asarray(sizes, np.int64)))
        windows = TokenizedTexts(packed.flat_values.numpy(), packed.row_lengths().numpy(), self.maxlen,
                                 pad_id=pipeline.pad_id)
        return windows, owners

    def decode(self, ids) -> str:
        """The tokens of `ids` joined back into readable text (special tokens left out)."""
        return decode(self.pipeline.tokenizer, self.family, self.vocabulary, ids)

    # === Classes ===
    def get_classes(self) -> list:
        """The class names, in the order of the model's outputs."""
        return list(self.class_names)

    # === Config ===
    def get_config(self) -> dict:
        """Everything but the tokenizer's assets, as JSON-safe values."""
        return {
            "maxlen": self.maxlen,
            "class_names": self.get_classes(),
            "multilabel": self.multilabel,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "encoder": self.encoder,
            "clean": self.clean.get_config(),
            "truncation": self.truncation,
            "family": self.family,
            "pairs": self.pairs,
        }

    @classmethod
    def from_config(cls, config: dict, vocabulary=None, merges=None, proto=None) -> "TextPreprocessor":
        return cls(vocabulary=vocabulary, merges=merges, proto=proto, **config)

    def __repr__(self) -> str:
        return (f"TextPreprocessor(family={self.family!r}, maxlen={self.maxlen}, classes={self.class_names}, "
                f"multilabel={self.multilabel})")
