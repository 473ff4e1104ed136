"""Atomic writes: every save goes to a temporary name beside the target.

A save never writes into the file that is already there. It writes a new file
(or directory) under a temporary name in the same directory, flushes it to
disk, and renames it over the target with :func:`os.replace`, which is atomic
on POSIX and Windows for files on one file system. A directory cannot be
replaced atomically, so for a SavedModel directory the old copy is first
renamed to a backup name, the new one renamed into place and only then the
backup deleted; :func:`recover` puts a backup back if a process died between
the two renames. At every instant a valid copy exists under one of two names.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["atomic_path", "atomic_file", "atomic_prefix", "recover", "BACKUP_SUFFIX", "TMP_MARK"]

#: Names of temporary files and directories contain this mark.
TMP_MARK = ".nf-tmp-"
#: A directory being replaced is parked under ``<name>`` + this suffix.
BACKUP_SUFFIX = ".nf-old"


def _fsync_path(path: str) -> None:
    """Flush a file, or every file of a directory tree, to disk."""
    paths: list[str] = []
    if os.path.isdir(path):
        for root, _dirs, files in os.walk(path):
            paths.extend(os.path.join(root, f) for f in files)
            paths.append(root)
    else:
        paths.append(path)
    for p in paths:
        flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(p) else os.O_RDONLY
        try:
            fd = os.open(p, flags)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:  # some file systems refuse fsync on directories
            pass
        finally:
            os.close(fd)


def _fsync_one_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def recover(target: str | os.PathLike[str]) -> bool:
    """Put back a directory parked by an interrupted directory swap.

    Args:
        target: The path of a SavedModel directory.

    Returns:
        True when a backup was found and moved back into place.
    """
    target = os.fspath(target).rstrip(os.sep)
    backup = target + BACKUP_SUFFIX
    if not os.path.exists(target) and os.path.isdir(backup):
        os.replace(backup, target)
        return True
    if not os.path.exists(target + ".index") and os.path.isfile(backup + ".index"):
        for old in _prefix_files(backup):
            os.replace(old, target + old[len(backup):])
        return True
    return False


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _temp_name(target: str) -> str:
    directory, base = os.path.split(os.path.abspath(target))
    # Keep the base name as the suffix: Keras checks extensions such as ".keras".
    return os.path.join(directory, f".{secrets.token_hex(4)}{TMP_MARK}{base}")


def _commit(tmp: str, target: str) -> None:
    """Move ``tmp`` to ``target`` so that a valid copy always exists."""
    _fsync_path(tmp)
    directory = os.path.dirname(os.path.abspath(target))
    if os.path.isdir(tmp) or os.path.isdir(target):
        backup = target.rstrip(os.sep) + BACKUP_SUFFIX
        _remove(backup)
        if os.path.lexists(target):
            os.replace(target, backup)
        os.replace(tmp, target)
        _fsync_one_dir(directory)
        _remove(backup)
    else:
        os.replace(tmp, target)
    _fsync_one_dir(directory)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path beside ``target``; move it into place on success.

    The caller writes a file or a directory at the yielded path. When the
    block exits normally the result replaces ``target`` atomically (a
    directory by a backup-and-swap that never leaves no valid copy). When the
    block raises, the temporary output is deleted and ``target`` is untouched.

    Args:
        target: Final path of the file or directory.

    Yields:
        A path in the same directory whose base name ends with the target's
        base name (so extension checks still pass).

    Example:
        >>> with atomic_path("out/model.keras") as tmp:  # doctest: +SKIP
        ...     keras.saving.save_model(model, tmp)
    """
    target = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    recover(target)
    tmp = _temp_name(target)
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise FileNotFoundError(f"nothing was written at the temporary path {tmp}")
        _commit(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Like :func:`atomic_path` for one file, yielding it open (``w+b``).

    The writer writes through the handle; on success the same descriptor is
    flushed and fsynced (no reopening), renamed over ``target`` and the
    directory fsynced: one fsync of the file, one of the directory.

    Args:
        target: Final path of the file.

    Yields:
        A binary file, readable and writable, named like ``target`` with a
        temporary prefix (``fh.name``).
    """
    target = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    tmp = _temp_name(target)
    fh = open(tmp, "x+b")  # noqa: SIM115 - closed below on every path
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, target)
    except BaseException:
        fh.close()
        _remove(tmp)
        raise
    _fsync_one_dir(directory)


def _prefix_files(prefix: str) -> list[str]:
    directory, base = os.path.split(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        return []
    return sorted(
        os.path.join(directory, n)
        for n in os.listdir(directory)
        if n == base + ".index" or n.startswith(base + ".data-")
    )


@contextlib.contextmanager
def atomic_prefix(prefix: str | os.PathLike[str]) -> Iterator[str]:
    """Like :func:`atomic_path` for a TF checkpoint (``prefix.index`` + data shards).

    Data shards are moved in first and the ``.index`` last: a reader looks
    for the index, and until it is replaced the old index still names the old
    shards, which are parked under a backup prefix and read from there.

    Args:
        prefix: The checkpoint prefix (``dir/ckpt``).

    Yields:
        A temporary prefix in the same directory.
    """
    prefix = os.fspath(prefix)
    directory, base = os.path.split(os.path.abspath(prefix))
    os.makedirs(directory, exist_ok=True)
    recover(prefix)
    tmp_dir = os.path.join(directory, f".{secrets.token_hex(4)}{TMP_MARK}{base}")
    os.makedirs(tmp_dir)
    tmp_prefix = os.path.join(tmp_dir, base)
    try:
        yield tmp_prefix
        new_files = _prefix_files(tmp_prefix)
        if not any(f.endswith(".index") for f in new_files):
            raise FileNotFoundError(f"no checkpoint index was written at {tmp_prefix}")
        _fsync_path(tmp_dir)
        full = os.path.join(directory, base)
        backup = full + BACKUP_SUFFIX
        for stale in _prefix_files(backup):
            _remove(stale)
        # Keep a complete copy of the old checkpoint under the backup prefix
        # (hard links: instant, no extra space) while the new files move in.
        old_files = _prefix_files(full)
        for old in sorted(old_files, key=lambda f: f.endswith(".index")):
            _link_or_copy(old, backup + old[len(full):])
        _fsync_one_dir(directory)
        # Without an index the prefix reads as absent, so recover() takes the
        # backup until the new index lands last.
        _remove(full + ".index")
        for new in sorted(new_files, key=lambda f: f.endswith(".index")):
            os.replace(new, os.path.join(directory, os.path.basename(new)))
        new_names = {os.path.basename(f) for f in new_files}
        for old in old_files:
            if os.path.basename(old) not in new_names:
                _remove(old)
        _fsync_one_dir(directory)
        for old in _prefix_files(backup):
            _remove(old)
    except BaseException:
        _remove(tmp_dir)
        raise
    _remove(tmp_dir)
    _fsync_one_dir(directory)
