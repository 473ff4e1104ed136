"""One file, one model (continued): Windows's reading of entry names, and an HDF5 model stored inside an entry.

* ``config.json.``, ``config.json `` and ``config.json::$DATA`` beside ``config.json``: Windows drops the dots
  and spaces that end a name and reads ``name:stream`` as a stream of ``name``, so an extracted copy holds the
  second config, while every reader and ``load`` took the first. Refused as a duplicate (FormatError, exit 5).
* A ``.keras`` archive with an extra stored entry placed so that a whole HDF5 model file begins at byte 512
  (where HDF5 looks for a superblock after byte 0): plain Keras opened the file under a ``.h5`` name as that
  model, netform as the archive's. The polyglot check excused any signature inside an entry; now only the start
  of the archive's own stored ``model.weights.h5`` is (a weights file, no model), and such a file is refused
  by every reader (UnsafeFileError, exit 6).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.errors import FormatError, UnsafeFileError

from . import test_zip_names_run13 as run13

_refused, _with_entry = run13._refused, run13._with_entry
saved = run13.saved  # the same fixture: a small model saved as .keras and .h5, and another


@pytest.mark.parametrize("alias", ["config.json.", "config.json ", "config.json::$DATA", "config.json. . "])
def test_a_second_config_windows_reads_as_the_first_is_refused(
    alias: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = zipfile.ZipFile(saved / "other.keras").read("config.json")
    path = _with_entry(saved / "m.keras", tmp_path / "alias.keras", alias, other)
    _refused(path, FormatError, 5, "name the same file once", tmp_path, capsys)


def test_names_windows_keeps_apart_still_read(saved: Path, tmp_path: Path) -> None:
    """A name that only begins like another (``config.jsonx``) is not a duplicate."""
    path = _with_entry(saved / "m.keras", tmp_path / "ok.keras", "config.jsonx", b"{}")
    assert nf.load(path).name == "small"


def _stored_model_at_512(saved: Path, dst: Path) -> Path:
    """The archive with an entry ``zz`` stored first after ``metadata.json``, holding an HDF5 model at byte 512."""
    h5 = (saved / "m.h5").read_bytes()
    with zipfile.ZipFile(saved / "other.keras") as archive:
        items = [(info.filename, archive.read(info)) for info in archive.infolist()]
    meta = next(data for name, data in items if name == "metadata.json")
    rest = [(name, data) for name, data in items if name != "metadata.json"]
    start = 30 + len("metadata.json") + len(meta) + 30 + len("zz")  # where zz's data begins
    assert start < 512
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as out:
        out.writestr("metadata.json", meta)
        out.writestr("zz", b"\0" * (512 - start) + h5)
        for name, data in rest:
            out.writestr(name, data)
    with open(dst, "rb") as fh:
        fh.seek(512)
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"
    return dst


def test_an_hdf5_model_stored_inside_an_entry_is_refused(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _stored_model_at_512(saved, tmp_path / "two.h5")
    assert keras.saving.load_model(path).name == "small"  # plain Keras, by the .h5 name: the model at 512
    _refused(path, UnsafeFileError, 6, "also an HDF5 file", tmp_path, capsys)


def test_a_stored_weights_entry_at_a_superblock_offset_still_reads(saved: Path, tmp_path: Path) -> None:
    """The archive's own ``model.weights.h5``, stored so that it begins at byte 1024: HDF5 finds the weights
    there, no model; the archive loads."""
    with zipfile.ZipFile(saved / "m.keras") as archive:
        items = {info.filename: archive.read(info) for info in archive.infolist()}
    meta = items["metadata.json"]
    used = 30 + len("metadata.json") + len(meta) + 30 + len("model.weights.h5")
    assert used <= 1024
    meta += b" " * (1024 - used)  # JSON may end in spaces: the weights' data then begins at byte 1024
    path = tmp_path / "aligned.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        out.writestr("metadata.json", meta)
        out.writestr("model.weights.h5", items["model.weights.h5"])
        for name, data in items.items():
            if name not in ("metadata.json", "model.weights.h5"):
                out.writestr(name, data)
    with open(path, "rb") as fh:
        fh.seek(1024)
        assert fh.read(8) == b"\x89HDF\r\n\x1a\n"
    assert nf.load(path).name == "small"
    assert nf.inspect(path)["model_name"] == "small"
