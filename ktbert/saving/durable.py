"""Writes that survive a power loss: what a rename publishes is on the disk before the rename, and
the rename is on the disk after it.

A rename is atomic for other processes, and a killed process leaves the old file or the new
one. A power loss or an operating-system crash can do worse: the file system may keep the
rename but not the data written before it (a file of zeros, or of the wrong length, under the
new name), or lose the rename itself. So a file or folder is published in this order:

1. every file being published is fsynced (its data and its length reach the disk);
2. the folder holding them is fsynced (their names in it), sub-folders before their parents;
3. the rename;
4. the folder holding the destination is fsynced (the rename itself).

`publish_file` does this for one file; `ktbert.saving.folder_writes.write_atomically` calls
`sync_tree` before its swap and `fsync_folder` after it. `make_folders` makes a missing
destination folder durable too. What a program cannot do about a disk or file system that
ignores fsync is in docs/reliability.md ("Power loss").

This module imports nothing of ktbert's: every writer that publishes a file uses it.
"""

from __future__ import annotations

import errno
import os

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

# The answers of a file system that has no fsync for this kind of file or folder (some FUSE and
# network file systems, a folder opened read-only on some systems): nothing more can be done
# there, so the write goes on. Any other error (EIO: the data did not reach the disk) fails it.
_UNSUPPORTED = frozenset(code for code in (errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", None))
                         if code is not None)


def fsync_file(path: str) -> None:
    """Flushes the data and length of the file at `path` to the disk.

    Args:
        path: str. a regular file; opened read-only (read-write on Windows, whose flush needs it).
    """
    flags = (os.O_RDWR | getattr(os, "O_BINARY", 0)) if os.name == "nt" else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        _flush(fd, _UNSUPPORTED)
    finally:
        os.close(fd)


def fsync_folder(path: str) -> None:
    """Flushes the names in the folder at `path` (files created, renamed or removed in it) to the disk.

    A no-op on Windows, where a folder cannot be opened to be flushed (NTFS journals its
    renames itself).

    Args:
        path: str. a folder.
    """
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _flush(fd, _UNSUPPORTED | {errno.EBADF})  # EBADF: a folder opened read-only cannot be flushed there
    finally:
        os.close(fd)


def _flush(fd: int, unsupported: frozenset) -> None:
    """fsync, or on macOS `F_FULLFSYNC`: its fsync leaves the data in the drive's cache."""
    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        try:
            fcntl.fcntl(fd, full)
            return
        except OSError:  # not supported by this file system: the plain fsync is what is left
            pass
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in unsupported:
            raise


def sync_tree(folder: str) -> None:
    """Flushes every regular file under `folder`, then each folder after what it holds, `folder` last.

    Args:
        folder: str. a folder about to be renamed into place; links in it are not followed.
    """
    for root, _, names in os.walk(folder, topdown=False):
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path) and not os.path.islink(path):
                fsync_file(path)
        fsync_folder(root)


def publish_file(tmp: str, path: str) -> None:
    """Renames the written file `tmp` onto `path` durably: `tmp` flushed, renamed (replacing
    what is at `path`), then the folder holding `path` flushed.

    Args:
        tmp: str. the complete file, written beside `path` (a rename does not cross file systems).
        path: str. the destination.
    """
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_folder(os.path.dirname(os.path.abspath(path)))


def make_folders(folder: str) -> None:
    """`os.makedirs(folder, exist_ok=True)`, with each folder it creates flushed into its parent,
    so a save into a new folder does not vanish with the folder after a power loss.

    Args:
        folder: str. the folder to make.
    """
    folder = os.path.abspath(folder)
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for path in reversed(missing):
        os.makedirs(path, exist_ok=True)
        fsync_folder(os.path.dirname(path))
