import re

import pytest

import ktbert
from ktbert.data.cleaning import TextCleaner
from conftest import TINY_VOCAB


def test_cleaner_options():
    text = "Loved it #great @bob!<br />Really #good. mail@x.com"
    assert TextCleaner()(text) == text
    assert TextCleaner(hashtags=True)(text) == "Loved it great @bob!<br />Really good. mail@x.com"
    assert TextCleaner(mentions="@user")(text) == "Loved it #great @user!<br />Really #good. mail@x.com"
    assert TextCleaner(html_breaks=True)(text) == "Loved it #great @bob! Really #good. mail@x.com"
    with pytest.raises(ValueError, match=re.escape("`clean` has unknown option(s) ['emoji']; known: hashtags, mentions, html_breaks.")):
        TextCleaner.from_value({"emoji": True})


def test_cleaning_is_saved_with_the_preprocessor(tmp_path):
    pre = ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16, class_names=["neg", "pos"],
                                  clean={"hashtags": True, "html_breaks": True})
    plain = ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16)
    assert pre.preprocess(["#good<br />film"])[0].tolist() == plain.preprocess(["good film"])[0].tolist()
    pre.save(tmp_path)
    loaded = ktbert.TextPreprocessor.load(tmp_path)
    assert loaded.clean == TextCleaner(hashtags=True, html_breaks=True)
    assert loaded.preprocess(["#good<br />film"])[0].tolist() == plain.preprocess(["good film"])[0].tolist()
