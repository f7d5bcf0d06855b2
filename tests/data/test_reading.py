"""Reading labelled data from a path: CSV/TSV/xlsx (compressed too, or sniffed) and class folders."""

import gzip
import re

import pandas as pd
import pytest

from ktbert.data.reading import base_extension, read_data, table_format
from helpers import sentiment_frame


@pytest.mark.parametrize("path, expected", [
    ("a.csv", ("text", ",")), ("a.TSV", ("text", "\t")), ("a.tab.gz", ("text", "\t")),
    ("a.csv.bz2", ("text", ",")), ("a.xlsx", ("excel", None)), ("a.xlsx.gz", ("excel", None)),
])
def test_the_extension_decides_the_format(path, expected):
    assert table_format(path) == expected


def test_sep_overrides_the_extension_and_other_files_are_sniffed(tmp_path):
    assert table_format("a.csv", sep=";") == ("text", ";")
    (tmp_path / "a.txt").write_text("text;label\ngood, really;pos\nbad;neg\n", encoding="utf-8")
    assert table_format(str(tmp_path / "a.txt")) == ("text", ";")
    assert base_extension("Dev.TSV.gz") == ".tsv"


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.tsv.gz", "d.csv.gz", "d.xlsx", "d.xlsx.gz", "d.dat"])
def test_every_table_format_reads_the_same_frame(name, tmp_path):
    df = sentiment_frame(6)
    path = tmp_path / name
    if ".xlsx" in name:
        df.to_excel(tmp_path / "d.xlsx", index=False)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress((tmp_path / "d.xlsx").read_bytes()))
    else:
        df.to_csv(path, sep="\t" if "tsv" in name or name.endswith(".dat") else ",", index=False)
    pd.testing.assert_frame_equal(read_data(str(path)), df, check_dtype=False)


def test_a_folder_of_class_folders_reads_into_the_named_columns(tmp_path):
    for label, texts in {"pos": ["good", "great"], "neg": ["bad"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    df = read_data(str(tmp_path), text_column="review", label_column="sentiment")
    assert df.to_dict("list") == {"review": ["bad", "good", "great"], "sentiment": ["neg", "pos", "pos"]}


def test_a_train_test_layout_is_refused_with_the_paths_to_read(tmp_path):
    (tmp_path / "train" / "pos").mkdir(parents=True)
    (tmp_path / "test" / "pos").mkdir(parents=True)
    train, test = str(tmp_path / "train"), str(tmp_path / "test")
    with pytest.raises(ValueError, match=re.escape(
            f"{str(tmp_path)!r} holds train/ and test/ folders (the aclImdb layout), not class folders: read "
            f"{train!r} for training and {test!r} for validation separately.")):
        read_data(str(tmp_path))


def test_a_folder_takes_one_label_column(tmp_path):
    with pytest.raises(ValueError, match=re.escape(
            "A folder of class sub-folders gives one class per text: name one label column. "
            "Received: label_column=['a', 'b']")):
        read_data(str(tmp_path), label_column=["a", "b"])


def test_bad_paths_and_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"No such file or folder: {str(tmp_path / 'x.csv')!r}")):
        read_data(str(tmp_path / "x.csv"))
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{str(tmp_path / 'empty.csv')!r} is empty: there are no rows to read.")):
        read_data(str(tmp_path / "empty.csv"))
    (tmp_path / "fake.xlsx").write_text("text,label\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{str(tmp_path / 'fake.xlsx')!r} is not an Excel workbook (")):
        read_data(str(tmp_path / "fake.xlsx"))


SMS_LIKE = ("Label\tSMS\n"
            "ham\tsee you at 5\n"
            "spam\t\"WIN a prize, reply now\n"  # an unmatched quote, as in the SMS collection
            "ham\tok, on my way\n"
            "ham\tcall me later\n"
            "ham\the said \"fine\" and left\n")


def test_texts_from_csv_detects_a_tab_separator_without_sep(tmp_path, tiny_encoder):
    import ktbert

    path = tmp_path / "SMSLike"  # no extension: the separator is sniffed
    pd.DataFrame({"Label": ["ham", "spam"] * 8, "SMS": [f"text, number {i}" for i in range(16)]}).to_csv(
        path, sep="\t", index=False)
    trn, val, preproc = ktbert.texts_from_csv(str(path), "SMS", "Label", val_pct=0.25, maxlen=16,
                                              encoder=tiny_encoder, verbose=0, random_state=0)
    assert len(trn.y) + len(val.y) == 16 and preproc.get_classes() == ["ham", "spam"]


def test_a_wrong_separator_says_which_to_pass(tmp_path):
    from ktbert.data.tables import read_table

    path = tmp_path / "sms.txt"
    path.write_text("Label\tSMS\nham\tfine\nham\tok\nspam\ta, b, c\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        read_table(str(path), sep=",")
    assert str(caught.value) == (
        f"{str(path)!r} could not be read as a table separated by ',': Error tokenizing data. C error: Expected "
        "1 fields in line 4, saw 3. Pass the file's separator, e.g. sep='\\t' for tab-separated files, or "
        "sep=None to detect it.")


def test_records_swallowed_by_a_stray_quote_are_read_back_with_a_warning(tmp_path):
    path = tmp_path / "sms.tsv"
    path.write_text(SMS_LIKE, encoding="utf-8")
    with pytest.warns(UserWarning, match="swallowed the records after it, so pandas read 2 rows; read again "
                                         "without quote processing: 5 rows"):
        frame = read_data(str(path), text_column="SMS", label_column="Label")
    assert frame["SMS"].tolist() == ["see you at 5", "\"WIN a prize, reply now", "ok, on my way", "call me later",
                                     "he said \"fine\" and left"]
    assert frame["Label"].tolist() == ["ham", "spam", "ham", "ham", "ham"]


def test_a_quote_running_to_the_end_of_a_tab_file_is_read_back_too(tmp_path):
    path = tmp_path / "sms.tsv"
    path.write_text("Label\tSMS\nham\tsee you\nspam\t\"WIN now\nham\tok\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="so pandas could not read it; read again without quote processing: 3 rows"):
        frame = read_data(str(path), text_column="SMS", label_column="Label")
    assert frame["SMS"].tolist() == ["see you", "\"WIN now", "ok"]


def test_a_quoted_multi_line_tsv_cell_is_kept_as_pandas_wrote_it(tmp_path, recwarn):
    path = tmp_path / "quoted.tsv"
    written = pd.DataFrame({"text": ["first line\twith a tab\nsecond line", "plain", "say \"hi\""],
                            "label": ["a", "b", "a"], "source": ["x", "y", "z"]})
    written.to_csv(path, sep="\t", index=False)
    frame = read_data(str(path), text_column="text", label_column="label")
    assert frame["text"].tolist() == written["text"].tolist()
    assert frame["source"].tolist() == ["x", "y", "z"]
    assert not [w for w in recwarn if "swallowed" in str(w.message)]


def test_the_sms_collection_reads_all_its_5574_rows():
    from helpers import shared_path

    path = shared_path("sms", "SMSSpamCollection")
    with pytest.warns(UserWarning, match="read again without quote processing: 5574 rows"):
        frame = read_data(path, text_column="SMS", label_column="Label")
    assert len(frame) == 5574 and frame["Label"].value_counts().to_dict() == {"ham": 4827, "spam": 747}
