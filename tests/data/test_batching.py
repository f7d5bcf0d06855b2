"""`tf.data` batches of tokenized texts and of plain arrays, and counting the batches of a pass."""

import re

import numpy as np
import pytest
import tensorflow as tf

from ktbert.data.batching import (
    bucketed_batches,
    count_batches,
    make_array_dataset,
    make_dataset,
    model_inputs,
    num_examples,
    to_dataset,
    token_budget_batches,
)
from ktbert.data.prediction import predict_in_order, prediction_plan
from ktbert.data.texts import TokenizedTexts


def numbered_texts(n, maxlen=4):
    """`n` texts [CLS] 10+i [SEP]: the token at position 1 tells each row's index."""
    values = np.concatenate([[2, 10 + i, 3] for i in range(n)])
    return TokenizedTexts(values, [3] * n, maxlen=maxlen)


def rows(dataset):
    """(row index read from the token ids, label) of every example, in the order yielded."""
    out = []
    for inputs, y in dataset:
        out += list(zip((inputs["token_ids"].numpy()[:, 1] - 10).tolist(), y.numpy().tolist()))
    return out


def test_model_inputs_pads_to_maxlen_truncates_and_masks_as_int32():
    x = TokenizedTexts([2, 5, 3, 2, 6, 7, 8, 9, 3, 2, 3], [3, 6, 2], maxlen=5)
    inputs = model_inputs(x)
    assert set(inputs) == {"token_ids", "padding_mask"}
    ids, mask = inputs["token_ids"], inputs["padding_mask"]
    assert ids.shape == mask.shape == (3, 5)
    assert ids.dtype == np.int32 and mask.dtype == np.int32
    assert ids.tolist() == [[2, 5, 3, 0, 0], [2, 6, 7, 8, 9], [2, 3, 0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]


def test_make_dataset_yields_inputs_and_labels_in_batches_the_last_one_smaller():
    x, y = numbered_texts(5), np.array([0, 1, 0, 1, 1])
    batches = list(make_dataset(x, y, batch_size=2))
    assert [len(b[1]) for b in batches] == [2, 2, 1]
    inputs, labels = batches[0]
    assert set(inputs) == {"token_ids", "padding_mask"}
    assert inputs["token_ids"].shape == (2, 4) and inputs["token_ids"].dtype == tf.int32
    assert inputs["padding_mask"].numpy().tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
    assert labels.numpy().tolist() == [0, 1]
    assert rows(make_dataset(x, y, batch_size=2)) == list(zip(range(5), y.tolist()))


def test_make_dataset_without_labels_yields_inputs_only():
    batches = list(make_dataset(numbered_texts(3), batch_size=2))
    assert all(isinstance(b, dict) for b in batches)
    assert [b["token_ids"].shape[0] for b in batches] == [2, 1]
    assert batches[1]["token_ids"].numpy().tolist() == [[2, 12, 3, 0]]


def test_make_dataset_keeps_multilabel_rows():
    y = np.array([[1, 0, 1], [0, 1, 0]], dtype="float32")
    (_, labels), = make_dataset(numbered_texts(2), y, batch_size=4)
    np.testing.assert_array_equal(labels.numpy(), y)


def test_shuffle_reorders_but_keeps_every_row_with_its_label():
    n = 20
    x, y = numbered_texts(n, maxlen=3), np.arange(100, 100 + n)
    shuffled = rows(make_dataset(x, y, batch_size=6, shuffle=True, seed=3))
    assert [i for i, _ in shuffled] != list(range(n))
    assert sorted(shuffled) == list(zip(range(n), y.tolist()))
    assert all(label == 100 + i for i, label in shuffled)


def test_shuffle_with_a_seed_repeats_and_reshuffles_every_epoch():
    x, y = numbered_texts(20, maxlen=3), np.arange(20)
    ds = make_dataset(x, y, batch_size=6, shuffle=True, seed=3)
    first, second = rows(ds), rows(ds)
    assert first != second and sorted(first) == sorted(second)
    again = make_dataset(x, y, batch_size=6, shuffle=True, seed=3)
    assert rows(again) == first and rows(again) == second


@pytest.mark.parametrize("make", [
    lambda: make_dataset(numbered_texts(5), np.arange(5), batch_size=2, shuffle=True, seed=0),
    lambda: make_dataset(numbered_texts(5), batch_size=2),
    lambda: make_array_dataset(np.ones((5, 2)), np.arange(5), batch_size=2, shuffle=True, seed=0),
])
def test_datasets_prefetch_without_the_autotuning_thread_that_delays_deleting_an_iterator(make):
    # tf.data's autotuning thread sleeps up to a minute between rounds and an iterator's
    # deletion waits for it: `fit` returned up to a minute after its last step.
    ds = make()
    assert ds.options().autotune.enabled is False
    assert sum(int(tf.shape(tf.nest.flatten(batch)[0])[0]) for batch in ds) == 5


def test_make_array_dataset_batches_an_array():
    x, y = np.arange(10, dtype="float32").reshape(5, 2), np.array([1, 0, 1, 0, 1])
    batches = list(make_array_dataset(x, y, batch_size=2))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    assert batches[2][0].numpy().tolist() == [[8.0, 9.0]]
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == y.tolist()
    assert [b.shape[0] for b in make_array_dataset(x, batch_size=4)] == [4, 1]


def test_make_array_dataset_batches_a_dict_and_a_list_of_arrays():
    a, b = np.arange(6).reshape(3, 2), np.arange(3)
    batches = list(make_array_dataset({"a": a, "b": b}, batch_size=2))
    assert [sorted(d) for d in batches] == [["a", "b"], ["a", "b"]]
    assert batches[0]["a"].numpy().tolist() == [[0, 1], [2, 3]] and batches[1]["b"].numpy().tolist() == [2]
    # a list becomes a tuple of inputs, one per array
    (first, second), y = next(iter(make_array_dataset([a, b], np.array([7, 8, 9]), batch_size=3)))
    assert first.numpy().tolist() == a.tolist() and second.numpy().tolist() == [0, 1, 2]
    assert y.numpy().tolist() == [7, 8, 9]


def test_make_array_dataset_shuffles_keeping_every_row():
    x = np.arange(12)
    ds = make_array_dataset({"x": x}, x * 10, batch_size=5, shuffle=True, seed=1)
    seen = [(int(i), int(j)) for d, y in ds for i, j in zip(d["x"].numpy(), y.numpy())]
    assert [i for i, _ in seen] != x.tolist()
    assert sorted(seen) == [(i, 10 * i) for i in range(12)]


def test_to_dataset_picks_by_the_kind_of_input():
    (inputs, _), = to_dataset(numbered_texts(2), np.array([0, 1]), batch_size=8)
    assert set(inputs) == {"token_ids", "padding_mask"}
    (arr, _), = to_dataset(np.ones((2, 3)), np.array([0, 1]), batch_size=8)
    assert arr.shape == (2, 3)


def test_num_examples_of_each_kind_of_input():
    assert num_examples(numbered_texts(7)) == 7
    assert num_examples(np.zeros((5, 3))) == 5
    assert num_examples({"a": np.zeros((4, 2)), "b": np.zeros(4)}) == 4
    assert num_examples([np.zeros((6, 2)), np.zeros(6)]) == 6
    assert num_examples((np.zeros((3, 2)), np.zeros(3))) == 3
    assert num_examples(["a", "b"]) == 2
    assert num_examples([]) == 0


def test_count_batches_of_a_dataset_of_known_cardinality():
    ds = make_dataset(numbered_texts(5), np.zeros(5), batch_size=2)
    assert int(ds.cardinality()) == 3
    assert count_batches(ds) == 3


@pytest.mark.parametrize("rebatch, batches", [
    (lambda ds: ds.filter(lambda *a: True), 4),  # 7 rows in 2s
    (lambda ds: ds.unbatch().batch(3), 3),  # 7 rows in 3s
], ids=["filter", "rebatched"])
def test_count_batches_counts_a_dataset_of_unknown_cardinality(rebatch, batches):
    ds = rebatch(make_dataset(numbered_texts(7), np.zeros(7), batch_size=2))
    assert int(ds.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert count_batches(ds) == batches == len(list(ds))


def test_count_batches_refuses_a_dataset_that_repeats_forever():
    ds = make_dataset(numbered_texts(3), batch_size=2).repeat()
    with pytest.raises(ValueError, match=re.escape(
            "the dataset repeats forever: it has no epoch to count batches in.")):
        count_batches(ds)


@pytest.mark.parametrize("make, x", [(make_dataset, numbered_texts(3)), (make_array_dataset, np.zeros((3, 2)))])
def test_batch_size_must_be_positive(make, x):
    with pytest.raises(ValueError, match=re.escape(
            "`batch_size` must be a positive integer. Received: batch_size=0")):
        make(x, batch_size=0)
    with pytest.raises(ValueError, match=re.escape(
            "`batch_size` must be a positive integer. Received: batch_size=2.0")):
        make(x, batch_size=2.0)


def test_with_cardinality_declares_an_unknown_count_and_leaves_a_known_one():
    import tensorflow as tf

    from ktbert.data.batching import with_cardinality

    known = tf.data.Dataset.range(10).batch(4)
    assert with_cardinality(known, 3) is known
    unknown = known.filter(lambda x: True)
    assert int(unknown.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    declared = with_cardinality(unknown, 3)
    assert int(declared.cardinality()) == 3 and len(list(declared)) == 3


# === Length-bucketed batches ===
def varied_texts(n, maxlen=40):
    """`n` texts of lengths 3..30: [CLS] 10+i (filler 5s) [SEP]; position 1 tells the row."""
    lengths = [3 + (i * 7) % 28 for i in range(n)]
    values = np.concatenate([[2, 10 + i] + [5] * (k - 3) + [3] for i, k in enumerate(lengths)])
    return TokenizedTexts(values, lengths, maxlen=maxlen)


def test_a_bucketed_training_epoch_visits_every_example_exactly_once_and_reshuffles():
    x = varied_texts(53)
    ds = make_dataset(x, np.arange(53), batch_size=8, shuffle=True, seed=0)
    assert int(ds.cardinality()) == count_batches(ds) == 7  # ceil(53 / 8), known before it runs
    epochs = [rows(ds) for _ in range(2)]
    for epoch in epochs:
        assert sorted(i for i, _ in epoch) == list(range(53))
        assert all(i == label for i, label in epoch)  # labels travel with their texts
    assert [i for i, _ in epochs[0]] != [i for i, _ in epochs[1]]


def test_each_batch_is_padded_to_its_longest_text_rounded_up_to_8():
    x = varied_texts(53)
    widths = []
    for inputs, _ in make_dataset(x, np.arange(53), batch_size=8, shuffle=True, seed=0):
        ids, mask = inputs["token_ids"].numpy(), inputs["padding_mask"].numpy()
        rows_ = ids[:, 1] - 10
        longest = max(x.lengths[rows_])
        assert ids.shape[1] == min(40, -(-longest // 8) * 8)
        for row, i in enumerate(rows_):
            n = x.lengths[i]
            np.testing.assert_array_equal(ids[row, :n], x[i])
            assert not ids[row, n:].any() and mask[row].sum() == n
        widths.append(ids.shape[1])
    assert len(set(widths)) >= 3  # short batches really are short
    assert sum(widths) < 7 * 40 * 0.8


def test_bucketed_batches_group_by_length_and_keep_the_batch_count():
    lengths = np.random.default_rng(0).integers(3, 128, size=1000)
    plain = bucketed_batches(lengths, 16)  # evaluation: sorted, longest first
    assert np.all(np.diff(lengths[np.concatenate(plain)]) <= 0)
    shuffled = bucketed_batches(lengths, 16, np.random.default_rng(1), megabatch=10)
    assert len(plain) == len(shuffled) == 63
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(1000))
    assert sum(len(b) != 16 for b in shuffled) == 1  # only one short batch, wherever it lands
    padded = sum(len(b) * lengths[b].max() for b in shuffled)
    assert padded < 1.15 * lengths.sum()  # vs 1000 * 127 padded to the longest


def test_token_budget_batches_fill_batch_size_times_maxlen_padded_tokens_longest_first():
    lengths = np.array([30, 3, 17, 9, 25, 3, 8])
    plan = token_budget_batches(lengths, batch_size=2, maxlen=40)  # 80 tokens; widths rounded up to 8
    assert [b.tolist() for b in plan] == [[0, 4], [2, 3, 6], [1, 5]]  # widths 32, 24, 8: 2, 3 and up to 10 texts
    assert [b.tolist() for b in token_budget_batches(lengths, 2, 40, multiple=40)] == [[0, 4], [2, 3], [6, 1], [5]]
    full = token_budget_batches(np.full(5, 40), batch_size=2, maxlen=40)
    assert [len(b) for b in full] == [2, 2, 1]  # texts of maxlen tokens: batch_size per batch, as before


def test_prediction_plans_the_token_budget_at_a_width_multiple_and_batch_size_texts_in_order_unbucketed():
    x = varied_texts(37)  # lengths 3..30, maxlen 40
    budget = prediction_plan(x, 5, multiple=8)  # a float16 model's plan (prediction_multiple)
    assert sorted(np.concatenate(budget).tolist()) == list(range(37))
    assert len(budget) < 8  # ceil(37 / 5) batches of 5 texts each would be 8
    for batch in budget:
        width = min(40, -(-x.lengths[batch].max() // 8) * 8)
        assert len(batch) * width <= 5 * 40 or len(batch) == 5
    assert [b.tolist() for b in prediction_plan(x, 5, bucketing=False)] == [
        list(range(i, min(i + 5, 37))) for i in range(0, 37, 5)]


def test_the_element_spec_leaves_the_width_dynamic():
    ds = make_dataset(varied_texts(10), np.arange(10), batch_size=4)
    spec = ds.element_spec[0]
    assert spec["token_ids"].shape.as_list() == spec["padding_mask"].shape.as_list() == [None, None]


class EchoModel:
    """Outputs each row's index (the token after [CLS]) and the width of its batch."""

    def __call__(self, inputs, training=False):
        ids = inputs["token_ids"]
        return tf.stack([ids[:, 1] - 10, tf.fill(tf.shape(ids)[:1], tf.shape(ids)[1])], axis=1)


def test_predict_in_order_returns_rows_in_the_callers_order():
    x = varied_texts(37)
    out = predict_in_order(EchoModel(), x, batch_size=5)
    np.testing.assert_array_equal(out[:, 0], np.arange(37))
    assert len(set(out[:, 1])) > 2  # it really ran bucketed
    unbucketed = predict_in_order(EchoModel(), x, batch_size=5, bucketing=False)
    np.testing.assert_array_equal(unbucketed[:, 0], np.arange(37))
    assert set(unbucketed[:, 1]) == {40}
