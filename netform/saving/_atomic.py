"""Atomic writes for the savers: a re-export of :mod:`netform._files`.

The writer lives in a neutral module (the CLI and the renderer use it too);
this name stays for the modules that import it from here. :func:`recover`
adds what the neutral module cannot know: a folder a swap parked is put back
only when it is a save of a directory format (a SavedModel, Keras's unzipped
form), checked as a save's target is checked before it is replaced.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import time
from typing import Any, Callable, Iterator, ParamSpec, TypeVar, cast

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
from netform._files import _parked_copies
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
    "swap_guard",
    "reading_folder",
    "read_settled",
    "settled_read",
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


#: How long a reader waits for a save running in the folder to end its swap (its two renames take
#: milliseconds) before it leaves a parked copy where it is.
SWAP_WAIT = 5.0


#: What :func:`_flock` found: the lock is held, another holds it, or this file system has no ``flock``.
_HELD, _BUSY, _NO_LOCKS = "held", "busy", "no locks"


def _open_folder(path: str, flags: int = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) -> int | None:
    """A descriptor of the folder at ``path`` to ``flock``; None where it cannot be opened or there is no ``flock``."""
    try:
        import fcntl  # noqa: F401  (POSIX only)

        return os.open(path, flags)
    except (ImportError, OSError):
        return None


def _flock(fd: int, kind: int, wait: float | None) -> str:
    """``flock(fd, kind)`` (1 shared, 2 exclusive), polled for up to ``wait`` seconds (None: until held).

    Returns :data:`_HELD`, :data:`_BUSY` (another holds it still) or :data:`_NO_LOCKS` (the file system refuses it).
    """
    import fcntl

    flag = fcntl.LOCK_SH if kind == 1 else fcntl.LOCK_EX
    if wait is None:
        try:
            fcntl.flock(fd, flag)
            return _HELD
        except OSError:  # no flock on this file system
            return _NO_LOCKS
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, flag | fcntl.LOCK_NB)
            return _HELD
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return _BUSY
            time.sleep(0.005)
        except OSError:  # no flock on this file system
            return _NO_LOCKS


@contextlib.contextmanager
def _alone_in(directory: str) -> Iterator[bool]:
    """Hold ``directory``'s save lock (:func:`folder_lock`) exclusively if no save holds it; yield whether held.

    Where the system or the file system has no ``flock``, no save can hold it either: yields True.
    """
    fd = _open_folder(directory)
    if fd is None:
        yield True
        return
    try:
        yield _flock(fd, 2, 0) != _BUSY  # busy: a save is running in the folder
    finally:
        os.close(fd)


def recover(target: str | os.PathLike[str]) -> bool:
    """Put back a save that an interrupted swap parked, when netform can prove it parked it.

    Only a folder with the note the swap wrote beside it, holding a
    SavedModel or Keras's unzipped form, is moved back; a folder that only
    has a parking name (``<target>.nf-old``, ``<target>.nf-old-<hex>``) is
    never touched. A file system error leaves everything as it was.

    A save holds its folder's lock (:func:`folder_lock`) from before it parks
    the old copy until the new one has its name: while any save holds it, a
    parked copy may be that save's, between its two renames, and is left to
    it. The caller then waits (up to :data:`SWAP_WAIT` seconds) for the target
    to be back or the lock to be free; only a copy parked by a save that has
    ended (killed between its renames) is put back, under the lock.

    Args:
        target: A directory written atomically (or a checkpoint prefix, which has none).

    Returns:
        True when a parked save was moved back into place (False also when the
        target came back by the running save's own rename).
    """
    target = os.fspath(target).rstrip(os.sep) or os.fspath(target)
    directory = os.path.dirname(os.path.abspath(target))
    deadline = time.monotonic() + SWAP_WAIT
    try:
        while not os.path.lexists(target) and _parked_copies(target):
            with _alone_in(directory) as alone:
                if alone:
                    return _recover_dir(target, accept=_is_directory_save)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    except OSError:
        return False
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
def folder_lock(directory: str, when_alone: Callable[[], None]) -> Iterator[int | None]:
    """Hold a shared ``flock`` on ``directory`` for a save; alone there first, call ``when_alone``.

    Every save that takes it holds the folder's lock shared while it writes, so saves run side by side.
    A save first asks for it exclusively without waiting: granted, no other such save is running in the
    folder (a killed one's lock went with its process), so ``when_alone`` may remove what killed saves
    left; the lock is then made shared. Not granted, ``when_alone`` is not called. Where the system has no
    ``flock`` (or the folder's file system refuses it) the save runs without the lock and nothing is
    called. The same lock as the TF checkpoint saves take in the folder; a reader puts back no parked
    folder while a save holds it (:func:`recover`). Yields the lock's descriptor (None without one).
    """
    fd = _open_folder(directory)
    if fd is None:  # not POSIX, or no folder to lock: no lock, nothing removed
        yield None
        return
    try:
        if _flock(fd, 2, 0) == _HELD:  # not held: another save holds it (or no flock here): leave all as it is
            when_alone()
        # a file system without flock: the save runs unlocked
        yield fd if _flock(fd, 1, None) == _HELD else None
    finally:
        os.close(fd)  # releases the lock


#: How long a swap waits for the readers of the folder it replaces, and a reader for a swap (which takes
#: milliseconds), before going on without the lock (a reader that hangs never blocks a save for good).
LOCK_WAIT = 30.0
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)


def swap_guard(target: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """For :func:`atomic_path`'s ``swap_guard``: the folder at ``target`` locked exclusively while it is parked
    and the new one takes its name.

    Readers hold the folder they read locked shared (:func:`reading_folder`): the swap waits for them (up
    to :data:`LOCK_WAIT` seconds), and a read that begins meanwhile waits for the swap, so none reads half
    of one save and half of another, and none finds the name missing. The lock is the folder's own (not
    the lock of the folder holding it, which saves hold while they write), so a swap never waits for
    another save.
    """

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        fd = _open_folder(target, _DIR_FLAGS)
        if fd is None:  # not POSIX, nothing there yet, or not a folder we may open
            yield
            return
        try:
            _flock(fd, 2, LOCK_WAIT)  # not held in time: the swap goes on (a hung reader never blocks a save)
            yield
        finally:
            os.close(fd)  # releases the lock, once the new folder has the name

    return guard


@contextlib.contextmanager
def reading_folder(path: str) -> Iterator[None]:
    """Hold the folder at ``path`` locked shared while a model is read from it.

    A directory save parks the folder it replaces only while it holds that folder's lock exclusively
    (:func:`swap_guard`), so the read sees one save's folder from its first file to its last. The lock is
    taken on the folder that holds the name once it is held (a swap ended meanwhile: the new one). Waits
    up to :data:`LOCK_WAIT` seconds, then reads without it (as where there is no ``flock``, or for a file).
    """
    fd = None
    try:
        for _ in range(100):
            # None: not POSIX, or a file, a link, or nothing there (a file is pinned by the reader's own open)
            fd = _open_folder(path, _DIR_FLAGS)
            if fd is None or _flock(fd, 1, LOCK_WAIT) != _HELD:
                break
            try:
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    break  # the folder that holds the name, locked
            except OSError:
                pass
            os.close(fd)  # replaced before the lock was held: lock the new one
            fd = None
        yield
    finally:
        if fd is not None:
            os.close(fd)


#: How many times a folder (or file) replaced while it was read is read again.
_FOLDER_READS = 10


def _folder_id(path: str) -> tuple[int, int, int] | None:
    """What tells the folder (or file) at ``path`` from the one a save puts there next: its inode, and its
    change time (a rename sets it; a save's new folder may reuse the inode of one deleted before)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def read_settled(path: str, read: Callable[[], Any]) -> Any:
    """``read()`` a model folder (a SavedModel, Keras's unzipped form), never across a save's swap of it.

    The read holds the folder's save lock shared (:func:`reading_folder`): a directory save swaps only
    while it holds that lock exclusively. Where no lock can be held (no ``flock``), the read is checked
    instead; also used for the detection of any path's format and for any file a save replaces.

    A save replaces a folder whole, by two renames: a reader that began on the old folder and opens a file
    after the swap reads the new folder's file, and a mix of two saves fails their checks (or reads one
    save's config with the other's weights). The folder read is the one that held ``path`` when the read
    began; when another holds it at the end, the read (its result or its error) is discarded and done again.
    """
    from netform.errors import NetformError

    for attempt in range(_FOLDER_READS):
        before = _folder_id(path)
        if before is None:  # no name for an instant: a swap between its two renames, or nothing there
            recover(path)
            before = _folder_id(path)
        last = attempt == _FOLDER_READS - 1
        try:
            # no save swaps the folder while it is read (nothing there: nothing to hold, and the reader's own
            # recover() must not find its lock taken)
            with reading_folder(path) if before is not None else contextlib.nullcontext():
                result = read()
        except (NetformError, OSError):
            if last or _folder_id(path) == before:
                raise
            continue
        if last or _folder_id(path) == before:
            return result
    raise AssertionError("unreachable")  # the last attempt returns or raises


_P = ParamSpec("_P")
_R = TypeVar("_R")


def settled_read(path_parameter: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Make a reader of a model's path read a folder (or a name missing for an instant) through :func:`read_settled`.

    ``path_parameter`` names the reader's argument that holds the path. A file is read as it is (the reader's
    own open pins it); a folder a save may replace meanwhile, or a name a swap has between its two renames,
    is read whole, never across a swap.
    """

    def decorate(read: Callable[_P, _R]) -> Callable[_P, _R]:
        signature = inspect.signature(read)

        @functools.wraps(read)
        def settled(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            path = os.fspath(signature.bind_partial(*args, **kwargs).arguments[path_parameter])
            if os.path.isdir(path) or not os.path.lexists(path):
                return cast(_R, read_settled(path, lambda: read(*args, **kwargs)))
            return read(*args, **kwargs)

        return settled

    return decorate
