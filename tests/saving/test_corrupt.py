"""Truncated or bit-flipped files give a FormatError naming the file, never a raw traceback."""

from __future__ import annotations

import os

import pytest

import netform.saving as nfs
from netform.errors import FormatError

FILES = {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel", "weights_h5": "w.weights.h5",
         "legacy_h5_weights": "w.lw.h5", "tf_checkpoint": "w.ckpt"}


def _target(path: str, fmt: str) -> str:
    """The one file of a format's output that holds the weights."""
    if fmt == "savedmodel":
        return os.path.join(path, "assets.extra", "netform.keras")
    if fmt == "tf_checkpoint":
        return path + ".data-00000-of-00002"  # a first save: its tensors in shard 0 of 2
    return path


def _weights_offset(path: str, fmt: str) -> int:
    if fmt in ("h5", "weights_h5", "legacy_h5_weights"):
        import h5py

        with h5py.File(path, "r") as f:
            found = []
            f.visititems(lambda n, o: found.append(o) if isinstance(o, h5py.Dataset) and o.size > 8 else None)
            big = max(found, key=lambda d: d.size)
            return big.id.get_offset() + big.id.get_storage_size() // 2
    return os.path.getsize(path) // 2


def _make(tmp_path, model, fmt):
    path = str(tmp_path / FILES[fmt])
    (nfs.save if fmt in ("keras", "h5", "savedmodel") else nfs.save_weights)(model, path, format=fmt)
    return path


def _read(model_case, path, fmt):
    if fmt in ("keras", "h5", "savedmodel"):
        return nfs.load(path)
    return nfs.load_weights(model_case.fresh(), path)


@pytest.mark.parametrize("fmt", list(FILES))
def test_truncated(tmp_path, cases, trained, fmt):
    path = _make(tmp_path, trained["cnn"], fmt)
    target = _target(path, fmt)
    with open(target, "r+b") as fh:
        fh.truncate(os.path.getsize(target) * 2 // 3)
    with pytest.raises(FormatError) as info:
        _read(cases["cnn"], path, fmt)
    assert os.path.basename(path) in str(info.value)
    assert "corrupt" in str(info.value) or "truncated" in str(info.value)


@pytest.mark.parametrize("fmt", list(FILES))
def test_bit_flipped(tmp_path, cases, trained, fmt):
    path = _make(tmp_path, trained["cnn"], fmt)
    target = _target(path, fmt)
    offset = _weights_offset(target, fmt)
    with open(target, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(FormatError) as info:
        _read(cases["cnn"], path, fmt)
    assert os.path.basename(path) in str(info.value)


def test_mismatch_lists_layers_and_shapes(tmp_path, trained):
    import keras

    path = str(tmp_path / "w.weights.h5")
    nfs.save_weights(trained["mlp"], path)
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    with pytest.raises(FormatError, match=r"(?s)do not fit model.*layers/dense/vars/0: model has shape "
                                          r"\(8, 5\), file has \(8, 16\)"):
        nfs.load_weights(other, path)
    with pytest.warns(UserWarning, match="skipped"):
        skipped = nfs.load_weights(other, path, skip_mismatch=True)
    assert any("(8, 5)" in s for s in skipped)


def test_legacy_by_name_and_skip_mismatch(tmp_path, trained):
    import keras

    path = str(tmp_path / "w.h5")
    nfs.save(trained["mlp"], path)
    names = [layer.name for layer in trained["mlp"].layers]
    other = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name=names[0]),
                              keras.layers.Dense(4, name="extra")])
    with pytest.raises(FormatError, match=r"layer 'extra': model has shapes \[\(16, 4\), \(4,\)\], "
                                          r"file has \[\(16, 3\), \(3,\)\]"):
        nfs.load_weights(other, path)
    assert nfs.load_weights(other, path, by_name=True) == []
    import numpy as np

    np.testing.assert_allclose(other.layers[0].get_weights()[0], trained["mlp"].layers[0].get_weights()[0])
    with pytest.warns(UserWarning):
        skipped = nfs.load_weights(other, path, skip_mismatch=True)
    assert skipped and "extra" in skipped[0]


def test_unbuilt_subclassed_model_has_clear_error(tmp_path, trained):
    import keras

    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(3)

        def call(self, x):
            return self.d(x)

    path = str(tmp_path / "w.weights.h5")
    nfs.save_weights(trained["mlp"], path)
    with pytest.raises(FormatError, match=r"not built yet.*model\.build\(input_shape\)"):
        nfs.load_weights(Tiny(), path)
