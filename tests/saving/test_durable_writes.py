"""Saves, exports, checkpoints and written files survive a power loss: every file is fsynced
before the folder holding it, the folder before the rename that publishes it, and the
destination's parent after the rename.

A shim records the `os.fsync`, `os.rename` and `os.replace` calls in order, naming each
descriptor by the path `os.open` opened it from, and each test checks that order for one
writer. A disk cannot be unplugged in a test: this checks what the program asks of the
file system, which is all it can do (docs/reliability.md says what that leaves uncovered).
"""

import errno
import os

import numpy as np
import pytest

import ktbert
from ktbert.saving import durable

TEXTS = ["the film was wonderful", "awful plot"]


class Calls:
    """The fsyncs and renames made while it is installed, as `("fsync", path)` and
    `("rename" | "replace", source, destination)`, paths absolute."""

    def __init__(self, monkeypatch):
        self.events, self.paths = [], {}
        real_open, real_fsync, real_rename, real_replace = os.open, os.fsync, os.rename, os.replace

        def opened(path, flags, *args, **kwargs):
            fd = real_open(path, flags, *args, **kwargs)
            self.paths[fd] = os.path.abspath(os.fsdecode(path))
            return fd

        def fsync(fd):
            self.events.append(("fsync", self.paths.get(fd)))
            return real_fsync(fd)

        def renamed(kind, real):
            def rename(src, dst, *args, **kwargs):
                self.events.append((kind, os.path.abspath(os.fsdecode(src)), os.path.abspath(os.fsdecode(dst))))
                return real(src, dst, *args, **kwargs)
            return rename

        monkeypatch.setattr(durable, "fcntl", None)  # macOS's F_FULLFSYNC would bypass os.fsync
        monkeypatch.setattr(os, "open", opened)
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", renamed("rename", real_rename))
        monkeypatch.setattr(os, "replace", renamed("replace", real_replace))

    def synced(self, path) -> int:
        """The position of the first fsync of `path` (a test failure when there is none)."""
        path = os.path.abspath(path)
        found = [i for i, e in enumerate(self.events) if e == ("fsync", path)]
        assert found, f"{path} was never fsynced: {self.events}"
        return found[0]

    def renamed_onto(self, dest) -> tuple:
        """`(position, source)` of the one rename onto `dest`."""
        dest = os.path.abspath(dest)
        found = [(i, e[1]) for i, e in enumerate(self.events) if e[0] in ("rename", "replace") and e[2] == dest]
        assert len(found) == 1, f"expected one rename onto {dest}: {self.events}"
        return found[0]

    def check_published_folder(self, dest) -> list:
        """Checks the order for a folder published at `dest`; returns its files (relative paths)."""
        at, tmp = self.renamed_onto(dest)
        assert os.path.basename(tmp).startswith(".ktbert-save-")
        files = []
        for root, folders, names in os.walk(dest):
            rel = os.path.relpath(root, dest)
            here = tmp if rel == "." else os.path.join(tmp, rel)
            for name in names:
                files.append(os.path.normpath(os.path.join(rel, name)))
                assert self.synced(os.path.join(here, name)) < self.synced(here), (name, self.events)
            for name in folders:
                assert self.synced(os.path.join(here, name)) < self.synced(here), (name, self.events)
        assert self.synced(tmp) < at
        parent = os.path.dirname(os.path.abspath(dest))
        assert any(e == ("fsync", parent) for e in self.events[at + 1:]), f"{parent} not fsynced after the rename"
        return sorted(files)

    def check_published_file(self, dest) -> None:
        """Checks the order for one file renamed onto `dest`."""
        at, tmp = self.renamed_onto(dest)
        assert self.synced(tmp) < at
        folder = os.path.dirname(os.path.abspath(dest))
        assert any(e == ("fsync", folder) for e in self.events[at + 1:]), f"{folder} not fsynced after the rename"


@pytest.fixture
def predictor(sources):
    return ktbert.load_predictor(str(sources["A"]))


@pytest.mark.parametrize("earlier", [False, True], ids=["new folder", "over an earlier save"])
def test_a_predictor_save_is_flushed_file_folder_rename_parent(predictor, tmp_path, monkeypatch, earlier):
    folder = tmp_path / "saves" / "sentiment"
    if earlier:
        predictor.save(str(folder))
    calls = Calls(monkeypatch)
    predictor.save(str(folder))
    assert calls.check_published_folder(folder) == [
        "ktbert.json", "preprocessor.json", "vocab.txt", "weights.safetensors"]
    if not earlier:  # the new folder `saves` was made durable in its own parent before anything went into it
        assert calls.synced(tmp_path) < calls.renamed_onto(folder)[0]


def test_a_savedmodel_export_flushes_its_sub_folders_before_the_rename(predictor, tmp_path, monkeypatch):
    calls = Calls(monkeypatch)
    predictor.export(str(tmp_path / "export"))
    files = calls.check_published_folder(tmp_path / "export")
    assert "saved_model.pb" in files and any(name.startswith("variables" + os.sep) for name in files)


def test_learner_save_model_is_flushed_before_the_rename(learner, tmp_path, monkeypatch):
    calls = Calls(monkeypatch)
    learner.save_model(str(tmp_path / "model"))
    assert calls.check_published_folder(tmp_path / "model") == ["ktbert.json", "weights.safetensors"]


def test_epoch_checkpoints_are_flushed_before_and_after_each_replace(learner, tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    calls = Calls(monkeypatch)
    learner.fit(1e-3, 1, verbose=0, checkpoint_folder=str(folder))
    calls.check_published_file(folder / "epoch-001.safetensors")
    calls.check_published_file(folder / "checkpoints.json")
    assert ("fsync", str(tmp_path)) in calls.events  # the new folder's own name in its parent
    assert [e[0] for e in calls.events if e[0] != "fsync"] == ["replace", "replace"]  # nothing else renamed


def test_a_report_and_a_predict_output_are_flushed_before_the_rename(tmp_path, monkeypatch):
    from ktbert.cli.predicting import output_stream
    from ktbert.evaluate.report import write_text

    calls = Calls(monkeypatch)
    write_text(str(tmp_path / "report.html"), "<html></html>")
    calls.check_published_file(tmp_path / "report.html")
    with output_stream(str(tmp_path / "labels.csv")) as out:
        out.write("label\npos\n")
    calls.check_published_file(tmp_path / "labels.csv")
    assert (tmp_path / "labels.csv").read_text() == "label\npos\n"


def test_a_failed_fsync_fails_the_save_and_leaves_the_earlier_one(predictor, sources, tmp_path, monkeypatch):
    folder = tmp_path / "sentiment"
    predictor.save(str(folder))
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}

    def disk_error(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)
    monkeypatch.setattr(durable, "fcntl", None)
    with pytest.raises(OSError, match="Input/output error"):
        ktbert.load_predictor(str(sources["B"])).save(str(folder))
    monkeypatch.undo()
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert sorted(os.listdir(tmp_path)) == ["sentiment"]  # the temporary folder was removed
    np.testing.assert_array_equal(ktbert.load_predictor(str(folder)).predict(TEXTS, return_proba=True),
                                  predictor.predict(TEXTS, return_proba=True))


def test_a_file_system_without_folder_fsync_still_saves(predictor, tmp_path, monkeypatch):
    real_fsync = os.fsync

    def no_folder_fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(fd)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell a folder's descriptor from a file's")
    monkeypatch.setattr(os, "fsync", no_folder_fsync)
    monkeypatch.setattr(durable, "fcntl", None)
    predictor.save(str(tmp_path / "sentiment"))
    monkeypatch.undo()
    assert ktbert.load_predictor(str(tmp_path / "sentiment")).get_classes() == predictor.get_classes()


def test_make_folders_flushes_each_new_folder_into_its_parent(tmp_path, monkeypatch):
    calls = Calls(monkeypatch)
    durable.make_folders(str(tmp_path / "a" / "b"))
    durable.make_folders(str(tmp_path / "a" / "b"))  # already there: nothing more
    assert calls.events == [("fsync", str(tmp_path)), ("fsync", str(tmp_path / "a"))]


def test_publish_file_replaces_the_destination_with_the_flushed_file(tmp_path, monkeypatch):
    (tmp_path / "out.txt").write_text("old")
    (tmp_path / "out.txt.partial").write_text("new")
    calls = Calls(monkeypatch)
    durable.publish_file(str(tmp_path / "out.txt.partial"), str(tmp_path / "out.txt"))
    assert calls.events == [("fsync", str(tmp_path / "out.txt.partial")),
                            ("replace", str(tmp_path / "out.txt.partial"), str(tmp_path / "out.txt")),
                            ("fsync", str(tmp_path))]
    assert sorted(os.listdir(tmp_path)) == ["out.txt"] and (tmp_path / "out.txt").read_text() == "new"


@pytest.mark.parametrize("skipped", ["sync_tree", "fsync_folder"])
def test_the_shim_catches_a_save_that_skips_a_flush(predictor, tmp_path, monkeypatch, skipped):
    from ktbert.saving import folder_writes

    monkeypatch.setattr(folder_writes.durable, skipped, lambda path: None)
    calls = Calls(monkeypatch)
    predictor.save(str(tmp_path / "sentiment"))
    with pytest.raises(AssertionError, match="fsynced"):
        calls.check_published_folder(tmp_path / "sentiment")
