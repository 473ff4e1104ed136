"""Text kept in an HDF5 global heap beyond the strings of the file's attributes keeps the file.

Every string attribute Keras and netform write (``model_config``, ``weight_names``, ``netform_checksums``, ...)
is a variable-length string, its characters an object of a global heap collection (``GCOL``: 4 KiB, mostly
free space). A new object in that free space (the next index, holding text), or text in the free space itself, loads as before in
HDF5, h5py, Keras and netform, and the next save replaced the file, deleting it: in a ``.weights.h5``, a
full-model ``.h5`` (netform's checksums cover datasets and config attributes, not heap objects) and the
``model.weights.h5`` inside a ``.keras``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Callable

import h5py
import keras
import numpy as np
import pytest

import netform as nf

SECRET = b"MY THESIS PARAGRAPH, KEPT WHERE NO READER LOOKS"


def _model() -> keras.Model:
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _collections(data: bytes | bytearray) -> list[tuple[int, int, int, int]]:
    """``(collection, free-space object, last index, free size)`` of every collection with room for SECRET."""
    found, at = [], data.find(b"GCOL\x01\x00\x00\x00")
    while at >= 0:
        size = struct.unpack_from("<Q", data, at + 8)[0]
        p, last = at + 16, 0
        while p + 16 <= at + size:
            index, _count, _reserved, n = struct.unpack_from("<HHIQ", data, p)
            if index == 0:
                if n >= 64 + len(SECRET):
                    found.append((at, p, last, n))
                break
            last, p = max(last, index), p + 16 + ((n + 7) & ~7)
        at = data.find(b"GCOL\x01\x00\x00\x00", at + 1)
    assert found, "no global heap collection with free space"
    return found


def _new_object(data: bytearray) -> None:
    """A new heap object, the next index, carved from the free space: no attribute names it."""
    _at, p, last, free = _collections(data)[0]
    need = 16 + ((len(SECRET) + 7) & ~7)
    struct.pack_into("<HHIQ", data, p, last + 1, 0, 0, len(SECRET))
    data[p + 16 : p + 16 + len(SECRET)] = SECRET
    struct.pack_into("<HHIQ", data, p + need, 0, 0, 0, free - need)


def _in_free_space(data: bytearray) -> None:
    """Text in the bytes of the free-space object."""
    _at, p, _last, _free = _collections(data)[0]
    data[p + 32 : p + 32 + len(SECRET)] = SECRET


EDITS: dict[str, Callable[[bytearray], None]] = {
    "new object": _new_object,
    "free space": _in_free_space,
}


def _edit(path: Path, edit: Callable[[bytearray], None]) -> None:
    data = bytearray(path.read_bytes())
    edit(data)
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f:  # HDF5 reads every attribute as before
        f.visititems(lambda _n, o: [o.attrs[k] for k in o.attrs])


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_heap_text_in_a_weights_file_keeps_it(tmp_path: Path, writer: str, edit: str) -> None:
    model = _model()
    target = tmp_path / "m.weights.h5"
    nf.save_weights(model, target) if writer == "netform" else model.save_weights(target)
    _edit(target, EDITS[edit])
    before = target.read_bytes()
    assert SECRET in before
    nf.load_weights(model, target)  # the file loads: the text hides in what no reader reads
    with pytest.raises(nf.SaveError, match=r"global heap at byte [\d,]+ \("):
        nf.save_weights(model, target)
    assert target.read_bytes() == before


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_heap_text_in_a_model_h5_keeps_it(tmp_path: Path, writer: str, edit: str) -> None:
    model = _model()
    model.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0)
    target = tmp_path / "m.h5"
    nf.save(model, target) if writer == "netform" else model.save(target)
    _edit(target, EDITS[edit])
    before = target.read_bytes()
    nf.load(target)
    with pytest.raises(nf.SaveError, match=r"global heap at byte [\d,]+ \("):
        nf.save(model, target)
    assert target.read_bytes() == before


@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_heap_text_in_a_keras_archive_keeps_it(tmp_path: Path, writer: str) -> None:
    model = _model()
    target = tmp_path / "m.keras"
    nf.save(model, target) if writer == "netform" else model.save(target)
    with zipfile.ZipFile(target) as archive:
        items = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(target, "w") as archive:
        for info, data in items:
            if info.filename == "model.weights.h5":
                edited = bytearray(data)
                _new_object(edited)
                with h5py.File(io.BytesIO(bytes(edited)), "r") as f:
                    f.visititems(lambda _n, o: [o.attrs[k] for k in o.attrs])
                data = bytes(edited)
            archive.writestr(info, data)
    before = target.read_bytes()
    nf.load(target)
    with pytest.raises(nf.SaveError, match=r"model.weights.h5.*global heap at byte"):
        nf.save(model, target)
    assert target.read_bytes() == before


def test_an_attribute_rewritten_in_place_keeps_the_file(tmp_path: Path) -> None:
    """HDF5 does not reclaim a rewritten string's heap object: the old text stays in the file, unread."""
    model = _model()
    target = tmp_path / "m.h5"
    model.save(target)
    with h5py.File(target, "r+") as f:
        f.attrs["backend"] = f.attrs["backend"]
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match=r"objects no attribute reads"):
        nf.save(model, target)
    assert target.read_bytes() == before


@pytest.fixture(scope="module")
def deep_model() -> keras.Model:
    """A model of 300 layers, trained a step (built once: it takes most of a minute)."""
    inputs = keras.Input((2,))
    x = inputs
    for i in range(300):
        x = keras.layers.Dense(2, name=f"a_layer_with_a_rather_long_name_{i}")(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((2, 2)), np.zeros((2, 2)), verbose=0)
    return model


@pytest.mark.parametrize("writer", ["netform", "keras"])
@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_files_keras_and_netform_write_are_replaced(
    tmp_path: Path, writer: str, suffix: str, deep_model: keras.Model
) -> None:
    """Each string its own heap object, zeros elsewhere, in several collections (a model of 300 layers whose
    optimizer's ``weight_names`` Keras splits into ``weight_names0``, ``weight_names1``, past 64 KiB)."""
    model = deep_model
    target = tmp_path / f"m{suffix}"
    if suffix == ".h5":
        nf.save(model, target) if writer == "netform" else model.save(target)
        with h5py.File(target, "r") as f:
            assert (
                "weight_names0" in f["optimizer_weights"].attrs or "weight_names0" in f["optimizer_weights/adam"].attrs
            )
    else:
        nf.save_weights(model, target) if writer == "netform" else model.save_weights(target)
    assert target.read_bytes().count(b"GCOL\x01\x00\x00\x00") >= 2
    nf.save(model, target) if suffix == ".h5" else nf.save_weights(model, target)
    assert b"a_layer_with_a_rather_long_name_299" in target.read_bytes()
