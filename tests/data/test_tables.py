"""Tables: texts and labels out of DataFrames, and test rows encoded by a fitted preprocessor."""

import re

import numpy as np
import pytest

import ktbert
from ktbert.data.tables import texts_and_labels, tokenize_df
from helpers import sentiment_frame


def test_texts_and_labels_check_the_columns_first():
    df = sentiment_frame(8)
    with pytest.raises(ValueError, match=re.escape("`text_column` 'txt' is not a column of df. Columns present: ['text', 'label']")):
        texts_and_labels(df, "txt", "label", None, "df")
    texts, labels = texts_and_labels(df, "text", "label", None, "df")
    assert texts == df.text.tolist() and labels.class_names == ["neg", "pos"]


def test_tokenize_df_uses_the_fitted_classes_and_maxlen(toy_split):
    trn, val, preproc = toy_split
    test_df = sentiment_frame(6, seed=9).iloc[::-1]  # "neg" first: indices must still follow preproc
    test = tokenize_df(test_df, preproc, "text", "label", what="test_df")
    assert test.y.tolist() == [preproc.get_classes().index(c) for c in test_df.label]
    assert test.x.maxlen == preproc.maxlen and test.x.texts == test_df.text.tolist()
    np.testing.assert_array_equal(test.x.padded()[0], preproc.preprocess(test_df.text.tolist()).padded()[0])


def test_tokenize_df_refuses_unknown_classes(toy_split):
    _, _, preproc = toy_split
    test_df = sentiment_frame(4, seed=9)
    test_df.loc[1, "label"] = "meh"
    with pytest.raises(ValueError, match=re.escape("test_df['label'] has label(s) ['meh'] that the training data does not have")):
        tokenize_df(test_df, preproc, "text", "label", what="test_df")
    assert isinstance(ktbert.TextData(*tokenize_df(sentiment_frame(4), preproc, "text", "label")), ktbert.TextData)
