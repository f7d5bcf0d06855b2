"""The rooms' import rule (train and serve siblings), the lazy public API, and a predictor served
without training code."""

import os
import shutil
import subprocess
import sys

import grimp
import pytest

import ktbert
from helpers import PROJECT

# Top to bottom: a room may import only the rooms on the levels after its own; the rooms on one
# level (train and serve) never import each other (docs/architecture.md).
LEVELS = [["ktbert.recipe"], ["ktbert.train", "ktbert.serve"], ["ktbert.evaluate"], ["ktbert.saving"],
          ["ktbert.data"], ["ktbert.model"]]
ROOMS = [room for level in LEVELS for room in level]
HEAVY = ["tensorflow", "keras", "pandas", "sklearn", "matplotlib"]


def backward_arrows(graph) -> list:
    """Every `(importer, imported)` pair of rooms where a room imports one on its own level or above."""
    found = []
    for i, level in enumerate(LEVELS):
        for importer in level:
            for imported in [room for above in LEVELS[: i + 1] for room in above if room != importer]:
                if graph.chain_exists(importer=importer, imported=imported, as_packages=True):
                    found.append((importer, imported))
    return found


def lint_imports(root: str):
    """import-linter's verdict on the package under `root` with the project's contracts, in a
    process of its own (its console output does not mix with pytest's capture)."""
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            f"sys.exit(lint_imports(config_filename={os.path.join(PROJECT, 'setup.cfg')!r}, no_cache=True))")
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.fixture
def graph():
    return grimp.build_graph("ktbert", cache_dir=None)


def test_rooms_import_one_way(graph):
    assert backward_arrows(graph) == []


@pytest.mark.parametrize("importer, imported, arrow", [
    ("ktbert.serve.predictor", "ktbert.train.learner", ("ktbert.serve", "ktbert.train")),
    ("ktbert.train.controls", "ktbert.serve.predictor", ("ktbert.train", "ktbert.serve")),
    ("ktbert.saving.manifest", "ktbert.evaluate.decisions", ("ktbert.saving", "ktbert.evaluate")),
    ("ktbert.model.classifier", "ktbert.data.pipeline", ("ktbert.model", "ktbert.data")),
    # train -> recipe, and through the recipe train -> serve
    ("ktbert.train.learner", "ktbert.recipe.training_run", ("ktbert.train", "ktbert.recipe")),
])
def test_a_backward_or_sideways_import_is_caught(graph, importer, imported, arrow):
    graph.add_import(importer=importer, imported=imported)
    found = backward_arrows(graph)
    assert arrow in found
    assert set(found) <= {arrow, ("ktbert.train", "ktbert.serve")}


def test_import_linter_contracts_are_kept():
    result = lint_imports(PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_import_linter_breaks_when_serve_imports_train(tmp_path):
    shutil.copytree(os.path.join(PROJECT, "ktbert"), tmp_path / "ktbert",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "ktbert" / "serve" / "long_texts.py", "a", encoding="utf-8") as f:
        f.write("\nimport ktbert.train.learner  # noqa: E402,F401\n")
    result = lint_imports(str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Rooms import one way: recipe > train | serve > evaluate > saving > data > model BROKEN" in result.stdout
    assert "The command line's predict, evaluate, export and serve load no training code BROKEN" in result.stdout
    assert "ktbert.serve.long_texts -> ktbert.train.learner" in result.stdout


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
    assert [m for m in modules if m.startswith(("ktbert.train", "ktbert.recipe"))] == []
    # (Keras itself imports matplotlib, so only ktbert's own plotting module can be checked.)
    assert "ktbert.evaluate.plots" not in modules and "ktbert.evaluate.baselines" not in modules
