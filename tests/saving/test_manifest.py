"""The save format's manifest and folder: the atomic folder write and the manifest checks."""

import hashlib
import json
import os
import re

import pytest

from ktbert.saving.manifest import FORMAT_VERSION, SaveFormatError, read_manifest, write_folder


def writer(**files):
    def write(tmp):
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text)
    return write


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_write_folder_writes_the_manifest_with_each_files_checksum(tmp_path):
    folder = tmp_path / "save"
    write_folder(str(folder), writer(**{"a.txt": "alpha", "b.txt": "beta"}), {"note": "first"})
    assert sorted(os.listdir(folder)) == ["a.txt", "b.txt", "ktbert.json"]
    assert read_manifest(str(folder)) == json.loads((folder / "ktbert.json").read_text()) == {
        "format": "ktbert-predictor", "format_version": FORMAT_VERSION, "note": "first",
        "files": {"a.txt": {"sha256": hashlib.sha256(b"alpha").hexdigest(), "bytes": 5},
                  "b.txt": {"sha256": hashlib.sha256(b"beta").hexdigest(), "bytes": 4}},
    }


def test_write_folder_replaces_an_earlier_save_and_leaves_no_temporary_folder(tmp_path):
    folder = tmp_path / "save"
    write_folder(str(folder), writer(**{"a.txt": "alpha", "old.txt": "x"}), {"note": "first"})
    write_folder(str(folder), writer(**{"a.txt": "again"}), {"note": "second"})
    assert sorted(os.listdir(folder)) == ["a.txt", "ktbert.json"]
    assert read_manifest(str(folder))["note"] == "second"
    assert (folder / "a.txt").read_text() == "again"
    assert os.listdir(tmp_path) == ["save"]


def test_a_failed_write_leaves_the_earlier_save_as_it_was(tmp_path):
    folder = tmp_path / "save"
    write_folder(str(folder), writer(**{"a.txt": "alpha"}), {"note": "first"})
    before = snapshot(folder)

    def fails_half_way(tmp):
        writer(**{"a.txt": "half written"})(tmp)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_folder(str(folder), fails_half_way, {"note": "second"})
    assert snapshot(folder) == before
    assert read_manifest(str(folder))["note"] == "first"
    assert os.listdir(tmp_path) == ["save"]  # no .ktbert-save-* left beside it


def test_write_folder_refuses_a_folder_of_other_files_and_a_file(tmp_path):
    (tmp_path / "data.csv").write_text("precious")
    with pytest.raises(FileExistsError, match=re.escape(
        f"{str(tmp_path)!r} exists and holds files that are not a ktbert save (['data.csv']); "
        "choose another folder so nothing is lost."
    )):
        write_folder(str(tmp_path), writer(**{"a.txt": "alpha"}), {})
    with pytest.raises(FileExistsError, match=re.escape(
        f"{str(tmp_path / 'data.csv')!r} exists and is a file: choose a folder path."
    )):
        write_folder(str(tmp_path / "data.csv"), writer(**{"a.txt": "alpha"}), {})
    assert os.listdir(tmp_path) == ["data.csv"] and (tmp_path / "data.csv").read_text() == "precious"


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "save"
    write_folder(str(folder), writer(**{"a.txt": "alpha"}), {})
    return folder


def rewrite_manifest(folder, **changes):
    manifest = json.loads((folder / "ktbert.json").read_text())
    (folder / "ktbert.json").write_text(json.dumps({**manifest, **changes}))


def test_read_manifest_of_a_missing_folder(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=re.escape(
        f"No such folder: {missing!r}. Save one with `predictor.save(folder)`."
    )):
        read_manifest(missing)


def test_read_manifest_without_a_manifest(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(tmp_path)!r} is not a ktbert save: ktbert.json is missing (found: ['a.txt']). "
        "Save a predictor with `predictor.save(folder)`."
    )):
        read_manifest(str(tmp_path))


def test_read_manifest_of_invalid_json(saved):
    text = "{not json"
    (saved / "ktbert.json").write_text(text)
    with pytest.raises(json.JSONDecodeError) as parse:
        json.loads(text)
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved / 'ktbert.json')!r} is corrupted: it is not valid JSON ({parse.value})."
    )):
        read_manifest(str(saved))


def test_read_manifest_of_another_format(saved):
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved)!r} is not a ktbert model save: its ktbert.json says format='ktbert-predictor', "
        "expected 'ktbert-model'."
    )):
        read_manifest(str(saved), fmt="ktbert-model")
    (saved / "ktbert.json").write_text("[1, 2]")
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved)!r} is not a ktbert predictor save: its ktbert.json says format=None, "
        "expected 'ktbert-predictor'."
    )):
        read_manifest(str(saved))


def test_read_manifest_of_a_newer_version_asks_for_a_newer_ktbert(saved):
    rewrite_manifest(saved, format_version=FORMAT_VERSION + 1)
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved / 'ktbert.json')!r} was saved in format version {FORMAT_VERSION + 1}; this ktbert reads "
        f"versions up to {FORMAT_VERSION}. Upgrade ktbert (pip install -U ktbert) to load it."
    )):
        read_manifest(str(saved))


@pytest.mark.parametrize("version", ["1", None, True, False, 0, -5, 1.0, [2]])
def test_read_manifest_of_a_version_that_is_not_a_positive_integer(saved, version):
    rewrite_manifest(saved, format_version=version)
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved / 'ktbert.json')!r} is damaged: format_version must be a positive integer. "
        f"Received: format_version={version!r}."
    )) as refusal:
        read_manifest(str(saved))
    assert "Upgrade" not in str(refusal.value)


def test_read_manifest_without_a_version(saved):
    manifest = json.loads((saved / "ktbert.json").read_text())
    del manifest["format_version"]
    (saved / "ktbert.json").write_text(json.dumps(manifest))
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved / 'ktbert.json')!r} is damaged: format_version must be a positive integer. "
        "Received: no format_version."
    )):
        read_manifest(str(saved))


def test_read_manifest_of_a_changed_file(saved):
    (saved / "a.txt").write_text("alphA")
    with pytest.raises(SaveFormatError, match=re.escape(
        f"{str(saved)!r} is corrupted: a.txt does not match the checksum in ktbert.json "
        "(the file was changed or truncated after saving). Save the predictor again."
    )):
        read_manifest(str(saved))


def test_read_manifest_of_a_missing_file(saved):
    (saved / "a.txt").unlink()
    with pytest.raises(SaveFormatError, match=re.escape(f"{str(saved)!r} is incomplete: a.txt is missing.")):
        read_manifest(str(saved))
