"""The on-disk format of a saved predictor: JSON manifest, safetensors weights, vocabulary.

Nothing is pickled. The manifest names the format and its version and holds the SHA-256 of
every other file, so a foreign, truncated or edited folder is refused with a reason. A save
is written to a sibling temporary folder and renamed into place, so a crash never leaves half
a model where a good one was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

FORMAT = "ktbert-predictor"
FORMAT_VERSION = 2  # 2: the preprocessor's `truncation`, the manifest's `prediction` (long texts)
MANIFEST = "ktbert.json"
WEIGHTS = "weights.safetensors"


class SaveFormatError(ValueError):
    """A folder is not a ktbert save, or its files do not match its manifest."""


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(model, path: str) -> None:
    """Writes every model variable, in `model.weights` order, to a safetensors file."""
    tensors, paths = {}, []
    for i, variable in enumerate(model.weights):
        tensors[f"{i:04d}"] = np.ascontiguousarray(np.asarray(variable.numpy()))
        paths.append(variable.path)
    save_file(tensors, path, metadata={"paths": json.dumps(paths)})


def load_weights(model, path: str) -> None:
    """Assigns the weights written by `save_weights`, checking count and shapes first."""
    with safe_open(path, framework="numpy") as f:
        keys = sorted(f.keys())
        if len(keys) != len(model.weights):
            raise SaveFormatError(
                f"{path!r} holds {len(keys)} weight tensors but the model has "
                f"{len(model.weights)}: the file belongs to another model."
            )
        arrays = [f.get_tensor(k) for k in keys]
    for variable, array in zip(model.weights, arrays):
        if tuple(variable.shape) != tuple(array.shape):
            raise SaveFormatError(
                f"{path!r}: weight {variable.path} has shape {tuple(array.shape)} in the file but "
                f"{tuple(variable.shape)} in the model: the file belongs to another model."
            )
    for variable, array in zip(model.weights, arrays):
        variable.assign(array)


def write_folder(folder: str, write_files, manifest: dict, fmt: str = FORMAT) -> None:
    """Writes a save folder atomically.

    Args:
        folder: str. the destination; an existing ktbert save there is replaced, anything
            else there is left untouched and refused.
        write_files: callable. `write_files(tmp)` writes the payload files into `tmp`.
        manifest: dict. the manifest's content; `format`, `format_version` and `files` are added.
        fmt: str. the format name written into the manifest.
    """
    folder = os.path.abspath(folder)
    if os.path.exists(folder):
        if not os.path.isdir(folder):
            raise FileExistsError(f"{folder!r} exists and is a file: choose a folder path.")
        if os.listdir(folder) and not os.path.isfile(os.path.join(folder, MANIFEST)):
            raise FileExistsError(
                f"{folder!r} exists and holds files that are not a ktbert save "
                f"({sorted(os.listdir(folder))[:5]}); choose another folder so nothing is lost."
            )
        if os.listdir(folder):
            found = _format_of(folder)
            if found != fmt:
                raise FileExistsError(
                    f"{folder!r} holds a ktbert save of another kind (format {found!r}); writing a "
                    f"{fmt!r} there would replace it. Choose another folder so nothing is lost."
                )
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".ktbert-save-", dir=parent)
    try:
        write_files(tmp)
        files = {
            name: {"sha256": sha256(os.path.join(tmp, name)), "bytes": os.path.getsize(os.path.join(tmp, name))}
            for name in _files_below(tmp)
        }
        full = {"format": fmt, "format_version": FORMAT_VERSION, **manifest, "files": files}
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(full, f, indent=2)
        old = None
        if os.path.exists(folder):
            old = tempfile.mkdtemp(prefix=".ktbert-old-", dir=parent)
            os.rename(folder, os.path.join(old, "save"))
        os.rename(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _format_of(folder: str):
    """The `format` a folder's manifest names, or None when it cannot be read."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest.get("format") if isinstance(manifest, dict) else None


def _files_below(folder: str) -> list:
    """Every file under `folder`, as sorted "/"-joined relative paths (a SavedModel has
    sub-folders; a predictor save has none)."""
    found = []
    for root, _, names in os.walk(folder):
        rel = os.path.relpath(root, folder)
        found.extend(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/") for name in names)
    return sorted(found)


def read_manifest(folder: str, fmt: str = FORMAT) -> dict:
    """Reads and checks a save folder's manifest (format `fmt`) and file checksums; returns it."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder!r}. Save one with `predictor.save(folder)`.")
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        present = sorted(os.listdir(folder))
        hint = ""
        if any(p.endswith(".preproc") for p in present):
            hint = (" It looks like a ktrain predictor: those are pickled and cannot be loaded "
                    "safely; retrain with ktbert and save again.")
        raise SaveFormatError(
            f"{folder!r} is not a ktbert save: {MANIFEST} is missing (found: {present[:8]}).{hint} "
            "Save a predictor with `predictor.save(folder)`."
        )
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SaveFormatError(f"{path!r} is corrupted: it is not valid JSON ({err}).") from err
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        kind = "predictor" if fmt == FORMAT else "model"
        raise SaveFormatError(
            f"{folder!r} is not a ktbert {kind} save: its {MANIFEST} says format={found!r}, "
            f"expected {fmt!r}."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SaveFormatError(
            f"{folder!r} was saved in format version {version!r}; this ktbert reads versions up "
            f"to {FORMAT_VERSION}. Upgrade ktbert (pip install -U ktbert) to load it."
        )
    for name, info in manifest.get("files", {}).items():
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            raise SaveFormatError(f"{folder!r} is incomplete: {name} is missing.")
        if sha256(file) != info.get("sha256"):
            raise SaveFormatError(
                f"{folder!r} is corrupted: {name} does not match the checksum in {MANIFEST} "
                "(the file was changed or truncated after saving). Save the predictor again."
            )
    return manifest
