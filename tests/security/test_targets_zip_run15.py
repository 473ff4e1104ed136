"""A save target that climbs out of a link with ``..``, and zip archives no reader here can open.

* ``nf.save(m, "lae/../assets.extra/netform.keras")`` with ``lae -> SM/assets.extra``: the system climbs from
  where the link leads, into the SavedModel ``SM``, while the target checks dropped ``lae/..`` as text and
  looked at ``./assets.extra``. The save replaced the SavedModel's embedded copy of its model (and left an
  empty ``./assets.extra`` behind). Every check and the write now read such a path as the system does.
* A ``.keras`` whose central directory says "version needed to extract" 14.9 made zipfile raise a raw
  ``NotImplementedError`` (exit 70 in inspect/summary/export-spec), as did entries encrypted or compressed by
  a method zipfile does not read. Each is a FormatError now (exit 5); a data ``.npz`` so made, a DataError.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hashlib
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform._files import system_path
from netform.cli import main
from netform.saving._api import check_save_path
from netform.errors import DataError, FormatError, SaveError

from . import test_zip_names_run13 as run13

_refused = run13._refused
saved = run13.saved  # a small model saved as .keras and .h5, and another


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def fake_savedmodel(tmp_path: Path) -> Path:
    """A folder the target checks take for a SavedModel (it holds saved_model.pb), with an embedded copy."""
    sm = tmp_path / "SM"
    (sm / "assets.extra").mkdir(parents=True)
    (sm / "saved_model.pb").write_bytes(b"graph")
    (sm / "assets.extra" / "netform.keras").write_bytes(b"the SavedModel's own copy")
    (tmp_path / "lae").symlink_to(sm / "assets.extra")
    return sm


def _model() -> keras.Model:
    x = keras.Input((3,))
    return keras.Model(x, keras.layers.Dense(2)(x))


def test_system_path_climbs_from_where_a_link_leads(fake_savedmodel: Path, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert system_path("lae/../assets.extra/netform.keras") == str(fake_savedmodel / "assets.extra" / "netform.keras")
    assert system_path("lae/..") == str(fake_savedmodel)
    assert system_path("lae/../") == str(fake_savedmodel) + os.sep
    assert system_path("plain/name.keras") == "plain/name.keras"  # no '..': unchanged
    # the last name is kept as given: a link there is replaced, never followed
    (tmp_path / "x").mkdir()
    assert system_path("x/../lae") == str(tmp_path / "lae")
    assert system_path("x/../new/folders/m.keras") == str(tmp_path / "new" / "folders" / "m.keras")


@pytest.mark.parametrize("above", ["missing", "a_file", "dangling"])
def test_climbing_out_of_what_is_no_folder_is_refused_as_the_system_refuses_it(
    above: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dangling/../m.keras`` (``dangling -> gone/sub``) or ``a_file/../m.keras``: open() fails there
    (ENOENT, ENOTDIR), while resolving the text made ``gone/`` and wrote ``gone/m.keras``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone" / "sub")
    target = f"{above}/../m.keras"
    with pytest.raises(OSError):
        open(target, "wb")  # the system refuses it too
    with pytest.raises(FileNotFoundError, match="climbs with '..' out of a folder that does not exist"):
        system_path(target)
    with pytest.raises(SaveError, match="climbs with '..' out of a folder"):
        nf.save(_model(), target)
    with pytest.raises(SaveError, match="climbs with '..' out of a folder"):
        nf.save_weights(_model(), f"{above}/../w.weights.h5")
    assert sorted(os.listdir(tmp_path)) == ["a_file", "dangling"]
    capsys.readouterr()
    assert main(["convert", str(Path(__file__)), target]) != 0
    assert sorted(os.listdir(tmp_path)) == ["a_file", "dangling"]


@pytest.mark.parametrize(
    "target",
    ["lae/../assets.extra/netform.keras", "lae/../variables/variables.weights.h5", "lae/../assets/x.h5"],
)
def test_a_save_through_link_and_dotdot_into_a_savedmodel_is_refused(
    target: str, fake_savedmodel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = _digest(fake_savedmodel / "assets.extra" / "netform.keras")
    save = nf.save_weights if target.endswith(".weights.h5") else nf.save
    with pytest.raises(SaveError, match="inside .*SM, a SavedModel folder"):
        save(_model(), target)
    with pytest.raises(SaveError, match="a SavedModel folder"):
        check_save_path(target)
    assert _digest(fake_savedmodel / "assets.extra" / "netform.keras") == before
    assert sorted(os.listdir(tmp_path)) == ["SM", "lae"]  # no ./assets.extra, ./variables made
    assert sorted(os.listdir(fake_savedmodel)) == ["assets.extra", "saved_model.pb"]


def test_convert_through_link_and_dotdot_into_a_savedmodel_is_refused(
    saved: Path,
    fake_savedmodel: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets.extra").mkdir()  # what the textual reading looked at instead
    before = _digest(fake_savedmodel / "assets.extra" / "netform.keras")
    code = main(["convert", str(saved / "m.keras"), "lae/../assets.extra/netform.keras"])
    err = capsys.readouterr().err
    assert code == 5 and "a SavedModel folder" in err, (code, err)
    assert _digest(fake_savedmodel / "assets.extra" / "netform.keras") == before
    assert os.listdir(tmp_path / "assets.extra") == []


def test_a_save_through_link_and_dotdot_elsewhere_writes_where_the_system_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep" / "inner").mkdir(parents=True)
    (tmp_path / "ln").symlink_to(tmp_path / "deep" / "inner")
    nf.save(_model(), "ln/../m.keras")
    assert (tmp_path / "deep" / "m.keras").is_file() and not (tmp_path / "m.keras").exists()
    nf.save(_model(), "ln/../m.keras")  # the earlier save is replaced as usual
    assert nf.load(tmp_path / "deep" / "m.keras").count_params() == 8


def _patched(src: Path, dst: Path, central: dict[int, bytes], local: dict[int, bytes] | None = None) -> Path:
    """``src`` with bytes replaced at offsets of every central-directory (and local) header."""
    data = bytearray(src.read_bytes())
    for signature, changes in ((b"PK\x01\x02", central), (b"PK\x03\x04", local or {})):
        at = data.find(signature)
        while at >= 0:
            for offset, value in changes.items():
                data[at + offset : at + offset + len(value)] = value
            at = data.find(signature, at + 4)
    dst.write_bytes(bytes(data))
    return dst


def test_a_zip_version_no_reader_takes_is_a_format_error(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _patched(saved / "m.keras", tmp_path / "v149.keras", {6: b"\x95\x00"})
    with pytest.raises(NotImplementedError):  # what zipfile itself makes of it
        zipfile.ZipFile(path)
    _refused(path, FormatError, 5, "zip version", tmp_path, capsys)
    with pytest.raises(FormatError, match="zip version"):
        nf.detect_format(path)
    with pytest.raises(FormatError, match="zip version"):
        nf.load_weights(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), path)


@pytest.mark.parametrize(
    ("central", "local", "word"),
    [
        ({8: b"\x01\x00"}, {6: b"\x01\x00"}, "is encrypted"),
        ({10: b"\x63\x00"}, {8: b"\x63\x00"}, "compressed by method 99"),
    ],
)
def test_entries_no_reader_opens_are_a_format_error(
    central: dict[int, bytes],
    local: dict[int, bytes],
    word: str,
    saved: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _patched(saved / "m.keras", tmp_path / "x.keras", central, local)
    _refused(path, FormatError, 5, word, tmp_path, capsys)


def test_a_data_npz_of_a_zip_version_no_reader_takes_is_a_data_error(tmp_path: Path) -> None:
    from netform.cli._data_files import _read_npz

    np.savez(tmp_path / "ok.npz", x=np.zeros((2, 3), np.float32))
    for name, central, local in (
        ("v.npz", {6: b"\x95\x00"}, None),
        ("enc.npz", {8: b"\x01\x00"}, {6: b"\x01\x00"}),
        ("m99.npz", {10: b"\x63\x00"}, {8: b"\x63\x00"}),
    ):
        path = _patched(tmp_path / "ok.npz", tmp_path / name, central, local)
        with pytest.raises(DataError):
            _read_npz(str(path))


def test_the_cli_checks_the_folder_the_write_goes_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o ln/../out.npy`` with ``ln -> real/sub`` is written in ``real``: its folder checks look there."""
    from netform.cli import _train_cmds
    from netform.cli._args import UsageError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "ln").symlink_to(tmp_path / "real" / "sub")
    real = str(tmp_path / "real")
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and os.fspath(p) != real)
    with pytest.raises(UsageError, match="real is not writable"):
        _train_cmds._check_predictions_file("ln/../out.npy")
    with pytest.raises(SaveError, match="real is not writable"):
        _train_cmds.check_model_output("ln/../m.keras")
    _train_cmds._check_predictions_file("out.npy")  # the working folder is writable


@pytest.mark.parametrize("alias", ["CONFIG~1.JSO", "config~1.jso", "MODELW~1.H5", "assets/FILE~12.TXT"])
def test_windows_short_names_are_refused(
    alias: str, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a Windows volume with 8.3 names, ``CONFIG~1.JSO`` is ``config.json``: an extracted copy held the other
    entry's config, while every reader and ``load`` read the first."""
    other = zipfile.ZipFile(saved / "other.keras").read("config.json")
    path = run13._with_entry(saved / "m.keras", tmp_path / "short.keras", alias, other)
    _refused(path, FormatError, 5, "Windows short (8.3) name", tmp_path, capsys)


def test_names_that_only_look_short_are_read(saved: Path, tmp_path: Path) -> None:
    path = run13._with_entry(saved / "m.keras", tmp_path / "ok.keras", "assets/config~1.json", b"{}")
    assert nf.load(path).name == "small"


def test_a_save_does_not_replace_an_h5_that_is_also_an_archive(saved: Path, tmp_path: Path) -> None:
    """An ``.h5`` model followed by a whole ``.keras`` archive: every reader refuses it (two models in one file),
    yet a save replaced it as an earlier save, and the archive was lost."""
    poly = tmp_path / "poly.h5"
    poly.write_bytes((saved / "m.h5").read_bytes() + (saved / "other.keras").read_bytes())
    before = poly.read_bytes()
    with pytest.raises(SaveError, match="also a zip archive|someone's data after its end"):
        nf.save(_model(), poly)
    assert poly.read_bytes() == before
