"""Named arrays from the data files of ``train``, ``evaluate`` and ``predict``.

A data file is untrusted input like a model file. Before anything is
allocated, an ``.npz`` member's header is read and the size it declares is
compared with the bytes the archive really holds, with its compression ratio
and with :data:`MAX_DATA_BYTES`; a CSV is decoded line by line as strict
UTF-8 and parsed without touching ``csv.field_size_limit`` (process-wide
state). Every refusal is a :class:`~netform.errors.DataError` naming the file
and the array, or the row and column, and saying what to do.
"""

from __future__ import annotations

import collections
import csv
import os
import stat
import zipfile
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .._npz import MAX_DATA_RATIO, ZIP_READ_ERRORS, NpzProblem, check_members, member_header
from ..errors import DataError

if TYPE_CHECKING:  # imported where arrays are made: `netform train` checks its files before NumPy loads
    import numpy as np

__all__ = ["read_data", "DataFile", "MAX_DATA_BYTES", "MAX_DATA_RATIO"]

#: The arrays of one data file may hold at most this many bytes in all.
MAX_DATA_BYTES = 8 * 2**30
# A compressed ``.npz`` member may inflate at most MAX_DATA_RATIO times its stored size once past
# MIN_BOMB_BYTES (netform/_npz.py, shared with the training backup's arrays).
# Complex numbers are not among them: Keras casts them to float32, dropping the imaginary part with
# only a logged warning, so a data file holding them is refused as object arrays are.
_NUMERIC_KINDS = "biuf"


class DataFile(dict):
    """The named arrays of one data file, in file order, and where its text columns first hold text.

    Attributes:
        path: The file they were read from.
        text_at: ``{column: (row, column number, value)}`` of each CSV column that
            holds text, at its first value that is not a number (an ``.npz``
            array of strings: ``(0, 0, "")``); such columns hold ``str`` objects.
    """

    def __init__(self, path: str, arrays: dict[str, Any], text_at: dict[str, tuple[int, int, str]] | None = None):
        super().__init__(arrays)
        self.path = path
        self.text_at = dict(text_at or {})

    def not_a_number(self, name: str) -> str:
        """Where column ``name`` holds text, as the CSV reader says it: ``f.csv: row 3, column 2 ('y'): 'abc'``."""
        row, column, value = self.text_at[name]
        if not row:
            return f"{self.path}: array {name!r} holds strings ({self[name].dtype})"
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"{self.path}: row {row}, column {column} ({name!r}): {shown!r} is not a number"


def read_data(path: str, *, text: bool = False) -> DataFile:
    """Named arrays from an ``.npz`` (arrays) or ``.csv`` (columns with a header row).

    Args:
        path: The data file.
        text: Keep columns of text (categories for a ``StringLookup``) as
            arrays of ``str`` instead of refusing them; the caller decides
            where they may go (see :attr:`DataFile.text_at`).

    Returns:
        ``{name: array}``; every array has a first axis of samples.

    Raises:
        DataError: Missing file, unknown extension, unreadable or hostile
            content (the message names the array, or the row and column).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: {not_a_data_file(path)}")
    if p.suffix not in (".npz", ".csv"):
        raise DataError(f"{path}: data must be .npz (named arrays) or .csv (named columns)")
    try:
        if p.suffix == ".npz":
            arrays = _read_npz(path, text=text)
            return DataFile(path, arrays, {k: (0, 0, "") for k, v in arrays.items() if v.dtype.kind == "U"})
        return _read_csv(path, text=text)
    except OSError as err:  # EIO (/proc/self/mem), a failing disk, a network share gone while reading
        raise DataError(f"{path}: cannot read the data file ({err.strerror or err})") from err


def not_a_data_file(path: str | os.PathLike[str]) -> str:
    """Why ``path``, not a regular file, is no data file: what is there instead, or that nothing is."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "no such data file"
    if stat.S_ISDIR(mode):
        return "is a folder, not a data file"
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"is {kind}, not a data file (only regular .npz or .csv files are read, never waited on)"


def read_text_columns(path: str, names: list[str]) -> dict[str, np.ndarray]:
    """Columns of a CSV file as they are written (``str`` objects), for inputs that take strings.

    A column of numbers that are categories (postcodes, codes) must reach a
    ``StringLookup`` as the text of the file, not as the float it parses to.
    The file was read once already; this reads only the named columns again.
    """
    header, _ = _csv_header(path)
    wanted = [header.index(name) for name in names]
    return dict(zip(names, _csv_text(path, wanted)))


def _read_npz(path: str, *, text: bool = False) -> dict[str, np.ndarray]:
    import numpy as np

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as err:  # NotImplementedError: a zip version
        raise DataError(f"{path}: not a readable .npz archive ({err}); write it with numpy.savez") from err
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        try:
            check_members(path, infos)
        except NpzProblem as err:
            raise DataError(str(err)) from err
        headers = [_member_header(path, archive, info, text=text) for info in infos]
        seen: set[str] = set()
        for name, _, _, _ in headers:
            if name in seen:  # numpy.load keeps the last one: which array is meant is anyone's guess
                raise DataError(
                    f"{path}: the archive holds two arrays named {name!r}; it is crafted or corrupt. "
                    "Write it again with numpy.savez."
                )
            seen.add(name)
        total = sum(nbytes for _, _, _, nbytes in headers)
        if total > MAX_DATA_BYTES:
            raise DataError(
                f"{path}: the arrays declare {total} bytes in all, over netform's limit of "
                f"{MAX_DATA_BYTES} bytes for one data file; split the data into smaller files or "
                "stream it with the Python API (fit on a tf.data.Dataset or a generator)."
            )
        out: dict[str, np.ndarray] = {}
        for info, (name, _, _, _) in zip(infos, headers):
            try:
                with archive.open(info) as fh:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
            except ZIP_READ_ERRORS as err:
                raise DataError(
                    f"{path}: array '{name}' cannot be read ({err}); the file is "
                    "truncated or corrupt. Write it again with numpy.savez."
                ) from err
    return out


def _member_header(
    path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, text: bool = False
) -> tuple[str, tuple[int, ...], np.dtype[Any], int]:
    """``(name, shape, dtype, bytes)`` of one member, from its header alone, checked."""
    try:
        name, shape, dtype, nbytes = member_header(path, archive, info)[1:]
    except NpzProblem as err:
        raise DataError(str(err)) from err
    if not shape:
        raise DataError(
            f"{path}: array '{name}' is a single value (a 0-d array), but data arrays need a first "
            "axis of samples; save it with shape (n,) or (n, ...), e.g. numpy.atleast_1d(value)."
        )
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS + ("U" if text else ""):
        raise DataError(
            f"{path}: array '{name}' holds {dtype} values; netform trains on numbers "
            "(bool, int, float). Convert it before saving."
        )
    if dtype.kind == "f" and dtype.itemsize > 8:  # numpy's long double: TensorFlow has no such dtype
        raise DataError(
            f"{path}: array '{name}' holds {dtype} values (long double), which TensorFlow does not compute with; "
            "convert it with .astype('float64') (or float32) before saving."
        )
    return name, shape, dtype, nbytes


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a file decoded as strict UTF-8 (a leading BOM is skipped)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}: line {number} is not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                    f"{err.start + 1}); save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8')."
                ) from None


def _too_long(path: str, number: int, text: str, header: list[str]) -> DataError:
    limit = csv.field_size_limit()
    fields = text.rstrip("\r\n").split(",")
    for column, field in enumerate(fields, start=1):
        if len(field) > limit:
            label = f" ({header[column - 1]!r})" if 0 < column <= len(header) else ""
            return DataError(
                f"{path}: row {number}, column {column}{label} is {len(field)} characters, "
                f"over the CSV limit of {limit}; a value must be one number per cell."
            )
    return DataError(
        f"{path}: row {number} has a field over the CSV limit of {limit} characters; "
        "a value must be one number per cell."
    )


def _csv_rows(path: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-empty CSV row, the header first, each checked for its field count."""
    current: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        for item in _lines(path):
            current[:] = [item]
            yield item[1]

    reader = csv.reader(feed())
    header: list[str] = []
    row_number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            number, line = current[0] if current else (0, "")
            if "field larger than field limit" in str(err):
                raise _too_long(path, number, line, header) from None
            raise DataError(
                f"{path}: row {number} is not valid CSV ({err}); quote fields that hold commas or quotes."
            ) from None
        row_number = current[0][0] if current else row_number + 1
        if not row:
            continue
        if not header:
            header = row
            duplicated = sorted(name for name, n in collections.Counter(header).items() if n > 1)
            if duplicated:
                raise DataError(
                    f"{path}: the header names column {duplicated[0]!r} twice; give every column its own name."
                )
        elif len(row) != len(header):
            raise DataError(
                f"{path}: row {row_number} has {len(row)} field(s), the header has "
                f"{len(header)}; every row needs one value per column."
            )
        yield row_number, row


def _csv_header(path: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    rows = _csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: a CSV needs a header row and at least one data row")
    return first[1], rows


def _csv_text(path: str, indices: list[int]) -> list[np.ndarray]:
    """The columns at ``indices`` as arrays of ``str`` objects (object arrays: one long value costs only itself)."""
    import numpy as np

    _, rows = _csv_header(path)
    columns: list[list[str]] = [[] for _ in indices]
    for _, row in rows:
        for values, index in zip(columns, indices):
            values.append(row[index])
    out = []
    for values in columns:
        column = np.empty(len(values), dtype=object)
        column[:] = values
        out.append(column)
    return out


def _read_csv(path: str, *, text: bool = False) -> DataFile:
    import numpy as np

    header, rows = _csv_header(path)
    columns = [array("f") for _ in header]
    text_at: dict[str, tuple[int, int, str]] = {}
    count = 0
    for row_number, row in rows:
        count += 1
        for column, (value, out) in enumerate(zip(row, columns), start=1):
            try:
                if "_" in value:  # Python's float() reads 1_000 as 1000; a CSV number has no underscores
                    raise ValueError(value)
                out.append(float(value))
            except ValueError:
                name = header[column - 1]
                if not text:
                    shown = value if len(value) <= 40 else value[:40] + "..."
                    raise DataError(
                        f"{path}: row {row_number}, column {column} ({name!r}): "
                        f"{shown!r} is not a number; every CSV value must be a number."
                    ) from None
                text_at.setdefault(name, (row_number, column, value))
                out.append(float("nan"))
    if not count:
        raise DataError(f"{path}: a CSV needs a header row and at least one data row")
    arrays: dict[str, Any] = {name: np.frombuffer(col, dtype=np.float32) for name, col in zip(header, columns)}
    if text_at:  # read again, keeping the text of the columns that hold some
        names = [name for name in header if name in text_at]
        arrays.update(zip(names, _csv_text(path, [header.index(name) for name in names])))
    return DataFile(path, arrays, text_at)
