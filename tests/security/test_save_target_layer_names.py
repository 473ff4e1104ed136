"""Save targets: a .keras archive whose weights file has a layer group no Keras save names (a line break)."""

from __future__ import annotations

import io
import zipfile

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError


def test_layer_group_with_line_break_is_named_not_crashed(tmp_path) -> None:
    """Refused with the group named; before, the check crashed and the message read "no HDF5 file netform can open"."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    source, target = str(tmp_path / "a.keras"), str(tmp_path / "b.keras")
    nf.save(model, source)
    with zipfile.ZipFile(source) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(target, "w") as out:
        for info, data in items:
            if info.filename == "model.weights.h5":
                image = io.BytesIO(data)
                with h5py.File(image, "a") as f:
                    f["layers/dense\nnotes/vars/0"] = np.arange(10.0)
                data = image.getvalue()
            out.writestr(info, data)
    before = open(target, "rb").read()
    with pytest.raises(SaveError, match=r"layers/'dense\\nnotes' \(a name Keras never gives a layer\)"):
        nf.save(model, target)
    assert open(target, "rb").read() == before
