"""What the save-race tests share: saves of two predictors A and B, and the start of a child
script that writes a save's payload through `write_folder`, as `Predictor.save` does.

Test modules import helpers with `from conftest import ...`, and pytest registers this file
under the module name `conftest` too (replacing tests/conftest.py in `sys.modules` for every
module collected after it, in this folder and beyond). So names this file lacks are looked up
in tests/conftest.py: `from conftest import PROJECT` works wherever it is written.
"""

import importlib.util
import os

import pytest

_PARENT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")
_parent = None


def __getattr__(name):
    global _parent
    if name.startswith("__") or name.startswith("pytest_"):  # never hooks or module internals
        raise AttributeError(name)
    if _parent is None:
        spec = importlib.util.spec_from_file_location("_tests_conftest", _PARENT_PATH)
        _parent = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_parent)
    try:
        return getattr(_parent, name)
    except AttributeError:
        raise AttributeError(f"neither tests/serve/conftest.py nor tests/conftest.py defines {name!r}") from None


@pytest.fixture(scope="session")
def sources(make_toy_split, tmp_path_factory):
    """Saves of two predictors with different heads (seeds 0 and 1): `{"A": folder, "B": folder}`."""
    import ktbert

    trn, _, preproc = make_toy_split(seed=3)
    root = tmp_path_factory.mktemp("sources")
    saves = {}
    for name, seed in (("A", 0), ("B", 1)):
        model = ktbert.text_classifier("bert", trn, preproc, seed=seed, verbose=0)
        saves[name] = root / name
        ktbert.get_predictor(model, preproc).save(str(saves[name]))
    return saves


def child_env() -> dict:
    """The environment of a child process that imports this checkout's ktbert."""
    return dict(os.environ, PYTHONPATH=__getattr__("PROJECT"))


# The start of a child script (run with `python -c`) that saves a real save's payload through
# `write_folder` without loading TensorFlow, so a child starts in a fraction of a second:
# `write, manifest = copy_save(source)` gives what `saving.write_folder(folder, write, manifest)`
# takes to write `source`'s files again, under a new manifest.
COPY_SAVE = """
import json, os, shutil, sys
from ktbert.serve import saving

def copy_save(source):
    manifest = json.load(open(os.path.join(source, "ktbert.json")))
    files = manifest.pop("files")

    def write(tmp):
        for name in files:
            shutil.copyfile(os.path.join(source, name), os.path.join(tmp, name))

    return write, manifest
"""
