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
import keras
import numpy as np
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
        out += (
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(packed), len(data), len(encoded), 0
            )
            + encoded
            + packed
        )
        directory += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(packed),
                len(data),
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
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
    with pytest.raises(nf.SaveError, match=r"inside the entry config\.json|the entry config\.json compressed"):
        nf.save(model, target)
    assert target.read_bytes() == before and SECRET in before


def _padding_bits(message: bytes) -> bytes:
    """Empty non-final stored deflate blocks whose 5 padding bits each carry 5 bits of ``message``."""
    bits = "".join(f"{b:08b}" for b in message)
    bits += "0" * (-len(bits) % 5)
    return b"".join(bytes([int(bits[k : k + 5], 2) << 3]) + b"\0\0\xff\xff" for k in range(0, len(bits), 5))


def _deflated(source: Path, target: Path, lead: bytes) -> None:
    """The archive written again with every entry deflated, config.json's stream led by ``lead``."""
    with zipfile.ZipFile(source) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    out, directory = bytearray(), bytearray()
    for name, data in entries:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = deflate.compress(data) + deflate.flush()
        if name == "config.json":
            packed = lead + packed
        assert zlib.decompress(packed, -15) == data
        crc, offset, encoded = zlib.crc32(data), len(out), name.encode()
        out += (
            struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(packed), len(data), len(encoded), 0)
            + encoded
            + packed
        )
        directory += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0x21,
                crc,
                len(packed),
                len(data),
                len(encoded),
                0,
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            + encoded
        )
    at = len(out)
    out += directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), at, 0)
    target.write_bytes(bytes(out))


@pytest.mark.parametrize("lead", ["hidden bits", "none"])
def test_a_compressed_entry_keeps_the_archive(tmp_path: Path, lead: str) -> None:
    """Bits in the padding of empty deflate blocks before config.json's data: zlib skips them, Keras and
    netform load the archive, and the next save replaced it. Keras and netform store every entry, so any
    compressed one (even a plain deflate stream, hiding nothing that can be told) keeps the archive."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    source, target = tmp_path / "plain.keras", tmp_path / "m.keras"
    model.save(source)
    _deflated(source, target, _padding_bits(b"MY SECRET THESIS") if lead == "hidden bits" else b"")
    keras.saving.load_model(target)
    nf.load(target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"the entry [a-z.]+ compressed, where Keras and netform store every entry"):
        nf.save(model, target)
    assert target.read_bytes() == before


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


def _padded_float(path: Path) -> None:
    """The largest float32 dataset rewritten as a float of 32 bits of precision in 8 bytes, the other 4 someone's:
    h5py (and Keras) read the values as float64, equal to the old ones."""
    with h5py.File(path, "r+") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype == np.float32 else None)
        name = max(names, key=lambda n: f[n].size)
        values, attrs = f[name][()], dict(f[name].attrs)
        parent, leaf = f[name].parent, name.rsplit("/", 1)[-1]
        del parent[leaf]
        padded = h5py.h5t.IEEE_F32LE.copy()
        padded.set_size(8)
        dataset = h5py.h5d.create(parent.id, leaf.encode(), padded, h5py.h5s.create_simple(values.shape))
        raw = np.zeros(values.size, dtype=[("value", "<f4"), ("secret", "S4")])
        raw["value"], raw["secret"] = values.ravel(), b"SECR"
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, raw.view("V8").reshape(values.shape), mtype=padded)
        for key, value in attrs.items():
            parent[leaf].attrs[key] = value


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_an_hdf5_float_with_padding_bits_keeps_the_file(tmp_path: Path, suffix: str) -> None:
    """A plain Keras-written file (no netform checksum): Keras loads it as before, and a save replaced it."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    target = tmp_path / f"k{suffix}"
    model.save_weights(target) if suffix == ".weights.h5" else model.save(target)
    _padded_float(target)
    before = target.read_bytes()
    assert b"SECR" in before
    if suffix == ".weights.h5":
        model.load_weights(target)
    else:
        keras.saving.load_model(target)
    with pytest.raises(nf.SaveError, match=r"not the one h5py writes for float64"):
        nf.save_weights(model, target) if suffix == ".weights.h5" else nf.save(model, target)
    assert target.read_bytes() == before


@pytest.mark.parametrize("mode", ["int8", "float8"])
def test_keras_written_quantized_weights_are_still_replaced(tmp_path: Path, mode: str) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model.quantize(mode)
    target = tmp_path / "q.weights.h5"
    model.save_weights(target)
    nf.save_weights(model, target)
    model.load_weights(target)


def _append_unknown_field(path: Path, size: int = 5_000) -> None:
    """A protobuf field numbered 1000 holding someone's bytes, appended: every parser keeps it and reads on."""

    def varint(value: int) -> bytes:
        out = b""
        while True:
            low, value = value & 0x7F, value >> 7
            if not value:
                return out + bytes([low])
            out += bytes([low | 0x80])

    payload = (SECRET * (size // len(SECRET) + 1))[:size]
    with open(path, "ab") as f:
        f.write(varint((1000 << 3) | 2) + varint(len(payload)) + payload)


@pytest.mark.parametrize("writer", ["netform", "tensorflow"])
@pytest.mark.parametrize("member", ["saved_model.pb", "fingerprint.pb"])
def test_an_unknown_protobuf_field_in_a_savedmodel_keeps_the_folder(tmp_path: Path, writer: str, member: str) -> None:
    import tensorflow as tf

    model = nf.build(nf.load_spec(SPEC))
    folder = tmp_path / "m_savedmodel"
    nf.save(model, folder) if writer == "netform" else tf.saved_model.save(model, str(folder))
    _append_unknown_field(folder / member)
    tf.saved_model.load(str(folder))  # TensorFlow reads it as before
    before = (folder / member).read_bytes()
    with pytest.raises(nf.SaveError, match=rf"{member} \(not what TensorFlow writes there\)"):
        nf.save(model, folder)
    assert (folder / member).read_bytes() == before


def test_a_savedmodel_saved_again_is_still_replaced(tmp_path: Path) -> None:
    import tensorflow as tf

    model = nf.build(nf.load_spec(SPEC))
    for name, write in (
        ("a_savedmodel", lambda p: nf.save(model, p)),
        ("b_savedmodel", lambda p: tf.saved_model.save(model, str(p))),
        ("c_savedmodel", lambda p: model.export(str(p))),
    ):
        write(tmp_path / name)
        nf.save(model, tmp_path / name)
        nf.load(tmp_path / name)


def _pb_field(number: int, payload: bytes | int) -> bytes:
    def varint(value: int) -> bytes:
        out = b""
        while value > 0x7F:
            out += bytes([value & 0x7F | 0x80])
            value >>= 7
        return out + bytes([value])

    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _keras_metadata(node_extra: bytes = b"", padded: bool = False) -> bytes:
    """tf_keras's ``SavedMetadata`` of one node, as tf_keras writes it (or with a field twice, or a padded varint)."""
    version = _pb_field(1, 2) + _pb_field(2, 1)
    node_id = b"\x10\x80\x00" if padded else _pb_field(2, 0)  # node_id 0 as a two-byte varint
    node = (
        node_id
        + _pb_field(3, b"root")
        + _pb_field(4, b"_tf_keras_sequential")
        + _pb_field(5, b'{"name": "m"}')
        + _pb_field(6, version)
        + node_extra
    )
    return _pb_field(1, node)


@pytest.mark.parametrize(("case", "kept"), [("plain", False), ("twice", True), ("padded", True)])
def test_keras_metadata_fields_given_twice_or_padded_keep_the_folder(tmp_path: Path, case: str, kept: bool) -> None:
    import tensorflow as tf

    model = nf.build(nf.load_spec(SPEC))
    folder = tmp_path / "m_savedmodel"
    tf.saved_model.save(model, str(folder))
    extra = _pb_field(3, b"SECRET USER DATA") if case == "twice" else b""
    (folder / "keras_metadata.pb").write_bytes(_keras_metadata(extra, padded=case == "padded"))
    if not kept:
        nf.save(model, folder)
        nf.load(folder)
        return
    before = (folder / "keras_metadata.pb").read_bytes()
    with pytest.raises(nf.SaveError, match=r"keras_metadata\.pb \(not what TensorFlow writes there\)"):
        nf.save(model, folder)
    assert (folder / "keras_metadata.pb").read_bytes() == before


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_a_fill_value_set_on_a_variable_keeps_the_file(tmp_path: Path, suffix: str) -> None:
    """A dataset's header may keep a fill value (one value of its type) that no reader of its values sees: Keras
    sets none, and a user's bytes kept there went with the next save."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="d")(inputs))
    target = tmp_path / f"a{suffix}"
    nf.save_weights(model, target) if suffix == ".weights.h5" else model.save(target)
    secret = np.float32(1234.5)
    with h5py.File(target, "a") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype == np.float32 else None)
        name = names[0]
        values, attrs = f[name][()], dict(f[name].attrs)
        del f[name]
        f.create_dataset(name, data=values, fillvalue=secret)
        for key, value in attrs.items():
            f[name].attrs[key] = value
    before = target.read_bytes()
    assert secret.tobytes() in before
    with pytest.raises(nf.SaveError, match=r"a fill value set in its header"):
        nf.save_weights(model, target) if suffix == ".weights.h5" else nf.save(model, target)
    assert target.read_bytes() == before


def test_a_zip_entry_s_file_attributes_holding_bytes_keep_the_archive(tmp_path: Path) -> None:
    """Each entry's 4-byte external attributes held ``SECR`` (no file mode): Keras and netform loaded the archive,
    and a save replaced it."""
    model = nf.build(nf.load_spec(SPEC))
    nf.save(model, tmp_path / "ref.keras")
    target = tmp_path / "h.keras"
    with zipfile.ZipFile(tmp_path / "ref.keras") as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.external_attr = 0x53454352
            out.writestr(entry, source.read(info.filename))
    nf.load(target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"its file attributes, 0x53454352"):
        nf.save(model, target)
    assert target.read_bytes() == before
    mode = tmp_path / "mode.keras"  # a member added from disk keeps the file's own mode: still replaced
    with zipfile.ZipFile(tmp_path / "ref.keras") as source, zipfile.ZipFile(mode, "w") as out:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, info.date_time)
            entry.external_attr = 0o100644 << 16
            out.writestr(entry, source.read(info.filename))
    nf.save(model, mode)
