"""Bytes in a ``.keras`` archive's header fields that no reader reads keep the archive from being replaced.

Python's zipfile (Keras's and netform's writer) reads an entry's version, flags, method, time, CRC and sizes
from the central directory, never the local header's copies, nor the directory's "made by" version, disk number
and internal attributes, nor the end record's disk numbers: about 20 bytes an entry that Keras and netform load
as before. The next save replaced the archive, deleting them.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import keras
import pytest

import netform as nf

TEXT = b"hunter2!"


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])


def _records(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """The end record's offset and ``(directory record, local header)`` offsets of every entry."""
    end = data.rfind(b"PK\x05\x06")
    count, _size, at = struct.unpack_from("<HII", data, end + 10)
    found = []
    for _ in range(count):
        name, extra, comment = struct.unpack_from("<HHH", data, at + 28)
        found.append((at, struct.unpack_from("<I", data, at + 42)[0]))
        at += 46 + name + extra + comment
    return end, found


def _local(field: int, width: int) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        _end, entries = _records(data)
        local = entries[0][1]
        data[local + field : local + field + width] = TEXT[:width]

    return edit


def _directory(field: int, width: int) -> Callable[[bytearray], None]:
    def edit(data: bytearray) -> None:
        _end, entries = _records(data)
        data[entries[0][0] + field : entries[0][0] + field + width] = TEXT[:width]

    return edit


def _end_disks(data: bytearray) -> None:
    end, _entries = _records(data)
    data[end + 4 : end + 8] = TEXT[:4]


def _flag_bits(data: bytearray) -> None:
    """Bit 14 (reserved by the format) in both copies of the first entry's flags."""
    _end, entries = _records(data)
    for at in (entries[0][0] + 8, entries[0][1] + 6):
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 0x4000)


def _utf8_flag(data: bytearray) -> None:
    """The UTF-8 flag (0x800) on the first entry's ASCII name, in both copies: zipfile sets it only for others."""
    _end, entries = _records(data)
    for at in (entries[0][0] + 8, entries[0][1] + 6):
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 0x800)


EDITS: dict[str, Callable[[bytearray], None]] = {
    "utf-8 flag": _utf8_flag,
    "local version": _local(4, 2),
    "local crc": _local(14, 4),
    "local sizes": _local(18, 8),
    "local time": _local(10, 4),
    "made-by version": _directory(4, 1),
    "disk number": _directory(34, 2),
    "internal attributes": _directory(36, 2),
    "end record disks": _end_disks,
    "flag bits": _flag_bits,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_bytes_in_an_archive_s_header_copies_keep_it(tmp_path: Path, writer: str, edit: str) -> None:
    model = _model()
    target = tmp_path / "m.keras"
    nf.save(model, target) if writer == "netform" else model.save(target)
    data = bytearray(target.read_bytes())
    EDITS[edit](data)
    target.write_bytes(bytes(data))
    nf.load(target)  # loads as before: no reader reads these bytes
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"data in the (headers of|archive's end record)"):
        nf.save(model, target)
    assert target.read_bytes() == before


@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_archives_keras_and_netform_write_are_replaced(tmp_path: Path, writer: str) -> None:
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35)
    target = tmp_path / "m.keras"
    nf.save(model, target) if writer == "netform" else model.save(target)
    nf.save(model, target)
    nf.save(model, target)
