"""Turns raw texts into BERT token ids with the encoder's own WordPiece vocabulary.

The preprocessor also holds what prediction needs to undo the encoding of labels: the class
names and whether the task is multi-label. It saves as JSON plus a vocabulary file; no pickle.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings

import numpy as np

from ktbert.checks import check_count, check_maxlen, check_texts
from ktbert.data.cleaning import TextCleaner
from ktbert.data.texts import TokenizedTexts

# Texts are cut to this many characters per token of `maxlen` before tokenizing, so a text of
# megabytes costs no more than a long review. WordPiece tokens are rarely over 20 characters.
CHARS_PER_TOKEN = 40
TOKENIZE_CHUNK = 2048
CONFIG_FILE = "preprocessor.json"
TRUNCATIONS = ("head", "head+tail")
HEAD_SHARE = 0.25  # head+tail keeps this share of the tokens from the start, the rest from the end
MAX_WINDOWS = 64  # sliding windows per text at most; a longer text's windows stop there
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
        truncation: str. how a text longer than `maxlen` is cut: "head" keeps its start;
            "head+tail" keeps a quarter of the tokens from its start and the rest from its end
            (Sun et al., 2019: the end of a review often holds its verdict).

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
        truncation: str = "head",
    ):
        self.vocabulary = list(vocabulary)
        self.maxlen = check_maxlen(maxlen)
        self.class_names = [str(c) for c in class_names]
        self.multilabel = bool(multilabel)
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.encoder = str(encoder)
        self.clean = TextCleaner.from_value(clean)
        self.truncation = check_truncation(truncation)
        for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]"):
            if token not in self.vocabulary:
                raise ValueError(
                    f"`vocabulary` lacks the BERT special token {token}. Received a vocabulary "
                    f"of {len(self.vocabulary)} tokens starting {self.vocabulary[:5]}"
                )
        self._tokenize_fn = None

    # -- tokenization ------------------------------------------------------------------------
    def wordpiece_tokenizer(self):
        """A new keras-hub `BertTokenizer` layer over this vocabulary (TensorFlow ops only, so
        an exported graph tokenizes exactly as `preprocess` does)."""
        import keras_hub

        return keras_hub.models.BertTokenizer(
            vocabulary=self.vocabulary, lowercase=self.lowercase, strip_accents=self.strip_accents,
        )

    def _tokenizer(self):
        if self._tokenize_fn is None:
            import tensorflow as tf

            self._tokenize_fn = tf.function(
                self.wordpiece_tokenizer().tokenize,
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        return self._tokenize_fn

    def _bodies(self, texts, tokens: int, head_tail: bool):
        """Each text's WordPiece ids, without [CLS]/[SEP], from enough characters to give
        `tokens` ids (from both ends with `head_tail`): a text of megabytes costs no more."""
        cap = tokens * CHARS_PER_TOKEN
        tokenize = self._tokenizer()
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            chunk = texts[start : start + TOKENIZE_CHUNK]
            chunk = [t[:cap] + " " + t[-cap:] if head_tail and len(t) > 2 * cap else t[:cap] for t in chunk]
            if self.clean.active:
                chunk = [self.clean(t) for t in chunk]
            ragged = tokenize(np.array(chunk, dtype=object))
            n = ragged.row_lengths().numpy()
            flat = ragged.flat_values.numpy().astype(np.int32)
            yield from (np.split(flat, np.cumsum(n)[:-1]) if len(n) else [])

    def _framed(self, bodies, texts, keep_texts: bool) -> TokenizedTexts:
        """[CLS] body [SEP] for each body."""
        cls_id, sep_id = self.vocabulary.index("[CLS]"), self.vocabulary.index("[SEP]")
        values = [np.concatenate([[cls_id], ids, [sep_id]]).astype(np.int32) for ids in bodies]
        lengths = np.array([len(v) for v in values], dtype=np.int32)
        values = np.concatenate(values) if values else np.zeros(0, np.int32)
        return TokenizedTexts(values, lengths, self.maxlen, texts if keep_texts else None)

    def preprocess(self, texts, keep_texts: bool = True) -> TokenizedTexts:
        """Tokenizes `texts` into [CLS] ids [SEP], truncated to `maxlen` ids in all (as
        `truncation` says).

        Args:
            texts: list of str. the texts; None, NaN and non-strings are refused.
            keep_texts: bool. keep the original strings on the result (for showing losses).
        """
        texts = check_texts(texts)
        budget = self.maxlen - 2
        head_tail = self.truncation == "head+tail"
        head = max(1, int(budget * HEAD_SHARE))
        bodies = []
        for ids in self._bodies(texts, budget, head_tail):
            if len(ids) > budget:
                ids = np.concatenate([ids[:head], ids[len(ids) - (budget - head):]]) if head_tail else ids[:budget]
            bodies.append(ids)
        return self._framed(bodies, texts, keep_texts)

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
        texts = check_texts(texts)
        budget = self.maxlen - 2
        stride = max(1, budget // 2) if stride is None else check_count(stride, "stride")
        if stride > budget:
            raise ValueError(f"`stride` must be at most maxlen - 2 = {budget}, or windows would skip "
                             f"tokens. Received: stride={stride}")
        max_windows = check_count(max_windows, "max_windows")
        bodies, owners = [], []
        for i, ids in enumerate(self._bodies(texts, budget + stride * (max_windows - 1), False)):
            starts = list(range(0, max(len(ids) - budget, 0), stride)) + [max(len(ids) - budget, 0)]
            if len(starts) > max_windows:
                starts = starts[:max_windows]
                warnings.warn(f"text {i} needs more than max_windows={max_windows} windows of {self.maxlen} "
                              "tokens: its end is not read. Raise `max_windows` to read it all.", stacklevel=2)
            bodies.extend(ids[s : s + budget] for s in starts)
            owners.extend([i] * len(starts))
        return self._framed(bodies, None, False), np.array(owners, dtype=np.int64)

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
            "truncation": self.truncation,
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
        """Reads a preprocessor written by `save`; refuses links and keys `__init__` does not take."""
        config_path, vocab_path = os.path.join(folder, CONFIG_FILE), os.path.join(folder, VOCAB_FILE)
        for path in (config_path, vocab_path):
            if os.path.islink(path):
                raise ValueError(f"{path!r} is a symbolic link: a saved preprocessor's files are its "
                                 "folder's own. Save the preprocessor again.")
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
            raise ValueError(f"{config_path!r} is not valid JSON ({type(err).__name__}). "
                             "Save the preprocessor again.") from err
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "vocabulary"}
        if not isinstance(config, dict) or not set(config) <= allowed:
            received = sorted(config) if isinstance(config, dict) else type(config).__name__
            raise ValueError(f"{config_path!r} is not a preprocessor config: it must hold some of "
                             f"{sorted(allowed)}. Received: {received}. Save the preprocessor again.")
        with open(vocab_path, encoding="utf-8") as f:
            vocabulary = f.read().split("\n")
        if vocabulary and vocabulary[-1] == "":
            vocabulary.pop()
        return cls.from_config(config, vocabulary)

    def __repr__(self) -> str:
        return (
            f"TextPreprocessor(maxlen={self.maxlen}, classes={self.class_names}, "
            f"multilabel={self.multilabel}, vocabulary={len(self.vocabulary)} tokens)"
        )


def check_truncation(truncation: str) -> str:
    """`truncation` if it is one of `TRUNCATIONS`, else a ValueError naming them."""
    if truncation not in TRUNCATIONS:
        raise ValueError(f"`truncation` must be one of {list(TRUNCATIONS)}. Received: truncation={truncation!r}")
    return truncation
