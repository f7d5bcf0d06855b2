"""Property tests: any unicode text (empty, blank, control characters, lone surrogates, emoji,
right-to-left scripts, zero-width marks, 1 MB strings) gets a valid probability row or a clear
error, never a crash, through the preprocessor, `predict`, the command line and the export; and
the export, whose graph is built from the same text pipeline and decisions, answers as
`predict` does: probabilities within 1e-5, decisions equal wherever no probability lies within
1e-5 of its threshold.

Bounded: a few hundred examples in all, each property with its own count (the command line's
fewest: each of its examples loads the saved predictor anew).
"""

import csv
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ktbert
from helpers import sentiment_frame
from ktbert.cli import main

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

MB = 1 << 20
SPECIAL = list("\x00\x07\x1b\t\n\r\x0b\x0c\x85\u2028\u2029\u200b\u200d\u200e\u200f\u202e\ufeff\ufffd"
               "😀👍🏽🏳️‍🌈مرحباשלוםसत्यमेव日本語éèñç ")
LONE = ["\ud800", "\udfff", "a\udc80b"]

anything = st.characters(exclude_categories=())  # every code point, lone surrogates included
texts = st.one_of(
    st.text(anything, max_size=40),
    st.text(st.sampled_from(SPECIAL + ["\ud800", "\udfff"]), max_size=40),
    st.sampled_from(["", " ", "\t\n", "\u3000", "\u200b"] + LONE),
    st.builds(lambda piece, times: piece * times, st.text(st.sampled_from(SPECIAL), min_size=1, max_size=4),
              st.integers(1, 2000)),
)
batches = st.lists(texts, min_size=1, max_size=6)
BIG = [["😀" * (MB // 4)], ["مرحبا " * (MB // 11)], [" " * MB], ["word " * (MB // 5), "\ud800" * 1000]]
FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                  HealthCheck.data_too_large])


def utf8(text: str) -> str:
    """What a UTF-8 wire or file can carry: lone surrogates become U+FFFD, as check_texts does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


CLEAN = {"hashtags": True, "mentions": "@user", "html_breaks": True}


def exported(predictor, folder):
    """`predictor` saved and exported into `folder`; returns the export's serving function."""
    import tensorflow as tf

    predictor.save(str(folder / "model"))
    predictor.export(str(folder / "export"))
    return tf.saved_model.load(str(folder / "export")).signatures["serving_default"]


@pytest.fixture(scope="module")
def shipped(make_toy_split, tmp_path_factory):
    """A binary predictor on the tiny encoder reading head+tail, cleaning all three ways, with a
    temperature and a threshold; its save and its SavedModel export."""
    trn, val, preproc = make_toy_split(seed=1, truncation="head+tail", clean=CLEAN)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    predictor = ktbert.get_predictor(model, preproc, temperature=1.7, threshold=0.45)
    folder = tmp_path_factory.mktemp("unicode")
    return predictor, folder, exported(predictor, folder)


@pytest.fixture(scope="module")
def shipped_multilabel(tiny_encoder, tmp_path_factory):
    """A multi-label predictor with per-label thresholds and a temperature, and its export."""
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative|film")
    trn, _, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df, maxlen=16,
                                           encoder=tiny_encoder, verbose=0, clean=CLEAN)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    predictor = ktbert.get_predictor(model, preproc, temperature=0.8, thresholds=[0.45, 0.5, 0.55])
    folder = tmp_path_factory.mktemp("unicode_multilabel")
    return predictor, folder, exported(predictor, folder)


def near_a_threshold(proba, decisions, tolerance=1e-5) -> np.ndarray:
    """Rows with a probability within `tolerance` of what decides it: its label's threshold, the
    binary threshold, or (most probable class) the runner-up's probability."""
    if decisions.multilabel:
        cut = np.asarray(decisions.thresholds or [0.5] * proba.shape[1])
        return (np.abs(proba - cut) < tolerance).any(axis=1)
    if decisions.threshold is not None:
        return np.abs(proba[:, 1] - decisions.threshold) < tolerance
    top = np.sort(proba, axis=1)
    return top[:, -1] - top[:, -2] < tolerance


def assert_answers_as_predict(predictor, out, sent):
    """The export's probabilities within 1e-5 of `predict`'s; its decisions equal `predict`'s on
    every row where no probability lies within 1e-5 of its threshold."""
    expected = predictor.predict(sent, return_proba=True)
    proba = out["probabilities"].numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    decided = predictor.decisions.decide(expected)
    if not predictor.decisions.multilabel:
        decided = np.eye(proba.shape[1], dtype=np.int64)[decided]
    clear = ~near_a_threshold(expected, predictor.decisions)
    np.testing.assert_array_equal(out["decisions"].numpy()[clear], decided[clear])


def assert_probability_rows(proba, n, classes):
    assert proba.shape == (n, classes)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@settings(max_examples=150, **FAST)
@given(batch=batches)
@example(batch=BIG[0]).via("1 MB of emoji")
@example(batch=BIG[1]).via("1 MB of Arabic")
@example(batch=BIG[2]).via("1 MB of spaces")
@example(batch=BIG[3]).via("1 MB of words and lone surrogates")
def test_preprocessing_and_predict_give_a_probability_row_for_any_text(shipped, batch):
    predictor, _, _ = shipped
    tokenized = predictor.preproc.preprocess(batch)
    vocabulary = len(predictor.preproc.vocabulary)
    for i in range(len(batch)):
        ids = tokenized[i]
        assert 2 <= len(ids) <= predictor.preproc.maxlen
        assert ids[0] == predictor.preproc.vocabulary.index("[CLS]")
        assert ids[-1] == predictor.preproc.vocabulary.index("[SEP]")
        assert ((0 <= ids) & (ids < vocabulary)).all()
    proba = predictor.predict(batch, return_proba=True)
    assert_probability_rows(proba, len(batch), 2)
    labels = predictor.predict(batch)
    assert len(labels) == len(batch) and set(labels) <= set(predictor.get_classes())
    # the replacement of lone surrogates is what a UTF-8 client would send
    np.testing.assert_allclose(predictor.predict([utf8(t) for t in batch], return_proba=True), proba, atol=1e-6)


@settings(max_examples=100, **FAST)
@given(batch=batches)
@example(batch=BIG[0]).via("1 MB of emoji")
@example(batch=BIG[3]).via("1 MB of words and lone surrogates")
def test_the_export_answers_any_utf8_text_as_predict_does(shipped, batch):
    import tensorflow as tf

    predictor, _, serve = shipped
    sent = [utf8(t) for t in batch]
    out = serve(texts=tf.constant(sent))
    assert_probability_rows(out["probabilities"].numpy(), len(batch), 2)
    assert_answers_as_predict(predictor, out, sent)


@settings(max_examples=40, **FAST)
@given(batch=batches)
def test_a_multilabel_export_answers_any_utf8_text_as_predict_does(shipped_multilabel, batch):
    import tensorflow as tf

    predictor, _, serve = shipped_multilabel
    sent = [utf8(t) for t in batch]
    out = serve(texts=tf.constant(sent))
    assert out["probabilities"].shape == (len(batch), 3) and np.isfinite(out["probabilities"].numpy()).all()
    assert_answers_as_predict(predictor, out, sent)


@settings(max_examples=100, **FAST)
@given(batch=batches)
def test_the_export_refuses_or_answers_bytes_that_are_not_utf8(shipped, batch):
    """A client sending invalid UTF-8 (lone surrogates encoded raw) gets rows or a clear error."""
    import tensorflow as tf

    _, _, serve = shipped
    raw = [t.encode("utf-8", "surrogatepass") for t in batch]
    try:
        out = serve(texts=tf.constant(raw))
    except tf.errors.InvalidArgumentError as err:
        assert "UTF-8" in err.message or "utf-8" in err.message.lower(), err.message
        return
    assert_probability_rows(out["probabilities"].numpy(), len(batch), 2)


@settings(max_examples=12, **FAST)
@given(batch=batches)
@example(batch=["a\nb", "", "\x00", "😀"]).via("line breaks, NUL and emoji in a CSV cell")
@example(batch=["good", " ", "bad"]).via("a whitespace-only row between two texts")
@example(batch=[" "]).via("only a whitespace-only row")
def test_the_command_line_answers_every_row_of_a_csv_or_says_why(shipped, batch, tmp_path_factory, capsys):
    predictor, folder, _ = shipped
    work = tmp_path_factory.mktemp("cli")
    source, output = work / "in.csv", work / "out.jsonl"
    sent = [utf8(t) for t in batch]
    import pandas as pd

    # every cell quoted: Python 3.11's csv writer leaves a bare "\r" unquoted, which readers split
    pd.DataFrame({"text": sent}).to_csv(source, index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)
    code = main(["predict", str(folder / "model"), str(source), "--text-column", "text", "--proba",
                 "--format", "jsonl", "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 0, err
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(sent)  # one answer per text written, blank ones included
    proba = np.array([[row["probabilities"][c] for c in predictor.get_classes()] for row in rows])
    np.testing.assert_allclose(proba, predictor.predict(sent, return_proba=True), atol=1e-5)
    os.remove(output)


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "`texts` is empty: there is nothing to tokenize."),
    ([None], ValueError, "`texts` has 1 missing value(s) (None or NaN) at position(s) [0]."),
    ([b"bytes"], TypeError, "`texts` must hold strings; position 0 holds bytes b'bytes'. Decode them first"),
])
def test_what_is_not_text_gets_a_clear_error(shipped, bad, error, message):
    predictor, _, _ = shipped
    with pytest.raises(error) as caught:
        predictor.predict(bad)
    assert message in str(caught.value)


def test_a_lone_surrogate_reads_as_the_replacement_character(shipped):
    predictor, _, _ = shipped
    np.testing.assert_array_equal(predictor.predict(["bad \ud800 film", "\udfff"], return_proba=True),
                                  predictor.predict(["bad \ufffd film", "\ufffd"], return_proba=True))
    assert predictor.preproc.preprocess(["\ud800"]).texts == ["\ufffd"]
