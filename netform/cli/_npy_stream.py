"""Stream arrays, batch by batch, into an ``.npy`` file through netform's atomic writer."""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np
from numpy.lib import format as npy_format

from .. import _files
from ..errors import DataError, SaveError

__all__ = ["write_npy_stream"]

_ZEROS_CHUNK = 1 << 20


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}


def write_npy_stream(path: str | os.PathLike[str], batches: Iterable[Any], rows: int) -> int:
    """Write the batches (first output of each) as one ``.npy`` array of ``rows`` rows.

    The header is written when the first batch gives the dtype and row shape;
    each batch is then appended, so memory holds one batch at a time. The
    file is a temporary one beside ``path``, created exclusively under an
    unpredictable name (never through a planted link) and renamed over
    ``path`` at the end; on any failure it is removed and ``path`` is intact.

    Args:
        path: The ``.npy`` file to create or replace.
        batches: Arrays (or lists/tuples whose first item is used), in order.
        rows: The number of rows they add up to (missing rows are zeros).

    Returns:
        The number of rows the batches held.

    Raises:
        DataError: The batches disagree in shape or hold more than ``rows`` rows.
        SaveError: The file could not be written (a full disk included).
    """
    written = 0
    dtype: np.dtype | None = None
    tail: tuple[int, ...] = ()
    try:
        with _files.atomic_file(path) as fh:
            for batch in batches:
                arr = np.asarray(batch[0] if isinstance(batch, (list, tuple)) else batch)
                if dtype is None:
                    dtype, tail = arr.dtype, tuple(arr.shape[1:])
                    npy_format.write_array_header_1_0(fh, _header(dtype, (rows, *tail)))
                if tuple(arr.shape[1:]) != tail or written + len(arr) > rows:
                    raise DataError(f"{os.fspath(path)}: a batch of predictions of shape {arr.shape} does not "
                                    f"fit the {rows} rows of shape {tail} announced; nothing was written.")
                fh.write(np.ascontiguousarray(arr, dtype=dtype).data)
                written += len(arr)
            if dtype is None:
                dtype = np.dtype("float32")
                npy_format.write_array_header_1_0(fh, _header(dtype, (rows,)))
            missing = (rows - written) * int(np.prod(tail, dtype=np.int64)) * dtype.itemsize
            while missing > 0:
                step = min(missing, _ZEROS_CHUNK)
                fh.write(bytes(step))
                missing -= step
    except OSError as err:
        raise SaveError(f"{os.fspath(path)}: cannot write the predictions ({err.strerror or err}); any file "
                        "that was there before is left intact. Free some space or choose another path.") from err
    return written
