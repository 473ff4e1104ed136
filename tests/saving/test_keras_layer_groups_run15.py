"""A ``.keras`` file's weights are matched to its layers where Keras reads them: by path, not by a name.

Keras stores each layer's variables at a path it names after the layer's class (``layers/dense_1``) and
loads them from there alone, whatever name the file writes on the ``vars`` group. ``inspect``, ``summary``,
``export-spec`` and ``render`` matched layers by that written name: a file whose ``model.weights.h5`` lacked a
layer's group (deleted or renamed), or whose ``layers`` group was renamed by one byte, was described with 0
(or the wrong) parameters and exit 0 while ``nf.load`` refused it; one whose written name was changed by
one byte was described with 0 parameters for that layer while ``nf.load`` loaded all 23. Now the describing
readers refuse the first (FormatError, exit 5, as load) and count the second as Keras loads it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._static_reader import read_config

h5py = pytest.importorskip("h5py")

SPEC = """netform: 1
name: tiny
kind: sequential
inputs:
  x: {shape: [4]}
layers:
  - {type: Dense, units: 3, activation: relu}
  - {type: Dense, units: 2}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("groups") / "base.keras"
    nf.save(nf.build(nf.load_spec(SPEC)), path)
    return path


def _edited(base: Path, out: Path, edit: Callable[[Any], None]) -> Path:
    """``base`` with its ``model.weights.h5`` changed by ``edit`` (given the open HDF5 file)."""
    with zipfile.ZipFile(base) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    buffer = io.BytesIO(entries["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        edit(f)
    entries["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out


def _delete(f: Any) -> None:
    del f["layers/dense_1"]


def _rename_group(f: Any) -> None:
    f.move("layers/dense_1", "layers/dense_9")


def _rename_layers(f: Any) -> None:
    f.move("layers", "laxers")


def _rename_written_name(f: Any) -> None:
    f["layers/dense_1/vars"].attrs["name"] = "dense\u00e61"


@pytest.mark.parametrize("edit", [_delete, _rename_group, _rename_layers], ids=lambda e: e.__name__)
def test_a_layer_without_its_stored_weights_is_refused_by_every_reader(
    base: Path, tmp_path: Path, edit: Callable[[Any], None], capsys
) -> None:
    path = _edited(base, tmp_path / "m.keras", edit)
    with pytest.raises(FormatError):
        nf.load(path)
    for read in (lambda: nfs.inspect(path), lambda: read_config(str(path), "keras")):
        with pytest.raises(FormatError, match="stores none at 'layers/dense"):
            read()
    for args in (
        ["inspect", str(path)],
        ["summary", str(path)],
        ["export-spec", str(path)],
        ["render", str(path), "-o", str(tmp_path / "m.dot")],
    ):
        capsys.readouterr()
        assert main(args) == 5, args
        assert "where Keras reads them" in capsys.readouterr().err


def test_a_changed_written_name_is_counted_as_keras_loads_it(base: Path, tmp_path: Path) -> None:
    path = _edited(base, tmp_path / "m.keras", _rename_written_name)
    info = nfs.inspect(path)
    assert [layer["params"] for layer in info["layers"]] == [15, 8]
    assert info["parameters"] == nf.load(path).count_params() == 23


def test_the_saved_file_is_described(base: Path) -> None:
    assert nfs.inspect(base)["parameters"] == 23
