"""The one text pipeline: raw strings -> cap -> clean -> tokenize -> truncate -> pack -> padded batches.

Every stage is TensorFlow ops on a batch of strings, so one `TextPipeline` serves everything:
the loaders tokenize training data with it, `Predictor.predict` and `ktbert serve` run it on
new texts, and the SavedModel export traces the same methods into its graph. `pad_batch`,
the last stage, makes the batches of every path: the tf.data datasets, the prediction step
and the exported graph. A change to any rule here reaches all of them.
"""

from __future__ import annotations

from ktbert.checks import check_choice
from ktbert.data.cleaning import TextCleaner
from ktbert.defaults import TRUNCATION

# Texts are cut to this many characters per token they may keep before anything else runs,
# so a text of megabytes costs no more than a long review. WordPiece tokens are rarely over
# 20 characters.
CHARS_PER_TOKEN = 40
TRUNCATIONS = ("head", "head+tail")
HEAD_SHARE = 0.25  # head+tail keeps this share of the tokens from the start, the rest from the end
PAD_MULTIPLE = 8  # batch widths are rounded up to this (oneDNN's kernels like multiples of 8)


def check_truncation(truncation: str) -> str:
    """`truncation` if it is one of `TRUNCATIONS`, else a ValueError naming them."""
    return check_choice(truncation, TRUNCATIONS, "truncation")


class TextPipeline:
    """The text path of a classifier, from raw strings to packed token ids, in TensorFlow ops.

    The stages run in this order: `capped` (each text cut to `CHARS_PER_TOKEN` characters per
    token it may keep, from both ends with "head+tail"; first, so every later stage costs no
    more on a text of megabytes), `cleaned` (the saved clean-up, as RE2 rules), `tokenized`
    (the encoder's keras-hub tokenizer), `truncated` (to `maxlen` less the special tokens:
    "head" keeps the start, "head+tail" a quarter from the start and the rest from the end)
    and `packed` (the start and end tokens). `pad_batch` then pads a batch to its longest text.

    Args:
        tokenizer: keras_hub tokenizer layer. the encoder's tokenizer, with `start_token_id`,
            `end_token_id` and `pad_token_id`.
        maxlen: int. token ids per text at most, the special tokens included.
        truncation: str. "head" or "head+tail".
        clean: TextCleaner, dict or None. the clean-up applied before tokenizing.

    Examples:
    ```python
    pipeline = preproc.pipeline
    packed = pipeline(tf.constant(["what a film!"]))   # tf.RaggedTensor of token ids
    inputs = pipeline.inputs(tf.constant(["what a film!"]))  # token_ids, padding_mask
    ```
    """

    def __init__(self, tokenizer, maxlen: int, truncation: str = TRUNCATION, clean=None):
        self.tokenizer = tokenizer
        self.maxlen = int(maxlen)
        self.truncation = check_truncation(truncation)
        self.clean = TextCleaner.from_value(clean)
        self.start_id = int(tokenizer.start_token_id)
        self.end_id = int(tokenizer.end_token_id)
        self.pad_id = int(tokenizer.pad_token_id)
        self.budget = self.maxlen - 2  # the ids left beside the start and end tokens
        self.head = max(1, int(self.budget * HEAD_SHARE)) if self.truncation == "head+tail" else self.budget

    # === Stages ===
    def capped(self, texts, tokens: int, head_only: bool = False):
        """Each text cut to `tokens * CHARS_PER_TOKEN` characters (code points); with
        "head+tail" (unless `head_only`), a text over twice that keeps that many from each end,
        joined by a space."""
        import tensorflow as tf

        cap = tokens * CHARS_PER_TOKEN
        head = tf.strings.substr(texts, 0, cap, unit="UTF8_CHAR")
        if self.truncation != "head+tail" or head_only:
            return head
        chars = tf.strings.length(texts, unit="UTF8_CHAR")
        tail = tf.strings.substr(texts, tf.maximum(chars - cap, 0), tf.fill(tf.shape(chars), cap), unit="UTF8_CHAR")
        return tf.where(chars > 2 * cap, tf.strings.join([head, tail], separator=" "), head)

    def cleaned(self, texts):
        """The clean-up's rules applied in order (`TextCleaner.apply`)."""
        return self.clean.apply(texts)

    def tokenized(self, texts):
        """Token ids of each text, without special tokens: a ragged int32 tensor."""
        import tensorflow as tf

        ids = self.tokenizer.tokenize(texts)
        if not isinstance(ids, tf.RaggedTensor):  # run eagerly, keras-hub hands back Python lists
            ids = tf.ragged.constant(ids, dtype=tf.int32, ragged_rank=1)
        return tf.cast(ids, tf.int32)

    def bodies(self, texts, tokens: int, head_only: bool = False):
        """Capped for `tokens` (from the head alone with `head_only`, as sliding windows read a
        text), cleaned and tokenized, not yet truncated."""
        return self.tokenized(self.cleaned(self.capped(texts, tokens, head_only)))

    def truncated(self, ids):
        """Each row cut to `budget` ids: its first `head` and its last `budget - head`."""
        import tensorflow as tf

        lengths = ids.row_lengths()
        keep = tf.minimum(lengths, self.budget)
        positions = tf.ragged.range(keep)
        row = positions.value_rowids()
        skipped = tf.gather(lengths - keep, row)  # ids dropped from the middle of each long row
        offset = tf.where(positions.flat_values >= self.head, skipped, tf.zeros_like(skipped))
        source = positions.flat_values + offset + tf.gather(ids.row_starts(), row)
        return positions.with_flat_values(tf.gather(ids.flat_values, source))

    def packed(self, bodies):
        """The start token, each row's ids and the end token."""
        import tensorflow as tf

        n = bodies.nrows()
        edge = lambda token: tf.RaggedTensor.from_tensor(tf.fill(tf.stack([n, 1]), tf.constant(token, tf.int32)))
        return tf.concat([edge(self.start_id), bodies, edge(self.end_id)], axis=1)

    def __call__(self, texts):
        """Packed token ids `(n, None)` of a 1-D string tensor: every stage but the padding."""
        return self.packed(self.truncated(self.bodies(texts, self.budget)))

    def inputs(self, texts) -> dict:
        """The classifier's inputs for a 1-D string tensor: every stage, `pad_batch` last."""
        import tensorflow as tf

        packed = self(texts)
        return pad_batch(packed.flat_values, tf.cast(packed.row_lengths(), tf.int32), self.maxlen, self.pad_id)


def pad_batch(values, lengths, maxlen, pad_id, multiple=PAD_MULTIPLE) -> dict:
    """A batch of packed texts as the classifier's inputs: `token_ids` padded with `pad_id` and
    `padding_mask` (1 on tokens), both int32 `(n, width)`.

    The width is the longest text's length rounded up to `multiple`, never beyond `maxlen`
    (`multiple=maxlen` pads every batch to `maxlen`). TensorFlow ops, so tf.data, the
    prediction step and the exported graph all pad with this one function.

    Args:
        values: int32 tensor. the batch's token ids, one text after another.
        lengths: int32 tensor. each text's number of ids.
        maxlen, pad_id, multiple: int or scalar int32 tensor.
    """
    import tensorflow as tf

    lengths = tf.cast(lengths, tf.int32)
    longest = tf.reduce_max(tf.concat([lengths, [1]], 0))
    width = tf.minimum(maxlen, (longest + multiple - 1) // multiple * multiple)
    rows = tf.RaggedTensor.from_row_lengths(values, lengths)
    shape = tf.cast(tf.stack([tf.size(lengths), width]), tf.int64)
    token_ids = rows.to_tensor(default_value=tf.cast(pad_id, values.dtype), shape=shape)
    return {"token_ids": token_ids, "padding_mask": tf.sequence_mask(lengths, width, dtype=tf.int32)}
