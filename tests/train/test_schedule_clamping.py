"""Schedules past their planned end, and schedules planned from the batches a fit really iterates."""

import math
import warnings

import pytest

from ktbert.data.batching import count_batches
from ktbert.train.schedules import one_cycle_momentum, one_cycle_schedule, sgdr_schedule, warmup_share


@pytest.mark.parametrize("steps", [1, 2, 3, 7, 100])
def test_one_cycle_stays_at_its_last_value_past_the_end(steps):
    rate, momentum = one_cycle_schedule(1e-3, steps), one_cycle_momentum(steps)
    last = steps - 1
    for extra in (1, 5, 1000):
        assert rate(last + extra) == rate(last)
        assert momentum(last + extra) == momentum(last)
    assert max(rate(i) for i in range(steps)) == 1e-3  # the peak is a step


def test_one_cycle_ends_exactly_at_its_floor():
    assert one_cycle_schedule(1e-3, 10, div_final=1e4)(9) == 1e-3 / 1e4
    assert one_cycle_schedule(1e-3, 10, div=25)(0) == 1e-3 / 25


def test_warmup_share_is_moved_to_the_nearest_step():
    assert warmup_share(0.25, 5) == 0.25  # step 1 of 4
    assert warmup_share(0.3, 6) == 0.4  # 1.5 -> step 2 of 5
    assert warmup_share(0.9, 3) == 0.5  # never the last step
    assert warmup_share(0.25, 2) == 0.0


def test_sgdr_stays_at_its_last_value_past_the_end():
    schedule, epochs = sgdr_schedule(1e-3, steps_per_epoch=4, n_cycles=2, cycle_len=1, cycle_mult=2)
    assert epochs == 3
    last = schedule(11)
    assert last == pytest.approx(1e-3 / 2 * (1 + math.cos(math.pi * 7 / 8)))
    assert schedule(12) == schedule(40) == last


def test_schedules_count_the_batches_the_dataset_yields(learner, monkeypatch):
    """A dataset whose batch count differs from ceil(n / batch_size), with unknown cardinality
    (as bucketed batches have): one-cycle plans its steps from what the fit iterates."""
    make = learner._train_dataset

    def rebatched():
        return make().unbatch().batch(13)  # 64 texts -> 5 batches; tf.data cannot tell the count

    monkeypatch.setattr(learner, "_train_dataset", rebatched)
    assert count_batches(rebatched()) == 5 and learner.steps_per_epoch() == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = learner.fit_onecycle(1e-3, 2, verbose=0)
    assert not [w for w in caught if "ran out of data" in str(w.message)]  # Keras was told the count
    assert learner.lr_history == [one_cycle_schedule(1e-3, 10)(i) for i in range(10)]
    assert history.history["lr"][-1] == 1e-3 / 1e5
