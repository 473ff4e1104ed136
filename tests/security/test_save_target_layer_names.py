"""Save targets: a .keras archive whose weights file has a layer group no Keras save names (a line break)."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError

from ._helpers import inner_h5, rezip


def test_layer_group_with_line_break_is_named_not_crashed(tmp_path) -> None:
    """Refused with the group named; before, the check crashed and the message read "no HDF5 file netform can open"."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    source = str(tmp_path / "a.keras")
    nf.save(model, source)

    def add_group(f: h5py.File) -> None:
        f["layers/dense\nnotes/vars/0"] = np.arange(10.0)

    target = rezip(source, str(tmp_path / "b.keras"), inner_h5(add_group))
    before = open(target, "rb").read()
    with pytest.raises(SaveError, match=r"layers/'dense\\nnotes' \(a name Keras never gives a layer\)"):
        nf.save(model, target)
    assert open(target, "rb").read() == before
