import numpy as np
import pytest

from ktbert.data.texts import TextData, TokenizedTexts


def make():
    return TokenizedTexts([2, 5, 3, 2, 6, 7, 8, 3], [3, 5], maxlen=4, texts=["a", "b"])


def test_padded_truncates_and_masks():
    ids, mask = make().padded()
    assert ids.tolist() == [[2, 5, 3, 0], [2, 6, 7, 8]]
    assert mask.tolist() == [[True, True, True, False], [True, True, True, True]]


def test_item_and_subset_keep_lengths_and_texts():
    x = make()
    assert x[1].tolist() == [2, 6, 7, 8, 3]
    sub = x.subset([1, 0])
    assert sub.lengths.tolist() == [5, 3]
    assert sub.texts == ["b", "a"]
    assert sub[0].tolist() == [2, 6, 7, 8, 3]


def test_lengths_must_add_up():
    with pytest.raises(ValueError, match=r"`lengths` must add up to the number of token ids. "
                       r"Received: sum\(lengths\)=4, len\(values\)=3"):
        TokenizedTexts([1, 2, 3], [4], maxlen=8)


def test_text_data_unpacks_as_x_y():
    data = TextData(make(), np.array([0, 1]))
    x, y = data
    assert x is data.x and y.tolist() == [0, 1]
    assert data.multilabel is False
