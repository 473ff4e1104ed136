"""Bytes hidden inside what a file records, where no reader reads them, keep the file.

A stored zip entry recorded longer than its file, a deflated entry followed by bytes after its stream ends, and
an HDF5 dataset whose contiguous block is recorded larger than its values: each file loads as before (the CRC and
the checksums cover only what is read), and a save replaced it, deleting the hidden bytes.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import h5py
import pytest

import netform as nf

SPEC = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 8}\n  - {type: Dense, units: 2}\n"
SECRET = b"SECRET USER DATA " * 50


def _rebuilt(source: Path, target: Path, mode: str) -> None:
    """The archive written again entry by entry, config.json padded (stored) or deflated with a tail."""
    with zipfile.ZipFile(source) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    out, directory = bytearray(), bytearray()
    for name, data in entries:
        crc, method, packed = zlib.crc32(data), 0, data
        if name == "config.json" and mode == "stored":
            packed = data + SECRET
        elif name == "config.json":
            deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
            method, packed = 8, deflate.compress(data) + deflate.flush() + SECRET
        offset, encoded = len(out), name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(packed), len(data),
                           len(encoded), 0) + encoded + packed
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(packed),
                                 len(data), len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    at = len(out)
    out += directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), at, 0)
    target.write_bytes(bytes(out))


@pytest.mark.parametrize("mode", ["stored", "deflated"])
def test_bytes_inside_a_zip_entry_past_what_is_read_keep_the_file(tmp_path: Path, mode: str) -> None:
    model = nf.build(nf.load_spec(SPEC))
    nf.save(model, tmp_path / "ref.keras")
    target = tmp_path / "hidden.keras"
    _rebuilt(tmp_path / "ref.keras", target, mode)
    nf.load(target)  # a valid archive: every reader reads it as before
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"inside the entry config\.json"):
        nf.save(model, target)
    assert target.read_bytes() == before and SECRET in before


def _enlarged(source: Path, target: Path) -> None:
    """The largest dataset's block moved to the end of the file and recorded 1 KiB larger, the KiB someone's."""
    data = bytearray(source.read_bytes())
    with h5py.File(source, "r") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        dataset = f[max(names, key=lambda n: f[n].size)]
        offset, size = dataset.id.get_offset(), dataset.id.get_storage_size()
    layout = b"\x03\x01" + struct.pack("<QQ", offset, size)
    at = data.find(layout)
    assert at > 0
    tail = b"SECRET USER DATA" * 64
    end = len(data)
    data[at + 2 : at + 18] = struct.pack("<QQ", end, size + len(tail))
    data += data[offset : offset + size] + tail
    struct.pack_into("<Q", data, 40, len(data))  # the superblock's end of file (version 0)
    target.write_bytes(bytes(data))


@pytest.mark.parametrize("form", ["weights", "model"])
def test_an_hdf5_block_recorded_larger_than_its_values_keeps_the_file(tmp_path: Path, form: str) -> None:
    model = nf.build(nf.load_spec(SPEC))
    source, target = tmp_path / f"ref.{form}.h5", tmp_path / f"hidden.{form}.h5"
    if form == "weights":
        source, target = tmp_path / "ref.weights.h5", tmp_path / "hidden.weights.h5"
        nf.save_weights(model, source)
    else:
        source, target = tmp_path / "ref.h5", tmp_path / "hidden.h5"
        nf.save(model, source)
    _enlarged(source, target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"a block of \d[\d,]* bytes for [\d,]+ bytes of values"):
        nf.save_weights(model, target) if form == "weights" else nf.save(model, target)
    assert target.read_bytes() == before
