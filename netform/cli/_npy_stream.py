"""Stream predictions, batch by batch, into ``.npy`` or ``.npz`` through netform's atomic writer.

Memory holds one batch at a time: each output's rows go straight to disk.
An ``.npy`` holds one output; an ``.npz`` holds one array per output, named
after it (``np.load(path)["cls"]``). Every output is first streamed into its
own anonymous temporary ``.npy`` beside the target (gone when closed, even
after a crash), then copied as one member of the ``.npz``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from contextlib import ExitStack
from typing import IO, Any, Iterable, Sequence

import numpy as np
from numpy.lib import format as npy_format

from .. import _files
from ..errors import DataError, SaveError

__all__ = ["write_npy_stream", "write_predictions", "split_outputs"]

_ZEROS_CHUNK = 1 << 20
_COPY_CHUNK = 1 << 20


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}


class _NpyWriter:
    """One ``.npy`` array written row block by row block: the header once the first block gives the dtype."""

    def __init__(self, fh: IO[bytes], rows: int, label: str) -> None:
        self.fh, self.rows, self.label = fh, rows, label
        self.written = 0
        self.dtype: np.dtype | None = None
        self.tail: tuple[int, ...] = ()

    def add(self, batch: Any) -> None:
        arr = np.asarray(batch)
        if self.dtype is None:
            self.dtype, self.tail = arr.dtype, tuple(arr.shape[1:])
            npy_format.write_array_header_1_0(self.fh, _header(self.dtype, (self.rows, *self.tail)))
        if arr.ndim == 0 or tuple(arr.shape[1:]) != self.tail or self.written + len(arr) > self.rows:
            raise DataError(
                f"{self.label}: a batch of predictions of shape {arr.shape} does not fit the "
                f"{self.rows} rows of shape {self.tail} announced; nothing was written."
            )
        self.fh.write(np.ascontiguousarray(arr, dtype=self.dtype).data)
        self.written += len(arr)

    def finish(self) -> None:
        """Write the header of an empty stream, and zeros for rows the batches did not give."""
        if self.dtype is None:
            self.dtype = np.dtype("float32")
            npy_format.write_array_header_1_0(self.fh, _header(self.dtype, (self.rows,)))
        missing = (self.rows - self.written) * int(np.prod(self.tail, dtype=np.int64)) * self.dtype.itemsize
        while missing > 0:
            step = min(missing, _ZEROS_CHUNK)
            self.fh.write(bytes(step))
            missing -= step


def split_outputs(batch: Any, names: Sequence[str]) -> dict[str, Any]:
    """One batch of a model's predictions as ``{output name: array}``.

    Args:
        batch: An array (one output), a list/tuple in output order, or a dict by output name.
        names: The model's output names, in order.

    Raises:
        DataError: The batch does not hold one array per output.
    """
    if isinstance(batch, dict):
        return dict(batch)
    items = list(batch) if isinstance(batch, (list, tuple)) else [batch]
    if len(items) != len(names):
        raise DataError(
            f"the model gave {len(items)} prediction array(s) per batch for its {len(names)} "
            f"output(s) ({', '.join(names)}); nothing was written."
        )
    return dict(zip(names, items))


def _save_error(path: str | os.PathLike[str], err: OSError) -> SaveError:
    from ._spec_cmds import write_fix

    return SaveError(
        f"{os.fspath(path)}: cannot write the predictions ({err.strerror or err}); any file that "
        f"was there before is left intact. {write_fix(err, path)}."
    )


def write_npy_stream(path: str | os.PathLike[str], batches: Iterable[Any], rows: int) -> int:
    """Write the batches of one output as one ``.npy`` array of ``rows`` rows.

    The header is written when the first batch gives the dtype and row shape;
    each batch is then appended, so memory holds one batch at a time. The
    file is a temporary one beside ``path``, created exclusively under an
    unpredictable name (never through a planted link) and renamed over
    ``path`` at the end; on any failure it is removed and ``path`` is intact.

    Args:
        path: The ``.npy`` file to create or replace.
        batches: Arrays, in order.
        rows: The number of rows they add up to (missing rows are zeros).

    Returns:
        The number of rows the batches held.

    Raises:
        DataError: The batches disagree in shape or hold more than ``rows`` rows.
        SaveError: The file could not be written (a full disk included).
    """
    try:
        with _files.atomic_file(path) as fh:
            writer = _NpyWriter(fh, rows, os.fspath(path))
            for batch in batches:
                writer.add(batch)
            writer.finish()
    except OSError as err:
        raise _save_error(path, err) from err
    return writer.written


def write_predictions(
    path: str | os.PathLike[str], batches: Iterable[Any], rows: int, names: Sequence[str], chosen: Sequence[str]
) -> int:
    """Write the chosen outputs of each batch: one ``.npy`` array, or one ``.npz`` member per output.

    Args:
        path: The file to create or replace; ``.npz`` for an archive, anything
            else for one ``.npy`` array (then ``chosen`` holds one name).
        batches: The model's predictions, batch by batch (see :func:`split_outputs`).
        rows: The number of rows of each output.
        names: The model's output names, in order.
        chosen: The outputs to write, in the order of the archive.

    Returns:
        The number of rows the batches held.

    Raises:
        DataError: The batches disagree in shape or number of outputs.
        SaveError: The file could not be written; any old file is left intact.
    """
    if not os.fspath(path).lower().endswith(".npz"):
        if len(chosen) != 1:
            raise ValueError("an .npy file holds one output")
        return write_npy_stream(path, (split_outputs(b, names)[chosen[0]] for b in batches), rows)
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        with ExitStack() as stack:
            os.makedirs(directory, exist_ok=True)
            # Anonymous files: removed by the system when closed, whatever happens.
            parts = {n: stack.enter_context(tempfile.TemporaryFile(dir=directory)) for n in chosen}
            writers = {n: _NpyWriter(parts[n], rows, f"{os.fspath(path)} ({n})") for n in chosen}
            for batch in batches:
                arrays = split_outputs(batch, names)
                for n in chosen:
                    writers[n].add(arrays[n])
            for writer in writers.values():
                writer.finish()
            with _files.atomic_file(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for n in chosen:
                    parts[n].seek(0)
                    with zf.open(f"{n}.npy", "w", force_zip64=True) as member:
                        shutil.copyfileobj(parts[n], member, _COPY_CHUNK)
    except OSError as err:
        raise _save_error(path, err) from err
    return next(iter(writers.values())).written if writers else 0
