"""Turns tokenized texts into `tf.data` batches of model inputs.

All batching decisions live here. By default batches are length-bucketed: texts of similar
token length go together and each batch is padded only to its own longest text (rounded up to
a multiple of `PAD_MULTIPLE`), so short texts cost short steps. `bucketing=False` pads every
batch to `maxlen`, as ktrain did.

How the batches are grouped (the "sorted megabatches" of Hugging Face's `group_by_length`,
chosen over `tf.data`'s `bucket_by_sequence_length` because the plan is a plain list of index
arrays: the batch count of an epoch is known before it runs, so schedules stay exact per step;
every example is visited exactly once; and predictions can be put back in the caller's order):
- training (`shuffle=True`): every epoch the texts are shuffled, cut into megabatches of
  `MEGABATCH` batches, each megabatch sorted by length and cut into batches, and the order of
  all batches shuffled;
- evaluation and prediction: the texts sorted by length, then cut into batches;
  `predict_in_order` puts the rows back in the caller's order.
The dataset's `element_spec` leaves the width `None`, so Keras traces its step once for all
widths.
"""

from __future__ import annotations

import weakref

import numpy as np

from ktbert.checks import check_count
from ktbert.data.texts import TokenizedTexts


def model_inputs(x: TokenizedTexts) -> dict:
    """The padded arrays a ktbert classifier takes: `token_ids` and `padding_mask`."""
    ids, mask = x.padded()
    return {"token_ids": ids, "padding_mask": mask.astype(np.int32)}


PAD_MULTIPLE = 8  # batch widths are rounded up to this (oneDNN's kernels like multiples of 8)
MEGABATCH = 50  # batches per sorted megabatch when shuffling, as Hugging Face's group_by_length


def padded_width(lengths, maxlen: int, multiple: int = PAD_MULTIPLE) -> int:
    """The width a batch of texts of `lengths` is padded to: the longest rounded up to
    `multiple`, never beyond `maxlen`."""
    longest = int(np.max(lengths)) if len(lengths) else 1
    return min(int(maxlen), -(-longest // multiple) * multiple)


def length_order(lengths) -> np.ndarray:
    """Indices that sort texts by token length, longest first (ties keep their order)."""
    return np.argsort(-np.asarray(lengths), kind="stable")


def bucketed_batches(lengths, batch_size: int, rng=None, megabatch: int = MEGABATCH) -> list:
    """Index arrays of texts of similar length, `batch_size` each (one last batch smaller).

    Args:
        lengths: int array. the token length of each text.
        batch_size: int. texts per batch.
        rng: numpy Generator or None. None: all texts sorted by length, longest first (for
            evaluation and prediction). A generator: shuffled, grouped by length within
            megabatches, batch order shuffled (for training; a new plan per call).
        megabatch: int. batches per megabatch.

    Examples:
    ```python
    batches = bucketed_batches(x.lengths, 16, np.random.default_rng(0))
    ```
    """
    lengths = np.asarray(lengths)
    if rng is None:
        order = length_order(lengths)
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    shuffled = rng.permutation(len(lengths))
    size = batch_size * megabatch  # a multiple of batch_size: only the very last batch is short
    batches = []
    for start in range(0, len(shuffled), size):
        group = shuffled[start : start + size]
        group = group[length_order(lengths[group])]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def batch_inputs(x: TokenizedTexts, indices, multiple: int = PAD_MULTIPLE) -> dict:
    """Model inputs for the texts at `indices`, padded to their own longest text."""
    part = x.subset(indices)
    ids, mask = part.padded(padded_width(part.lengths, x.maxlen, multiple))
    return {"token_ids": ids, "padding_mask": mask.astype(np.int32)}


def make_dataset(x: TokenizedTexts, y=None, batch_size: int = 32, shuffle: bool = False, seed=None,
                 bucketing: bool = True):
    """A `tf.data.Dataset` of `(inputs, y)` batches, or of `inputs` when `y` is None.

    Args:
        x: TokenizedTexts. the texts.
        y: numpy array or None. the labels, one row per text.
        batch_size: int. texts per batch; the last batch may be smaller.
        shuffle: bool. reshuffle the texts every epoch.
        seed: int or None. seed of the shuffling.
        bucketing: bool. group texts by length and pad each batch to its longest text (see
            the module's docstring; without shuffling, batches come longest first, so use
            `predict_in_order` to predict); False pads every batch to `maxlen` in input order.
    """
    batch_size = check_count(batch_size, "batch_size")
    if bucketing:
        return _bucketed_dataset(x, y, batch_size, shuffle, seed)
    import tensorflow as tf

    inputs = model_inputs(x)
    tensors = inputs if y is None else (inputs, np.asarray(y))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _bucketed_dataset(x: TokenizedTexts, y, batch_size: int, shuffle: bool, seed):
    import tensorflow as tf

    if shuffle and seed is None:  # follows NumPy's global seed, as `keras.utils.set_random_seed` sets it
        seed = int(np.random.randint(2**31 - 1))
    rng = np.random.default_rng(seed) if shuffle else None  # one stream: a new plan per epoch
    labels = None if y is None else np.asarray(y)

    def batches():
        for indices in bucketed_batches(x.lengths, batch_size, rng):
            inputs = batch_inputs(x, indices)
            yield inputs if labels is None else (inputs, labels[indices])

    width = tf.TensorSpec((None, None), tf.int32)  # width None: one trace for all batch widths
    spec = {"token_ids": width, "padding_mask": width}
    if labels is not None:
        spec = (spec, tf.TensorSpec((None,) + labels.shape[1:], tf.as_dtype(labels.dtype)))
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    steps = -(-len(x) // batch_size)  # every plan has this many batches
    return ds.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)


def predict_in_order(model, x, batch_size: int = 32, bucketing: bool = True) -> np.ndarray:
    """The model's outputs for texts or arrays `x`, rows in the caller's order whatever the batching.

    Tokenized texts are predicted by a step traced once for every batch width (Keras' own
    `predict` traces up to three times as widths change); arrays go through `model.predict`.

    Args:
        model: keras.Model. takes the batches' inputs.
        x: TokenizedTexts, or arrays as `make_array_dataset` takes.
        batch_size: int. texts per prediction step.
        bucketing: bool. length-bucketed batches for TokenizedTexts (arrays are never bucketed).
    """
    if not isinstance(x, TokenizedTexts):
        return model.predict(make_array_dataset(x, batch_size=batch_size), verbose=0)
    if len(x) == 0:
        raise ValueError("`x` holds no texts to predict: pass at least one text.")
    batch_size = check_count(batch_size, "batch_size")
    step = _predict_step(model)
    # Batches are fed straight to the step, not through tf.data: a pipeline costs ~0.3 s to
    # build, which a service predicting a few texts per call would pay on every call.
    if bucketing:
        plan = bucketed_batches(x.lengths, batch_size)
        batches = (batch_inputs(x, indices) for indices in plan)
    else:
        plan = [np.arange(start, min(start + batch_size, len(x))) for start in range(0, len(x), batch_size)]
        batches = (batch_inputs(x, indices, multiple=x.maxlen) for indices in plan)
    out = np.concatenate([np.asarray(step(inputs)) for inputs in batches])
    restored = np.empty_like(out)
    restored[np.concatenate(plan)] = out
    return restored


_PREDICT_STEPS = weakref.WeakKeyDictionary()  # model -> its traced prediction step


def _predict_step(model):
    """`model(inputs)` as a `tf.function` with the width left `None`: traced once per model.

    Kept beside the model, not on it (a `tf.function` attribute would be exported with it),
    and holding it weakly, so a model that is dropped is freed.
    """
    step = _PREDICT_STEPS.get(model)
    if step is None:
        import tensorflow as tf

        ref = weakref.ref(model)
        width = tf.TensorSpec((None, None), tf.int32)
        step = tf.function(lambda inputs: ref()(inputs, training=False), reduce_retracing=True,
                           input_signature=[{"token_ids": width, "padding_mask": width}])
        _PREDICT_STEPS[model] = step
    return step


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


def to_dataset(x, y=None, batch_size: int = 32, shuffle: bool = False, seed=None, bucketing: bool = True):
    """Batches of tokenized texts (bucketed unless `bucketing=False`) or of plain arrays."""
    if isinstance(x, TokenizedTexts):
        return make_dataset(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, bucketing=bucketing)
    return make_array_dataset(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)


def count_batches(dataset) -> int:
    """The batches one pass over `dataset` yields: its cardinality when tf.data knows it (ktbert's
    bucketed datasets declare theirs), else counted by iterating once; schedules plan their
    steps from this."""
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
