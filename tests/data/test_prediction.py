"""How prediction cuts texts into batches: the cheapest plan with widths unrounded (rounded to 8 only in float16),
and the width multiple training batches are rounded to."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from ktbert.data.batching import token_budget_batches, width_multiple
from ktbert.data.pipeline import PAD_MULTIPLE
from ktbert.data.prediction import cheapest_batches, predict_in_order, prediction_multiple, prediction_plan
from ktbert.data.texts import TokenizedTexts


def texts_of(lengths, maxlen=40):
    """Texts of these lengths: [CLS] 10+i (filler 5s) [SEP]; position 1 tells the row."""
    values = np.concatenate([[2, 10 + i] + [5] * (k - 3) + [3] for i, k in enumerate(lengths)])
    return TokenizedTexts(values, lengths, maxlen=maxlen)


def plan_cost(plan, lengths, overhead, attention):
    widths = [int(np.max(np.asarray(lengths)[batch])) for batch in plan]
    return sum(overhead + len(batch) * w * (1 + attention * w) for batch, w in zip(plan, widths))


def every_plan(lengths, batch_size, maxlen):
    """Every way of cutting the texts, sorted longest first, into consecutive batches that fit."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    for cuts in itertools.product((False, True), repeat=len(order) - 1):
        starts = [0] + [i + 1 for i, cut in enumerate(cuts) if cut]
        plan = [order[a:b] for a, b in zip(starts, starts[1:] + [len(order)])]
        if all(len(b) <= max(batch_size, batch_size * maxlen // int(np.max(np.asarray(lengths)[b]))) for b in plan):
            yield plan


def test_cheapest_batches_pay_a_step_or_padding_whichever_costs_less():
    lengths = np.array([8, 30, 10, 20, 9, 29])  # sorted: 30, 29, 20, 10, 9, 8
    # budget 2 * 40 = 80 tokens: 2 texts of 29-30 tokens, 4 of 20, up to 8 of 10 or fewer. A step costs
    # 20 tokens: 20 + 60 + 20 + 20 + 30 = 170 beats padding three short texts to 20 (20 + 60 + 20 + 80 = 180)
    assert [b.tolist() for b in cheapest_batches(lengths, 2, 40, overhead=20, attention=0)] == [[1, 5], [3], [2, 4, 0]]
    assert [b.tolist() for b in token_budget_batches(lengths, 2, 40, multiple=1)] == [[1, 5], [3, 2, 4, 0]]
    # with no cost per step, no text is padded: every batch holds texts of one length
    assert [b.tolist() for b in cheapest_batches(lengths, 2, 40, overhead=0, attention=0)] == [[1], [5], [3], [2], [4],
                                                                                              [0]]


@pytest.mark.parametrize("overhead, attention", [(0.5, 0.0), (7.0, 0.0), (25.0, 0.01), (300.0, 3.6e-4)])
def test_cheapest_batches_match_the_best_of_every_possible_plan(overhead, attention):
    lengths = np.random.default_rng(int(overhead)).integers(1, 33, size=11)
    best = min(plan_cost(p, lengths, overhead, attention) for p in every_plan(lengths, 3, 32))
    plan = cheapest_batches(lengths, 3, 32, overhead=overhead, attention=attention)
    assert plan_cost(plan, lengths, overhead, attention) == pytest.approx(best, rel=1e-12)
    assert sorted(np.concatenate(plan).tolist()) == list(range(11))


def test_cheapest_batches_keep_every_batch_within_the_token_budget():
    lengths = np.random.default_rng(0).integers(1, 129, size=3000)
    plan = cheapest_batches(lengths, 32, 128)
    assert sorted(np.concatenate(plan).tolist()) == list(range(3000))
    for batch in plan:
        assert len(batch) * lengths[batch].max() <= 32 * 128 or len(batch) <= 32
    padded = sum(len(b) * lengths[b].max() for b in plan)
    budget = token_budget_batches(lengths, 32, 128, multiple=1)
    assert padded < sum(len(b) * lengths[b].max() for b in budget)


def test_float32_models_batch_without_rounding_widths_and_others_round_them_to_8():
    x = texts_of([3, 9, 17, 30])
    assert width_multiple(x, True, keras.layers.Dense(1)) == 1
    assert width_multiple(x, True, keras.layers.Dense(1, dtype="mixed_bfloat16")) == PAD_MULTIPLE == 8
    assert width_multiple(x, True, keras.layers.Dense(1, dtype="mixed_float16")) == 8
    assert width_multiple(x, True) == 8  # no model to ask: the half-precision multiple
    assert width_multiple(x, False, keras.layers.Dense(1)) == 40


@pytest.mark.parametrize("precision, multiple", [("float32", 1), ("mixed_bfloat16", 8)])
def test_a_classifier_trains_at_the_multiple_of_its_encoders_precision(toy_split, precision, multiple):
    import ktbert

    trn, _, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, precision=precision)
    assert model.compute_dtype == "float32"  # the classifier's own policy, whatever its encoder's
    assert width_multiple(trn[0], True, model) == multiple


class WidthModel:
    """Outputs each row's index (the token after [CLS]) and the width of its batch."""

    def __init__(self, compute_dtype):
        self.compute_dtype = compute_dtype

    def __call__(self, inputs, training=False):
        ids = inputs["token_ids"]
        return tf.stack([ids[:, 1] - 10, tf.fill(tf.shape(ids)[:1], tf.shape(ids)[1])], axis=1)


@pytest.mark.parametrize("compute_dtype, widths", [("float32", [9, 9, 17, 30]), ("bfloat16", [9, 9, 17, 30]),
                                                   ("float16", [16, 16, 24, 32])])
def test_each_prediction_batch_is_as_wide_as_its_longest_text_but_in_float16(compute_dtype, widths):
    x = texts_of([3, 9, 17, 30])
    out = predict_in_order(WidthModel(compute_dtype), x, batch_size=1)  # at most 40 padded tokens a batch
    np.testing.assert_array_equal(out[:, 0], np.arange(4))
    # float32 and bfloat16: the cheapest batches, [30], [17], [9, 3] (two steps of 17 and 9 + 9 tokens cost less
    # than one of 17 + 17 and one of 3), though a bfloat16 model's training batches round widths up to 8
    # (width_multiple); float16: the token budget at widths rounded to 8, [32], [24], [16, 16]
    assert width_multiple(x, True, WidthModel(compute_dtype)) == (1 if compute_dtype == "float32" else 8)
    assert prediction_multiple(x, True, WidthModel(compute_dtype)) == (8 if compute_dtype == "float16" else 1)
    assert out[:, 1].tolist() == widths


def test_the_prediction_plan_is_the_cheapest_unrounded_the_token_budget_rounded_and_input_order_unbucketed():
    x = texts_of([3, 9, 17, 30, 4, 12])  # sorted: 30, 17, 12, 9, 4, 3; a budget of 1 x 40 padded tokens
    # unrounded, the cheapest cut (a step costs 175 tokens' worth): the fewest steps, [30], [17, 12], [9, 4, 3]
    assert [b.tolist() for b in prediction_plan(x, 1, True)] == [[3], [2, 5], [1, 4, 0]]
    # rounded to 8, the token budget: widths 32, 24, 16 and 8 hold 1, 1, 2 and 5 texts
    assert [b.tolist() for b in prediction_plan(x, 1, True, 8)] == [[3], [2], [5, 1], [4, 0]]
    assert [b.tolist() for b in prediction_plan(x, 2, False, 40)] == [[0, 1], [2, 3], [4, 5]]
    assert prediction_multiple(x, False, WidthModel("float16")) == 40
