"""Sharded weights: a file at a shard's name is replaced or removed only when it is a shard of the earlier save.

* A re-save that needs fewer shards removes the earlier save's extra shards. A file the user has since
  put at one of those names (their notes, another model's weights) is not the earlier save's shard and
  stays where it is (before: deleted without a check, by ``nf.save_weights`` and by the model's own
  ``save_weights``).
* A sharded save whose shard name holds a weights file no earlier index of this name lists (another
  model's ``s_00001.weights.h5``) is refused with a ``SaveError`` before anything is written (before:
  silently overwritten, as plain Keras does).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SaveError


def _model(value: float, name: str = "m") -> keras.Model:
    inputs = keras.Input((32,), name="x")
    x = keras.layers.Dense(32, name="a")(inputs)
    x = keras.layers.Dense(32, name="b")(x)
    x = keras.layers.Dense(32, name="c")(x)
    model = nf.Model(inputs, keras.layers.Dense(4, name="d")(x), name=name)
    model.set_weights([np.full(w.shape, value, "float32") for w in model.get_weights()])
    return model


def _shards(folder: Path) -> list[str]:
    return sorted(n.name for n in folder.glob("w_*.weights.h5"))


def _value(index: Path) -> float:
    fresh = _model(0.0)
    fresh.load_weights(str(index))
    values = {float(x) for w in fresh.get_weights() for x in np.unique(w)}
    assert len(values) == 1, values
    return values.pop()


@pytest.mark.parametrize("how", ["nf.save_weights", "model.save_weights"])
@pytest.mark.parametrize("planted", ["notes", "other weights"])
def test_a_user_file_at_an_old_shard_name_stays_when_fewer_shards_are_saved(tmp_path: Path, how, planted) -> None:
    index = tmp_path / "w.weights.json"
    nf.save_weights(_model(1.0), index, max_shard_size=0.000005)
    shards = _shards(tmp_path)
    assert len(shards) >= 3, shards
    last = tmp_path / shards[-1]
    last.unlink()
    if planted == "notes":
        last.write_text("my notes\n")
    else:
        other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="mine")])
        nf.save_weights(other, last)
    before = last.read_bytes()
    model = _model(2.0)
    if how == "nf.save_weights":
        nf.save_weights(model, index, max_shard_size=1)
    else:
        model.save_weights(str(index), max_shard_size=1)
    assert last.read_bytes() == before
    assert json.loads(index.read_text())["weight_map"] and _value(index) == 2.0
    # the earlier save's other extra shards are gone
    assert _shards(tmp_path) == ["w_00000.weights.h5", last.name]


def test_the_earlier_saves_extra_shards_are_removed(tmp_path: Path) -> None:
    index = tmp_path / "w.weights.json"
    nf.save_weights(_model(1.0), index, max_shard_size=0.000005)
    assert len(_shards(tmp_path)) >= 3
    nf.save_weights(_model(2.0), index, max_shard_size=1)
    assert _shards(tmp_path) == ["w_00000.weights.h5"] and _value(index) == 2.0


@pytest.mark.parametrize("how", ["nf.save_weights", "model.save_weights"])
def test_another_models_weights_at_a_shard_name_are_refused_without_an_index(tmp_path: Path, how) -> None:
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="mine")])
    planted = tmp_path / "w_00001.weights.h5"
    nf.save_weights(other, planted)
    before = planted.read_bytes()
    model = _model(1.0)
    with pytest.raises(SaveError, match=r"w_00001\.weights\.h5.*not a shard of an earlier save of .*w\.weights\.json"):
        if how == "nf.save_weights":
            nf.save_weights(model, tmp_path / "w.weights.json", max_shard_size=0.000005)
        else:
            model.save_weights(str(tmp_path / "w.weights.json"), max_shard_size=0.000005)
    assert planted.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w_00001.weights.h5"]


def test_a_shard_of_another_index_at_a_shard_name_is_refused(tmp_path: Path) -> None:
    # the earlier index names w_00000 only; w_00001 is someone else's HDF5 weights file
    index = tmp_path / "w.weights.json"
    nf.save_weights(_model(1.0), index, max_shard_size=1)
    planted = tmp_path / "w_00001.weights.h5"
    nf.save_weights(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="mine")]), planted)
    before = planted.read_bytes()
    with pytest.raises(SaveError, match=r"w_00001\.weights\.h5.*not a shard of an earlier save"):
        nf.save_weights(_model(2.0), index, max_shard_size=0.000005)
    assert planted.read_bytes() == before and _value(index) == 1.0


def test_resaving_with_as_many_shards_replaces_them(tmp_path: Path) -> None:
    index = tmp_path / "w.weights.json"
    nf.save_weights(_model(1.0), index, max_shard_size=0.000005)
    first = _shards(tmp_path)
    nf.save_weights(_model(2.0), index, max_shard_size=0.000005)
    assert _shards(tmp_path) == first and _value(index) == 2.0
    # and a save Keras wrote is taken over as well
    keras_model = _model(3.0)
    keras.Model.save_weights(keras_model, str(index), max_shard_size=0.000005)
    nf.save_weights(_model(4.0), index, max_shard_size=0.000005)
    assert _shards(tmp_path) == first and _value(index) == 4.0


@pytest.mark.parametrize("writer", ["netform", "keras"])
def test_the_empty_first_shard_of_a_model_without_weights_is_replaced(tmp_path: Path, writer: str) -> None:
    """Keras writes the first shard whatever the model holds, and its index lists only shards holding a
    variable: the second save of a weightless model found an unlisted shard and refused its own earlier save."""
    import h5py

    model = keras.Sequential([keras.Input((3,)), keras.layers.Flatten()])
    index = tmp_path / "b.weights.json"
    if writer == "netform":
        nf.save_weights(model, index, max_shard_size=0.0005)
    else:
        model.save_weights(index, max_shard_size=0.0005)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.weights.json", "b_00000.weights.h5"]
    nf.save_weights(model, index, max_shard_size=0.0005)
    nf.load_weights(model, index)
    with h5py.File(tmp_path / "b_00000.weights.h5", "a") as f:  # a user's data in it still keeps it
        f["notes"] = np.arange(3)
    before = (tmp_path / "b_00000.weights.h5").read_bytes()
    with pytest.raises(nf.SaveError, match=r"b_00000.weights.h5: is an HDF5 file holding data Keras never writes"):
        nf.save_weights(model, index, max_shard_size=0.0005)
    assert (tmp_path / "b_00000.weights.h5").read_bytes() == before
