"""A sharded index whose ``total_size`` is no number is not replaced.

The check that an earlier save's shards hold no more values than the index records was skipped when the record
was ``null``, ``NaN``, ``Infinity`` or text, and a dataset someone added to a shard was deleted with the save.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import netform as nf


def _model() -> keras.Model:
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(256)(keras.layers.Dense(256)(inputs))
    return keras.Model(inputs, keras.layers.Dense(10)(hidden))


@pytest.mark.parametrize("total", ["null", "NaN", "Infinity", '"6340648 my notes"', "true", None])
def test_an_index_without_a_numeric_total_is_kept(tmp_path: Path, total: str | None) -> None:
    model = _model()
    source = tmp_path / "src"
    source.mkdir()
    nf.save_weights(model, source / "s.weights.json", max_shard_size=0.0003)
    shards = sorted(glob.glob(str(source / "s_*.weights.h5")))
    assert len(shards) > 1
    target = tmp_path / "t"
    target.mkdir()
    for shard in shards:
        shutil.copy(shard, target)
    index = json.loads((source / "s.weights.json").read_text())
    recorded = index["metadata"]["total_size"]
    raw = json.dumps(index)
    if total is None:
        raw = raw.replace(f'"total_size": {json.dumps(recorded)}', "").replace("{, ", "{").replace(", }", "}")
        assert "total_size" not in raw
    else:
        raw = raw.replace(json.dumps(recorded), total, 1)
    (target / "s.weights.json").write_text(raw)
    last = os.path.join(target, os.path.basename(shards[-1]))
    with h5py.File(last, "r+") as fh:
        group = next(g for g in (fh[p] for p in _var_groups(fh)))
        group.create_dataset(str(len(group)), data=np.frombuffer(b"SECRET USER DATA" * 250, dtype="f4"))
    before = Path(last).read_bytes()
    with pytest.raises(nf.SaveError, match=r"total_size|other metadata"):
        nf.save_weights(model, target / "s.weights.json", max_shard_size=0.0003)
    assert Path(last).read_bytes() == before


def _var_groups(fh: h5py.File) -> list[str]:
    found: list[str] = []
    fh.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Group) and name.endswith("/vars")
                  else None)
    return found


def test_an_ordinary_sharded_save_is_replaced(tmp_path: Path) -> None:
    model = _model()
    nf.save_weights(model, tmp_path / "s.weights.json", max_shard_size=0.0003)
    nf.save_weights(model, tmp_path / "s.weights.json", max_shard_size=0.0003)
    keras_written = tmp_path / "k"
    keras_written.mkdir()
    model.save_weights(keras_written / "k.weights.json", max_shard_size=0.0003)
    nf.save_weights(model, keras_written / "k.weights.json", max_shard_size=0.0003)
