"""Turns raw texts into BERT token ids with the encoder's own WordPiece vocabulary.

The preprocessor also holds what prediction needs to undo the encoding of labels: the class
names and whether the task is multi-label. It saves as JSON plus a vocabulary file; no pickle.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ktbert.checks import check_maxlen, check_texts
from ktbert.data.cleaning import TextCleaner
from ktbert.data.texts import TokenizedTexts

# Texts are cut to this many characters per token of `maxlen` before tokenizing, so a text of
# megabytes costs no more than a long review. WordPiece tokens are rarely over 20 characters.
CHARS_PER_TOKEN = 40
TOKENIZE_CHUNK = 2048
CONFIG_FILE = "preprocessor.json"
VOCAB_FILE = "vocab.txt"


class TextPreprocessor:
    """BERT WordPiece tokenization, truncation to `maxlen`, and the task's class names.

    Args:
        vocabulary: list of str. the encoder's WordPiece vocabulary (index = token id).
        maxlen: int. tokens kept per text, [CLS] and [SEP] included; 8 to 512.
        class_names: list of str. the classes, in the order of the model's outputs.
        multilabel: bool. whether a text can have several classes.
        lowercase: bool. lowercase before WordPiece (uncased vocabularies).
        strip_accents: bool. remove accents before WordPiece (uncased vocabularies).
        encoder: str. the encoder this vocabulary belongs to ("default", a folder, a preset).
        clean: dict, TextCleaner or None. optional clean-up before tokenizing (hashtags,
            @mentions, HTML line breaks); see `ktbert.data.cleaning.TextCleaner`.

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
        maxlen: int = 128,
        class_names=(),
        multilabel: bool = False,
        lowercase: bool = True,
        strip_accents: bool = True,
        encoder: str = "default",
        clean=None,
    ):
        self.vocabulary = list(vocabulary)
        self.maxlen = check_maxlen(maxlen)
        self.class_names = [str(c) for c in class_names]
        self.multilabel = bool(multilabel)
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.encoder = str(encoder)
        self.clean = TextCleaner.from_value(clean)
        for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
            if token not in self.vocabulary:
                raise ValueError(
                    f"`vocabulary` lacks the BERT special token {token}. Received a vocabulary "
                    f"of {len(self.vocabulary)} tokens starting {self.vocabulary[:5]}"
                )
        self._tokenize_fn = None

    # -- tokenization ------------------------------------------------------------------------
    def _tokenizer(self):
        if self._tokenize_fn is None:
            import keras_hub
            import tensorflow as tf

            tokenizer = keras_hub.models.BertTokenizer(
                vocabulary=self.vocabulary,
                lowercase=self.lowercase,
                strip_accents=self.strip_accents,
            )
            self._tokenize_fn = tf.function(
                tokenizer.tokenize,
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return self._tokenize_fn

    def preprocess(self, texts, keep_texts: bool = True) -> TokenizedTexts:
        """Tokenizes `texts` into [CLS] ids [SEP], truncated to `maxlen` ids in all.

        Args:
            texts: list of str. the texts; None, NaN and non-strings are refused.
            keep_texts: bool. keep the original strings on the result (for showing losses).
        """
        texts = check_texts(texts)
        cap = self.maxlen * CHARS_PER_TOKEN
        cls_id = self.vocabulary.index("[CLS]")
        sep_id = self.vocabulary.index("[SEP]")
        values, lengths = [], []
        tokenize = self._tokenizer()
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            chunk = [t[:cap] for t in texts[start : start + TOKENIZE_CHUNK]]
            if self.clean.active:
                chunk = [self.clean(t) for t in chunk]
            ragged = tokenize(np.array(chunk, dtype=object))
            ragged = ragged[:, : self.maxlen - 2]
            n = ragged.row_lengths().numpy().astype(np.int32)
            flat = ragged.flat_values.numpy().astype(np.int32)
            ends = np.cumsum(n)
            # Insert [CLS] before and [SEP] after each text's ids.
            body = np.split(flat, ends[:-1]) if len(n) else []
            for ids in body:
                values.append(np.concatenate([[cls_id], ids, [sep_id]]).astype(np.int32))
            lengths.append(n + 2)
        values = np.concatenate(values) if values else np.zeros(0, np.int32)
        lengths = np.concatenate(lengths)
        return TokenizedTexts(values, lengths, self.maxlen, texts if keep_texts else None)

    def decode(self, ids) -> str:
        """The tokens of `ids` joined back into readable text (WordPiece pieces merged)."""
        special = {"[CLS]", "[SEP]", "[PAD]"}
        words = []
        for i in ids:
            token = self.vocabulary[int(i)]
            if token in special:
                continue
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)

    # -- classes -----------------------------------------------------------------------------
    def get_classes(self) -> list:
        """The class names, in the order of the model's outputs."""
        return list(self.class_names)

    # -- serialization -----------------------------------------------------------------------
    def get_config(self) -> dict:
        """Everything but the vocabulary, as JSON-safe values."""
        return {
            "maxlen": self.maxlen,
            "class_names": self.get_classes(),
            "multilabel": self.multilabel,
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "encoder": self.encoder,
            "clean": self.clean.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict, vocabulary) -> "TextPreprocessor":
        return cls(vocabulary=vocabulary, **config)

    def save(self, folder: str) -> None:
        """Writes `preprocessor.json` and `vocab.txt` into `folder`."""
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(self.get_config(), f, indent=2)
        with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(self.vocabulary) + "\n")

    @classmethod
    def load(cls, folder: str) -> "TextPreprocessor":
        """Reads a preprocessor written by `save`."""
        with open(os.path.join(folder, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
        with open(os.path.join(folder, VOCAB_FILE), encoding="utf-8") as f:
            vocabulary = f.read().split("\n")
        if vocabulary and vocabulary[-1] == "":
            vocabulary.pop()
        return cls.from_config(config, vocabulary)

    def __repr__(self) -> str:
        return (
            f"TextPreprocessor(maxlen={self.maxlen}, classes={self.class_names}, "
            f"multilabel={self.multilabel}, vocabulary={len(self.vocabulary)} tokens)"
        )
