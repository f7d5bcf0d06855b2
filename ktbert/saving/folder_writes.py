"""Atomic, locked writes of a save folder, and the undoing of a save killed inside its swap.

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
- Against a power loss or an operating-system crash, the save is flushed as
  `ktbert.saving.durable` says: every file of the temporary folder, then the folder itself, is
  fsynced before the swap, and the parent folder after it (and after a swap undone by
  `restore_interrupted`), so the folder holds the earlier save or the new one, complete, on
  disks that honour fsync (docs/reliability.md says what it cannot cover).

Imports run one way: weights_file > manifest > folder_writes > durable. What goes into the
folder and what may be replaced are the caller's (`ktbert.saving.manifest.write_folder`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading

from ktbert.saving import durable

try:
    import fcntl
except ImportError:  # Windows: saves are still renamed into place, without the locks
    fcntl = None

SAVE_PREFIX = ".ktbert-save-"
OLD_PREFIX = ".ktbert-old-"


def write_atomically(folder: str, write_files, check_destination) -> None:
    """Writes `folder` aside and swaps it in (see the module's docstring for what that guarantees).

    Args:
        folder: str. the destination; what is there is replaced only if `check_destination`
            lets it be.
        write_files: callable. `write_files(tmp)` writes every file of the folder into `tmp`.
        check_destination: callable. `check_destination(folder)` raises `FileExistsError` when
            what is at `folder` must not be replaced; it runs before `write_files` and again,
            under the lock, just before the swap.
    """
    folder = os.path.abspath(folder)
    parent = os.path.dirname(folder)
    durable.make_folders(parent)
    with _parent_lock(folder, exclusive=True):
        _check_destination(folder, check_destination)  # before the payload is written; again before the swap
        # Made and claimed under the lock, so a sweep never takes a live save's folder for a dead one's.
        tmp = tempfile.mkdtemp(prefix=SAVE_PREFIX, dir=parent)
        claim = _claim(tmp)
    old = None
    try:
        write_files(tmp)
        durable.sync_tree(tmp)  # outside the lock: other saves and loads need not wait for the disk
        with _parent_lock(folder, exclusive=True) as locked:
            _restore_locked(folder)
            if locked:
                _sweep(parent)
            _check_destination(folder, check_destination)
            old = _swap(tmp, folder)
            durable.fsync_folder(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if claim is not None:
            os.close(claim)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_destination(folder: str, check_destination) -> None:
    """Runs `check_destination(folder)`. Without the lock, another save may swap the folder
    while it is looked at: then it is looked at again."""
    for _ in range(100):
        before = _identity(folder)
        try:
            return check_destination(folder)
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
        durable.fsync_folder(os.path.dirname(os.path.abspath(folder)))
        shutil.rmtree(os.path.dirname(old), ignore_errors=True)
        return True
    return False
