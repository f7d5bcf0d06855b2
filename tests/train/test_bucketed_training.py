"""Training on length-bucketed batches: exact schedules per step, one trace for all widths."""

import numpy as np
import pandas as pd
import pytest

import ktbert
from ktbert.data.prediction import _predict_step
from ktbert.train import schedules
from helpers import step_probe

N, BATCH = 50, 8  # 7 steps an epoch, the last one of 2 texts


@pytest.fixture(scope="module")
def varied_split(tiny_encoder):
    """Texts of 6 to 26 tokens, so bucketed batches have several widths."""
    rows = [{"text": "the film was " + ("good" if i % 2 else "bad") + " and great" * (i % 11),
             "label": "pos" if i % 2 else "neg"} for i in range(N)]
    df = pd.DataFrame(rows)
    return ktbert.texts_from_df(df, "text", "label", val_df=df[:12], maxlen=32, encoder=tiny_encoder, verbose=0)


def fresh_learner(split):
    trn, val, preproc = split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH, seed=0)
    widths = {int(b[0]["token_ids"].shape[1]) for b in learner._train_dataset()}
    assert learner.bucketing and len(widths) >= 3, widths
    return learner


def test_one_cycle_is_exact_every_step_and_ends_at_lr_over_div_final(varied_split):
    learner = fresh_learner(varied_split)
    probe = step_probe()
    history = learner.fit_onecycle(1e-2, 2, div=25, div_final=1e4, callbacks=[probe], verbose=0)
    expected = [schedules.one_cycle_schedule(1e-2, 14, div=25, div_final=1e4)(i) for i in range(14)]
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-6)
    assert probe.lrs[0] == pytest.approx(1e-2 / 25, rel=1e-6)
    assert max(probe.lrs) == pytest.approx(1e-2, rel=1e-6)
    assert probe.lrs[-1] == pytest.approx(1e-2 / 1e4, rel=1e-6)
    assert history.history["lr"] == pytest.approx(probe.lrs, rel=1e-6)
    assert int(learner.model.optimizer.iterations.numpy()) == 14


def test_sgdr_and_triangular_count_the_bucketed_steps(varied_split):
    learner = fresh_learner(varied_split)
    probe = step_probe()
    learner.fit(1e-2, n_cycles=2, cycle_len=1, cycle_mult=2, callbacks=[probe], verbose=0)
    sgdr, epochs = schedules.sgdr_schedule(1e-2, 7, 2, cycle_len=1, cycle_mult=2)
    assert epochs == 3
    expected = [sgdr(i) for i in range(21)]
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-6)
    probe = step_probe()
    learner.autofit(1e-2, 1, callbacks=[probe], verbose=0)
    half = 4  # ceil(7 / 2): ktrain's cycle of 2 * ceil(steps / 2)
    expected = [schedules.triangular(i, 1e-2 / 10, 1e-2, half) for i in range(7)]
    assert len(probe.lrs) == 7
    np.testing.assert_allclose(probe.lrs, expected, rtol=1e-6)


def test_training_evaluation_and_prediction_trace_once_for_all_widths(varied_split):
    learner = fresh_learner(varied_split)
    traces = {"train": 0, "test": 0}
    for kind in traces:
        step = getattr(learner.model, f"{kind}_step")

        def counted(data, step=step, kind=kind):
            traces[kind] += 1  # Python runs here only while TensorFlow traces the step
            return step(data)

        setattr(learner.model, f"{kind}_step", counted)
    learner.fit_onecycle(1e-3, 2, verbose=0)  # its optimizer is built before the first trace
    learner.evaluate()
    learner.predict()  # one batch of 12
    learner.predict(varied_split[0])  # 7 batches of several widths
    assert traces == {"train": 1, "test": 1}
    assert _predict_step(learner.model).experimental_get_tracing_count() == 1


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_training_and_validation_batches_are_padded_as_the_encoders_precision_wants(varied_split, precision):
    # float32: each batch exactly as wide as its longest text; bf16: rounded up to 8 (width_multiple)
    trn, val, preproc = varied_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, precision=precision)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=BATCH, seed=0)
    for data, dataset in ((trn, learner._train_dataset()), (val, learner._val_dataset())):
        lengths = np.asarray(data.x.lengths)
        for inputs, _ in dataset:
            width = int(inputs["token_ids"].shape[1])
            longest = int(inputs["padding_mask"].numpy().sum(axis=1).max())
            assert width == (longest if precision == "float32" else min(32, -(-longest // 8) * 8))
            assert longest in lengths
    widths = {int(b[0]["token_ids"].shape[1]) for b in learner._train_dataset()}
    assert (all(w % 8 == 0 for w in widths) if precision != "float32" else any(w % 8 for w in widths)), widths
