"""Atomic writes for the savers: a re-export of :mod:`netform._files`.

The writer lives in a neutral module (the CLI and the renderer use it too);
this name stays for the modules that import it from here. :func:`recover`
adds what the neutral module cannot know: a folder a swap parked is put back
only when it is a save of a directory format (a SavedModel, Keras's unzipped
form), checked as a save's target is checked before it is replaced.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterator

from netform._files import (
    BACKUP_SUFFIX,
    PARKED_NOTE,
    TMP_MARK,
    atomic_file,
    atomic_path,
    fsync_dir,
    temp_name,
    write_bytes,
)
from netform._files import _fsync_tree as fsync_tree
from netform._files import recover as _recover_dir

__all__ = [
    "atomic_path",
    "atomic_file",
    "write_bytes",
    "recover",
    "missing_folders",
    "remove_made_folders",
    "folders_made_for",
    "folder_lock",
    "fsync_dir",
    "fsync_tree",
    "temp_name",
    "BACKUP_SUFFIX",
    "PARKED_NOTE",
    "TMP_MARK",
]


def _is_directory_save(path: str) -> bool:
    """Whether ``path`` is a SavedModel, or Keras's unzipped form, that a save may replace."""
    from netform.errors import NetformError

    from ._target import check_target

    for fmt in ("savedmodel", "keras_dir"):
        try:
            check_target(path, fmt)
        except (NetformError, OSError):
            continue
        return True
    return False


def recover(target: str | os.PathLike[str]) -> bool:
    """Put back a save that an interrupted swap parked, when netform can prove it parked it.

    Only a folder with the note the swap wrote beside it, holding a
    SavedModel or Keras's unzipped form, is moved back; a folder that only
    has a parking name (``<target>.nf-old``, ``<target>.nf-old-<hex>``) is
    never touched. A file system error leaves everything as it was.

    Args:
        target: A directory written atomically (or a checkpoint prefix, which has none).

    Returns:
        True when a parked save was moved back into place.
    """
    target = os.fspath(target).rstrip(os.sep) or os.fspath(target)
    try:
        return _recover_dir(target, accept=_is_directory_save)
    except OSError:
        return False


def missing_folders(path: str | os.PathLike[str]) -> list[str]:
    """The folders above ``path`` that do not exist yet, deepest first (those a save would make)."""
    missing: list[str] = []
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.lexists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def remove_made_folders(folders: list[str]) -> None:
    """Remove each of ``folders`` (deepest first, as :func:`missing_folders` lists them) that is empty.

    Only folders that did not exist before a write began are given, and ``os.rmdir`` removes only an
    empty folder: a file anyone put in one (a later write's, a user's) keeps it and the folders above it.
    """
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:  # not empty, already gone or not ours to remove: it (and so the folders above) stays
            continue


@contextlib.contextmanager
def folders_made_for(path: str | os.PathLike[str]) -> Iterator[None]:
    """Remove again the folders above ``path`` that a failed write made (those missing before, left empty)."""
    missing = missing_folders(path)
    try:
        yield
    except BaseException:
        remove_made_folders(missing)
        raise


@contextlib.contextmanager
def folder_lock(directory: str, when_alone: Callable[[], None]) -> Iterator[None]:
    """Hold a shared ``flock`` on ``directory`` for a save; alone there first, call ``when_alone``.

    Every save that takes it holds the folder's lock shared while it writes, so saves run side by side.
    A save first asks for it exclusively without waiting: granted, no other such save is running in the
    folder (a killed one's lock went with its process), so ``when_alone`` may remove what killed saves
    left; the lock is then made shared. Not granted, ``when_alone`` is not called. Where the system has no
    ``flock`` (or the folder's file system refuses it) the save runs without the lock and nothing is
    called. The same lock as the TF checkpoint saves take in the folder.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, nothing removed
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:  # another save holds it (or no flock here): leave everything as it is
            alone = False
        if alone:
            when_alone()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # a file system without flock: the save runs unlocked
            pass
        yield
    finally:
        os.close(fd)  # releases the lock
