"""Class sub-folders: one rule for blank and undecodable files, whichever layout the folders have."""

import re

import pytest

import ktbert
from ktbert.data.folders import read_class_folders


def write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_texts_and_classes_in_folder_order_skipping_hidden_files(tmp_path):
    write(tmp_path / "pos", "a.txt", "good film")
    write(tmp_path / "pos", ".hidden", "")
    write(tmp_path / "neg", "b.txt", "bad film")
    assert read_class_folders(str(tmp_path), None, "utf-8") == (["bad film", "good film"], ["neg", "pos"])


@pytest.mark.parametrize("layout", ["split", "train_test"])
def test_blank_files_are_refused_by_name_in_both_layouts(tiny_encoder, tmp_path, layout):
    top = tmp_path / "data"
    base = top / "train" if layout == "train_test" else top
    for i in range(4):
        write(base / "pos", f"p{i}.txt", "good film")
        write(base / "neg", f"n{i}.txt", "bad film")
    if layout == "train_test":
        for label in ("pos", "neg"):
            write(top / "test" / label, "t.txt", f"{label} text")
        blank = top / "test" / "neg" / "blank.txt"
    else:
        blank = base / "neg" / "blank.txt"
    blank.write_text("  \n", encoding="utf-8")
    message = (f"1 file(s) are empty or blank: [{str(blank)!r}]. A classifier cannot learn from them: "
               "remove those files.")
    with pytest.raises(ValueError, match=re.escape(message)):
        ktbert.texts_from_folder(str(top), maxlen=16, encoder=tiny_encoder, verbose=0)
