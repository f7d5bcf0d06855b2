"""Holding out validation rows: sizes, stratification, reproducibility and the refused splits."""

import re

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from ktbert.data.labels import EncodedLabels
from ktbert.data.splitting import split_indices, subset_labels


def single(y, n_classes=None):
    y = np.asarray(y)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    return EncodedLabels(y, [f"c{i}" for i in range(n_classes)], False)


def multi(rows):
    rows = np.asarray(rows, dtype="float32")
    return EncodedLabels(rows, [f"l{i}" for i in range(rows.shape[1])], True)


@pytest.mark.parametrize("n, val_pct, n_val", [(20, 0.25, 5), (20, 0.1, 2), (64, 0.5, 32), (10, 0.3, 3)])
def test_split_sizes_and_the_parts_cover_every_row_once(n, val_pct, n_val):
    trn, val = split_indices(single(np.arange(n) % 2), val_pct, random_state=0)
    assert (len(trn), len(val)) == (n - n_val, n_val)
    assert sorted(np.concatenate([trn, val]).tolist()) == list(range(n))


def test_stratified_split_keeps_every_class_in_both_parts():
    # 12 rows of class 0 and four rows each of classes 1 and 2, 5 validation rows: an
    # unstratified split misses a small class for 11 of these 25 seeds, a stratified one never
    y = np.array([0] * 12 + [1] * 4 + [2] * 4)
    missed = 0
    for seed in range(25):
        trn, val = split_indices(single(y), 0.25, random_state=seed)
        assert set(y[trn]) == set(y[val]) == {0, 1, 2}, seed
        assert np.bincount(y[val]).tolist() == [3, 1, 1]
        _, plain = train_test_split(np.arange(20), test_size=0.25, random_state=seed)
        missed += set(y[plain]) != {0, 1, 2}
    assert missed > 0


def test_stratified_split_is_sklearns_stratified_split():
    y = np.array([0] * 12 + [1] * 6 + [2] * 2)
    trn, val = split_indices(single(y), 0.25, random_state=5)
    expected = train_test_split(np.arange(20), test_size=0.25, random_state=5, stratify=y)
    np.testing.assert_array_equal(trn, expected[0])
    np.testing.assert_array_equal(val, expected[1])
    assert np.bincount(y[val]).tolist() == [3, 1, 1]


def test_a_class_with_one_row_turns_stratification_off():
    y = np.array([0] * 10 + [1] * 9 + [2])
    trn, val = split_indices(single(y), 0.25, random_state=3)
    expected = train_test_split(np.arange(20), test_size=0.25, random_state=3, stratify=None)
    np.testing.assert_array_equal(trn, expected[0])
    np.testing.assert_array_equal(val, expected[1])


def test_more_classes_than_validation_rows_turns_stratification_off():
    y = np.repeat(np.arange(5), 4)  # 5 classes, 4 rows each; 3 validation rows
    trn, val = split_indices(single(y), 0.15, random_state=2)
    expected = train_test_split(np.arange(20), test_size=0.15, random_state=2, stratify=None)
    np.testing.assert_array_equal(val, expected[1])
    assert len(trn) == 17


def test_multilabel_rows_are_not_stratified():
    rows = np.eye(3)[np.arange(12) % 3] + np.eye(3)[(np.arange(12) + 1) % 3]
    trn, val = split_indices(multi(rows), 0.25, random_state=4)
    expected = train_test_split(np.arange(12), test_size=0.25, random_state=4, stratify=None)
    np.testing.assert_array_equal(trn, expected[0])
    np.testing.assert_array_equal(val, expected[1])


def test_the_same_random_state_gives_the_same_split():
    labels = single(np.arange(40) % 4)
    first = split_indices(labels, 0.25, random_state=11)
    second = split_indices(labels, 0.25, random_state=11)
    other = split_indices(labels, 0.25, random_state=12)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert sorted(first[1].tolist()) != sorted(other[1].tolist())


@pytest.mark.parametrize("n, val_pct, n_train", [
    (3, 0.5, 1),  # ceil(1.5) = 2 validation rows leave 1 training row
    (4, 0.9, 0),
    (10, 0.81, 1),  # ceil(8.1) = 9
])
def test_a_split_without_two_training_rows_is_refused(n, val_pct, n_train):
    message = (f"`val_pct={val_pct}` of {n} rows leaves {n_train} training row(s); at least 2 are "
               "needed. Give more rows, a smaller val_pct, or separate validation data.")
    with pytest.raises(ValueError, match=re.escape(message)):
        split_indices(single(np.arange(n) % 2), val_pct, random_state=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        split_indices(multi(np.eye(2)[np.arange(n) % 2]), val_pct, random_state=0)


@pytest.mark.parametrize("n, val_pct, n_val", [(10, 0.04, 1), (20, 0.01, 1), (30, 0.91, 28)])
def test_validation_rows_are_counted_as_scikit_learn_counts_them(n, val_pct, n_val):
    train, val = split_indices(single(np.arange(n) % 3), val_pct, random_state=0)
    assert (len(train), len(val)) == (n - n_val, n_val)


def test_subset_labels_keeps_class_names_and_kind():
    labels = single([2, 0, 1, 2], n_classes=3)
    part = subset_labels(labels, np.array([3, 1]))
    assert part.y.tolist() == [2, 0] and part.class_names == ["c0", "c1", "c2"] and not part.multilabel
    rows = multi([[1, 0], [0, 1], [1, 1]])
    part = subset_labels(rows, [2, 0])
    assert part.y.tolist() == [[1, 1], [1, 0]] and part.multilabel
