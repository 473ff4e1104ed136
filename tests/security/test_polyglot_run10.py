"""A file that is both a zip archive and an HDF5 file holds two models: netform refuses it either way round.

Keras picks the reader by the file name (a ``.h5`` name is HDF5, ``.keras`` a zip) and netform by the content,
so such a file showed one model to ``netform inspect`` and ``nf.load`` and another (a Lambda layer) to
``keras.saving.load_model``. A ``.keras`` archive whose stored ``model.weights.h5`` happens to begin where HDF5
looks for a signature (byte 512, 1024, ...) is no such file: that signature is its own weights'.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import struct
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import UnsafeFileError


def _model() -> keras.Model:
    x = keras.Input((3,))
    return keras.Model(x, keras.layers.Dense(2)(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("poly")
    model = _model()
    model.save(d / "m.keras")
    model.save(d / "m.h5")
    return d


def test_archive_in_an_hdf5_user_block_is_refused(saved: Path, tmp_path: Path) -> None:
    block = 131072
    with h5py.File(saved / "m.h5", "r") as src, h5py.File(tmp_path / "t.h5", "w", userblock_size=block) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for key in src:
            src.copy(src[key], dst, name=key)
    z = (saved / "m.keras").read_bytes()
    end = z.rfind(b"PK\x05\x06")
    size, at = struct.unpack("<II", z[end + 12 : end + 20])
    body = bytearray((tmp_path / "t.h5").read_bytes())
    body[: at] = z[:at]  # the archive's entries in the user block, its directory after the HDF5 data
    record = bytearray(z[end : end + 22])
    record[16:20] = struct.pack("<I", len(body))
    data = bytes(body) + z[at : at + size] + bytes(record)
    for name in ("poly.h5", "poly.keras"):
        (tmp_path / name).write_bytes(data)
        assert zipfile.ZipFile(tmp_path / name).namelist() and h5py.is_hdf5(tmp_path / name)
        with pytest.raises(UnsafeFileError, match="also an HDF5 file"):
            nf.load(tmp_path / name)
        with pytest.raises(UnsafeFileError, match="also an HDF5 file"):
            nf.inspect(tmp_path / name)


def test_archive_appended_to_an_hdf5_file_is_refused(saved: Path, tmp_path: Path) -> None:
    data = (saved / "m.h5").read_bytes() + (saved / "m.keras").read_bytes()
    for name in ("poly.h5", "poly.keras"):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnsafeFileError, match="two models"):
            nf.load(tmp_path / name)


def test_stored_weights_at_an_hdf5_offset_still_load(saved: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(saved / "m.keras") as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    names = [n for n, _ in entries if n != "model.weights.h5"]
    weights = dict(entries)["model.weights.h5"]
    head = sum(30 + len(n) + len(dict(entries)[n]) for n in names)
    target = 512
    while target < head + 30 + len("pad.txt") + 30 + len("model.weights.h5"):
        target *= 2
    pad = target - head - 30 - len("pad.txt") - 30 - len("model.weights.h5")
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for n in names:
            out.writestr(n, dict(entries)[n])
        out.writestr("pad.txt", b" " * pad)  # moves model.weights.h5's bytes to a power of two
        out.writestr("model.weights.h5", weights)
    with zipfile.ZipFile(path) as z:
        assert h5py.is_hdf5(path) and z.getinfo("model.weights.h5").header_offset + 30 + 16 == target
    loaded = nf.load(path, safe_mode=True)
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(keras.saving.load_model(saved / "m.keras")(x)))
