"""The shuffled training batches of a run resumed part-way: the rest of the epoch it stopped in,
then the epochs after it, in the order the uninterrupted run would have seen them.

`make_dataset(shuffle=True, seed=s)` draws one plan per epoch from one NumPy generator seeded
`s` (`ktbert.data.batching`). A run stopped at batch `b` of epoch `e` is resumed by drawing
(and dropping) the plans of epochs `0..e-1` from a generator seeded `s`, taking batches `b..`
of epoch `e`'s plan, and drawing the later epochs' plans from the same generator: no batch is
tokenized, padded or trained on twice, and none is left out.
"""

from __future__ import annotations

import numpy as np

from ktbert.checks import check_count, check_whole_number
from ktbert.data.batching import batch_plan, plan_dataset, width_multiple
from ktbert.data.texts import TokenizedTexts


def resumed_datasets(x: TokenizedTexts, y, batch_size: int, seed: int, epoch: int, batch: int,
                     bucketing: bool = True, model=None) -> tuple:
    """The training batches from batch `batch` of epoch `epoch` (both 0-based) on, as
    `make_dataset(x, y, batch_size, shuffle=True, seed=seed, bucketing=bucketing, model=model)`
    yields them.

    Args:
        x: TokenizedTexts. the training texts.
        y: numpy array. their labels.
        batch_size: int. texts per batch.
        seed: int. the shuffling seed of the run.
        epoch: int. the epoch to resume in.
        batch: int. the batches of that epoch already trained on.
        bucketing: bool. as `make_dataset`'s.
        model: keras.Model or None. as `make_dataset`'s (its precision decides the widths).

    Returns:
        `(rest, later)`: `rest` is a dataset of one pass over the batches of epoch `epoch`
        from `batch` on (None when `batch` is 0), `later` yields one whole epoch per pass,
        starting with epoch `epoch + 1` (with epoch `epoch` when `batch` is 0).

    Examples:
    ```python
    rest, later = resumed_datasets(trn.x, trn.y, 16, seed=0, epoch=1, batch=3)
    ```
    """
    if not isinstance(x, TokenizedTexts):
        raise TypeError(f"`x` must be TokenizedTexts, as ktbert's loaders give them. Received: {type(x).__name__}")
    batch_size = check_count(batch_size, "batch_size")
    epoch, batch = check_whole_number(epoch, "epoch"), check_whole_number(batch, "batch")
    steps = -(-len(x) // batch_size)
    if batch >= steps:
        raise ValueError(f"`batch` must be below the {steps} batches of an epoch. Received: batch={batch}")
    rng = np.random.default_rng(seed)
    for _ in range(epoch):  # the plans of the epochs already trained: drawn, so the stream moves on
        batch_plan(x.lengths, batch_size, rng, bucketing)
    rest, multiple = None, width_multiple(x, bucketing, model)
    if batch:
        current = batch_plan(x.lengths, batch_size, rng, bucketing)[batch:]
        rest = plan_dataset(x, y, lambda: current, len(current), multiple)
    later = plan_dataset(x, y, lambda: batch_plan(x.lengths, batch_size, rng, bucketing), steps, multiple)
    return rest, later
