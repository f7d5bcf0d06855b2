import re

import numpy as np
import pytest

from ktbert.data.labels import encode_indicator_columns, encode_single_column


def test_strings_sorted_and_indexed():
    enc = encode_single_column(["pos", "neg", "pos", "neutral"])
    assert enc.class_names == ["neg", "neutral", "pos"]
    assert enc.y.tolist() == [2, 0, 2, 1]
    assert enc.multilabel is False


def test_integers_sort_numerically_and_floats_from_pandas_become_ints():
    enc = encode_single_column([10, 2, 1, 2.0])
    assert enc.class_names == ["1", "2", "10"]
    assert enc.y.tolist() == [2, 1, 0, 1]


def test_booleans():
    enc = encode_single_column([True, False, np.bool_(True)])
    assert enc.class_names == ["False", "True"]
    assert enc.y.tolist() == [1, 0, 1]


def test_separator_gives_multilabel_rows():
    enc = encode_single_column(["earn|acq", "grain", "acq| grain "], label_sep="|")
    assert enc.class_names == ["acq", "earn", "grain"]
    assert enc.multilabel is True
    assert enc.y.tolist() == [[1, 1, 0], [0, 0, 1], [1, 0, 1]]


def test_nan_label_named_with_rows():
    with pytest.raises(ValueError, match=re.escape(
        "labels has 2 missing label(s) (None or NaN) at row position(s) [1, 3]. Drop those rows "
        "(df.dropna(subset=[...])) or give them a class."
    )):
        encode_single_column(["a", float("nan"), "b", None], what="labels")


def test_single_class_refused():
    with pytest.raises(ValueError, match=re.escape(
        "y holds a single class ['spam']: a classifier needs at least two."
    )):
        encode_single_column(["spam", "spam"], what="y")


def test_unknown_validation_label_refused():
    with pytest.raises(ValueError, match=re.escape("has label(s) ['maybe'] that the training data does not have")):
        encode_single_column(["yes", "maybe"], class_names=["no", "yes"])


def test_one_hot_columns_single_label():
    enc = encode_indicator_columns([[1, 0, 0], [0, 0, 1]], ["a", "b", "c"])
    assert enc.multilabel is False
    assert enc.y.tolist() == [0, 2]
    assert enc.class_names == ["a", "b", "c"]


def test_indicator_columns_with_several_ones_are_multilabel():
    enc = encode_indicator_columns([[1, 1], [0, 1]], ["a", "b"])
    assert enc.multilabel is True
    assert enc.y.dtype == np.float32
    assert enc.y.tolist() == [[1.0, 1.0], [0.0, 1.0]]


def test_indicator_columns_refuse_other_values():
    with pytest.raises(ValueError, match=re.escape("must hold only 0/1 (or True/False)")):
        encode_indicator_columns([[1, 2], [0, 1]], ["a", "b"])
