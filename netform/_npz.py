"""The headers of an ``.npz`` archive's arrays, checked before anything is allocated.

Shared by the CLI's data files (``train --data d.npz``) and the training
backup (``state/variables.npz``): both are untrusted input, and NumPy
allocates whatever shape a ``.npy`` header declares before it reads a byte of
data (a 128-byte header declaring ``(100000, 100000)`` asks for 37 GiB). Each
member's header is read alone and the bytes it declares are compared with the
bytes the archive stores for it and with its compression ratio; members may
not share stored bytes. A problem is an :class:`NpzProblem`, which each caller
turns into its own error with its own fix.
"""

from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # NumPy is imported where headers are read: `netform train` checks files before that
    import numpy as np

__all__ = [
    "MAX_DATA_RATIO",
    "MIN_BOMB_BYTES",
    "ZIP_READ_ERRORS",
    "NpzMember",
    "NpzProblem",
    "check_members",
    "member_header",
]

#: A compressed member may inflate at most this many times its stored size ...
MAX_DATA_RATIO = 200
#: ... once it inflates to more than this many bytes (small arrays of zeros compress well).
MIN_BOMB_BYTES = 64 * 2**20
#: What reading an entry of a zip archive someone else wrote may raise: zipfile's own errors, inflating
#: (``zlib.error``), a compression method or zip version it does not read (``NotImplementedError``) and an
#: encrypted entry (``RuntimeError``).
ZIP_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


#: What NumPy raises on a header it cannot parse, besides ValueError: it tokenizes and evaluates the header's
#: Python literal (a cut-off one is a TokenError, a malformed one a SyntaxError, a deep one a RecursionError).
_HEADER_ERRORS = (tokenize.TokenError, SyntaxError, RecursionError, TypeError, KeyError, MemoryError)


class NpzProblem(Exception):
    """What is wrong with an archive (``what``) and how a data file is written right (``fix``).

    ``str()`` is the whole message for a data file; a caller with another
    fix (the training backup) uses ``what`` alone.
    """

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what + fix)
        self.what = what


class NpzMember(NamedTuple):
    """One member of an archive, from its header alone."""

    info: zipfile.ZipInfo
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    nbytes: int


def check_members(path: str, infos: list[zipfile.ZipInfo], size: int | None = None) -> None:
    """Refuse members that share stored bytes (their sizes could not add up otherwise).

    Args:
        path: How messages name the archive.
        infos: Its members.
        size: The archive's size in bytes (default: the size of the file at ``path``).

    Raises:
        NpzProblem: The members claim more stored bytes than the archive has, or overlap.
    """
    stored = sum(info.compress_size for info in infos)
    size = os.path.getsize(path) if size is None else size
    if stored > size or len({info.header_offset for info in infos}) < len(infos):
        raise NpzProblem(
            f"{path}: the archive's entries overlap ({stored} stored bytes declared in "
            f"a {size}-byte file); it is crafted or corrupt",
            ". Write it again with numpy.savez.",
        )


#: the longest .npy header numpy reads without being told to trust the file (``max_header_size``)
_HEADER_LIMIT = 10_000


def member_header(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NpzMember:
    """One member's name, shape, dtype and declared bytes, from its header alone, checked against its storage.

    Raises:
        NpzProblem: The member would inflate more than :data:`MAX_DATA_RATIO`
            times (past :data:`MIN_BOMB_BYTES`), its header cannot be read, or
            it declares more bytes than the archive stores for it.
    """
    import numpy as np

    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if info.file_size > MIN_BOMB_BYTES and info.file_size > MAX_DATA_RATIO * max(info.compress_size, 1):
        raise NpzProblem(
            f"{path}: array '{name}' would inflate from {info.compress_size} to {info.file_size} "
            f"bytes, more than {MAX_DATA_RATIO} times its compressed size (a compression bomb?); "
            "refused",
            ". Save real data with numpy.savez or numpy.savez_compressed.",
        )
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            header = fh.tell()
    except (*ZIP_READ_ERRORS, *_HEADER_ERRORS) as err:
        why = str(err)
        if "max_header_size" in why or "allow_pickle" in why:  # numpy's advice names options netform does not take
            why = f"its header is longer than numpy reads safely ({_HEADER_LIMIT:,} characters)"
        raise NpzProblem(
            f"{path}: entry '{info.filename}' is not a .npy array with a readable header ({why})",
            "; write the file with numpy.savez.",
        ) from err
    if dtype.hasobject:  # its bytes are a pickle, which is never loaded: say so, not that the size is wrong
        raise NpzProblem(
            f"{path}: array '{name}' holds Python objects (dtype {str(dtype)[:80]}), which numpy stores as a "
            "pickle; netform never loads a pickle (unpickling can run code)",
            ". Save numbers (or strings) instead: numpy.savez with arrays of a numeric dtype.",
        )
    nbytes = int(dtype.itemsize)
    for dim in shape:
        nbytes *= int(dim)
    if nbytes > info.file_size - header:
        raise NpzProblem(
            f"{path}: array '{name}' declares shape {tuple(shape)} of {dtype} ({nbytes} bytes), but the file "
            f"stores only {max(info.file_size - header, 0)} bytes for it; the file is truncated or crafted",
            ". Write it again with numpy.savez.",
        )
    return NpzMember(info, name, tuple(shape), dtype, nbytes)
