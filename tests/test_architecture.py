"""The rooms' import rule, the lazy public API, and a predictor served without training code."""

import os
import subprocess
import sys

import grimp
import pytest

import ktbert
from conftest import PROJECT

# Top to bottom: a room may import only the rooms after it in this list (docs/architecture.md).
ROOMS = ["ktbert.train", "ktbert.serve", "ktbert.evaluate", "ktbert.data", "ktbert.model"]
HEAVY = ["tensorflow", "keras", "pandas", "sklearn", "matplotlib"]


def backward_arrows(graph) -> list:
    """Every `(lower room, higher room)` pair where the lower one imports the higher one."""
    found = []
    for i, higher in enumerate(ROOMS):
        for lower in ROOMS[i + 1:]:
            if graph.chain_exists(importer=lower, imported=higher, as_packages=True):
                found.append((lower, higher))
    return found


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("ktbert", cache_dir=None)


def test_rooms_import_one_way(graph):
    assert backward_arrows(graph) == []


def test_a_backward_import_is_caught(graph):
    graph.add_import(importer="ktbert.serve.predictor", imported="ktbert.train.learner")
    assert backward_arrows(graph) == [("ktbert.serve", "ktbert.train")]


def test_import_linter_contracts_are_kept():
    # In a process of its own: import-linter's console output does not mix with pytest's capture.
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={os.path.join(PROJECT, 'setup.cfg')!r}, no_cache=True))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_every_public_name_imports():
    from ktbert import text

    for name in ktbert.__all__:
        assert getattr(ktbert, name) is not None, name
    for name in text.__all__:
        assert getattr(text, name) is getattr(ktbert, name), name
    with pytest.raises(AttributeError, match="module 'ktbert' has no attribute 'nope'"):
        ktbert.nope  # noqa: B018


@pytest.mark.parametrize("room", [r.split(".")[1] for r in ROOMS])
def test_every_room_name_imports(room):
    import importlib

    module = importlib.import_module(f"ktbert.{room}")
    assert module.__all__ and all(getattr(module, name) is not None for name in module.__all__)


def test_import_ktbert_loads_no_heavy_library():
    code = ("import sys, ktbert\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_saved_predictor_serves_without_training_or_plotting_code(tiny_encoder, toy_df, tmp_path):
    trn, val, preproc = ktbert.texts_from_df(toy_df, "text", "label", maxlen=16, encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    predictor = ktbert.get_predictor(model, preproc)
    folder = str(tmp_path / "predictor")
    predictor.save(folder)
    expected = predictor.predict(["the film was good", "the plot was awful"], return_proba=True)
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from ktbert.serve import load_predictor\n"
        f"p = load_predictor({folder!r})\n"
        "proba = p.predict(['the film was good', 'the plot was awful'], return_proba=True)\n"
        "print(repr(proba.tolist()))\n"
        "print(sorted(m for m in sys.modules if m.startswith('ktbert')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True, text=True,
                         check=True, timeout=300, env=dict(os.environ, PYTHONPATH=PROJECT)).stdout.splitlines()
    proba, modules = eval(out[-2]), eval(out[-1])
    assert proba == expected.tolist()
    assert "ktbert.serve.predictor" in modules
    assert [m for m in modules if m.startswith("ktbert.train")] == []
    # (Keras itself imports matplotlib, so only ktbert's own plotting module can be checked.)
    assert "ktbert.evaluate.plots" not in modules and "ktbert.evaluate.baselines" not in modules
