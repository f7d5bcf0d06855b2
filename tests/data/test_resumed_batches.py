"""A shuffled training pass resumed at any batch yields, from there on, exactly the batches the
uninterrupted dataset yields, bucketed or not."""

import numpy as np
import pytest

from ktbert.data.batching import make_dataset
from ktbert.data.resumed_batches import resumed_datasets
from ktbert.data.texts import TokenizedTexts


def varied_texts(n=21, seed=0):
    """`n` texts of 3 to 12 tokens, [CLS] row-number ... [SEP]: token 1 tells each row's index."""
    lengths = np.random.default_rng(seed).integers(3, 13, size=n)
    values = np.concatenate([[2, 10 + i] + [5] * (length - 3) + [3] for i, length in enumerate(lengths)])
    return TokenizedTexts(values, lengths, maxlen=16), np.arange(n) % 2


def passes(dataset, count):
    """The batches of `count` passes, each as (row indices, labels, padded width)."""
    found = []
    for _ in range(count):
        found.append([((inputs["token_ids"].numpy()[:, 1] - 10).tolist(), y.numpy().tolist(),
                       inputs["token_ids"].shape[1]) for inputs, y in dataset])
    return found


@pytest.mark.parametrize("bucketing", [True, False])
@pytest.mark.parametrize("epoch, batch", [(0, 0), (0, 2), (1, 0), (2, 5)])
def test_a_resumed_pass_yields_the_uninterrupted_batches_from_there_on(bucketing, epoch, batch):
    x, y = varied_texts()
    uninterrupted = passes(make_dataset(x, y, batch_size=4, shuffle=True, seed=7, bucketing=bucketing), 4)
    rest, later = resumed_datasets(x, y, 4, seed=7, epoch=epoch, batch=batch, bucketing=bucketing)
    resumed = [] if rest is None else passes(rest, 1)
    resumed += passes(later, 4 - epoch - (rest is not None))
    assert [b for p in resumed for b in p] == [b for p in uninterrupted for b in p][epoch * 6 + batch:]  # 6 a pass


def test_a_position_past_the_epoch_is_refused():
    x, y = varied_texts()
    with pytest.raises(ValueError) as caught:
        resumed_datasets(x, y, 4, seed=7, epoch=0, batch=6)
    assert str(caught.value) == "`batch` must be below the 6 batches of an epoch. Received: batch=6"
