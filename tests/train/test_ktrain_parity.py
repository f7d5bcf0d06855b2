"""What ktrain's own tests assert of a learner, run on ktbert with only the import changed."""

import pytest

from ktbert.train.schedules import one_cycle_momentum, one_cycle_schedule


def test_fit_onecycle_history_holds_every_step_and_reaches_the_peak(learner):
    lr = 1e-3
    hist = learner.fit_onecycle(lr, 2, verbose=0)
    steps = 8  # 64 texts / 16 per batch = 4 steps, 2 epochs
    assert max(hist.history["lr"]) == lr  # ktrain's assertion, exact
    assert hist.history["lr"] == [one_cycle_schedule(lr, steps)(i) for i in range(steps)]
    assert hist.history["momentum"] == pytest.approx([one_cycle_momentum(steps)(i) for i in range(steps)], rel=1e-7)
    assert hist.history["iterations"] == list(range(1, steps + 1))
    assert hist.history["epoch_lr"] == [hist.history["lr"][3], hist.history["lr"][7]]
    assert len(hist.history["loss"]) == len(hist.history["val_loss"]) == 2


def test_autofit_and_sgdr_histories_hold_every_step(learner):
    hist = learner.autofit(1e-3, 1, verbose=0)
    assert len(hist.history["lr"]) == len(hist.history["momentum"]) == len(hist.history["iterations"]) == 4
    assert max(hist.history["lr"]) == pytest.approx(1e-3)
    hist = learner.fit(1e-3, 2, cycle_len=1, verbose=0)
    assert hist.history["iterations"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert hist.history["lr"][0] == hist.history["lr"][4] == 1e-3  # a warm restart each epoch


def test_a_fresh_learner_has_no_weight_decay(learner):
    assert not learner.get_weight_decay()
    learner.set_weight_decay(0.01)
    assert learner.get_weight_decay() == pytest.approx(0.01)


def test_ktrain_momentum_names_bound_the_momentum(learner):
    hist = learner.fit_onecycle(1e-3, 1, max_momentum=0.9, min_momentum=0.8, verbose=0)
    assert hist.history["momentum"][0] == pytest.approx(0.9) and hist.history["momentum"][-1] == pytest.approx(0.9)
    assert min(hist.history["momentum"]) == pytest.approx(0.8)  # at the peak rate's step
    hist = learner.autofit(1e-3, 1, max_momentum=0.9, min_momentum=0.8, verbose=0)
    assert max(hist.history["momentum"]) == pytest.approx(0.9) and min(hist.history["momentum"]) == pytest.approx(0.8)


@pytest.mark.parametrize("kwargs, message", [
    ({"moms": (0.95, 0.85)}, "`moms` must be three momentum values in [0, 1): start, peak of the rate, end. Received: moms=(0.95, 0.85)"),
    ({"max_momentum": 1.5}, "`moms` must be three momentum values in [0, 1): start, peak of the rate, end. Received: moms=(1.5, 0.85, 1.5)"),
    ({"div": 0}, "`div` must be a positive number. Received: div=0"),
])
def test_bad_one_cycle_arguments_are_refused_before_training(learner, kwargs, message):
    import re

    with pytest.raises(ValueError, match=re.escape(message)):
        learner.fit_onecycle(1e-3, 1, verbose=0, **kwargs)
    assert learner.history is None


def test_ktrains_worker_arguments_are_accepted_and_warned_about(make_toy_split):
    import warnings

    import ktbert

    trn, val, preproc = make_toy_split(seed=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    with pytest.warns(UserWarning, match="workers, use_multiprocessing are ignored: ktbert's batches come from "
                                         "tf.data, which needs no worker processes; remove them"):
        learner = ktbert.get_learner(model, trn, val, batch_size=16, workers=8, use_multiprocessing=True)
    assert learner.batch_size == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # without them: no warning
        ktbert.get_learner(model, trn, val, batch_size=16)
