"""Where sliding windows start, by hand: every token read, the last window on the last token."""

import warnings

import pytest

from ktbert.data.windows import window_spans


def test_windows_every_stride_tokens_and_the_last_on_the_text_end():
    # texts of 10, 3 and 6 tokens; windows of 4 tokens, one every 3
    starts, sizes, owners = window_spans([10, 3, 6], budget=4, stride=3, max_windows=8, maxlen=6)
    assert starts == [0, 3, 6, 10, 13, 15] and sizes == [4, 4, 4, 3, 4, 4]
    assert owners.tolist() == [0, 0, 0, 1, 2, 2]


def test_a_text_past_max_windows_keeps_its_first_windows_and_names_itself():
    with pytest.warns(UserWarning, match=r"^text 1 needs more than max_windows=2 windows of 6 tokens"):
        starts, sizes, owners = window_spans([2, 20], budget=4, stride=2, max_windows=2, maxlen=6)
    assert starts == [0, 2, 4] and sizes == [2, 4, 4] and owners.tolist() == [0, 1, 1]


def test_no_texts_no_windows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        starts, sizes, owners = window_spans([], budget=4, stride=2, max_windows=2, maxlen=6)
    assert starts == [] and sizes == [] and owners.tolist() == []
