"""Turns tokenized texts into `tf.data` batches of model inputs.

The batching decisions live here, but for prediction's choice between them and its cost-based
cut (`ktbert.data.prediction.prediction_plan`, `cheapest_batches`); the padding itself is the
text pipeline's last stage (`ktbert.data.pipeline.pad_batch`), run in tf.data's `map` and
inside the prediction step. By
default batches are length-bucketed: texts of similar token length go together and each batch
is padded only to its own longest text, so short texts cost short steps. In a `tf.data`
dataset widths are rounded up to `width_multiple` (`PAD_MULTIPLE` for a model computing in
bfloat16 or float16, not rounded for one computing in float32); prediction rounds them to
`ktbert.data.prediction.prediction_multiple` (only float16). `bucketing=False` pads every
batch to `maxlen`, as ktrain did.

How the batches are grouped (the "sorted megabatches" of Hugging Face's `group_by_length`,
chosen over `tf.data`'s `bucket_by_sequence_length` because the plan is a plain list of index
arrays: the batch count of an epoch is known before it runs, so schedules stay exact per step;
every example is visited exactly once; and predictions can be put back in the caller's order):
- training (`shuffle=True`): every epoch the texts are shuffled, cut into megabatches of
  `MEGABATCH` batches, each megabatch sorted by length and cut into batches, and the order of
  all batches shuffled;
- evaluation in a `tf.data` dataset (Keras' validation pass, `learner.evaluate`): the texts
  sorted by length, then cut into batches of `batch_size`;
- prediction (`ktbert.data.prediction.predict_in_order`, which puts the rows back in the
  caller's order): the texts sorted by length, then cut into batches of at most
  `batch_size * maxlen` padded tokens where steps plus padding cost least
  (`ktbert.data.prediction.cheapest_batches`, widths not rounded; for a float16 model
  `token_budget_batches`: `batch_size` texts at full length, more of shorter ones).
The dataset's `element_spec` leaves the width `None`, so Keras traces its step once for all
widths.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_count
from ktbert.data.pipeline import PAD_MULTIPLE, pad_batch
from ktbert.data.texts import TokenizedTexts
from ktbert.defaults import BATCH_SIZE

MEGABATCH = 50  # batches per sorted megabatch when shuffling, as Hugging Face's group_by_length
PREFETCH = 2  # batches made ahead of the step
HALF_PRECISIONS = ("bfloat16", "float16")


def prefetched(ds):
    """`ds` with `PREFETCH` batches made ahead and tf.data's autotuning off.

    Autotuning starts a thread per iterator that sleeps between optimization rounds (rounds
    that double in length, up to a minute) and is not woken when the iterator is deleted:
    deleting it waits out the sleep. Keras deletes the training iterator when `fit` returns,
    so every `fit` paid up to a minute after its last step (37 s on SST-2's 4,000 texts,
    read with gdb in `Model::OptimizeLoop`). These pipelines have one sequential stage to
    tune, so a fixed buffer costs nothing.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(PREFETCH).with_options(options)


def model_inputs(x: TokenizedTexts) -> dict:
    """The padded arrays a ktbert classifier takes: `token_ids` and `padding_mask` (and for
    pairs `segment_ids`), `(n, maxlen)`."""
    return x.padded_inputs()


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


def token_budget_batches(lengths, batch_size: int, maxlen: int, multiple: int = PAD_MULTIPLE) -> list:
    """Index arrays of texts sorted by length, longest first, each batch holding as many texts
    as fit in `batch_size * maxlen` padded tokens: a batch of full-length texts is `batch_size`
    texts, a batch of short ones many more (for prediction, where no step count or schedule
    depends on the batch size). No batch is ever larger in memory than `batch_size` texts
    padded to `maxlen`.

    Args:
        lengths: int array. the token length of each text.
        batch_size: int. texts per batch at `maxlen` tokens.
        maxlen: int. the longest a text can be.
        multiple: int. what a batch's width is rounded up to (as `pad_batch` pads).

    Examples:
    ```python
    batches = token_budget_batches(x.lengths, 32, x.maxlen)
    ```
    """
    lengths = np.asarray(lengths)
    order = length_order(lengths)
    budget = batch_size * maxlen
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        width = min(maxlen, -(-longest // multiple) * multiple)
        count = max(batch_size, budget // width)
        batches.append(order[start : start + count])
        start += count
    return batches


def batch_plan(lengths, batch_size: int, rng=None, bucketing: bool = True) -> list:
    """The index arrays of one pass: `bucketed_batches`, or without bucketing the texts in
    order (shuffled first when `rng` is given)."""
    if bucketing:
        return bucketed_batches(lengths, batch_size, rng)
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def width_multiple(x: TokenizedTexts, bucketing: bool, model=None) -> int:
    """What the width of a batch in a `tf.data` dataset (training, Keras' validation pass,
    `learner.evaluate`) is rounded up to. Prediction's own step rounds to
    `ktbert.data.prediction.prediction_multiple` instead.

    - Without bucketing: `maxlen` (every batch padded to `maxlen`).
    - For a `model` computing in float32 (it and all its layers): 1, no padding beyond the
      batch's longest text. Measured on a 2-core AVX-512 Xeon without bf16 instructions,
      all-MiniLM-L6-v2 in float32 (`benchmarks/width_multiple.py`,
      docs/benchmarks/without_bf16/width_multiple.md), the padded tokens saved outweigh the
      first calls of the extra widths. Whole training epochs (best of two, in two runs):
      SST-2 1.12x and 1.14x faster (55,872 padded tokens against 69,248), AG News 1.02x and
      1.14x (90,272 against 97,280), IMDB 1.03x and 0.94x (1% fewer tokens: noise). SST-2's
      first epoch in a fresh process took 56.1 s unrounded against 64.3 s at 8 (one run
      each).
    - `PAD_MULTIPLE` for a model that computes in bfloat16 or float16 (a mixed-precision
      classifier's encoder does; its own policy stays float32), as measured on an AMX Xeon
      (docs/benchmarks/width_multiple.md), and when no model is given.
    """
    if not bucketing:
        return x.maxlen
    if model is None:
        return PAD_MULTIPLE
    layers = [model, *getattr(model, "layers", ())]
    half = any(getattr(layer, "compute_dtype", None) in HALF_PRECISIONS for layer in layers)
    return PAD_MULTIPLE if half else 1


def ragged_batch(x: TokenizedTexts, indices) -> tuple:
    """The token ids of the texts at `indices`, flat, and their lengths (and for pairs with
    segments, their first segments' lengths)."""
    part = x.subset(indices)
    return (part.values, part.lengths) if part.firsts is None else (part.values, part.lengths, part.firsts)


def draw_seed() -> int:
    """A shuffling seed drawn from NumPy's global generator (as `keras.utils.set_random_seed`
    seeds it), for datasets made with `seed=None`."""
    return int(np.random.randint(2**31 - 1))


def make_dataset(x: TokenizedTexts, y=None, batch_size: int = BATCH_SIZE, shuffle: bool = False, seed=None,
                 bucketing: bool = True, model=None):
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
        model: keras.Model or None. the model the batches are for: its precision decides what
            a bucketed batch's width is rounded up to (`width_multiple`).
    """
    batch_size = check_count(batch_size, "batch_size")
    if shuffle and seed is None:
        seed = draw_seed()
    rng = np.random.default_rng(seed) if shuffle else None  # one stream: a new plan per epoch
    return plan_dataset(x, y, lambda: batch_plan(x.lengths, batch_size, rng, bucketing), -(-len(x) // batch_size),
                        width_multiple(x, bucketing, model))


def plan_dataset(x: TokenizedTexts, y, next_plan, steps: int, multiple: int = PAD_MULTIPLE):
    """A `tf.data.Dataset` whose every pass yields the batches of one plan: `next_plan()` is
    called once at the start of each pass and returns its index arrays, `steps` of them.

    Args:
        x: TokenizedTexts. the texts.
        y: numpy array or None. the labels, one row per text.
        next_plan: callable. returns the next pass's list of index arrays.
        steps: int. the batches of every pass (the dataset's cardinality).
        multiple: int. what each batch's width is rounded up to (`width_multiple`; `maxlen`
            pads every batch to `maxlen`).
    """
    import tensorflow as tf

    labels = None if y is None else np.asarray(y)

    def batches():
        for indices in next_plan():
            rows = ragged_batch(x, indices)
            yield rows if labels is None else (rows, labels[indices])

    pad = lambda values, lengths, firsts=None: pad_batch(values, lengths, x.maxlen, x.pad_id, multiple,  # noqa: E731
                                                         firsts)
    spec = (tf.TensorSpec((None,), tf.int32),) * (2 if x.firsts is None else 3)
    if labels is not None:
        spec = (spec, tf.TensorSpec((None,) + labels.shape[1:], tf.as_dtype(labels.dtype)))
    ds = tf.data.Dataset.from_generator(batches, output_signature=spec)
    ds = ds.map(pad if labels is None else (lambda rows, y: (pad(*rows), y)))
    return prefetched(ds.apply(tf.data.experimental.assert_cardinality(steps)))


def num_examples(x) -> int:
    """How many examples `x` holds: texts, array rows, or the rows of a dict's/list's arrays."""
    if isinstance(x, TokenizedTexts):
        return len(x)
    if isinstance(x, dict):
        return len(next(iter(x.values())))
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        return len(x[0])
    return len(x)


def make_array_dataset(x, y=None, batch_size: int = BATCH_SIZE, shuffle: bool = False, seed=None):
    """Like `make_dataset`, for any Keras model's inputs: arrays, or dicts/lists of arrays."""
    import tensorflow as tf

    batch_size = check_count(batch_size, "batch_size")
    x = tuple(x) if isinstance(x, list) else x
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    if shuffle:
        ds = ds.shuffle(num_examples(x), seed=seed, reshuffle_each_iteration=True)
    return prefetched(ds.batch(batch_size))


def to_dataset(x, y=None, batch_size: int = BATCH_SIZE, shuffle: bool = False, seed=None, bucketing: bool = True,
               model=None):
    """Batches of tokenized texts (bucketed unless `bucketing=False`, widths as `model`'s
    precision wants them: `width_multiple`) or of plain arrays."""
    if isinstance(x, TokenizedTexts):
        return make_dataset(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, bucketing=bucketing,
                            model=model)
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
