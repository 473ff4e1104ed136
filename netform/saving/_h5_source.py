"""One read of an HDF5 file: what is checked, verified and loaded are the same bytes.

A save replaces its target by renaming a new file over it. A loader that
opens the path twice (once for HDF5, once to checksum the raw bytes, once
more for Keras) can meet two different files, and report a good file as
corrupt or mix two saves. Every HDF5 loader therefore opens the path once,
through :func:`open_h5`: a file up to :data:`READ_WHOLE_BYTES` is read into
memory in one call; a larger one is read through one descriptor kept open
for the whole load.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any, Iterator, NamedTuple

from netform.errors import FormatError, NetformError, UnsafeFileError

__all__ = ["H5Source", "open_h5", "READ_WHOLE_BYTES", "check_unchanged", "keras_refusal", "keras_refusals"]

#: Files up to this size are read whole, once; larger ones through one open descriptor.
READ_WHOLE_BYTES = 256 * 2**20


class H5Source(NamedTuple):
    """An HDF5 file open for reading, and the bytes it reads.

    Attributes:
        file: The open ``h5py.File``.
        raw: What the checksums read: the in-memory ``BytesIO`` or the open
            descriptor (an ``int``) of the same file.
        size: The file's size in bytes.
        image: The ``BytesIO`` holding the whole file, None for a large file.
    """

    file: Any
    raw: Any
    size: int
    image: io.BytesIO | None


@contextlib.contextmanager
def open_h5(source: str | os.PathLike[str] | io.BytesIO) -> Iterator[H5Source]:
    """Open an HDF5 file once, for reading.

    Args:
        source: A path, or the file's bytes in a BytesIO.

    Yields:
        The open file and the bytes it reads (see :class:`H5Source`).
    """
    import h5py

    if isinstance(source, io.BytesIO):
        with h5py.File(source, "r") as f:
            yield H5Source(f, source, len(source.getbuffer()), source)
        return
    with open(source, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= READ_WHOLE_BYTES:
            image = io.BytesIO(fh.read())
            with h5py.File(image, "r") as f:
                yield H5Source(f, image, len(image.getbuffer()), image)
            return
        with h5py.File(fh, "r") as f:
            yield H5Source(f, fh.fileno(), size, None)


def check_unchanged(fd: int, path: str | os.PathLike[str]) -> None:
    """Refuse to go on when ``path`` no longer names the file open as ``fd``.

    Raises:
        FormatError: The file was replaced while it was being read.
    """
    here, there = os.fstat(fd), None
    with contextlib.suppress(OSError):
        there = os.stat(path)
    if there is None or (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
        raise FormatError(
            f"{os.fspath(path)}: the file was replaced while it was being read (a save in progress?); load it again."
        )


#: How Keras's own HDF5 guards (``safe_get_h5_dataset`` and friends) begin their refusals.
_KERAS_REFUSAL = "Not allowed"


def keras_refusal(where: str, messages: list[str]) -> UnsafeFileError | None:
    """The UnsafeFileError for the first of Keras's own refusals among ``messages``, if any.

    netform's checks refuse links, external and virtual datasets and bombs
    before Keras reads anything; should Keras still refuse something, the
    caller reports it as unsafe, not as weights that do not fit.
    """
    for message in messages:
        text = " ".join(str(message).split())
        if _KERAS_REFUSAL in text:
            return UnsafeFileError(f"{where}: Keras refused part of the HDF5 data ({text[:300]}); the file is refused.")
    return None


@contextlib.contextmanager
def keras_refusals(where: str) -> Iterator[None]:
    """Turn Keras's own HDF5 refusals raised inside the block into :class:`UnsafeFileError`."""
    try:
        yield
    except NetformError:
        raise  # already netform's own error (FormatError and friends are ValueErrors too)
    except ValueError as err:
        refusal = keras_refusal(where, [str(err)])
        if refusal is not None:
            raise refusal from err
        raise
