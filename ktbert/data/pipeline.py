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
UNEQUAL_PAIRS = ("`text_a` and `text_b` must hold as many texts as each other: text_a[i] and text_b[i] are "
                 "one pair. Pass one entry in each for every pair.")


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
        pair_separators: int. end tokens between the two texts of a pair: 1 (`[CLS] a [SEP]
            b [SEP]`) or 2 (RoBERTa's `<s> a </s></s> b </s>`).
        segments: bool. whether a pair's inputs carry `segment_ids` (0 on the first text and
            its separator, 1 on the second): the encoder family has a segment embedding.

    Text pairs take the same stages but truncation: both texts are capped, cleaned and
    tokenized, then `truncated_pairs` takes tokens from the longer text first, one at a time
    (round robin, as keras-hub's `MultiSegmentPacker`), and `packed_pairs` joins them.

    Examples:
    ```python
    pipeline = preproc.pipeline
    packed = pipeline(tf.constant(["what a film!"]))   # tf.RaggedTensor of token ids
    inputs = pipeline.inputs(tf.constant(["what a film!"]))  # token_ids, padding_mask
    ```
    """

    def __init__(self, tokenizer, maxlen: int, truncation: str = TRUNCATION, clean=None, pair_separators: int = 1,
                 segments: bool = True):
        self.tokenizer = tokenizer
        self.pair_separators = int(pair_separators)
        self.segments = bool(segments)
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

    def truncated_pairs(self, ids_a, ids_b):
        """Both texts cut to `pair_budget` ids in all, round robin: a token from each in turn
        while both have some, so the longer text gives up its end first."""
        import tensorflow_text

        trimmed = tensorflow_text.RoundRobinTrimmer(max_seq_length=self.pair_budget).trim([ids_a, ids_b])
        return trimmed[0], trimmed[1]

    @property
    def pair_budget(self) -> int:
        """The ids a pair keeps beside its start token and `pair_separators + 1` end tokens."""
        return self.maxlen - 2 - self.pair_separators

    def packed_pairs(self, ids_a, ids_b):
        """`(packed, firsts)`: the start token, `a`, the separators, `b` and the end token per
        row, and each row's first segment length (start token, `a` and separators)."""
        import tensorflow as tf

        n = ids_a.nrows()
        edge = lambda token, k: tf.RaggedTensor.from_tensor(  # noqa: E731
            tf.fill(tf.stack([n, k]), tf.constant(token, tf.int32)))
        packed = tf.concat([edge(self.start_id, 1), ids_a, edge(self.end_id, self.pair_separators), ids_b,
                            edge(self.end_id, 1)], axis=1)
        firsts = tf.cast(ids_a.row_lengths(), tf.int32) + 1 + self.pair_separators
        return packed, firsts

    def pairs(self, texts_a, texts_b):
        """`(packed, firsts)` of two 1-D string tensors: every stage but the padding. Two tensors
        of different lengths are refused (an `InvalidArgumentError` saying so), in the exported
        graph too: a text without its partner would be paired with memory that holds no text."""
        import tensorflow as tf

        tf.debugging.assert_equal(tf.size(texts_a), tf.size(texts_b), message=UNEQUAL_PAIRS)
        tokens = self.pair_budget
        ids_a, ids_b = self.bodies(texts_a, tokens, head_only=True), self.bodies(texts_b, tokens, head_only=True)
        return self.packed_pairs(*self.truncated_pairs(ids_a, ids_b))

    def pair_inputs(self, texts_a, texts_b) -> dict:
        """The classifier's inputs for pairs of texts: every stage, `pad_batch` last."""
        import tensorflow as tf

        packed, firsts = self.pairs(texts_a, texts_b)
        return pad_batch(packed.flat_values, tf.cast(packed.row_lengths(), tf.int32), self.maxlen, self.pad_id,
                         firsts=firsts if self.segments else None)

    def inputs(self, texts) -> dict:
        """The classifier's inputs for a 1-D string tensor: every stage, `pad_batch` last."""
        import tensorflow as tf

        packed = self(texts)
        return pad_batch(packed.flat_values, tf.cast(packed.row_lengths(), tf.int32), self.maxlen, self.pad_id)


def pad_batch(values, lengths, maxlen, pad_id, multiple=PAD_MULTIPLE, firsts=None) -> dict:
    """A batch of packed texts as the classifier's inputs: `token_ids` padded with `pad_id` and
    `padding_mask` (1 on tokens), both int32 `(n, width)`.

    The width is the longest text's length rounded up to `multiple`, never beyond `maxlen`
    (`multiple=maxlen` pads every batch to `maxlen`). TensorFlow ops, so tf.data, the
    prediction step and the exported graph all pad with this one function.

    Args:
        values: int32 tensor. the batch's token ids, one text after another.
        lengths: int32 tensor. each text's number of ids.
        firsts: int32 tensor or None. for text pairs, each row's first segment length: the
            inputs then hold `segment_ids`, 1 from there to the row's end, 0 elsewhere.
        maxlen, pad_id, multiple: int or scalar int32 tensor.
    """
    import tensorflow as tf

    lengths = tf.cast(lengths, tf.int32)
    longest = tf.reduce_max(tf.concat([lengths, [1]], 0))
    width = tf.minimum(maxlen, (longest + multiple - 1) // multiple * multiple)
    rows = tf.RaggedTensor.from_row_lengths(values, lengths)
    shape = tf.cast(tf.stack([tf.size(lengths), width]), tf.int64)
    token_ids = rows.to_tensor(default_value=tf.cast(pad_id, values.dtype), shape=shape)
    padding_mask = tf.sequence_mask(lengths, width, dtype=tf.int32)
    if firsts is None:
        return {"token_ids": token_ids, "padding_mask": padding_mask}
    first = tf.sequence_mask(tf.cast(firsts, tf.int32), width, dtype=tf.int32)
    return {"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": padding_mask - first}
