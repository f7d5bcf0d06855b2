import re

import pytest

import ktbert
from ktbert.data.cleaning import TextCleaner
from helpers import TINY_VOCAB


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


@pytest.mark.parametrize("text", [
    "@bob @ann: see #this and #that",
    "mail me@home.org, #1 #_x x#y @@a ##b",
    "é@ann ü#tag Ω@x _@y 3#z",           # Unicode word characters before @/# (no match in Python)
    "—@ann «#tag» 、@x",                 # Unicode punctuation before them (a match)
    "#été @zoë #日本 @١٢٣",              # Unicode word characters after them
    "a<br />b<BR>c< br\t/ >d<br\u00a0/>e<br\u2028>f<bR/ >g",
    "@a@b #a#b @a#b",
    "",
])
def test_the_rules_clean_as_their_python_specification_does(text):
    """The RE2 rules (the only ones: training, predict and the export all run them) clean as
    Python's `re` with lookbehind and Unicode classes would: the specification, kept here."""
    spec = re.sub(r"<\s*br\s*/?\s*>", " ", text, flags=re.IGNORECASE)
    spec = re.sub(r"(?<![\w@])@\w+", "@user", spec)
    spec = re.sub(r"(?<![\w#])#(\w+)", r"\1", spec)
    assert TextCleaner(hashtags=True, mentions="@user", html_breaks=True)(text) == spec


def test_the_rules_follow_the_options():
    assert TextCleaner().rules() == []
    rules = TextCleaner(mentions="").rules()
    assert len(rules) == 1 and rules[0][1] == r"\1"
    assert TextCleaner(mentions="a\\b")("hi @bob") == "hi a\\b"  # the replacement is literal
