"""Readers that disagreed with ``load`` (continued): an ``.h5`` model whose Dense kernel is stored transposed.

The kernel of ``Dense(5)`` on 3 inputs, stored as (5, 3) with the file's checksums written again:
``load`` refuses it (Keras's loader will not set a kernel of another shape), while inspect, summary and
export-spec described the model. The ``.keras`` readers compared Dense shapes with the config already; the
HDF5 readers now do too, through each layer group's ``weight_names`` (a kernel, then a bias).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.cli import main
from netform.errors import FormatError
from netform.saving._h5 import _write_checksums


@pytest.fixture(scope="module")
def model_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("agree15")
    x = keras.Input((3,))
    h = keras.layers.Dense(5, name="d")(x)
    y = keras.layers.Dense(4, name="square")(keras.layers.Dense(4, name="pre")(keras.layers.Dense(4, name="p0")(h)))
    nf.save(keras.Model(x, y, name="m"), d / "m.h5")
    return d / "m.h5"


def _edited(src: Path, dst: Path, dataset: str, value: np.ndarray) -> Path:
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        del f[dataset]
        f.create_dataset(dataset, data=value)
        _write_checksums(f)
    return dst


@pytest.mark.parametrize(
    ("dataset", "shape"),
    [("model_weights/d/d/kernel", (5, 3)), ("model_weights/d/d/bias", (3,)), ("model_weights/d/d/kernel", (3, 6))],
)
def test_a_dense_weight_of_another_shape_is_refused_by_every_reader(
    dataset: str, shape: tuple[int, ...], model_h5: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edited(model_h5, tmp_path / "t.h5", dataset, np.ones(shape, np.float32))
    with pytest.raises(FormatError):
        nf.load(path)
    with pytest.raises(FormatError, match=r"layer 'd' \(Dense, units 5, input size 3\)"):
        nf.inspect(path)
    for command in (["inspect"], ["summary"], ["export-spec", "-o", str(tmp_path / "s.yaml")]):
        capsys.readouterr()
        code = main([command[0], str(path), *command[1:]])
        err = capsys.readouterr().err
        assert code == 5 and "builds a" in err, (command, code, err)
    assert not (tmp_path / "s.yaml").exists()


def test_a_square_kernel_stored_transposed_is_a_model_of_its_shape(model_h5: Path, tmp_path: Path) -> None:
    """A (4, 4) kernel read the other way round has the shape built: both readers take it, as Keras does."""
    with h5py.File(model_h5) as f:
        kernel = f["model_weights/square/square/kernel"][()]
    path = _edited(model_h5, tmp_path / "sq.h5", "model_weights/square/square/kernel", kernel.T.copy())
    assert nf.inspect(path)["parameters"] == nf.load(path).count_params()


def test_the_untouched_file_is_described(model_h5: Path) -> None:
    assert (
        nf.inspect(model_h5)["parameters"]
        == nf.load(model_h5).count_params()
        == (3 * 5 + 5) + (5 * 4 + 4) + 2 * (4 * 4 + 4)
    )


def test_a_lora_dense_is_described_as_load_reads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Keras's legacy saver lists trainable weights first: a LoRA-enabled Dense's frozen kernel comes last
    (``bias, lora_kernel_a, lora_kernel_b, kernel``); the kernel and the bias are found by name."""
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, name="d2")(keras.layers.Dense(4, name="d1")(x)))
    model.layers[1].enable_lora(2)
    path = tmp_path / "lora.h5"
    nf.save(model, path)
    with h5py.File(path) as f:
        assert [n.split("/")[-1] for n in f["model_weights/d1"].attrs["weight_names"]][-1] == "kernel"
    assert nf.load(path).count_params() == model.count_params()
    for command in (["summary"], ["export-spec", "-o", str(tmp_path / "s.yaml")]):
        capsys.readouterr()
        assert main([command[0], str(path), *command[1:]]) == 0, capsys.readouterr().err
