"""Files in Keras's other layouts: npz weights, the unzipped folder, sharded weights; HDF5 config checksums.

Each file here is written by Keras itself (or by netform, where netform's
own metadata is what is tested), then read by netform and, where Keras reads
it too, compared with what Keras makes of the same file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.errors import FormatError

keras = pytest.importorskip("keras")
L = keras.layers


def _model() -> Any:
    x = keras.Input((4,), name="x")
    h = L.Dense(5, activation="relu", name="hidden")(x)
    model = keras.Model(x, [L.Dense(3, name="a")(h), L.Dense(1, name="b")(h)], name="variants")
    model.compile(optimizer="adam", loss="mse")
    return model


# --- Keras's npz weights -------------------------------------------------------------------------


def test_keras_npz_archive_is_refused_with_the_reason_as_keras_fails_on_it(tmp_path: Path) -> None:
    # No public Keras call writes npz weights; saving_lib.save_model does (weights_format="npz").
    from keras.src.saving import saving_lib

    path = tmp_path / "npz.keras"
    saving_lib.save_model(_model(), str(path), weights_format="npz")
    assert "model.weights.npz" in zipfile.ZipFile(path).namelist()
    with pytest.raises(ValueError, match="Object arrays cannot be loaded when allow_pickle=False"):
        keras.saving.load_model(path)  # Keras cannot read its own npz archive back either
    with pytest.raises(FormatError, match=r"model\.weights\.npz, Keras's npz format.*pickled.*model\.save\(\)"):
        nfs.load(path)
    with pytest.raises(FormatError, match=r"model\.weights\.npz, Keras's npz format"):
        nfs.inspect(path)  # its parameters cannot be counted without its weights: refused as load refuses it


# --- the unzipped .keras folder ------------------------------------------------------------------


def test_unzipped_keras_folder_is_detected_and_inspected_as_keras_loads_it(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "unzipped"
    model.save(path, zipped=False)  # Keras's own folder: config.json, metadata.json, model.weights.h5
    assert nfs.detect_format(path) == "keras"
    info = nfs.inspect(path)
    assert info == nfs.inspect(path, with_keras=True)
    assert info["parameters"] == model.count_params() == keras.saving.load_model(path).count_params()
    assert [layer["name"] for layer in info["layers"]] == [layer.name for layer in model.layers]
    assert info["keras_version"] == keras.__version__


# --- sharded weights ----------------------------------------------------------------------------


def test_sharded_weights_index_is_detected_by_content_and_inspected(tmp_path: Path) -> None:
    model = _model()
    index = tmp_path / "sharded.weights.json"
    model.save_weights(index, max_shard_size=1e-7)  # Keras's layout: the index and one file per shard
    shards = sorted(p.name for p in tmp_path.glob("sharded_*.weights.h5"))
    assert len(shards) > 1
    model.save_weights(tmp_path / "whole.weights.h5")
    whole = nfs.inspect(tmp_path / "whole.weights.h5")
    renamed = tmp_path / "index_without_extension"
    renamed.write_bytes(index.read_bytes())  # by content, not by name
    for path in (index, renamed):
        assert nfs.detect_format(path) == "weights_h5"
        info = nfs.inspect(path)
        assert info["format"] == "weights_h5"
        assert (info["parameters"], info["variables"]) == (whole["parameters"], whole["variables"])
        assert info["parameters"] >= model.count_params()  # the layers' weights and the optimizer's few


def test_sharded_index_naming_a_path_outside_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "evil.weights.json").write_text('{"metadata": {}, "weight_map": {"/vars": ["../x.weights.h5"]}}')
    with pytest.raises(FormatError, match=r"a shard must be a file name in the index's own folder"):
        nfs.inspect(tmp_path / "evil.weights.json")


def test_json_that_is_no_index_stays_unsupported(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"weights": [1, 2]}')
    with pytest.raises(FormatError, match="not a model or weights file netform can read"):
        nfs.detect_format(tmp_path / "other.json")


# --- checksums of an HDF5 file's config ------------------------------------------------------------


def test_changed_bit_in_h5_config_is_refused_by_load_and_inspect(tmp_path: Path) -> None:
    model = _model()
    good = tmp_path / "good.h5"
    nfs.save(model, good)
    data = good.read_bytes()
    # The layer name in every config attribute: still valid JSON, still a model Keras builds.
    assert data.count(b'"name": "hidden"') >= 2
    bad = tmp_path / "bad.h5"
    bad.write_bytes(data.replace(b'"name": "hidden"', b'"name": "hiddeo"'))
    with pytest.raises(FormatError, match=r"attribute '\w+' fails its checksum"):
        nfs.load(bad)
    with pytest.raises(FormatError, match=r"attribute '\w+' fails its checksum"):
        nfs.inspect(bad)
    with pytest.raises(FormatError, match=r"attribute '\w+' fails its checksum"):
        nfs.inspect(bad, with_keras=True)
    assert nfs.inspect(good)["parameters"] == model.count_params()


def test_h5_written_before_config_checksums_still_loads(tmp_path: Path) -> None:
    import h5py

    model = _model()
    path = tmp_path / "older.h5"
    nfs.save(model, path)
    with h5py.File(path, "r+") as f:
        del f.attrs["netform_attr_checksums"]  # as netform wrote files before the attribute existed
    x = np.ones((2, 4), dtype="float32")
    loaded = nfs.load(path)
    for got, want in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert nfs.inspect(path)["parameters"] == model.count_params()


# --- a .keras archive whose weights entry starts where an HDF5 user block would end -----------------


_TAKE_SPEC = """
netform: 1
name: NAME
kind: functional
inputs:
  x: {shape: [8]}
nodes:
  t: {op: take, in: x, indices: 4, axis: 1}
  d: {type: Dense, units: 2, in: x}
outputs: [d, t]
"""


def _weights_offset(path: Path) -> int:
    info = zipfile.ZipFile(path).getinfo("model.weights.h5")
    return info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)


def test_keras_archive_is_not_taken_for_hdf5_with_a_user_block(tmp_path: Path) -> None:
    from netform.saving._detect import _hdf5_kind

    path = tmp_path / "take.keras"
    letters, targets, target = 1, (512, 1024, 2048, 4096), 0
    for _ in range(20):  # each letter more in the model's name moves the stored weights entry one byte further
        model = nf.build(_TAKE_SPEC.replace("NAME", "t" * letters))
        nfs.save(model, path)
        offset = _weights_offset(path)
        target = target or next(o for o in targets if o >= offset)  # the first one past the entry, kept
        if offset == target:
            break
        letters += target - offset  # op names made by Keras (take, take_1, ...) may shift it a little more
        assert 1 <= letters <= 233, "a model name is at most 233 characters"
    assert _weights_offset(path) == target
    if target != 4096:  # HDF5 itself finds the entry as a file behind a user block
        assert _hdf5_kind(str(path)) == "weights_h5"
    assert nfs.detect_format(path) == "keras"
    x = np.arange(24, dtype="float32").reshape(3, 8)
    np.testing.assert_allclose(nfs.load(path).predict(x, verbose=0)[0], model.predict(x, verbose=0)[0], rtol=1e-6)
