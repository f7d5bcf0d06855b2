"""The argument validators of `ktbert/checks.py`: what each accepts (returned as a plain int or
float) and the exact message of what each refuses."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from ktbert.checks import (
    MAX_MAXLEN,
    MIN_MAXLEN,
    check_choice,
    check_count,
    check_dropout,
    check_fraction,
    check_maxlen,
    check_stride,
    check_non_negative,
    check_rate,
    check_texts,
)


def refused(error, message):
    return pytest.raises(error, match=re.escape(message))


# check_count ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(200)])
def test_check_count_accepts_positive_integers_as_int(value):
    result = check_count(value, "epochs")
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value, shown", [
    (0, "0"), (-2, "-2"), (True, "True"), (False, "False"), (2.0, "2.0"), ("3", "'3'"), (None, "None"),
])
def test_check_count_refuses_everything_else(value, shown):
    with refused(ValueError, f"`epochs` must be a positive integer. Received: epochs={shown}"):
        check_count(value, "epochs")


# check_rate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1e-5, 3, 0.5, np.float32(2e-3), np.float64(1.5), np.int64(2)])
def test_check_rate_accepts_positive_finite_numbers_as_float(value):
    result = check_rate(value)
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize("value, shown", [
    (0, "0"), (-1e-3, "-0.001"), (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"),
    (True, "True"), ("1e-3", "'1e-3'"), (None, "None"),
])
def test_check_rate_refuses_zero_negative_nan_inf_bool_and_strings(value, shown):
    with refused(ValueError, f"`lr` must be a positive number. Received: lr={shown}"):
        check_rate(value)


def test_check_rate_names_the_argument_it_is_given():
    with refused(ValueError, "`temperature` must be a positive number. Received: temperature=0"):
        check_rate(0, "temperature")
    assert check_rate(2, "temperature") == 2.0


# check_non_negative --------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 0.0, 0.01, 5, np.float32(0.25), np.int64(0)])
def test_check_non_negative_accepts_zero_and_positive_numbers_as_float(value):
    result = check_non_negative(value, "wd")
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize("value, shown", [
    (-1, "-1"), (-1e-9, "-1e-09"), (math.nan, "nan"), (math.inf, "inf"), (False, "False"), (None, "None"),
])
def test_check_non_negative_refuses_negative_nan_inf_and_bool(value, shown):
    with refused(ValueError, f"`wd` must be a number >= 0. Received: wd={shown}"):
        check_non_negative(value, "wd")


# check_fraction ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.1, 0.5, 0.999, np.float32(0.25), np.float64(0.75)])
def test_check_fraction_accepts_numbers_strictly_between_0_and_1_as_float(value):
    result = check_fraction(value, "val_pct")
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize("value, shown", [
    (0, "0"), (0.0, "0.0"), (1, "1"), (1.0, "1.0"), (-0.1, "-0.1"), (1.5, "1.5"),
    (math.nan, "nan"), (True, "True"), ("0.5", "'0.5'"),
])
def test_check_fraction_refuses_the_ends_outside_values_nan_bool_and_strings(value, shown):
    with refused(ValueError, f"`val_pct` must lie strictly between 0 and 1. Received: val_pct={shown}"):
        check_fraction(value, "val_pct")


# check_maxlen --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [MIN_MAXLEN, 128, MAX_MAXLEN, np.int64(64)])
def test_check_maxlen_accepts_8_to_512_as_int(value):
    result = check_maxlen(value)
    assert result == int(value) and type(result) is int


def test_check_maxlen_bounds_are_8_and_512():
    assert (MIN_MAXLEN, MAX_MAXLEN) == (8, 512)


@pytest.mark.parametrize("value, shown", [(True, "True"), (64.0, "64.0"), ("64", "'64'"), (None, "None")])
def test_check_maxlen_refuses_non_integers_with_a_type_error(value, shown):
    with refused(TypeError, f"`maxlen` must be an integer. Received: maxlen={shown}"):
        check_maxlen(value)


@pytest.mark.parametrize("value", [7, 0, -8, 513, 1024])
def test_check_maxlen_refuses_lengths_out_of_range(value):
    with refused(ValueError, f"`maxlen` must be between 8 and 512. Received: maxlen={value}"):
        check_maxlen(value)


def test_check_maxlen_honours_the_encoders_limit():
    assert check_maxlen(128, limit=128) == 128
    with refused(ValueError, "`maxlen` must be between 8 and 128. Received: maxlen=129"):
        check_maxlen(129, limit=128)


# check_texts ---------------------------------------------------------------------------------

def test_check_texts_returns_a_list_of_the_strings_in_order():
    assert check_texts(("b", "a")) == ["b", "a"]
    assert check_texts(np.array(["x", "y"])) == ["x", "y"]
    # blanks are allowed unless refused by allow_empty=False
    assert check_texts(["a", "  "]) == ["a", "  "]


def test_check_texts_refuses_one_string():
    with refused(TypeError, "`texts` must be a list of strings, not one string. Received: 'a film'"):
        check_texts("a film")


def test_check_texts_shows_at_most_60_characters_of_a_refused_string():
    text = "x" * 100
    with refused(TypeError, f"not one string. Received: {'x' * 60!r}"):
        check_texts(text)


def test_check_texts_refuses_an_empty_list():
    with refused(ValueError, "`texts` is empty: there is nothing to tokenize."):
        check_texts([])
    with refused(ValueError, "`docs` is empty: there is nothing to tokenize."):
        check_texts(iter([]), what="docs")


def test_check_texts_names_the_positions_of_none_and_nan():
    texts = ["ok", None, "fine", float("nan"), np.float64("nan"), "good"]
    with refused(ValueError, "`texts` has 3 missing value(s) (None or NaN) at position(s) [1, 3, 4]. "
                 "Drop those rows or fill them (e.g. df.dropna(subset=[...]))."):
        check_texts(texts)


def test_check_texts_lists_at_most_ten_missing_positions_but_counts_them_all():
    with refused(ValueError, "`texts` has 12 missing value(s) (None or NaN) at position(s) "
                 "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]."):
        check_texts([None] * 12)


def test_check_texts_names_the_first_entry_that_is_not_a_string():
    with refused(TypeError, "`texts` must hold strings; position 2 holds int 5. "
                 "Convert the column with .astype(str) if that is what you mean."):
        check_texts(["a", "b", 5, b"bytes"])
    with refused(TypeError, "`sentences` must hold strings; position 0 holds bytes b'x'."):
        check_texts([b"x"], what="sentences")


def test_missing_values_are_reported_before_wrong_types():
    with refused(ValueError, "`texts` has 1 missing value(s) (None or NaN) at position(s) [1]."):
        check_texts([3, None])


def test_check_texts_refuses_blank_texts_when_asked():
    with refused(ValueError, "`texts` has 2 empty or blank text(s) at position(s) [1, 3]. "
                 "A classifier cannot learn from them: drop those rows."):
        check_texts(["a", "", "b", " \t\n"], allow_empty=False)
    assert check_texts(["a", "b"], allow_empty=False) == ["a", "b"]


@pytest.mark.parametrize("gap", [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT])
def test_every_kind_of_gap_counts_as_missing(gap):
    from ktbert.checks import is_missing

    assert is_missing(gap)
    with pytest.raises(ValueError, match=re.escape("`texts` has 1 missing value(s) (None or NaN) at position(s) [1]")):
        check_texts(["a", gap])


def test_a_pandas_string_column_with_gaps_is_refused_as_missing_not_as_a_type_error():
    column = pd.Series(["good", pd.NA, "bad"], dtype="string")
    with pytest.raises(ValueError, match=re.escape("at position(s) [1]")):
        check_texts(column.tolist())


# === Choices, dropout, strides and the encoder's maxlen ===
def test_check_choice_returns_a_known_value_and_names_the_choices_and_the_fix():
    assert check_choice("mean", ("mean", "cls"), "pooling") == "mean"
    with refused(ValueError, "`pooling` must be one of ['mean', 'cls']. Received: pooling='max'"):
        check_choice("max", ("mean", "cls"), "pooling")
    with refused(ValueError, "`name` must be one of ['bert']. Received: name='gpt'. Pass `encoder=` instead"):
        check_choice("gpt", ("bert",), "name", "Pass `encoder=` instead")


@pytest.mark.parametrize("value, shown", [(None, "None"), (["mean"], "['mean'] (list)"),
                                          (np.array(["mean"]), "array(['mean'], dtype='<U4') (ndarray)")])
def test_check_choice_refuses_a_list_or_an_array_holding_a_choice(value, shown):
    with refused(ValueError, f"`pooling` must be one of ['mean', 'cls']. Received: pooling={shown}"):
        check_choice(value, ("mean", "cls"), "pooling")


def test_check_choice_tells_a_bool_from_an_integer():
    assert check_choice(1, (0, 1), "n") == 1 and check_choice(True, (True, False), "flag") is True
    with refused(ValueError, "`n` must be one of [0, 1]. Received: n=True"):
        check_choice(True, (0, 1), "n")
    with refused(ValueError, "`flag` must be one of [True, False]. Received: flag=1"):
        check_choice(1, (True, False), "flag")


def test_check_dropout_takes_a_rate_in_zero_to_one_and_names_a_config_path_by_its_last_part():
    assert check_dropout(0) == 0.0 and check_dropout(0.5) == 0.5
    for bad in (1.0, -0.1, True, "0.1"):
        with pytest.raises(ValueError, match=re.escape("`dropout` must be a number in [0, 1). Received: dropout=")):
            check_dropout(bad)
    with refused(ValueError, "`model.dropout` must be a number in [0, 1). Received: dropout=1.5"):
        check_dropout(1.5, "model.dropout")


def test_check_stride_keeps_windows_from_skipping_tokens():
    assert check_stride(8, 8) == 8
    with refused(ValueError, "`window_stride` must be at most maxlen - 2 = 8, or windows would skip tokens. "
                             "Received: window_stride=9"):
        check_stride(9, 8, "window_stride")
    with refused(ValueError, "`stride` must be a positive integer. Received: stride=0"):
        check_stride(0, 8)


def test_check_maxlen_takes_the_encoders_limit_but_never_above_512():
    assert check_maxlen(256, 256) == 256 and check_maxlen(512, 4096) == 512
    with refused(ValueError, "`maxlen` must be between 8 and 256. Received: maxlen=257"):
        check_maxlen(257, 256)
    with refused(ValueError, "`maxlen` must be between 8 and 512. Received: maxlen=513"):
        check_maxlen(513, 4096)
