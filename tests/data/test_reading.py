"""Reading labelled data from a path: CSV/TSV/xlsx (compressed too, or sniffed) and class folders."""

import gzip
import re

import pandas as pd
import pytest

from ktbert.data.reading import base_extension, read_data, table_format
from conftest import sentiment_frame


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
