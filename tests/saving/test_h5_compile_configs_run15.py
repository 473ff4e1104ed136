"""An HDF5 model's two compile configs must compile the same model.

netform writes Keras's ``training_config`` and its own ``netform_compile_config`` from one compiled model;
netform compiles a loaded model from the second, ``keras.saving.load_model`` from the first. A file whose
loss was edited in one of them (checksums recomputed) was accepted by every reader and ``nf.load``, which
compiled with one loss while Keras's loader compiled with the other. Such a file is now refused with a
FormatError (exit 5) naming the place, as two model configs that differ are; files netform writes, with
losses by alias, function, object or per output, pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

import netform as nf
import netform.saving as nfs
from netform.cli._main import main
from netform.errors import FormatError
from netform.saving._static_reader import read_config

h5py = pytest.importorskip("h5py")
keras = pytest.importorskip("keras")
L = keras.layers

SAID = "describe different compile settings"


def _sequential() -> Any:
    return keras.Sequential([keras.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)], name="tiny")


def _two_outputs() -> Any:
    x = keras.Input((4,), name="x")
    return keras.Model(x, [L.Dense(2, name="a")(x), L.Dense(1, name="b")(x)], name="two")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compile") / "base.h5"
    model = _sequential()
    model.compile(optimizer="adam", loss="mse")
    nf.save(model, path)
    return path


def _edited(base: Path, out: Path, attr: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """``base`` with the JSON attribute ``attr`` edited and netform's attribute checksums recomputed."""
    from netform.saving._h5 import _write_attr_checksums

    out.write_bytes(base.read_bytes())
    with h5py.File(out, "r+") as f:
        value = json.loads(f.attrs[attr])
        edit(value)
        f.attrs[attr] = json.dumps(value).encode()
        _write_attr_checksums(f)
    return out


EDITS = {
    "training_config_loss": ("training_config", lambda d: d.__setitem__("loss", "mean_absolute_error")),
    "netform_compile_config_loss": ("netform_compile_config", lambda d: d.__setitem__("loss", "mae")),
    "training_config_learning_rate": (
        "training_config",
        lambda d: d["optimizer_config"]["config"].__setitem__("learning_rate", 0.5),
    ),
    "training_config_metrics": ("training_config", lambda d: d.__setitem__("metrics", ["mae"])),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_compile_configs_that_differ_are_refused_by_every_reader(base: Path, tmp_path: Path, edit: str, capsys) -> None:
    attr, change = EDITS[edit]
    path = _edited(base, tmp_path / "m.h5", attr, change)
    for read in (
        lambda: nf.load(path),
        lambda: nf.load(path, compile=False),
        lambda: nfs.inspect(path),
    ):
        with pytest.raises(FormatError, match=SAID):
            read()
    try:
        assert read_config(str(path), "h5", compile=True) is None  # a loss: left to Keras, which refuses it
    except FormatError as err:
        assert SAID in str(err)
    for args in (
        ["inspect", str(path)],
        ["summary", str(path)],
        ["export-spec", str(path)],
        ["render", str(path), "-o", str(tmp_path / "m.dot")],
    ):
        capsys.readouterr()
        assert main(args) == 5, args
        assert SAID in capsys.readouterr().err


COMPILES = [
    (_sequential, lambda: {"optimizer": "adam", "loss": "mse", "metrics": ["mae"]}),
    (_sequential, lambda: {"optimizer": "sgd", "loss": keras.losses.mean_squared_error, "metrics": ["acc"]}),
    (_sequential, lambda: {"optimizer": keras.optimizers.Adam(0.01), "loss": keras.losses.Huber(delta=2.0)}),
    (_sequential, lambda: {"optimizer": "rmsprop", "loss": "kld", "weighted_metrics": [keras.metrics.AUC()]}),
    (_two_outputs, lambda: {"optimizer": "adam", "loss": ["mse", "mae"], "loss_weights": [1.0, 0.5]}),
    (_two_outputs, lambda: {"optimizer": "adam", "loss": {"a": "msle", "b": keras.losses.MeanSquaredError()}}),
]


@pytest.mark.parametrize("index", range(len(COMPILES)))
def test_files_netform_writes_pass(tmp_path: Path, index: int) -> None:
    build, settings = COMPILES[index]
    model = build()
    model.compile(**settings())
    path = tmp_path / "m.h5"
    nf.save(model, path)
    assert nf.load(path).count_params() == model.count_params()
    assert nfs.inspect(path)["parameters"] == model.count_params()
