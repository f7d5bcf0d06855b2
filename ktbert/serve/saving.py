"""The on-disk format of a saved predictor: JSON manifest, safetensors weights, vocabulary.

Nothing is pickled. The manifest names the format and its version and holds the SHA-256 of
every other file, so a foreign, truncated or edited folder is refused with a reason. Loading
reads only files the manifest lists, each a plain path inside the folder (no `..`, absolute
path, NUL byte or symbolic link; files it does not list are ignored), checks a weight file's
header (its size, every tensor's name, path, dtype and shape) before reading a tensor, and
builds nothing but a `TextClassifier` over keras-hub's `BertBackbone`
(`ktbert.model.classifier.check_classifier_config`). Every refusal is a `SaveFormatError`
naming the file.

What a save guarantees, on POSIX local file systems (where `fcntl.flock` works on folders):

- A save is written to a sibling temporary folder `.ktbert-save-*`, then swapped in: the
  earlier save is renamed into `.ktbert-old-*/<name>` and the new one renamed to `folder`,
  holding an exclusive `flock` on the parent folder. A save that fails or is killed before
  the swap leaves `folder` as it was; one killed inside the swap (between the two renames)
  leaves `folder` absent, and the next load or save of it (under the same lock) renames the
  earlier save back first. Either way the earlier save loads as it did.
- A load (`read_manifest`, and `Predictor.load` from the manifest to the last weight) holds a
  shared `flock` on the parent folder, so it never sees a swap half done or a mixture of two
  saves, and a save waits for loads in progress before swapping.
- Two processes or threads saving to the same folder at once both succeed; the last swap wins
  and `folder` holds that save, complete. Each removes its own temporary folders; those left by
  a killed save are removed by the next save into the same parent folder. (The lock is on the
  parent folder, so saves and loads of its other sub-folders wait for each other too, briefly.)
- Where `flock` is not available (Windows, some network file systems) a save is still swapped
  by renames, retried if another save lands between them, so concurrent saves still leave one
  complete save; but nothing keeps a load from running during a swap: it may be refused (a
  file missing or not matching its checksum) or, between the checksum check and the read,
  combine the files of two saves. Load after the saves are done there.
- Nothing is fsynced: the guarantees hold against crashed or killed processes, not against a
  power loss or an operating-system crash.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
import threading

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

try:
    import fcntl
except ImportError:  # Windows: saves are still renamed into place, without the locks
    fcntl = None

FORMAT = "ktbert-predictor"
FORMAT_VERSION = 2  # 2: the preprocessor's `truncation`, the manifest's `prediction` (long texts)
MANIFEST = "ktbert.json"
WEIGHTS = "weights.safetensors"
SAVE_PREFIX = ".ktbert-save-"
OLD_PREFIX = ".ktbert-old-"
# ktbert's own manifests and weight headers are tens of kilobytes; these bounds keep a crafted
# file from making a load read gigabytes before it is refused.
MAX_MANIFEST_BYTES = 16 << 20
MAX_HEADER_BYTES = 16 << 20
# safetensors dtype names -> (numpy/Keras dtype name, bytes per element)
SAFETENSORS_DTYPES = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "I16": ("int16", 2), "U16": ("uint16", 2),
    "F16": ("float16", 2), "BF16": ("bfloat16", 2), "I32": ("int32", 4), "U32": ("uint32", 4),
    "F32": ("float32", 4), "I64": ("int64", 8), "U64": ("uint64", 8), "F64": ("float64", 8),
}
_FOREIGN = "It was not written by ktbert (or was edited since): load only saves you trust, or save again."


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


def read_safetensors_header(path: str) -> dict:
    """The JSON header of a safetensors file, checked before anything else is read: its
    length against the file's size and `MAX_HEADER_BYTES`, and every tensor's dtype, shape
    and byte range against the data that follows it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8).ljust(8, b"\0"), "little")
        if size < 8 or length > MAX_HEADER_BYTES or 8 + length > size:
            raise SaveFormatError(
                f"{path!r} is not a valid safetensors file: its header claims {length:,} bytes, but the "
                f"file holds {size:,} bytes in all and a header may hold at most {MAX_HEADER_BYTES:,}. "
                f"It is truncated or crafted: save the model again."
            )
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SaveFormatError(f"{path!r} is not a valid safetensors file: its header is not JSON "
                              f"({type(err).__name__}). Save the model again.") from err
    if not isinstance(header, dict):
        raise SaveFormatError(f"{path!r} is not a valid safetensors file: its header is a "
                              f"{type(header).__name__}, not a JSON object. Save the model again.")
    data = size - 8 - length
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise SaveFormatError(f"{path!r}: its `__metadata__` must map names to strings. "
                                      "Save the model again.")
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        valid = (dtype in SAFETENSORS_DTYPES and isinstance(shape, list) and isinstance(offsets, list)
                 and all(type(n) is int and n >= 0 for n in shape + offsets) and len(offsets) == 2
                 and offsets[0] <= offsets[1] <= data
                 and offsets[1] - offsets[0] == math.prod(shape) * SAFETENSORS_DTYPES[dtype][1])
        if not valid:
            raise SaveFormatError(
                f"{path!r}: tensor {key!r} is described as {json.dumps(entry)[:200]}, which is not a "
                f"dtype, shape and byte range within the file's {data:,} data bytes. The file is "
                "corrupted or crafted: save the model again."
            )
    return header


def _saved_paths(path: str, header: dict, count: int):
    """The variable paths `save_weights` wrote into the metadata, or None (files without them)."""
    text = header.get("__metadata__", {}).get("paths")
    if text is None:
        return None
    try:
        paths = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        paths = None
    if not isinstance(paths, list) or len(paths) != count or not all(isinstance(p, str) for p in paths):
        raise SaveFormatError(f"{path!r}: its metadata `paths` is not a list of {count} variable paths. "
                              "The file is corrupted or crafted: save the model again.")
    return paths


def load_weights(model, path: str) -> None:
    """Assigns the weights written by `save_weights`, checking every tensor's name, path,
    dtype and shape against the model before a tensor is read or a variable changed."""
    import keras

    header = read_safetensors_header(path)
    variables = model.weights
    expected = [f"{i:04d}" for i in range(len(variables))]
    keys = sorted(k for k in header if k != "__metadata__")
    if keys != expected:
        missing = sorted(set(expected) - set(keys))
        extra = sorted(set(keys) - set(expected))
        start = (f"{path!r} holds {len(keys)} weight tensors but the model has {len(variables)}"
                 if len(keys) != len(variables) else f"{path!r} holds tensors the model does not have")
        raise SaveFormatError(
            f"{start}: the file belongs to another model. Missing: {missing[:5]}; unexpected: "
            f"{extra[:5]}. Load it into the model it was saved from."
        )
    paths = _saved_paths(path, header, len(keys))
    for i, (key, variable) in enumerate(zip(keys, variables)):
        entry = header[key]
        if paths is not None and paths[i] != variable.path:
            raise SaveFormatError(
                f"{path!r}: tensor {key} is weight {paths[i]} in the file but {variable.path} in the "
                "model: the file belongs to another model, or its tensors were reordered. Load it into "
                "the model it was saved from."
            )
        saved_dtype = SAFETENSORS_DTYPES[entry["dtype"]][0]
        if saved_dtype != keras.backend.standardize_dtype(variable.dtype):
            raise SaveFormatError(
                f"{path!r}: weight {variable.path} is {saved_dtype} in the file but {variable.dtype} in the "
                "model: the file belongs to another model. Load it into the model it was saved from."
            )
        if tuple(entry["shape"]) != tuple(variable.shape):
            raise SaveFormatError(
                f"{path!r}: weight {variable.path} has shape {tuple(entry['shape'])} in the file but "
                f"{tuple(variable.shape)} in the model: the file belongs to another model."
            )
    try:
        with safe_open(path, framework="numpy") as f:
            arrays = [f.get_tensor(k) for k in keys]
    except SafetensorError as err:
        raise SaveFormatError(f"{path!r} could not be read as safetensors ({err}). Save the model again.") from err
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def write_folder(folder: str, write_files, manifest: dict, fmt: str = FORMAT) -> None:
    """Writes a save folder atomically (see the module's docstring for what that guarantees).

    Args:
        folder: str. the destination; an existing ktbert save there is replaced, anything
            else there is left untouched and refused.
        write_files: callable. `write_files(tmp)` writes the payload files into `tmp`.
        manifest: dict. the manifest's content; `format`, `format_version` and `files` are added.
        fmt: str. the format name written into the manifest.
    """
    folder = os.path.abspath(folder)
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    with _parent_lock(folder, exclusive=True):
        _check_destination(folder, fmt)  # before the payload is written; again before the swap
        # Made and claimed under the lock, so a sweep never takes a live save's folder for a dead one's.
        tmp = tempfile.mkdtemp(prefix=SAVE_PREFIX, dir=parent)
        claim = _claim(tmp)
    old = None
    try:
        write_files(tmp)
        files = {
            name: {"sha256": sha256(os.path.join(tmp, name)), "bytes": os.path.getsize(os.path.join(tmp, name))}
            for name in _files_below(tmp)
        }
        full = {"format": fmt, "format_version": FORMAT_VERSION, **manifest, "files": files}
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(full, f, indent=2)
        with _parent_lock(folder, exclusive=True) as locked:
            _restore_locked(folder)
            if locked:
                _sweep(parent)
            _check_destination(folder, fmt)
            old = _swap(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if claim is not None:
            os.close(claim)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_destination(folder: str, fmt: str) -> None:
    """Refuses to write over a file, a folder of other files or a ktbert save of another format.
    Without the lock, another save may swap the folder while it is looked at: then it is
    looked at again."""
    for _ in range(100):
        before = _identity(folder)
        try:
            return _refuse_foreign_destination(folder, fmt)
        except (FileExistsError, FileNotFoundError, NotADirectoryError):
            if before is not None and _identity(folder) == before:
                raise
    raise FileExistsError(f"{folder!r} kept being replaced by other saves while this one checked it; save again.")


def _identity(path: str):
    try:
        found = os.lstat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _refuse_foreign_destination(folder: str, fmt: str) -> None:
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


def _swap(tmp: str, folder: str):
    """Renames `tmp` to `folder`, the earlier save first moved into `.ktbert-old-*/<name>`;
    returns that `.ktbert-old-*` folder (None when there was no earlier save) for the caller
    to remove. Without the lock another save can land between the two renames: its save is
    then moved aside in turn, so the last rename wins."""
    parent, name = os.path.split(folder)
    for _ in range(100):
        old = None
        if os.path.lexists(folder):
            old = tempfile.mkdtemp(prefix=OLD_PREFIX, dir=parent)
            try:
                os.rename(folder, os.path.join(old, name))
            except FileNotFoundError:  # another save moved it aside first
                os.rmdir(old)
                old = None
        try:
            os.rename(tmp, folder)
            return old
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not os.path.lexists(folder):
                if old is not None:  # put the earlier save back, whatever went wrong
                    os.rename(os.path.join(old, name), folder)
                    os.rmdir(old)
                raise
            if old is not None:  # superseded by the save that landed in between
                shutil.rmtree(old, ignore_errors=True)
    raise OSError(f"{folder!r}: other saves kept landing while this one was renamed into place; save again.")


@contextlib.contextmanager
def reading(folder: str):
    """Holds saves into `folder`'s parent back while the block reads `folder`: a shared lock
    (see the module's docstring). A save killed inside its swap is undone first."""
    restore_interrupted(folder)
    with _parent_lock(folder, exclusive=False):
        if os.path.lexists(folder) or not _interrupted(folder):
            yield
            return
    # A save was killed inside its swap after the check above: undo it, then read.
    restore_interrupted(folder)
    with _parent_lock(folder, exclusive=False):
        yield


_HELD = threading.local()  # parent folders this thread holds a lock on -> whether it is really locked


@contextlib.contextmanager
def _parent_lock(folder: str, exclusive: bool):
    """An `flock` on the folder holding `folder` (the folder itself is renamed, so it cannot
    hold the lock); yields whether it is locked. Re-entrant within a thread: a nested call
    keeps the outer lock as it is (a shared one is not upgraded). No lock where `flock` is
    unavailable or the folder cannot be opened."""
    parent = os.path.realpath(os.path.dirname(os.path.abspath(folder)))
    held = _HELD.__dict__.setdefault("parents", {})
    if parent in held:
        yield held[parent]
        return
    fd = None
    held[parent] = False
    try:
        try:
            fd = os.open(parent, os.O_RDONLY)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                held[parent] = True
        except OSError:
            pass
        yield held[parent]
    finally:
        del held[parent]
        if fd is not None:
            os.close(fd)  # releases the flock


def _claim(tmp: str):
    """An open descriptor holding an exclusive `flock` on a save's temporary folder while it is
    written: a sweep takes an unclaimed `.ktbert-save-*` folder for a killed save's. None when
    it cannot be claimed."""
    if fcntl is None:
        return None
    try:
        fd = os.open(tmp, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _sweep(parent: str) -> None:
    """Removes what killed saves left in `parent`: unclaimed `.ktbert-save-*` folders, and
    `.ktbert-old-*` folders that are empty or hold an earlier save of a folder that exists
    again. Called under the exclusive lock, so no save is between its two renames."""
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        path = os.path.join(parent, entry)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        if entry.startswith(SAVE_PREFIX):
            claim = _claim(path)
            if claim is not None:
                os.close(claim)
                shutil.rmtree(path, ignore_errors=True)
        elif entry.startswith(OLD_PREFIX):
            try:
                inside = os.listdir(path)
            except OSError:
                continue
            if not inside or (len(inside) == 1 and os.path.lexists(os.path.join(parent, inside[0]))):
                shutil.rmtree(path, ignore_errors=True)


def _interrupted(folder: str) -> list:
    """Earlier saves of `folder` that a save killed inside its swap left in `.ktbert-old-*/<name>`, newest first."""
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        entries = [e for e in os.listdir(parent) if e.startswith(OLD_PREFIX)]
    except OSError:
        return []
    found = []
    for entry in entries:
        path = os.path.join(parent, entry, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                found.append((os.path.getmtime(os.path.join(parent, entry)), path))
        except OSError:
            continue
    return [path for _, path in sorted(found, reverse=True)]


def restore_interrupted(folder: str) -> bool:
    """Renames back the earlier save that a save killed between its two renames left aside,
    when `folder` is absent; returns whether it did."""
    if os.path.lexists(folder) or not _interrupted(folder):
        return False
    with _parent_lock(folder, exclusive=True):
        return _restore_locked(folder)


def _restore_locked(folder: str) -> bool:
    if os.path.lexists(folder):
        return False
    for old in _interrupted(folder):
        try:
            os.rename(old, folder)
        except OSError:
            continue
        shutil.rmtree(os.path.dirname(old), ignore_errors=True)
        return True
    return False


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
    with reading(folder):
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
    if type(version) is not int or version > FORMAT_VERSION:
        raise SaveFormatError(
            f"{folder!r} was saved in format version {version!r}; this ktbert reads versions up "
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
