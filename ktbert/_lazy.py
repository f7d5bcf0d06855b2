"""Public names that load their module on first use (PEP 562), so `import ktbert` stays light.

A package lists `name -> "module"` (the module itself) or `name -> "module:attribute"`; the
module is imported the first time the name is read, and the value is then cached on the package.
"""

from __future__ import annotations

import importlib
import sys


def attach(package: str, names: dict):
    """Returns `(__getattr__, __dir__, __all__)` for `package` serving `names` lazily."""

    def __getattr__(name: str):
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        value = importlib.import_module(module_name)
        if attribute:
            value = getattr(value, attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, sorted(names)
