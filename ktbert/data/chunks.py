"""Tokenizing many texts in calls of bounded size, so a batch of texts of megabytes never makes
one tensor of gigabytes."""

from __future__ import annotations

import numpy as np

TOKENIZE_CHUNK = 2048  # texts per call of the pipeline at most
# ... and characters per call at most: the whole strings go into the call's tensor, which the cap
# only then cuts, so a batch of texts of megabytes is split into calls of bounded memory.
TOKENIZE_CHARS = 1 << 25


def tokenize_in_chunks(function, texts):
    """`function` (strings -> ragged ids) over `texts` in chunks of at most `TOKENIZE_CHUNK`
    texts and `TOKENIZE_CHARS` characters (one text at least): `(flat ids, lengths)`."""
    values, lengths = [], []
    start = 0
    while start < len(texts):
        end, chars = start + 1, len(texts[start])
        while end < min(len(texts), start + TOKENIZE_CHUNK) and chars + len(texts[end]) <= TOKENIZE_CHARS:
            chars += len(texts[end])
            end += 1
        ragged = function(np.array(texts[start:end], dtype=object))
        values.append(ragged.flat_values.numpy())
        lengths.append(ragged.row_lengths().numpy())
        start = end
    return np.concatenate(values).astype(np.int32), np.concatenate(lengths).astype(np.int32)
