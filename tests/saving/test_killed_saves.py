"""A save killed half-way (SIGKILL) leaves the earlier save loadable, with the same probabilities.

A child process saves predictor B over a folder holding predictor A and kills itself with
SIGKILL at a chosen point: between two payload files, or inside the swap (the earlier save
renamed aside, the new one not yet renamed in). The parent then checks what is on disk, that
the folder loads as A did, and that the next save there succeeds and cleans up.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import ktbert
from helpers import COPY_SAVE, child_env

TEXTS = ["the film was wonderful and great", "awful plot", "the acting was poor", "good", "hate it"]


@pytest.fixture(scope="module")
def proba(sources):
    """The probabilities of predictors A and B (the shared `sources`), as loaded from their saves."""
    found = {name: ktbert.Predictor.load(str(folder)).predict(TEXTS, return_proba=True)
             for name, folder in sources.items()}
    assert not np.array_equal(found["A"], found["B"])
    return found


def contents(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def run_child(code, *args):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=child_env(), capture_output=True,
                          text=True, timeout=300)


def leftovers(parent):
    return sorted(name for name in os.listdir(parent) if name.startswith(".ktbert-"))


KILLED_BETWEEN_FILES = """
import os, signal, sys
import ktbert
from ktbert.saving import weights_file

def killed(model, path):  # preprocessor.json and vocab.txt are written, the weights are not
    os.kill(os.getpid(), signal.SIGKILL)

predictor = ktbert.load_predictor(sys.argv[1])
weights_file.save_weights = killed
predictor.save(sys.argv[2])
"""


def test_a_save_killed_between_two_files_leaves_the_earlier_save(sources, proba, tmp_path):
    folder = tmp_path / "target" / "save"
    ktbert.Predictor.load(str(sources["A"])).save(str(folder))
    before = contents(folder)

    child = run_child(KILLED_BETWEEN_FILES, sources["B"], folder)

    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    [tmp] = leftovers(folder.parent)  # the killed save's temporary folder, half written
    assert tmp.startswith(".ktbert-save-")
    assert sorted(os.listdir(folder.parent / tmp)) == ["preprocessor.json", "vocab.txt"]
    assert contents(folder) == before
    np.testing.assert_array_equal(ktbert.Predictor.load(str(folder)).predict(TEXTS, return_proba=True), proba["A"])

    ktbert.Predictor.load(str(sources["B"])).save(str(folder))  # the next save succeeds and sweeps
    assert leftovers(folder.parent) == []
    np.testing.assert_array_equal(ktbert.Predictor.load(str(folder)).predict(TEXTS, return_proba=True), proba["B"])


# Saves B's payload through `write_folder`, as `Predictor.save` does, without loading TensorFlow.
KILLED_INSIDE_THE_SWAP = COPY_SAVE + """
import signal

source, folder = sys.argv[1], os.path.abspath(sys.argv[2])
write, manifest = copy_save(source)

rename = os.rename
def killed_before_the_new_save_lands(src, dst):
    if dst == folder:  # the earlier save is already renamed aside
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst)

os.rename = killed_before_the_new_save_lands
saving.write_folder(folder, write, manifest)
"""


@pytest.mark.parametrize("next_step", ["load", "save"])
def test_a_save_killed_inside_the_swap_is_undone_by_the_next_load_or_save(sources, proba, tmp_path, next_step):
    folder = tmp_path / "target" / "save"
    ktbert.Predictor.load(str(sources["A"])).save(str(folder))
    before = contents(folder)

    child = run_child(KILLED_INSIDE_THE_SWAP, sources["B"], folder)

    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert not folder.exists()  # killed between the two renames
    [old] = [name for name in leftovers(folder.parent) if name.startswith(".ktbert-old-")]
    assert contents(folder.parent / old / "save") == before
    if next_step == "load":
        loaded = ktbert.Predictor.load(str(folder))
        assert contents(folder) == before  # A renamed back
        np.testing.assert_array_equal(loaded.predict(TEXTS, return_proba=True), proba["A"])
        assert [n for n in leftovers(folder.parent) if n.startswith(".ktbert-old-")] == []
        ktbert.Predictor.load(str(sources["B"])).save(str(folder))
        expected = proba["B"]
    else:  # a save of A finds no folder, puts the earlier save back, then replaces it as usual
        ktbert.Predictor.load(str(sources["A"])).save(str(folder))
        expected = proba["A"]
    assert leftovers(folder.parent) == []  # the killed save's temporary folder is swept too
    np.testing.assert_array_equal(ktbert.Predictor.load(str(folder)).predict(TEXTS, return_proba=True), expected)
