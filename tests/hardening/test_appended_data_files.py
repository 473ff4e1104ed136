"""Bytes a user appends to a TensorFlow data file keep it: a SavedModel's ``variables.data-*``, a checkpoint set's.

TensorFlow writes a data shard's tensors one after another and nothing after the last. A user's text
appended to a SavedModel's data shard, or to a TF checkpoint set's, went with the next save (the SavedModel
was replaced whole; the set was dropped as an older one), though ``nf.load`` already refused the folder.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

import netform as nf

TEXT = b"MY THESIS " * 100


def _model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def _holds_text(folder: Path) -> bool:
    return any(TEXT in p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_a_savedmodel_whose_data_shard_holds_appended_bytes_is_not_replaced(tmp_path: Path) -> None:
    model = _model()
    nf.save(model, tmp_path / "sm", format="savedmodel")
    shard = next((tmp_path / "sm" / "variables").glob("variables.data-*"))
    with open(shard, "ab") as fh:
        fh.write(TEXT)
    with pytest.raises(nf.SaveError, match="past the .* its index places tensors in"):
        nf.save(model, tmp_path / "sm", format="savedmodel")
    assert _holds_text(tmp_path / "sm")


def test_a_checkpoint_set_whose_data_holds_appended_bytes_is_kept(tmp_path: Path) -> None:
    model = _model()
    prefix = tmp_path / "w.ckpt"
    nf.save_weights(model, prefix, format="tf_checkpoint")
    for data in tmp_path.glob("w.ckpt*.data-*"):
        with open(data, "ab") as fh:
            fh.write(TEXT)
    for _ in range(3):
        nf.save_weights(model, prefix, format="tf_checkpoint")
    assert _holds_text(tmp_path)
    nf.load_weights(model, prefix)  # the newest set, netform's own, loads
