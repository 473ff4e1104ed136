"""An HDF5 file keeping a variable's values in an external file is kept, as load refuses it.

Keras never writes HDF5 external storage; its external-file list holds whatever path text someone wrote. Load
refused such a file (``UnsafeFileError``) while ``nf.save`` and ``nf.save_weights`` replaced it silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf

SPEC = "netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 8}\n  - {type: Dense, units: 2}\n"


def _externalized(source: Path, target: Path, kernel_suffix: str, external: Path) -> None:
    external.write_bytes(np.zeros(32, np.float32).tobytes())
    with h5py.File(source) as src, h5py.File(target, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value

        def copy(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Group):
                group = dst.require_group(name)
                for key, value in obj.attrs.items():
                    group.attrs[key] = value
            elif isinstance(obj, h5py.Dataset) and name.endswith(kernel_suffix) and obj.shape == (4, 8):
                dst.create_dataset(name, shape=obj.shape, dtype=obj.dtype,
                                   external=[(str(external), 0, h5py.h5f.UNLIMITED)])
            elif isinstance(obj, h5py.Dataset):
                dst.create_dataset(name, data=obj[()])

        src.visititems(copy)


@pytest.mark.parametrize("form", ["keras_h5", "weights_h5"])
def test_a_file_with_external_storage_is_not_replaced(tmp_path: Path, form: str) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    if form == "keras_h5":
        source, target, suffix = tmp_path / "k.h5", tmp_path / "kx.h5", "kernel"
        model.save(source)
    else:
        source, target, suffix = tmp_path / "k.weights.h5", tmp_path / "kx.weights.h5", "vars/0"
        model.save_weights(source)
    _externalized(source, target, suffix, tmp_path / ("NOTES_" + "x" * 200))
    before = target.read_bytes()
    with pytest.raises(nf.UnsafeFileError, match="external file"):
        nf.load(target) if form == "keras_h5" else nf.build(nf.load_spec(SPEC)).load_weights(target)
    built = nf.build(nf.load_spec(SPEC))
    with pytest.raises(nf.SaveError, match=r"its values kept in an external file"):
        nf.save(built, target) if form == "keras_h5" else nf.save_weights(built, target)
    assert target.read_bytes() == before
    assert not [n for n in os.listdir(tmp_path) if ".nf-" in n]
