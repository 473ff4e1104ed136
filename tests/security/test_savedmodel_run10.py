"""A foreign SavedModel may not hang or flood memory while it loads, nor hide its graph behind netform's files.

TensorFlow runs some of a SavedModel's functions while ``tf.saved_model.load``
runs, before any input is fed: each resource's ``_create_resource`` and
``_initialize`` (lookup tables), the restore functions of its checkpoint, and
the graph's init and restore ops (TF1 and TF Serving). In safe mode those
may only create, fill and read variables and tables: a loop, or an op whose
output size a value sets (``Fill``, ``Range``, random ops...), is refused
there, while the same ops stay allowed in the functions the model is called by.

A SavedModel carrying netform's ``assets.extra`` (copied from any model
netform saved) still has its ``saved_model.pb`` checked: TensorFlow Serving
and ``tf.saved_model.load`` run that graph, not netform's copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netform as nf
import netform.saving as nfs
from netform.errors import UnsafeFileError

tf = pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[2]

_INITIALIZERS = {
    "loop": lambda size: tf.while_loop(lambda x: x >= 0.0, lambda x: x + 1.0, [tf.constant(0.0)])[0],
    "fill": lambda size: tf.reduce_sum(tf.fill(size, 1.0)),
    "range": lambda size: tf.cast(tf.reduce_sum(tf.range(size[0])), tf.float32),
    "random": lambda size: tf.reduce_sum(tf.random.uniform(size)),
}


def _resource_model(path: Path, how: str) -> Path:
    """A ``tf.Module`` holding a table whose initializer computes ``_INITIALIZERS[how]`` of a 60000x60000 size."""
    compute = _INITIALIZERS[how]

    class Table(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):  # type: ignore[no-untyped-def]
            return tf.raw_ops.HashTableV2(key_dtype=tf.int64, value_dtype=tf.int64)

        def _initialize(self):  # type: ignore[no-untyped-def]
            x = compute(tf.constant([60000, 60000]))
            return tf.raw_ops.LookupTableImportV2(
                table_handle=self.resource_handle, keys=tf.constant([1], tf.int64), values=tf.cast(x, tf.int64)[None]
            )

    module = tf.Module()
    module.table = Table()
    module.f = tf.function(lambda x: {"o": x * 2.0}, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path


def _crafted_model(path: Path, which: str, node: dict[str, Any]) -> Path:
    """A mutable table's SavedModel with ``node`` written into its restore (or table-creating) function.

    The node is written into the graph (the file is what an attacker controls): TensorFlow traces these
    functions from Python only through its own table classes.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    module = tf.Module()
    module.table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)
    module.f = tf.function(lambda s: {"o": module.table.lookup(s)}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    meta = proto.meta_graphs[0]
    objects = meta.object_graph_def.nodes

    def names(index: int) -> list[str]:
        return [
            *objects[index].function.concrete_functions,
            objects[index].bare_concrete_function.concrete_function_name,
        ]

    if which == "restore":
        targets = {
            n for obj in objects for saveable in obj.saveable_objects.values() for n in names(saveable.restore_function)
        }
    else:
        targets = {
            n for obj in objects for child in obj.children if child.local_name == which for n in names(child.node_id)
        }
    targets.discard("")
    assert targets
    for fn in meta.graph_def.library.function:
        if fn.signature.name in targets:
            added = fn.node_def.add(name="crafted", op=node["op"].replace("SELF", fn.signature.name))
            if "shape" in node:
                added.attr["value"].tensor.dtype = tf.float32.as_datatype_enum
                added.attr["value"].tensor.float_val.append(1.0)
                added.attr["value"].tensor.tensor_shape.dim.add(size=node["shape"][0])
                added.attr["value"].tensor.tensor_shape.dim.add(size=node["shape"][1])
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())
    return path


def _load_in_subprocess(path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import sys, netform as nf
        from netform.errors import UnsafeFileError
        try:
            nf.load({str(path)!r})
        except UnsafeFileError as err:
            print("REFUSED", err)
            sys.exit(3)
        print("LOADED")
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.parametrize("how", sorted(_INITIALIZERS))
def test_load_time_initializer_that_loops_or_sizes_by_value_is_refused(tmp_path: Path, how: str) -> None:
    path = _resource_model(tmp_path / how, how)
    try:
        done = _load_in_subprocess(path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading the SavedModel whose table initializer does {how!r} did not end")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "while loading" in done.stdout and "_initialize" in done.stdout
    with pytest.raises(UnsafeFileError, match="while loading"):
        nfs.inspect(path)


@pytest.mark.parametrize(
    ("which", "node", "named"),
    [
        ("restore", {"op": "StatelessWhile"}, r"StatelessWhile \(a loop\)"),
        ("_create_resource", {"op": "While"}, r"While \(a loop\)"),
        ("_create_resource", {"op": "Const", "shape": [60000, 60000]}, "Const of 3,600,000,000 elements"),
        ("_create_resource", {"op": "SELF"}, "a call of itself"),
    ],
    ids=["restore-loop", "create-loop", "const-splat", "recursion"],
)
def test_crafted_load_time_functions_are_refused(tmp_path: Path, which: str, node: dict[str, Any], named: str) -> None:
    path = _crafted_model(tmp_path / "m", which, node)
    with pytest.raises(UnsafeFileError, match=f"{named}.*while loading"):
        nf.load(path)
    with pytest.raises(UnsafeFileError, match="while loading"):
        nfs.inspect(path)


def test_loops_and_fills_stay_allowed_where_the_model_is_called(tmp_path: Path) -> None:
    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            _, y = tf.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y + tf.fill(tf.shape(y), 1.0)), [0, x])
            return {"y": y + tf.reduce_sum(tf.range(3.0))}

    module = Module()
    tf.saved_model.save(module, str(tmp_path / "m"), signatures={"serving_default": module.__call__})
    with pytest.warns(UserWarning, match="inference-only"):
        model = nf.load(tmp_path / "m")
    assert np.allclose(model.predict(np.zeros(2, "float32")), [6.0, 6.0])


def test_tables_of_every_kind_and_tf1_initializers_still_load(tmp_path: Path) -> None:
    import keras

    class Module(tf.Module):
        def __init__(self) -> None:
            self.static = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2]), -1)
            self.vocab = tf.lookup.StaticVocabularyTable(
                tf.lookup.KeyValueTensorInitializer(["a", "b"], tf.constant([0, 1], tf.int64)), 2
            )
            self.mutable = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, -1)
            self.dense = tf.lookup.experimental.DenseHashTable(tf.int64, tf.int64, -1, empty_key=0, deleted_key=-1)
            self.mutable.insert(tf.constant(["q"]), tf.constant([5], tf.int64))
            self.dense.insert(tf.constant([7], tf.int64), tf.constant([8], tf.int64))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, s):  # type: ignore[no-untyped-def]
            return {
                "a": self.static.lookup(s),
                "b": self.mutable.lookup(s),
                "c": self.vocab.lookup(s),
                "d": self.dense.lookup(tf.constant([7], tf.int64)),
            }

    module = Module()
    tf.saved_model.save(module, str(tmp_path / "tables"), signatures={"serving_default": module.__call__})
    with pytest.warns(UserWarning, match="inference-only"):
        out = nf.load(tmp_path / "tables")(np.array([b"b", b"q"]))
    assert [list(map(int, np.ravel(o))) for o in out[:2]] == [[2, -1], [-1, 5]]
    assert int(np.ravel(out[2])[0]) == 1 and int(np.ravel(out[3])[0]) == 8
    assert nfs.inspect(tmp_path / "tables")["inference_only"]

    layers = keras.layers
    words, ints = keras.Input((2,), dtype="string"), keras.Input((2,), dtype="int64")
    text = keras.Input((1,), dtype="string")
    model = keras.Model(
        [words, ints, text],
        [
            layers.Flatten()(layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")(words)),
            layers.IntegerLookup(vocabulary=[3, 4], output_mode="multi_hot")(ints),
            layers.TextVectorization(max_tokens=10, output_sequence_length=4, vocabulary=["x", "y"])(text),
        ],
    )
    model.export(str(tmp_path / "lookups"), verbose=False)
    with pytest.warns(UserWarning, match="inference-only"):
        nf.load(tmp_path / "lookups")
    assert nfs.inspect(tmp_path / "lookups")["inference_only"]

    path = str(tmp_path / "v1")
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        s = tf.compat.v1.placeholder(tf.string, [None], name="s")
        local = tf.compat.v1.get_local_variable("lv", [2], initializer=tf.zeros_initializer())
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(["a", "b"], [1, 2]), -1)
        session.run([tf.compat.v1.local_variables_initializer(), tf.compat.v1.tables_initializer()])
        builder = tf.compat.v1.saved_model.Builder(path)
        signature = tf.compat.v1.saved_model.predict_signature_def({"s": s}, {"k": table.lookup(s), "l": local + 0})
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
    with pytest.warns(UserWarning, match="inference-only"):
        out = nf.load(path)(np.array([b"a"]))
    assert [list(map(int, np.ravel(o))) for o in out] == [[1], [0, 0]]
    assert nfs.inspect(path)["inference_only"]


def _tf1_with_looping_init_op(path: str) -> str:
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        counter = tf.compat.v1.get_local_variable("n", [], initializer=tf.zeros_initializer())
        forever = tf.while_loop(lambda v: v >= 0.0, lambda v: v + 1.0, [counter.read_value()])[0]
        main_op = tf.group(counter.assign(forever))
        builder = tf.compat.v1.saved_model.Builder(path)
        signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": x * 2.0})
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature}, main_op=main_op
        )
        builder.save()
    return path


def test_tf1_main_op_that_loops_is_refused(tmp_path: Path) -> None:
    path = _tf1_with_looping_init_op(str(tmp_path / "v1"))
    with pytest.raises(UnsafeFileError, match="while loading"):
        nf.load(path)


# --------------------------------------------------------------------------- netform's assets.extra copied in


def _netform_extra(tmp_path: Path) -> Path:
    model = nf.build(nf.load_spec(str(ROOT / "models" / "mlp.yaml")))
    nf.save(model, tmp_path / "netform_sm", format="savedmodel")
    return tmp_path / "netform_sm" / "assets.extra"


def _file_reading_graph(path: Path, secret: Path) -> Path:
    module = tf.Module()
    module.f = tf.function(
        lambda x: {"o": x, "s": tf.io.read_file(str(secret))}, input_signature=[tf.TensorSpec([None], tf.float32)]
    )
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return path


def test_netform_assets_extra_does_not_hide_a_hostile_graph(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    path = _file_reading_graph(tmp_path / "hybrid", secret)
    shutil.copytree(_netform_extra(tmp_path), path / "assets.extra")
    with pytest.raises(UnsafeFileError, match="ReadFile"):
        nf.load(path)
    with pytest.raises(UnsafeFileError, match="ReadFile"):
        nfs.inspect(path)


def test_netform_savedmodel_still_loads_and_inspects(tmp_path: Path) -> None:
    extra = _netform_extra(tmp_path)
    path = extra.parent
    assert nfs.inspect(path)["inference_only"] is False
    assert not getattr(nf.load(path), "inference_only", False)
