import gzip
import re

import numpy as np
import pandas as pd
import pytest

import ktbert
from ktbert import text
from helpers import sentiment_frame


def test_positional_call_as_in_the_readme(tiny_encoder, toy_df):
    trn, val, preproc = ktbert.texts_from_df(toy_df, "text", label_columns="label", maxlen=16,
                                             encoder=tiny_encoder, random_state=0, verbose=0)
    assert preproc.get_classes() == ["neg", "pos"]
    assert len(trn.x) + len(val.x) == 64
    assert len(val.x) == 7  # 10% of 64, rounded up by scikit-learn
    # stratified: both classes in validation
    assert set(val.y.tolist()) == {0, 1}


def test_ktrain_keywords_and_tuple_unpacking(tiny_encoder, toy_df):
    (x_train, y_train), (x_test, y_test), preproc = text.texts_from_df(
        train_df=toy_df[:40], text_column="text", label_columns=["label"], val_df=toy_df[40:],
        maxlen=16, preprocess_mode="bert", random_state=1, verbose=0, encoder=tiny_encoder,
    )
    assert len(x_train) == 40 and len(x_test) == 24
    assert y_train.tolist() == [0 if label == "neg" else 1 for label in toy_df.label[:40]]


def test_verbose_report(tiny_encoder, toy_df, capsys):
    ktbert.texts_from_df(toy_df, "text", "label", maxlen=16, encoder=tiny_encoder, random_state=0)
    out = capsys.readouterr().out
    assert "classes (single-label): neg: 28, pos: 29" in out
    assert "train: 57 texts, validation: 7 texts" in out


def test_unknown_text_column_lists_columns(tiny_encoder, toy_df):
    with pytest.raises(ValueError, match=re.escape(
        "`text_column` 'Reviews' is not a column of train_df. Columns present: ['text', 'label']"
    )):
        ktbert.texts_from_df(toy_df, "Reviews", "label", encoder=tiny_encoder)


def test_unknown_label_column(tiny_encoder, toy_df):
    with pytest.raises(ValueError, match=re.escape(
        "`label_columns` ['Sentiment'] not found in train_df. Columns present: ['text', 'label']"
    )):
        ktbert.texts_from_df(toy_df, "text", "Sentiment", encoder=tiny_encoder)


def test_empty_and_nan_texts(tiny_encoder, toy_df):
    df = toy_df.copy()
    df.loc[3, "text"] = "  "
    with pytest.raises(ValueError, match=re.escape(
        "`train_df['text']` has 1 empty or blank text(s) at position(s) [3]. A classifier cannot "
        "learn from them: drop those rows."
    )):
        ktbert.texts_from_df(df, "text", "label", encoder=tiny_encoder)
    df.loc[3, "text"] = np.nan
    with pytest.raises(ValueError, match=re.escape(
        "`train_df['text']` has 1 missing value(s) (None or NaN) at position(s) [3]."
    )):
        ktbert.texts_from_df(df, "text", "label", encoder=tiny_encoder)


def test_nan_label_and_single_class(tiny_encoder, toy_df):
    df = toy_df.copy()
    df.loc[5, "label"] = np.nan
    with pytest.raises(ValueError, match=re.escape(
        "train_df['label'] has 1 missing label(s) (None or NaN) at row position(s) [5]."
    )):
        ktbert.texts_from_df(df, "text", "label", encoder=tiny_encoder)
    with pytest.raises(ValueError, match=re.escape(
        "train_df['label'] holds a single class ['pos']: a classifier needs at least two."
    )):
        ktbert.texts_from_df(toy_df[toy_df.label == "pos"], "text", "label", encoder=tiny_encoder)


def test_maxlen_above_encoder_limit(tiny_encoder, toy_df):
    with pytest.raises(ValueError, match=re.escape("`maxlen` must be between 8 and 64. Received: maxlen=128")):
        ktbert.texts_from_df(toy_df, "text", "label", maxlen=128, encoder=tiny_encoder)


def test_other_preprocess_modes_refused(toy_df):
    with pytest.raises(ValueError, match=re.escape(
        "`preprocess_mode` must be one of ['bert']. Received: preprocess_mode='standard'. ktbert fine-tunes BERT "
        "encoders only; for a TF-IDF baseline see `ktbert.compare`"
    )):
        ktbert.texts_from_df(toy_df, "text", "label", preprocess_mode="standard")


def test_one_hot_and_multilabel_columns(tiny_encoder, toy_df):
    df = toy_df.assign(pos=(toy_df.label == "pos").astype(int), neg=(toy_df.label == "neg").astype(int))
    trn, val, preproc = ktbert.texts_from_df(df, "text", ["neg", "pos"], val_df=df, encoder=tiny_encoder,
                                             maxlen=16, verbose=0)
    assert preproc.multilabel is False and trn.y.ndim == 1
    df["film"] = 1
    trn, val, preproc = ktbert.texts_from_df(df, "text", ["neg", "pos", "film"], val_df=df,
                                             encoder=tiny_encoder, maxlen=16, verbose=0)
    assert preproc.multilabel is True and trn.y.shape == (64, 3)


def test_label_sep_column(tiny_encoder):
    df = pd.DataFrame({"text": ["good film", "bad plot", "good plot", "bad film"] * 4,
                       "labels": ["a|b", "b", "c", "a|c"] * 4})
    trn, val, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df,
                                             encoder=tiny_encoder, maxlen=16, verbose=0)
    assert preproc.get_classes() == ["a", "b", "c"]
    assert trn.y[:4].tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]]


def test_csv_gzip_tsv_and_headerless(tiny_encoder, tmp_path, toy_df):
    gz = tmp_path / "train.tsv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        toy_df.to_csv(f, sep="\t", index=False)
    trn, val, preproc = ktbert.texts_from_csv(str(gz), "text", "label", sep="\t", encoder=tiny_encoder,
                                              maxlen=16, verbose=0, random_state=0)
    assert len(trn.x) + len(val.x) == 64
    bare = tmp_path / "bare.csv"
    toy_df[["label", "text"]].to_csv(bare, index=False, header=False)
    trn, val, preproc = ktbert.texts_from_csv(str(bare), 1, 0, header=None, encoder=tiny_encoder,
                                              maxlen=16, verbose=0, random_state=0)
    assert preproc.get_classes() == ["neg", "pos"]


def test_csv_with_bad_bytes_names_the_fix(tiny_encoder, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 good,pos\nbad,neg\n".encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(
        f"{str(path)!r} is not valid utf-8 text: byte b'\\xe9' cannot be decoded (line 2). "
        "Pass the file's encoding, e.g. encoding='latin-1' or encoding='cp1252'."
    )):
        ktbert.texts_from_csv(str(path), "text", "label", encoder=tiny_encoder)


def write_folder(root, split, label, texts):
    folder = root / split / label
    folder.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(texts):
        (folder / f"{i}.txt").write_text(t, encoding="utf-8")


def test_folder_in_aclimdb_layout(tiny_encoder, tmp_path):
    df = sentiment_frame(40)
    for split, part in (("train", df[:30]), ("test", df[30:])):
        for label in ("neg", "pos"):
            write_folder(tmp_path, split, label, part[part.label == label].text.tolist())
    trn, val, preproc = ktbert.texts_from_folder(str(tmp_path), maxlen=16, encoder=tiny_encoder, verbose=0)
    assert preproc.get_classes() == ["neg", "pos"]
    assert (len(trn.x), len(val.x)) == (30, 10)


def test_folder_reports_undecodable_files_by_name(tiny_encoder, tmp_path):
    write_folder(tmp_path, "train", "pos", ["good"])
    write_folder(tmp_path, "train", "neg", ["bad"])
    (tmp_path / "train" / "neg" / "broken.txt").write_bytes(b"caf\xe9")
    bad = str(tmp_path / "train" / "neg" / "broken.txt")
    with pytest.raises(ValueError, match=re.escape(
        f"1 file(s) are not valid utf-8 text: ['{bad} (byte 3)']. Pass their encoding"
    )):
        ktbert.texts_from_folder(str(tmp_path), encoder=tiny_encoder)


def test_texts_from_array_with_integer_labels_and_class_names(tiny_encoder):
    df = sentiment_frame(20)
    y = (df.label == "pos").astype(int).tolist()
    trn, val, preproc = ktbert.texts_from_array(df.text.tolist(), y, df.text.tolist(), y,
                                                class_names=["negative", "positive"], maxlen=16,
                                                encoder=tiny_encoder, verbose=0)
    assert preproc.get_classes() == ["negative", "positive"]
    assert trn.y.tolist() == y


def test_ignored_ktrain_arguments_warn(tiny_encoder, toy_df):
    with pytest.warns(UserWarning, match="max_features only mattered for ktrain's word-vector models"):
        ktbert.texts_from_df(toy_df, "text", "label", max_features=20000, maxlen=16,
                             encoder=tiny_encoder, verbose=0)
