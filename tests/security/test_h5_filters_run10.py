"""An HDF5 dataset compressed with a filter HDF5 does not build in is refused before anything reads it.

Reading such a dataset makes HDF5 search its plugin path and load every library there; TensorFlow sets that path
to ``disable``, which HDF5 takes as a folder relative to the working directory, so a model file plus a
``disable/`` folder (a downloaded model's folder) ran a library's code on ``load``, ``load_weights``, ``predict``
and ``convert``. Every path refuses the file with UnsafeFileError, naming the dataset and the filter.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zipfile
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.cli import main
from netform.errors import UnsafeFileError


def _model() -> keras.Model:
    x = keras.Input((3,))
    return keras.Model(x, keras.layers.Dense(2)(x))


def _with_unknown_filter(src: Path, dst: Path) -> Path:
    """A copy of the HDF5 file ``src`` whose 2-D datasets are stored through filter 32001 (no library has it)."""
    with h5py.File(src, "r") as s, h5py.File(dst, "w") as t:
        for k, v in s.attrs.items():
            t.attrs[k] = v

        def copy(source: Any, target: Any) -> None:
            for key in source:
                obj = source[key]
                if isinstance(obj, h5py.Group):
                    group = target.create_group(key)
                    for a, b in obj.attrs.items():
                        group.attrs[a] = b
                    copy(obj, group)
                    continue
                if obj.ndim == 2:
                    data = target.create_dataset(key, shape=obj.shape, dtype=obj.dtype, chunks=obj.shape,
                                                 compression=32001, allow_unknown_filter=True)
                    data.id.write_direct_chunk((0, 0), obj[()].tobytes())
                else:
                    data = target.create_dataset(key, data=obj[()])
                for a, b in obj.attrs.items():
                    data.attrs[a] = b

        copy(s, t)
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("filters")
    model = _model()
    model.save(d / "m.h5")
    model.save_weights(d / "m.weights.h5")
    model.save(d / "m.keras")
    out = {
        "h5": _with_unknown_filter(d / "m.h5", d / "f.h5"),
        "weights": _with_unknown_filter(d / "m.weights.h5", d / "f.weights.h5"),
    }
    inner = _with_unknown_filter(_extract(d / "m.keras", d), d / "inner.weights.h5")
    with zipfile.ZipFile(d / "m.keras") as src, zipfile.ZipFile(d / "f.keras", "w") as dst:
        for info in src.infolist():
            data = inner.read_bytes() if info.filename == "model.weights.h5" else src.read(info)
            dst.writestr(info, data)
    out["keras"] = d / "f.keras"
    return out


def _extract(archive: Path, d: Path) -> Path:
    with zipfile.ZipFile(archive) as z:
        (d / "orig.weights.h5").write_bytes(z.read("model.weights.h5"))
    return d / "orig.weights.h5"


@pytest.mark.parametrize("kind", ["h5", "weights", "keras"])
def test_a_dataset_with_an_unknown_filter_is_refused_everywhere(files: dict[str, Path], kind: str, capsys) -> None:
    path = files[kind]
    if kind != "weights":
        with pytest.raises(UnsafeFileError, match=r"compressed with filter 32001.*plugin library"):
            nf.load(path)
    with pytest.raises(UnsafeFileError, match=r"compressed with filter 32001"):
        nf.load_weights(_model(), path)
    assert main(["inspect", str(path)]) == 6
    assert "filter 32001" in capsys.readouterr().err


def test_builtin_filters_still_load(tmp_path: Path) -> None:
    model = _model()
    model.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "r") as s, h5py.File(tmp_path / "g.weights.h5", "w") as t:
        def copy(source: Any, target: Any) -> None:
            for k, v in source.attrs.items():
                target.attrs[k] = v
            for key in source:
                obj = source[key]
                if isinstance(obj, h5py.Group):
                    copy(obj, target.create_group(key))
                else:
                    target.create_dataset(key, data=obj[()], compression="gzip", shuffle=True, fletcher32=True,
                                          chunks=obj.shape if obj.ndim else None)
        copy(s, t)
    other = _model()
    nf.load_weights(other, tmp_path / "g.weights.h5")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
