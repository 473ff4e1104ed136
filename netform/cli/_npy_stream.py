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
from typing import IO, Any, Iterable, Iterator, Sequence

import numpy as np
from numpy.lib import format as npy_format

from .. import _files
from ..errors import DataError, SaveError

__all__ = ["write_npy_stream", "write_predictions", "split_outputs"]

_COPY_CHUNK = 1 << 20


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> dict[str, Any]:
    return {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}


_CAUSE = (
    "an op that reduces, gathers or joins over the batch axis (axis 0) gives no prediction per sample; "
    "predict writes one row per sample, so make the model keep the batch axis (reduce or pick along "
    "axis 1 or later)"
)


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


class _NpyWriter:
    """One ``.npy`` array written row block by row block: the header once the first block gives the dtype.

    The header announces ``rows`` rows, one per input sample; a block whose
    rows are not its samples' count, or a stream that ends short, is refused
    (never padded), and the caller removes the file.
    """

    def __init__(self, fh: IO[bytes], rows: int, path: str, output: str | None) -> None:
        self.fh, self.rows, self.path, self.output = fh, rows, path, output
        self.written = 0
        self.dtype: np.dtype | None = None
        self.tail: tuple[int, ...] = ()

    def _refuse(self, what: str) -> DataError:
        name = "the predictions" if self.output is None else f"the model's output {self.output!r:.80}"
        return DataError(f"{self.path}: {name} {what}: {_CAUSE}; nothing was written.")

    def add(self, batch: Any, samples: int | None = None) -> None:
        """Append one block of rows; ``samples``, where known, is the number of input samples behind it."""
        arr = np.asarray(batch)
        if arr.dtype.kind == "V":
            # ml_dtypes' bfloat16 and float8 values (NumPy "void" types): no buffer NumPy writes, and no .npy type
            # NumPy reads back; float32 holds each of their values exactly
            arr = arr.astype(np.float32)
        if arr.ndim == 0:
            given = f"a batch of {samples:,} samples" if samples is not None else f"{self.rows:,} samples"
            raise self._refuse(f"has one value of shape () for {given}")
        if samples is not None and len(arr) != samples:
            raise self._refuse(f"has {_rows(len(arr))} for a batch of {samples:,} samples")
        if self.dtype is None:
            self.dtype, self.tail = arr.dtype, tuple(arr.shape[1:])
            npy_format.write_array_header_1_0(self.fh, _header(self.dtype, (self.rows, *self.tail)))
        if self.written + len(arr) > self.rows:
            raise self._refuse(f"has {_rows(self.written + len(arr))} (so far) for {self.rows:,} samples")
        if tuple(arr.shape[1:]) != self.tail:
            raise DataError(
                f"{self.path}: a batch of predictions of shape {arr.shape} does not fit the "
                f"{self.rows:,} rows of shape {self.tail} announced; nothing was written."
            )
        self.fh.write(np.ascontiguousarray(arr, dtype=self.dtype).data)
        self.written += len(arr)

    def finish(self) -> None:
        """Check that the batches gave every announced row; write the header of an empty stream."""
        if self.dtype is None and self.rows == 0:
            self.dtype = np.dtype("float32")
            npy_format.write_array_header_1_0(self.fh, _header(self.dtype, (self.rows,)))
        if self.written != self.rows:
            raise self._refuse(f"has {_rows(self.written)} for {self.rows:,} samples")


def _counted(batches: Iterable[Any]) -> Iterator[tuple[Any, int | None]]:
    """Each batch with the number of input samples behind it, where the iterator tells it.

    A model's ``predict_iter`` tells it (its ``samples``); a plain iterable
    does not (``None``), and only the total is checked, by :meth:`_NpyWriter.finish`.
    """
    iterator = iter(batches)
    for batch in iterator:
        yield batch, getattr(iterator, "samples", None)


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


def write_npy_stream(path: str | os.PathLike[str], batches: Iterable[Any], rows: int, output: str | None = None) -> int:
    """Write the batches of one output as one ``.npy`` array of ``rows`` rows.

    The header is written when the first batch gives the dtype and row shape;
    each batch is then appended, so memory holds one batch at a time. The
    file is a temporary one beside ``path``, created exclusively under an
    unpredictable name (never through a planted link) and renamed over
    ``path`` at the end; on any failure it is removed and ``path`` is intact.

    Args:
        path: The ``.npy`` file to create or replace.
        batches: Arrays, in order; an iterator with a ``samples`` attribute
            (``predict_iter``'s) tells the input samples behind each one.
        rows: The number of rows they add up to: one per input sample.
        output: The output's name, for messages.

    Returns:
        The number of rows the batches held.

    Raises:
        DataError: The batches disagree in shape, a batch has other rows than
            its samples, or they hold other than ``rows`` rows (nothing is padded).
        SaveError: The file could not be written (a full disk included).
    """
    return _write_npy(path, _counted(batches), rows, output)


def _write_npy(
    path: str | os.PathLike[str], counted: Iterable[tuple[Any, int | None]], rows: int, output: str | None
) -> int:
    try:
        with _files.atomic_file(path) as fh:
            writer = _NpyWriter(fh, rows, os.fspath(path), output)
            for batch, samples in counted:
                writer.add(batch, samples)
            writer.finish()
    except OSError as err:
        raise _save_error(path, err) from err
    return writer.written


def write_predictions(
    path: str | os.PathLike[str], batches: Iterable[Any], rows: int, names: Sequence[str], chosen: Sequence[str]
) -> int:
    """Write the chosen outputs of each batch: one ``.npy`` array, or one ``.npz`` member per output.

    Every output has one row per input sample: a batch whose rows are not its
    samples (``predict_iter`` tells them), or outputs that end short of
    ``rows``, is a :class:`DataError` and nothing is written.

    Args:
        path: The file to create or replace; ``.npz`` for an archive, anything
            else for one ``.npy`` array (then ``chosen`` holds one name).
        batches: The model's predictions, batch by batch (see :func:`split_outputs`).
        rows: The number of rows of each output (the number of input samples).
        names: The model's output names, in order.
        chosen: The outputs to write, in the order of the archive.

    Returns:
        The number of rows the batches held.

    Raises:
        DataError: The batches disagree in shape, number of outputs or rows.
        SaveError: The file could not be written; any old file is left intact.
    """
    counted = _counted(batches)
    if not os.fspath(path).lower().endswith(".npz"):
        if len(chosen) != 1:
            raise ValueError("an .npy file holds one output")
        return _write_npy(path, ((split_outputs(b, names)[chosen[0]], s) for b, s in counted), rows, chosen[0])
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        with ExitStack() as stack:
            os.makedirs(directory, exist_ok=True)
            # Anonymous files: removed by the system when closed, whatever happens.
            parts = {n: stack.enter_context(tempfile.TemporaryFile(dir=directory)) for n in chosen}
            writers = {n: _NpyWriter(parts[n], rows, os.fspath(path), n) for n in chosen}
            for batch, samples in counted:
                arrays = split_outputs(batch, names)
                for n in chosen:
                    writers[n].add(arrays[n], samples)
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
