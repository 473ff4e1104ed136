"""Atomic writes for the savers: a re-export of :mod:`netform._files`.

The writer lives in a neutral module (the CLI and the renderer use it too);
this name stays for the modules that import it from here. :func:`recover`
also puts back a checkpoint parked by an earlier netform version, which
swapped checkpoint files one by one under a backup prefix.
"""

from __future__ import annotations

import os

from netform._files import BACKUP_SUFFIX, TMP_MARK, atomic_file, atomic_path, fsync_dir, temp_name, write_bytes
from netform._files import recover as _recover_dir

__all__ = [
    "atomic_path",
    "atomic_file",
    "write_bytes",
    "recover",
    "fsync_dir",
    "temp_name",
    "BACKUP_SUFFIX",
    "TMP_MARK",
]


def _prefix_files(prefix: str) -> list[str]:
    directory, base = os.path.split(os.path.abspath(prefix))
    if not os.path.isdir(directory):
        return []
    return sorted(
        os.path.join(directory, n)
        for n in os.listdir(directory)
        if n == base + ".index" or n.startswith(base + ".data-")
    )


def recover(target: str | os.PathLike[str]) -> bool:
    """Put back a directory, or a checkpoint prefix, parked by an interrupted swap.

    Args:
        target: A directory written atomically, or a checkpoint prefix.

    Returns:
        True when a backup was found and moved back into place.
    """
    target = os.fspath(target).rstrip(os.sep)
    if _recover_dir(target):
        return True
    backup = target + BACKUP_SUFFIX
    if (
        not os.path.lexists(target + ".index")
        and os.path.isfile(backup + ".index")
        and not os.path.islink(backup + ".index")
    ):
        for old in _prefix_files(backup):
            os.replace(old, target + old[len(os.path.abspath(backup)) :])
        return True
    return False
