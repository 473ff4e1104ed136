"""Text kept in the room HDF5's own structures leave keeps the file from being replaced.

Every object of an HDF5 file has a header: a list of messages (dataspace, data type, layout, attributes) and
empty messages holding room for more (about 14 of 120-160 bytes in a small model's weights file); a group lists
its members in symbol table nodes of 8 slots and keeps their names in a local heap padded to 8 bytes. HDF5
writes zeros in all that room. A user's bytes written there (an empty message's body, the padding after a
header's size or a message's fields, a reserved byte, an unused slot, a name's padding, a heap's free block)
loaded as before in h5py, Keras and netform, and the next save replaced the file, deleting them: in a
``.weights.h5``, a full ``.h5`` (netform's checksums cover datasets and config attributes, not headers) and the
weights inside a ``.keras``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Callable

import h5py
import keras
import pytest

import netform as nf

SECRET = b"SECRETXYZ"


def _model() -> keras.Model:
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="d2")(keras.layers.Dense(3, name="d1")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


def _headers(data: bytes) -> list[tuple[int, list[tuple[int, int, int]]]]:
    """``(address, [(type, body offset, body size)])`` of every object's version-1 header."""
    addresses: list[int] = []
    with h5py.File(io.BytesIO(data), "r") as f:
        addresses.append(h5py.h5o.get_info(f.id).addr)
        f.visititems(lambda _n, o: addresses.append(h5py.h5o.get_info(o.id).addr))
    found = []
    for at in addresses:
        size = struct.unpack_from("<I", data, at + 8)[0]
        chunks, messages = [(at + 16, size)], []
        while chunks:
            start, length = chunks.pop(0)
            p = start
            while p + 8 <= start + length:
                kind, n = struct.unpack_from("<HH", data, p)
                messages.append((kind, p + 8, n))
                if kind == 0x10:
                    chunks.append(struct.unpack_from("<QQ", data, p + 8))
                p += 8 + n
        found.append((at, messages))
    return found


def _empty_message(data: bytearray) -> None:
    _at, body, n = next((at, b, n) for at, ms in _headers(data) for kind, b, n in ms if kind == 0 and n >= 16)
    data[body : body + len(SECRET)] = SECRET


def _header_padding(data: bytearray) -> None:
    at = _headers(data)[-1][0]
    data[at + 12 : at + 16] = b"SECR"


def _header_reserved(data: bytearray) -> None:
    at = _headers(data)[-1][0]
    data[at + 1] = 0x53


def _message_reserved(data: bytearray) -> None:
    _kind, body, _n = _headers(data)[-1][1][0]
    data[body - 3 : body] = b"SEC"


def _past_fields(data: bytearray) -> None:
    """A float's data type message takes 20 bytes of its 24."""
    body = next(b for _at, ms in _headers(data) for kind, b, n in ms if kind == 3 and n == 24 and data[b] & 0x0F == 1)
    data[body + 20 : body + 24] = b"SECR"


def _name_padding(data: bytearray) -> None:
    """The zeros after the first name of the first local heap with a name of under 7 characters."""
    at = data.find(b"HEAP\x00")
    while at >= 0:
        segment = struct.unpack_from("<Q", data, at + 24)[0]
        end = data.find(b"\0", segment + 8)
        if end - segment < 15:  # a name at offset 8 of at most 6 characters, its padding zeros
            assert not any(data[end : segment + 16])
            data[end + 1 : segment + 16] = b"S" * (segment + 15 - end)
            return
        at = data.find(b"HEAP\x00", at + 1)
    raise AssertionError("no local heap with a short name")


def _unused_slot(data: bytearray) -> None:
    at = data.find(b"SNOD\x01")
    while at >= 0:
        count = struct.unpack_from("<H", data, at + 6)[0]
        if count < 8:
            slot = at + 8 + count * 40
            data[slot : slot + len(SECRET)] = SECRET
            return
        at = data.find(b"SNOD\x01", at + 1)
    raise AssertionError("no symbol table node with a free slot")


def _heap_free_block(data: bytearray) -> None:
    at = data.find(b"HEAP\x00")
    while at >= 0:
        size, free, segment = struct.unpack_from("<QQQ", data, at + 8)
        if free != 1 and struct.unpack_from("<Q", data, segment + free + 8)[0] >= 16 + len(SECRET):
            data[segment + free + 16 : segment + free + 16 + len(SECRET)] = SECRET
            return
        at = data.find(b"HEAP\x00", at + 1)
    raise AssertionError("no local heap with a free block")


def _grown_file(data: bytearray) -> None:
    """Text after the last structure, inside the end the superblock records (moved past it)."""
    end = struct.unpack_from("<Q", data, 40)[0]
    assert end == len(data)
    data += bytes(64) + SECRET + bytes(7)
    struct.pack_into("<Q", data, 40, len(data))


EDITS: dict[str, Callable[[bytearray], None]] = {
    "bytes no structure holds": _grown_file,
    "empty message": _empty_message,
    "header padding": _header_padding,
    "header reserved": _header_reserved,
    "message reserved": _message_reserved,
    "past a message's fields": _past_fields,
    "name padding": _name_padding,
    "unused slot": _unused_slot,
    "heap free block": _heap_free_block,
}


def _edited(data: bytes, edit: str) -> bytes:
    changed = bytearray(data)
    EDITS[edit](changed)
    assert changed != data
    with h5py.File(io.BytesIO(bytes(changed)), "r") as f:  # h5py reads every object and attribute as before
        f.visititems(lambda _n, o: [o.attrs[k] for k in o.attrs] + ([o[()]] if isinstance(o, h5py.Dataset) else []))
    return bytes(changed)


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_text_in_a_weights_file_s_structures_keeps_it(tmp_path: Path, edit: str) -> None:
    model = _model()
    target = tmp_path / "m.weights.h5"
    nf.save_weights(model, target)
    target.write_bytes(_edited(target.read_bytes(), edit))
    before = target.read_bytes()
    nf.load_weights(model, target)  # loads: the text is where no reader reads
    with pytest.raises(
        nf.SaveError, match=r"holding data Keras never writes \(the HDF5 [a-z ]+ (at|between) byte [\d,]+ "
    ):
        nf.save_weights(model, target)
    assert target.read_bytes() == before


@pytest.mark.parametrize("edit", ["empty message", "past a message's fields", "name padding"])
@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_text_in_a_model_h5_s_structures_keeps_it(tmp_path: Path, writer: str, edit: str) -> None:
    model = _model()
    target = tmp_path / "m.h5"
    nf.save(model, target) if writer == "netform" else model.save(target)
    target.write_bytes(_edited(target.read_bytes(), edit))
    before = target.read_bytes()
    nf.load(target)
    with pytest.raises(nf.SaveError, match=r"the HDF5 [a-z ]+ at byte"):
        nf.save(model, target)
    assert target.read_bytes() == before


def test_text_in_a_keras_archive_s_weights_structures_keeps_it(tmp_path: Path) -> None:
    model = _model()
    target = tmp_path / "m.keras"
    nf.save(model, target)
    with zipfile.ZipFile(target) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(target, "w") as archive:
        for info, data in items:
            archive.writestr(info, _edited(data, "empty message") if info.filename == "model.weights.h5" else data)
    before = target.read_bytes()
    nf.load(target)
    with pytest.raises(nf.SaveError, match=r"model.weights.h5.*the HDF5 object header at byte"):
        nf.save(model, target)
    assert target.read_bytes() == before


def test_an_attribute_added_and_deleted_in_place_keeps_the_file(tmp_path: Path) -> None:
    """Its text stays in a global heap collection no attribute uses any more, inside the file."""
    model = _model()
    target = tmp_path / "m.weights.h5"
    model.save_weights(target)
    with h5py.File(target, "r+") as f:
        f.attrs["note"] = "MY THESIS " * 50
        del f.attrs["note"]
    before = target.read_bytes()
    assert b"MY THESIS" in before
    with pytest.raises(nf.SaveError, match=r"bytes no structure holds"):
        nf.save_weights(model, target)
    assert target.read_bytes() == before


def test_an_attribute_deleted_in_place_keeps_the_file(tmp_path: Path) -> None:
    """HDF5 leaves a deleted attribute's bytes in the empty message that takes its place: the file was edited."""
    model = _model()
    target = tmp_path / "m.h5"
    model.save(target)
    with h5py.File(target, "r+") as f:
        del f.attrs["backend"]
    before = target.read_bytes()
    assert b"tensorflow" in before
    with pytest.raises(nf.SaveError, match=r"bytes in an empty message"):
        nf.save(model, target)
    assert target.read_bytes() == before


def test_a_file_grown_far_past_its_structures_is_kept_without_reading_it_all(tmp_path: Path) -> None:
    """Room of zeros recorded inside the file (its end moved 64 MiB on, a sparse file): no save of HDF5 leaves
    that much between structures, so it is kept, told from the sizes alone."""
    model = _model()
    target = tmp_path / "m.weights.h5"
    nf.save_weights(model, target)
    data = bytearray(target.read_bytes())
    size = len(data) + 64 * 2**20
    struct.pack_into("<Q", data, 40, size)
    target.write_bytes(bytes(data))
    with open(target, "r+b") as fh:
        fh.truncate(size)
    with pytest.raises(nf.SaveError, match=r"\(67,[\d,]+ bytes no structure holds\)"):
        nf.save_weights(model, target)
    assert target.stat().st_size == size
