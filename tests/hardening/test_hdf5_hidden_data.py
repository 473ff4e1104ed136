"""A user's data hidden inside an HDF5 file netform or Keras wrote keeps the file from being replaced.

Before, the check of what a file holds looked at its names, types and visible sizes only. Bytes beyond a
chunked dataset's extent (a resizable dataset shrunk after it was written), a dataset showing only its fill
value, an enumeration's names, an object's comment, or bytes appended after the file's end passed it, and the next save replaced
the file with them in it. Keras writes each variable whole in one contiguous block and nothing after the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import h5py
import keras
import numpy as np
import pytest

import netform as nf

SECRET = b"MY-THESIS-DATA.."  # 16 bytes: four float32 values


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(4)])


def _bias(f: Any) -> tuple[Any, str]:
    """The group holding the first Dense's bias, and its name there (Keras 3's layout or the legacy one)."""
    if "model_weights" in f:
        found: list[str] = []
        f["model_weights"].visit(lambda n: found.append(n) if n.endswith("/bias") else None)
        return f["model_weights"][found[0].rpartition("/")[0]], "bias"
    return f["layers/dense/vars"], "1"


def _edge_chunk(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        group, name = _bias(f)
        del group[name]
        data = np.frombuffer(SECRET * 250, dtype="float32")
        group.create_dataset(name, data=data, chunks=(1000,), maxshape=(None,))
        group[name].resize((16,))  # the bias's size again; the rest of the chunk keeps the secret


def _fill_value_only(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        group, name = _bias(f)
        del group[name]
        group.create_dataset(name, shape=(16,), dtype="float32", fillvalue=np.frombuffer(SECRET[:4], "float32")[0])


def _enumeration(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        group, name = _bias(f)
        del group[name]
        kind = h5py.enum_dtype({"my_password_is_hunter2": 0, "x": 1}, basetype="i4")
        group.create_dataset(name, data=np.zeros(16, "i4"), dtype=kind)


def _appended(path: Path) -> None:
    with open(path, "ab") as fh:
        fh.write(SECRET * 64)


def _comment(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        group, name = _bias(f)
        h5py.h5o.set_comment(group[name].id, SECRET * 8)


def _root_comment(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        h5py.h5o.set_comment(f.id, SECRET * 8)


EDITS: dict[str, Callable[[Path], None]] = {
    "comment": _comment,
    "root comment": _root_comment,
    "edge chunk": _edge_chunk,
    "fill value": _fill_value_only,
    "enumeration": _enumeration,
    "appended": _appended,
}


@pytest.mark.parametrize("fmt", ["w.weights.h5", "m.h5", "s.weights.json"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_hidden_data_keeps_the_file(tmp_path: Path, fmt: str, edit: str) -> None:
    path = tmp_path / fmt
    model = _model()
    if fmt.endswith(".json"):

        def save() -> None:
            nf.save_weights(model, path, max_shard_size=0.0000012)

        target = tmp_path / "s_00000.weights.h5"
    else:

        def save() -> None:
            (nf.save_weights if "weights" in fmt else nf.save)(model, path)

        target = path
    save()
    EDITS[edit](target)
    before = target.read_bytes()
    with pytest.raises(nf.SaveError, match="would replace|never writes|after its end"):
        save()
    assert target.read_bytes() == before


def test_a_file_netform_wrote_is_still_replaced(tmp_path: Path) -> None:
    # contiguous variables, bools (h5py's FALSE/TRUE enumeration), the file ending where HDF5 says
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.ones((4, 8)), np.ones((4, 4)), verbose=0)
    for name in ("w.weights.h5", "m.h5", "m.keras"):
        save = nf.save_weights if "weights" in name else nf.save
        save(model, tmp_path / name)
        save(model, tmp_path / name)
    with h5py.File(tmp_path / "b.weights.h5", "w") as f:
        f["layers/flag/vars/0"] = np.array([True, False])
    assert nf.saving._target._not_keras_hdf5(str(tmp_path / "b.weights.h5")) is None


def test_a_legacy_h5_save_of_bfloat16_variables_is_refused(tmp_path: Path) -> None:
    # Keras's legacy writer stores bfloat16 as unmarked raw bytes that neither Keras nor netform reads back:
    # the save succeeded, and left a file no one could load
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, dtype="bfloat16")(inputs))
    for save, name in ((nf.save, "m.h5"), (lambda m, p: nf.save_weights(m, p, format="legacy_h5_weights"), "w.h5")):
        with pytest.raises(nf.SaveError, match="save as .keras or .weights.h5, which keep bfloat16 variables"):
            save(model, tmp_path / name)
        assert not (tmp_path / name).exists()
    nf.save(model, tmp_path / "m.keras")  # Keras 3's layouts keep them
    nf.save_weights(model, tmp_path / "w.weights.h5")


def test_keras_s_own_bfloat16_h5_is_replaced(tmp_path: Path) -> None:
    # Keras writes bfloat16 unmarked in its legacy layout: that file is Keras's, and a save replaces it
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2, dtype="bfloat16")(inputs)).save(tmp_path / "k.h5")
    nf.save(_model(), tmp_path / "k.h5")
    assert nf.load(tmp_path / "k.h5").count_params() == _model().count_params()


TEXT = "MY THESIS " * 100


def _keras_version(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = TEXT


def _vars_name(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["layers/dense/vars"].attrs["name"] = TEXT * 2


def _weight_names(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        holder, _ = _bias(f)
        while "weight_names" not in holder.attrs:
            holder = holder.parent
        listed = [n.decode() if isinstance(n, bytes) else n for n in holder.attrs["weight_names"]]
        holder.attrs["weight_names"] = np.array([*listed, TEXT], dtype=object)


@pytest.mark.parametrize(
    ("fmt", "edit"), [("m.h5", _keras_version), ("w.weights.h5", _vars_name), ("m.h5", _weight_names)]
)
def test_text_in_an_attribute_keras_writes_keeps_the_file(
    tmp_path: Path, fmt: str, edit: Callable[[Path], None]
) -> None:
    # text put into Keras's own attributes (its version, a group's name, a weight list) went with the next save
    path = tmp_path / fmt
    model = _model()
    save = nf.save_weights if "weights" in fmt else nf.save
    save(model, path)
    edit(path)
    before = path.read_bytes()
    with pytest.raises(nf.SaveError, match="never writes"):
        save(model, path)
    assert path.read_bytes() == before


def test_a_legacy_h5_save_of_a_model_quantized_to_float8_in_memory_is_refused(tmp_path: Path) -> None:
    """``quantize("float8")`` adds a layer's scales after its kernel; Keras builds the layer from its config in
    another order and its legacy HDF5 reader gives the variables back by position: the save succeeded and left a
    file neither Keras nor netform could load ("Shape mismatch ... inputs_scale")."""
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dense(16)(inputs)))
    model.quantize("float8")
    with pytest.raises(nf.SaveError, match=r"float8-quantized layer '.*' holds its variables in another order"):
        nf.save(model, tmp_path / "q.h5")
    assert not (tmp_path / "q.h5").exists()
    nf.save(model, tmp_path / "q.keras")  # Keras 3's layouts match by name
    loaded = nf.load(tmp_path / "q.keras")
    nf.save(loaded, tmp_path / "q.h5")  # the same model built from its config has Keras's order
    again = nf.load(tmp_path / "q.h5")
    x = np.ones((2, 8), "float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-6)
    for mode in ("int8", "int4"):
        plain = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dense(16)(inputs)))
        plain.quantize(mode)
        nf.save(plain, tmp_path / f"{mode}.h5")
        nf.load(tmp_path / f"{mode}.h5")
