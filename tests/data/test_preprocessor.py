import re
import time

import numpy as np
import pytest

from ktbert.data.preprocessor import TextPreprocessor, check_maxlen
from helpers import TINY_VOCAB


def pre(maxlen=8, **kw):
    return TextPreprocessor(TINY_VOCAB, maxlen=maxlen, class_names=["neg", "pos"], **kw)


def ids(*words):
    return [TINY_VOCAB.index(w) for w in words]


def test_tokenizes_with_cls_sep_lowercase_and_wordpiece():
    x = pre().preprocess(["The FILM was good!", "films"])
    assert x[0].tolist() == ids("[CLS]", "the", "film", "was", "good", "!", "[SEP]")
    assert x[1].tolist() == ids("[CLS]", "film", "##s", "[SEP]")
    assert x.lengths.tolist() == [7, 4]
    assert x.texts == ["The FILM was good!", "films"]


def test_truncates_to_maxlen_keeping_sep():
    x = pre(maxlen=8).preprocess(["good " * 20])
    assert x[0].tolist() == ids("[CLS]", *["good"] * 6, "[SEP]")


def test_accents_are_stripped_not_unknown():
    x = pre().preprocess(["Café"])
    assert x[0].tolist() == ids("[CLS]", "cafe", "[SEP]")


def test_megabyte_text_is_cut_before_tokenizing():
    start = time.perf_counter()
    x = pre(maxlen=16).preprocess(["good " * 400_000])
    assert time.perf_counter() - start < 30  # a guard against hanging, not a timing target
    assert x.lengths.tolist() == [16]


@pytest.mark.parametrize("value", [7, 513, 1024])
def test_maxlen_out_of_range(value):
    with pytest.raises(ValueError, match=re.escape(
        f"`maxlen` must be between 8 and 512. Received: maxlen={value}"
    )):
        check_maxlen(value)


def test_missing_texts_are_named():
    with pytest.raises(ValueError, match=re.escape(
        "`texts` has 1 missing value(s) (None or NaN) at position(s) [1]."
    )):
        pre().preprocess(["good", None])


def test_a_single_string_is_refused_where_a_list_is_expected():
    with pytest.raises(TypeError, match=re.escape("`texts` must be a list of strings, not one string.")):
        pre().preprocess("good")


def test_save_and_load_round_trip(tmp_path):
    original = pre(maxlen=32, multilabel=True)
    original.save(tmp_path)
    loaded = TextPreprocessor.load(tmp_path)
    assert loaded.get_config() == original.get_config()
    assert loaded.vocabulary == TINY_VOCAB
    assert loaded.preprocess(["great acting"])[0].tolist() == original.preprocess(["great acting"])[0].tolist()


def test_decode_merges_wordpieces():
    p = pre()
    assert p.decode(p.preprocess(["the films"])[0]) == "the films"


def test_vocabulary_without_special_tokens_refused():
    with pytest.raises(ValueError, match=re.escape("`vocabulary` lacks the BERT special token [CLS].")):
        TextPreprocessor(["[PAD]", "[UNK]", "a"], maxlen=8)


# -- long texts: head+tail truncation and sliding windows ----------------------------------------
LONG = " ".join(w for w in TINY_VOCAB[10:] if w != "cafe")  # 21 words, one token each, all distinct


def test_head_plus_tail_keeps_the_first_quarter_and_the_end():
    words = LONG.split()
    x = pre(maxlen=10, truncation="head+tail").preprocess([LONG, "good film"])
    assert x[0].tolist() == ids("[CLS]", *words[:2], *words[-6:], "[SEP]")  # 8 tokens: 2 head, 6 tail
    assert x[1].tolist() == ids("[CLS]", "good", "film", "[SEP]")  # short texts are untouched
    assert pre(maxlen=10).preprocess([LONG])[0].tolist() == ids("[CLS]", *words[:8], "[SEP]")


def test_head_plus_tail_reaches_the_end_of_a_megabyte_text():
    x = pre(maxlen=16, truncation="head+tail").preprocess(["good " * 400_000 + "the plot was awful"])
    assert x[0].tolist()[-5:] == ids("the", "plot", "was", "awful", "[SEP]")
    assert x[0].tolist()[:4] == ids("[CLS]", "good", "good", "good")


def test_truncation_is_saved_and_checked(tmp_path):
    p = pre(maxlen=10, truncation="head+tail")
    p.save(tmp_path)
    assert TextPreprocessor.load(tmp_path).truncation == "head+tail"
    with pytest.raises(ValueError, match=re.escape(
        "`truncation` must be one of ['head', 'head+tail']. Received: truncation='tail'"
    )):
        pre(truncation="tail")


@pytest.mark.parametrize("stride", [1, 3, 4, 8])
def test_sliding_windows_cover_every_token(stride):
    words = LONG.split()
    windows, owners = pre(maxlen=10).windows([LONG, "good film"], stride=stride)
    first = [windows[i].tolist() for i in np.flatnonzero(owners == 0)]
    assert all(w[0] == ids("[CLS]")[0] and w[-1] == ids("[SEP]")[0] and len(w) <= 10 for w in first)
    covered = sorted({t for w in first for t in w[1:-1]})
    assert covered == sorted(ids(*words))  # every token of the text is in some window
    starts = [words.index(TINY_VOCAB[w[1]]) for w in first]
    assert starts[:-1] == list(range(0, 13, stride))[: len(starts) - 1] and starts[-1] == 13  # last ends on the end
    assert windows[int(np.flatnonzero(owners == 1)[0])].tolist() == ids("[CLS]", "good", "film", "[SEP]")
    assert owners.tolist() == [0] * len(first) + [1]


def test_windows_refuse_a_stride_that_would_skip_tokens():
    with pytest.raises(ValueError, match=re.escape(
        "`stride` must be at most maxlen - 2 = 8, or windows would skip tokens. Received: stride=9"
    )):
        pre(maxlen=10).windows([LONG], stride=9)
