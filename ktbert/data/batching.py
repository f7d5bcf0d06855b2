"""Turns tokenized texts into `tf.data` batches of model inputs.

All batching decisions live here: today every batch is padded to `maxlen`; length-bucketed
batches (each padded to its longest text) will replace the body of `make_dataset` only.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_count
from ktbert.data.texts import TokenizedTexts


def model_inputs(x: TokenizedTexts) -> dict:
    """The padded arrays a ktbert classifier takes: `token_ids` and `padding_mask`."""
    ids, mask = x.padded()
    return {"token_ids": ids, "padding_mask": mask.astype(np.int32)}


def make_dataset(x: TokenizedTexts, y=None, batch_size: int = 32, shuffle: bool = False, seed=None):
    """A `tf.data.Dataset` of `(inputs, y)` batches, or of `inputs` when `y` is None.

    Args:
        x: TokenizedTexts. the texts.
        y: numpy array or None. the labels, one row per text.
        batch_size: int. texts per batch; the last batch may be smaller.
        shuffle: bool. reshuffle the texts every epoch.
        seed: int or None. seed of the shuffling.
    """
    import tensorflow as tf

    batch_size = check_count(batch_size, "batch_size")
    inputs = model_inputs(x)
    tensors = inputs if y is None else (inputs, np.asarray(y))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def num_examples(x) -> int:
    """How many examples `x` holds: texts, array rows, or the rows of a dict's/list's arrays."""
    if isinstance(x, TokenizedTexts):
        return len(x)
    if isinstance(x, dict):
        return len(next(iter(x.values())))
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        return len(x[0])
    return len(x)


def make_array_dataset(x, y=None, batch_size: int = 32, shuffle: bool = False, seed=None):
    """Like `make_dataset`, for any Keras model's inputs: arrays, or dicts/lists of arrays."""
    import tensorflow as tf

    batch_size = check_count(batch_size, "batch_size")
    x = tuple(x) if isinstance(x, list) else x
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    if shuffle:
        ds = ds.shuffle(num_examples(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def to_dataset(x, y=None, batch_size: int = 32, shuffle: bool = False, seed=None):
    """Batches of tokenized texts or of plain arrays, whichever `x` is."""
    make = make_dataset if isinstance(x, TokenizedTexts) else make_array_dataset
    return make(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)


def count_batches(dataset) -> int:
    """The batches one pass over `dataset` yields: its cardinality when tf.data knows it, else
    counted by iterating once (bucketed datasets); schedules plan their steps from this."""
    import tensorflow as tf

    steps = int(dataset.cardinality())
    if steps == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the dataset repeats forever: it has no epoch to count batches in. "
                         "Pass the dataset without `.repeat()`.")
    if steps == tf.data.UNKNOWN_CARDINALITY:
        steps = int(dataset.reduce(0, lambda count, _: count + 1))
    return steps


def with_cardinality(dataset, steps: int):
    """`dataset`, told that one pass yields `steps` batches when tf.data cannot tell by itself
    (Keras then plans whole epochs instead of warning that the input ran out)."""
    import tensorflow as tf

    if int(dataset.cardinality()) != tf.data.UNKNOWN_CARDINALITY:
        return dataset
    return dataset.apply(tf.data.experimental.assert_cardinality(steps))
