"""A file netform wrote and someone edited since is not replaced: netform's checksums tell the edit.

netform's ``.h5`` records a CRC-32 of every dataset and config attribute, and its SavedModel the SHA-256 of
every file. Text put into ``training_config``, a kernel rewritten as float64, a weight changed in place, or a
byte of a SavedModel's variables changed passed every structural check and went with the next save. Files
without netform's records (Keras's own) are judged by their structure, as the README says.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((4, 4)), np.zeros((4, 3)), verbose=0)
    return model


def _kernel(h5: h5py.File) -> str:
    names: list[str] = []
    h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.endswith("kernel") else None)
    return sorted(names)[0]


def _edit(path: Path, how: str) -> None:
    with h5py.File(path, "r+") as h5:
        if how == "training_config text":
            config = json.loads(h5.attrs["training_config"])
            config["notes"] = "MY NOTES"
            h5.attrs["training_config"] = json.dumps(config)
        elif how == "kernel value":
            h5[_kernel(h5)][0, 0] = 123.0
        elif how == "kernel float64":
            name = _kernel(h5)
            value = h5[name][()]
            del h5[name]
            h5.create_dataset(name, data=value.astype("float64"))


@pytest.mark.parametrize("how", ["training_config text", "kernel value", "kernel float64"])
def test_an_edited_netform_h5_is_not_replaced(tmp_path: Path, how: str) -> None:
    model = _model()
    path = tmp_path / "m.h5"
    nf.save(model, path)
    nf.save(model, path)  # unchanged: replaced
    _edit(path, how)
    before = path.read_bytes()
    with pytest.raises(nf.SaveError, match="netform wrote whose content changed since"):
        nf.save(model, path)
    assert path.read_bytes() == before


def test_an_edited_keras_h5_is_judged_by_its_structure(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "k.h5"
    model.save(path)  # Keras's writer: no checksums
    _edit(path, "kernel value")
    nf.save(model, path)
    assert nf.load(path).count_params() == model.count_params()


def test_an_edited_netform_savedmodel_is_not_replaced(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "sm"
    nf.save(model, path, format="savedmodel")
    nf.save(model, path, format="savedmodel")
    data = Path(glob.glob(str(path / "variables" / "variables.data-*"))[0])
    raw = bytearray(data.read_bytes())
    raw[5] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(nf.SaveError, match="changed since .variables/variables.data"):
        nf.save(model, path, format="savedmodel")
    assert data.read_bytes() == bytes(raw)
