"""A TensorFlow checkpoint index holding bytes TensorFlow's table builder does not write keeps its set or folder.

The index is a table whose 48-byte footer pads its two block handles with zeros to 40 bytes: TensorFlow reads
the handles and skips the rest, so text written there (34 bytes for a small model) loaded as before, and the
next save took the checkpoint over and then deleted it (a TF checkpoint), or replaced the folder (a SavedModel
``model.export`` wrote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

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


def _rewrite_entry(index: Path, key: bytes, change: Callable[[bytes], bytes]) -> None:
    """Write ``index`` again as TensorFlow's table builder lays it out, ``key``'s value changed by ``change``."""
    from netform.saving._tensor_bundle import _TF_BLOCK_SIZE, _parse, _table_as_written

    items = [(k, change(v) if k == key else v) for k, v in _parse(str(index)).items]
    index.write_bytes(_table_as_written(items, _TF_BLOCK_SIZE))


def _dimension_named(value: bytes) -> bytes:
    """The entry with its shape's first dimension given a name (``TensorShapeProto.Dim.name``, field 2)."""
    at = value.index(b"\x12")  # the shape: one dimension, ``size`` 4
    shape = value[at + 2 : at + 2 + value[at + 1]]
    assert shape == b"\x12\x02\x08\x04", shape
    dim = b"\x08\x04\x12" + bytes([len(SECRET)]) + SECRET
    named = b"\x12" + bytes([len(dim)]) + dim
    return value[:at] + b"\x12" + bytes([len(named)]) + named + value[at + 2 + value[at + 1] :]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda v: v.replace(b"\x08\x01", b"\x08\x81\x80\x00", 1), "a padded varint"),  # dtype float, 3 bytes long
        (lambda v: v + b"\x52" + bytes([len(SECRET)]) + SECRET, "a field the message does not have"),
        (_dimension_named, "a dimension's name"),
    ],
    ids=["padded-varint", "unknown-field", "dimension-name"],
)
def test_an_entry_serialized_otherwise_than_tensorflow_writes_it_keeps_the_checkpoint(
    tmp_path: Path, change: Callable[[bytes], bytes], why: str
) -> None:
    model = _model()
    prefix = tmp_path / "w.ckpt"
    tf.train.Checkpoint(v=tf.Variable([1.0, 2.0, 3.0, 4.0])).write(str(prefix))
    index = Path(f"{prefix}.index")
    _rewrite_entry(index, b"v/.ATTRIBUTES/VARIABLE_VALUE", change)
    reader = tf.train.load_checkpoint(str(prefix))  # TensorFlow reads it as before
    assert reader.get_tensor("v/.ATTRIBUTES/VARIABLE_VALUE").tolist() == [1.0, 2.0, 3.0, 4.0], why
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(nf.SaveError, match=r"entry 'v/\.ATTRIBUTES/VARIABLE_VALUE' is serialized otherwise"):
        nf.save_weights(model, prefix)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_header_with_a_default_written_out_keeps_the_checkpoint(tmp_path: Path) -> None:
    prefix = tmp_path / "w.ckpt"
    tf.train.Checkpoint(v=tf.Variable([1.0])).write(str(prefix))
    index = Path(f"{prefix}.index")
    _rewrite_entry(index, b"", lambda v: v + b"\x10\x00")  # endianness LITTLE (0), which protobuf leaves out
    tf.train.load_checkpoint(str(prefix))
    with pytest.raises(nf.SaveError, match=r"entry '\(the header\)' is serialized otherwise"):
        nf.save_weights(_model(), prefix)


def test_entries_of_every_kind_tensorflow_writes_are_as_written(tmp_path: Path) -> None:
    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = tf.Variable(3)
            self.text = tf.Variable("hello")
            self.flags = tf.Variable([True, False])
            self.empty = tf.Variable(tf.zeros((0, 3)))
            self.complex = tf.Variable(tf.zeros((2, 2), tf.complex64))
            self.half = tf.Variable(tf.zeros((3,), tf.float16))

    tf.saved_model.save(Module(), str(tmp_path / "module"))
    assert index_slack(str(tmp_path / "module" / "variables" / "variables.index")) is None
    graph = tf.Graph()
    with graph.as_default():  # a partitioned variable: its entry lists slices, each stored under a key of its own
        tf.compat.v1.get_variable("pv", shape=[10, 4], partitioner=tf.compat.v1.fixed_size_partitioner(3))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(session, str(tmp_path / "v1" / "model"))
    assert index_slack(prefix + ".index") is None
