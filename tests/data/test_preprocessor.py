import re
import time

import pytest

from ktbert.data.preprocessor import TextPreprocessor, check_maxlen
from conftest import TINY_VOCAB


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
