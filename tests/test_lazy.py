"""The lazy public names of `ktbert/_lazy.py`, served by a throwaway package module."""

import importlib
import os.path
import re
import sys
import types
import uuid

import pytest

from ktbert import _lazy

NAMES = {"join": "os.path:join", "pathmod": "os.path", "dumps": "json:dumps"}


@pytest.fixture
def package(monkeypatch):
    """A fresh module registered in sys.modules under a unique name, serving NAMES lazily."""
    name = f"ktbert_lazy_test_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    module.__getattr__, module.__dir__, module.__all__ = _lazy.attach(name, NAMES)
    return module


@pytest.fixture
def import_calls(monkeypatch):
    """The module names `_lazy` imports, recorded while still importing them for real."""
    calls = []

    def import_module(name, *args):
        calls.append(name)
        return importlib.import_module(name, *args)

    monkeypatch.setattr(_lazy, "importlib", types.SimpleNamespace(import_module=import_module))
    return calls


def test_a_name_maps_to_an_attribute_of_its_module(package):
    assert "join" not in vars(package)
    assert package.join is os.path.join


def test_a_name_maps_to_a_whole_module(package):
    assert package.pathmod is os.path


def test_the_value_is_cached_on_the_package_after_first_access(package, import_calls):
    assert package.join is os.path.join
    assert import_calls == ["os.path"]
    assert vars(package)["join"] is os.path.join
    assert package.join is os.path.join
    assert import_calls == ["os.path"]  # the second read found the cached value


def test_each_name_imports_its_own_module_once(package, import_calls):
    for _ in range(3):
        assert package.pathmod is os.path
        assert package.dumps.__module__ == "json"
    assert import_calls == ["os.path", "json"]


def test_an_unknown_name_raises_attribute_error(package, import_calls):
    message = f"module {package.__name__!r} has no attribute 'nothing_here'"
    with pytest.raises(AttributeError, match=re.escape(message)):
        package.nothing_here
    assert not hasattr(package, "nothing_here")
    assert import_calls == []


def test_dir_lists_the_lazy_names_before_and_after_loading(package):
    before = dir(package)
    assert {"join", "pathmod", "dumps", "__name__"} <= set(before)
    assert before == sorted(before)
    package.join
    assert dir(package) == before  # now in the module's dict too, still listed once


def test_all_is_the_sorted_names():
    name = f"ktbert_lazy_test_{uuid.uuid4().hex}"
    _, _, names = _lazy.attach(name, {"zeta": "json", "alpha": "os", "mid": "os.path:join"})
    assert names == ["alpha", "mid", "zeta"]


def test_ktbert_serves_its_public_names_through_attach():
    import ktbert

    assert ktbert.__all__ == sorted(ktbert.__all__)
    assert set(ktbert.__all__) <= set(dir(ktbert))
