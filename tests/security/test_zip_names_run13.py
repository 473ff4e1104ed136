"""One file, one model: archive entry names that extract to one file, and archives hidden behind trailing bytes.

* An archive holding ``config.json`` and ``./config.json`` (or ``CONFIG.JSON``, ``.//config.json``,
  ``assets\\x``) passed the one-entry-per-name rule: every reader and ``load`` used one config, while
  ``unzip -o`` and ``zipfile.extractall`` wrote the other over it (and a case-insensitive file system keeps
  one of ``config.json`` and ``CONFIG.JSON``). Names that extract to the same file are refused as a
  duplicate (FormatError, exit 5); a folder entry (``assets/``, as ``zip -r`` writes) is still read.
* An HDF5 model followed by a ``.keras`` archive and a few more bytes: zipfile (and so Keras, for a ``.keras``
  name) finds the archive's end record anywhere in the last 64 KiB + 22 bytes, while netform's polyglot check
  looked at the very end only; the file was read as the HDF5 model by netform and as the archive by Keras.
  It is refused wherever zipfile would open it (UnsafeFileError, exit 6).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import io
import struct
import zipfile
from pathlib import Path

import keras
import pytest

import netform as nf
from netform.cli._main import main
from netform.errors import FormatError, UnsafeFileError
from netform.saving._safety import zip_tail

COMMANDS = ["inspect", "summary", "export-spec", "render"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("names13")
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, activation="relu", name="d")(x), name="small")
    nf.save(model, d / "m.keras")
    keras.saving.save_model(model, d / "m.h5")
    y = keras.Input((3,))
    other = keras.Model(y, keras.layers.Dense(2, activation="sigmoid", name="d")(y), name="other")
    nf.save(other, d / "other.keras")
    return d


def _with_entry(src: Path, dst: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(src) as archive:
        items = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(dst, "w") as out:
        for n, b in [*items, (name, data)]:
            out.writestr(n, b)
    return dst


def _cli(command: str, path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    args = [command, str(path), "-o", str(tmp_path / ("out.svg" if command == "render" else "out.yaml"))]
    code = main(args if command in ("render", "export-spec") else args[:2])
    return code, capsys.readouterr().err


def _refused(path: Path, error: type[Exception], exit_code: int, word: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with pytest.raises(FormatError) as raised:
        nf.load(path)
    assert type(raised.value) is error and word in str(raised.value), raised.value
    with pytest.raises(FormatError) as raised:
        nf.inspect(path)
    assert type(raised.value) is error and word in str(raised.value), raised.value
    for command in COMMANDS:
        code, err = _cli(command, path, tmp_path, capsys)
        assert code == exit_code and word in err, (command, code, err)


@pytest.mark.parametrize("alias", ["./config.json", "CONFIG.JSON", ".//config.json", "Config.json"])
def test_a_second_config_under_an_alias_is_refused_by_every_reader(
    alias: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = zipfile.ZipFile(saved / "other.keras").read("config.json")
    path = _with_entry(saved / "m.keras", tmp_path / "two.keras", alias, other)
    zipfile.ZipFile(path).extractall(tmp_path / "x")
    if alias.lower() != "config.json":  # on this file system: the extracted config is the other model's
        assert (tmp_path / "x" / "config.json").read_bytes() == other
    _refused(path, FormatError, 5, "name the same file once extracted", tmp_path, capsys)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("assets/a.txt", "assets\\a.txt"),
        ("assets/a.txt", "assets//a.txt"),
        ("assets/a.txt", "ASSETS/A.TXT"),
        ("assets/\u00e9.txt", "assets/e\u0301.txt"),
        ("assets/", "assets"),
    ],  # fmt: skip
)
def test_entry_names_that_extract_to_one_file_are_refused(first: str, second: str, saved: Path, tmp_path: Path) -> None:
    path = _with_entry(saved / "m.keras", tmp_path / "a.keras", first, b"" if first.endswith("/") else b"x")
    path = _with_entry(path, tmp_path / "b.keras", second, b"y")
    with pytest.raises(FormatError, match="name the same file once extracted"):
        nf.load(path)
    with pytest.raises(FormatError, match="name the same file once extracted"):
        nf.inspect(path)


def test_a_folder_entry_is_still_read(saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Keras writes no folder entries; ``zip -r`` of an unzipped model does, and they name no second file
    path = _with_entry(saved / "m.keras", tmp_path / "dir.keras", "assets/", b"")
    assert nf.load(path).name == "small"
    for command in COMMANDS:
        assert _cli(command, path, tmp_path, capsys)[0] == 0, command


def test_a_folder_entry_holding_bytes_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _with_entry(saved / "m.keras", tmp_path / "dir.keras", "assets/", b"not a folder")
    with pytest.raises(FormatError, match="folder that stores 12 bytes"):
        nf.load(path)
    with pytest.raises(FormatError, match="folder that stores 12 bytes"):
        nf.inspect(path)


@pytest.mark.parametrize("junk", [1, 100, 4096, 65000])
@pytest.mark.parametrize("name", ["poly.keras", "poly.h5"])
def test_an_archive_after_an_hdf5_model_is_refused_whatever_follows_it(
    junk: int, name: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes((saved / "m.h5").read_bytes() + (saved / "other.keras").read_bytes() + b"\x07" * junk)
    with zipfile.ZipFile(path) as archive:  # zipfile, so Keras for a .keras name, reads the other model
        assert "config.json" in archive.namelist()
    _refused(path, UnsafeFileError, 6, "two models", tmp_path, capsys)


def test_an_archive_beyond_where_zipfile_looks_is_no_archive(saved: Path, tmp_path: Path) -> None:
    data = b"\x89HDF\r\n\x1a\n" + (saved / "other.keras").read_bytes() + b"\x07" * ((1 << 16) + 1)
    assert not zipfile.is_zipfile(io.BytesIO(data))
    assert not zip_tail(lambda offset, n: data[offset : offset + n], len(data))


def test_end_record_bytes_that_lead_to_no_directory_are_no_archive() -> None:
    # an HDF5 file's data may hold the end record's four bytes; they only make an archive with a directory
    record = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0)
    data = b"\x00" * 4096 + record + b"\x00" * 100
    assert not zip_tail(lambda offset, n: data[offset : offset + n], len(data))
    data = b"PK\x01\x02" + b"\x00" * 42 + record + b"\x00" * 100  # a directory where the record says it is
    assert zip_tail(lambda offset, n: data[offset : offset + n], len(data))
