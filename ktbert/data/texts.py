"""Tokenized texts kept with their true lengths, and the `(x, y)` pairs the loaders return.

Token ids are stored flat with one length per text rather than as a padded block, so batching
pads each batch only to its longest text (`ktbert.data.pipeline.pad_batch`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ktbert.data.pipeline import pad_batch


class TokenizedTexts:
    """Token ids of many texts, each starting with [CLS] and ending with [SEP].

    Args:
        values: int array. all texts' token ids, one after another.
        lengths: int array. the number of ids of each text.
        maxlen: int. the length every text was truncated to.
        texts: list of str or None. the original texts, kept for showing errors and losses.
        pad_id: int. the token id that pads a batch (the tokenizer's padding token).
        firsts: int array or None. for text pairs of a family with segment ids, each row's
            first segment length (`ktbert.data.pipeline.pad_batch`); None for single texts.
    """

    def __init__(self, values, lengths, maxlen: int, texts=None, pad_id: int = 0, firsts=None):
        self.values = np.asarray(values, dtype=np.int32)
        self.lengths = np.asarray(lengths, dtype=np.int32)
        if self.lengths.sum() != len(self.values):
            raise ValueError(
                "`lengths` must add up to the number of token ids. Received: "
                f"sum(lengths)={int(self.lengths.sum())}, len(values)={len(self.values)}"
            )
        self.maxlen = int(maxlen)
        self.texts = None if texts is None else list(texts)
        self.pad_id = int(pad_id)
        self.firsts = None if firsts is None else np.asarray(firsts, dtype=np.int32)
        if self.firsts is not None and self.firsts.shape != self.lengths.shape:
            raise ValueError(f"`firsts` must hold one length per text. Received: {self.firsts.shape[0]} for "
                             f"{len(self.lengths)} texts")
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        """The token ids of text `i`."""
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def __repr__(self) -> str:
        return f"TokenizedTexts(n={len(self)}, maxlen={self.maxlen})"

    def subset(self, indices) -> "TokenizedTexts":
        """The texts at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        parts = [self[i] for i in indices]
        values = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        texts = None if self.texts is None else [self.texts[i] for i in indices]
        firsts = None if self.firsts is None else self.firsts[indices]
        return TokenizedTexts(values, self.lengths[indices], self.maxlen, texts, self.pad_id, firsts)

    def padded(self, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Returns `(token_ids, padding_mask)`, both `(n, length)`; `length` defaults to maxlen."""
        inputs = self.padded_inputs(length)
        return inputs["token_ids"], inputs["padding_mask"].astype(bool)

    def padded_inputs(self, length: int | None = None) -> dict:
        """The model's inputs as int32 arrays `(n, length)`: `token_ids`, `padding_mask`, and
        for pairs with segments `segment_ids`; `length` defaults to maxlen."""
        length = self.maxlen if length is None else int(length)
        inputs = pad_batch(self.values, self.lengths, length, self.pad_id, multiple=length, firsts=self.firsts)
        return {k: v.numpy() for k, v in inputs.items()}


class TextData(NamedTuple):
    """What the loaders return for a split: unpacks as `x, y`, as ktrain's tuples did.

    Args:
        x: TokenizedTexts. the texts as token ids.
        y: numpy array. class indices `(n,)` for single-label data, 0/1 floats `(n, classes)`
            for multi-label data.
    """

    x: TokenizedTexts
    y: np.ndarray

    @property
    def multilabel(self) -> bool:
        return self.y.ndim == 2

    def __repr__(self) -> str:
        return f"TextData(n={len(self.x)}, maxlen={self.x.maxlen}, multilabel={self.multilabel})"
