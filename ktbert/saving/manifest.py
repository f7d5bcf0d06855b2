"""The on-disk format of a ktbert save: the JSON manifest, its checks and the folder it seals.

Nothing is pickled. The manifest names the format and its version and holds the SHA-256 of
every other file, so a foreign, truncated or edited folder is refused with a reason. Loading
reads only files the manifest lists, each a plain path inside the folder (no `..`, absolute
path, NUL byte or symbolic link; files it does not list are ignored). Every refusal is a
`SaveFormatError` naming the file.

The rest of a save lives beside this module, in the saving room: `weights_file` writes and
checks the safetensors weights, `folder_writes` writes the folder aside and swaps it in under a
lock (its docstring says what a save guarantees), `saved_config` allows a predictor's load to
build nothing but a `TextClassifier` over keras-hub's `BertBackbone`, with sizes that match its
weights file, and `predictor_folder` writes and reads the predictor's folder.

Imports run one way: predictor_folder > weights_file > manifest > folder_writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

from ktbert.checks import cut
from ktbert.saving import folder_writes

FORMAT = "ktbert-predictor"
FORMAT_VERSION = 2  # 2: the preprocessor's `truncation`, the manifest's `prediction` (long texts)
MANIFEST = "ktbert.json"
WEIGHTS = "weights.safetensors"
# ktbert's own manifests are tens of kilobytes; this bound keeps a crafted file from making a
# load read gigabytes before it is refused.
MAX_MANIFEST_BYTES = 16 << 20
_FOREIGN = "It was not written by ktbert (or was edited since): load only saves you trust, or save again."


class SaveFormatError(ValueError):
    """A folder is not a ktbert save, or its files do not match its manifest."""


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_folder(folder: str, write_files, manifest: dict, fmt: str = FORMAT) -> None:
    """Writes a save folder atomically, its manifest last (`ktbert.saving.folder_writes` says
    what that guarantees).

    Args:
        folder: str. the destination; an existing ktbert save there is replaced, anything
            else there is left untouched and refused.
        write_files: callable. `write_files(tmp)` writes the payload files into `tmp`.
        manifest: dict. the manifest's content; `format`, `format_version` and `files` are added.
        fmt: str. the format name written into the manifest.
    """

    def write_sealed(tmp):
        write_files(tmp)
        files = {
            name: {"sha256": sha256(os.path.join(tmp, name)), "bytes": os.path.getsize(os.path.join(tmp, name))}
            for name in _files_below(tmp)
        }
        full = {"format": fmt, "format_version": FORMAT_VERSION, **manifest, "files": files}
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(full, f, indent=2)

    folder_writes.write_atomically(folder, write_sealed, lambda path: _refuse_foreign_destination(path, fmt))


def _refuse_foreign_destination(folder: str, fmt: str) -> None:
    """Refuses to write over a file, a folder of other files or a ktbert save of another format."""
    if not os.path.exists(folder):
        return
    if not os.path.isdir(folder):
        raise FileExistsError(f"{folder!r} exists and is a file: choose a folder path.")
    present = os.listdir(folder)
    if present and not os.path.isfile(os.path.join(folder, MANIFEST)):
        raise FileExistsError(
            f"{folder!r} exists and holds files that are not a ktbert save "
            f"({sorted(present)[:5]}); choose another folder so nothing is lost."
        )
    if present:
        found = _format_of(folder)
        if found != fmt:
            raise FileExistsError(
                f"{folder!r} holds a ktbert save of another kind (format {found!r}); writing a "
                f"{fmt!r} there would replace it. Choose another folder so nothing is lost."
            )


def _format_of(folder: str):
    """The `format` a folder's manifest names, or None when it cannot be read."""
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
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


def read_manifest(folder: str, fmt: str = FORMAT, required=()) -> dict:
    """Reads and checks a save folder's manifest (format `fmt`) and file checksums; returns it.

    Every file the manifest lists must be a plain relative path inside `folder` (no `..`,
    absolute path, NUL byte or symbolic link on the way) and a regular file matching its
    size and SHA-256. Files the manifest does not list are ignored: nothing reads them.

    Args:
        folder: str. the save folder.
        fmt: str. the format the manifest must name.
        required: tuple of str. files the caller will read, which the manifest must list.
    """
    with folder_writes.reading(folder):
        return _read_manifest(folder, fmt, required)


def _read_manifest(folder: str, fmt: str, required) -> dict:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No such folder: {folder!r}. Save one with `predictor.save(folder)`.")
    path = os.path.join(folder, MANIFEST)
    if os.path.islink(path):
        raise SaveFormatError(f"{path!r} is a symbolic link: a ktbert save holds its own files, never links "
                              f"to others. {_FOREIGN}")
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
    size = os.path.getsize(path)
    if size > MAX_MANIFEST_BYTES:
        raise SaveFormatError(f"{path!r} holds {size:,} bytes; a ktbert manifest holds at most "
                              f"{MAX_MANIFEST_BYTES:,}. {_FOREIGN}")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SaveFormatError(f"{path!r} is corrupted: it is not valid JSON ({err}).") from err
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        kind = "predictor" if fmt == FORMAT else "model"
        raise SaveFormatError(
            f"{folder!r} is not a ktbert {kind} save: its {MANIFEST} says format={found!r}, "
            f"expected {fmt!r}."
        )
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:  # True is no version, nor "2": damage, not the future
        received = f"format_version={cut(version)}" if "format_version" in manifest else "no format_version"
        raise SaveFormatError(f"{path!r} is damaged: format_version must be a positive integer. Received: "
                              f"{received}. {_FOREIGN}")
    if version > FORMAT_VERSION:
        raise SaveFormatError(
            f"{path!r} was saved in format version {version}; this ktbert reads versions up "
            f"to {FORMAT_VERSION}. Upgrade ktbert (pip install -U ktbert) to load it."
        )
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise SaveFormatError(f"{path!r}: `files` must map file names to their checksums. "
                              f"Received: {type(files).__name__}. {_FOREIGN}")
    for name in required:
        if name not in files:
            raise SaveFormatError(
                f"{path!r} does not list {name}, which ktbert reads: every file it reads must be listed "
                f"with its checksum. {_FOREIGN}"
            )
    real_folder = os.path.realpath(folder)
    for name, info in files.items():
        file = _listed_file(folder, real_folder, path, name)
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise SaveFormatError(f"{path!r} lists {name} without its sha256. {_FOREIGN}")
        if not os.path.lexists(file):
            raise SaveFormatError(f"{folder!r} is incomplete: {name} is missing.")
        if not stat.S_ISREG(os.lstat(file).st_mode):
            raise SaveFormatError(f"{file!r} is not a regular file (a folder, device or pipe): a ktbert "
                                  f"save lists only its own files. {_FOREIGN}")
        size = info.get("bytes")
        if (type(size) is int and os.path.getsize(file) != size) or sha256(file) != info["sha256"]:
            raise SaveFormatError(
                f"{folder!r} is corrupted: {name} does not match the checksum in {MANIFEST} "
                "(the file was changed or truncated after saving). Save the predictor again."
            )
    return manifest


def _listed_file(folder: str, real_folder: str, manifest_path: str, name) -> str:
    """The path of a file the manifest lists, refused unless it is a plain relative path that
    stays inside the folder with no symbolic link on the way."""
    parts = name.split("/") if isinstance(name, str) else []
    if (not parts or "\0" in name or "\\" in name or os.path.isabs(name)
            or any(part in ("", ".", "..") for part in parts)):
        raise SaveFormatError(
            f"{manifest_path!r} lists the file {name!r}, which is not a plain relative path inside the save "
            f"folder (no '..', absolute path, empty part, backslash or NUL byte). {_FOREIGN}"
        )
    file = folder
    for part in parts:
        file = os.path.join(file, part)
        if os.path.islink(file):
            raise SaveFormatError(
                f"{file!r} is a symbolic link: a ktbert save holds its own files, and a link can point "
                f"anywhere on the machine. Replace it with the file itself, or save again."
            )
    real = os.path.realpath(file)
    if os.path.commonpath([real, real_folder]) != real_folder:
        raise SaveFormatError(f"{file!r} resolves to {real!r}, outside the save folder {real_folder!r}. "
                              f"{_FOREIGN}")
    return file
