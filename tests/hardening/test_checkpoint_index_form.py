"""A TensorFlow checkpoint index holding bytes TensorFlow's table builder does not write keeps its set or folder.

The index is a table whose 48-byte footer pads its two block handles with zeros to 40 bytes: TensorFlow reads
the handles and skips the rest, so text written there (34 bytes for a small model) loaded as before, and the
next save took the checkpoint over and then deleted it (a TF checkpoint), or replaced the folder (a SavedModel
``model.export`` wrote).
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import tensorflow as tf

import netform as nf
from netform.saving._tensor_bundle import index_slack

SECRET = b"SECRET-NOTE-"


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _hide_in_footer(index: Path) -> None:
    data = bytearray(index.read_bytes())
    footer = data[-48:]
    at = 0
    for _ in range(4):  # two handles of two varints each
        while footer[at] & 0x80:
            at += 1
        at += 1
    assert not any(footer[at:40])
    data[len(data) - 48 + at : len(data) - 48 + at + len(SECRET)] = SECRET[: 40 - at]
    index.write_bytes(bytes(data))


def test_a_checkpoint_tensorflow_wrote_with_text_in_its_index_is_not_taken_over(tmp_path: Path) -> None:
    model = _model()
    prefix = tmp_path / "w.ckpt"
    tf.train.Checkpoint(model=model).write(str(prefix))
    index = Path(f"{prefix}.index")
    _hide_in_footer(index)
    tf.train.load_checkpoint(str(prefix))  # TensorFlow reads it as before
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(nf.SaveError, match=r"w\.ckpt\.index.*laid out otherwise than TensorFlow writes it"):
        nf.save_weights(model, prefix)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_savedmodel_keras_exported_with_text_in_its_index_is_kept(tmp_path: Path) -> None:
    model = _model()
    folder = tmp_path / "m_savedmodel"
    model.export(str(folder), verbose=False)
    _hide_in_footer(folder / "variables" / "variables.index")
    tf.saved_model.load(str(folder))
    before = (folder / "variables" / "variables.index").read_bytes()
    with pytest.raises(nf.SaveError, match=r"variables\.index"):
        nf.save(model, folder, format="savedmodel")
    assert (folder / "variables" / "variables.index").read_bytes() == before


def test_indexes_tensorflow_and_netform_write_are_as_written(tmp_path: Path) -> None:
    model = _model()
    for n in (3, 3000):  # one data block, and an index of 150 KB
        variables = {f"v{i}": tf.Variable([0.0, 1.0], name=f"a_variable_with_a_long_name_{i}") for i in range(n)}
        path = tf.train.Checkpoint(**variables).write(str(tmp_path / f"c{n}"))
        assert index_slack(path + ".index") is None
    nf.save_weights(model, tmp_path / "nf.ckpt")
    nf.save_weights(model, tmp_path / "nf.ckpt")  # netform's sets, their indexes rewritten for their shard
    for index in tmp_path.glob("nf.ckpt*.index"):
        assert index_slack(str(index)) is None
    model.export(str(tmp_path / "e_savedmodel"), verbose=False)
    assert index_slack(str(tmp_path / "e_savedmodel" / "variables" / "variables.index")) is None
    nf.save(model, tmp_path / "e_savedmodel", format="savedmodel")  # replaced
