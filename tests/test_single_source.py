"""Each closed list and each formatter is written once: the spec's schema and the engine read the same one."""

from __future__ import annotations

import typing

import pytest

from netform.spec import _shapes, _training
from netform.spec.layers import _util


def test_strategy_names_are_the_schemas() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine import _distribute

    schema = typing.get_args(_training.DistributionSpec.model_fields["strategy"].annotation)
    assert schema == _training.STRATEGY_NAMES
    assert _distribute.STRATEGY_NAMES is _training.STRATEGY_NAMES


def test_engine_knows_every_training_key_of_the_spec_and_no_other_list() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine import _config

    assert _training.TRAINING_KEYS == set(_training.TrainingSpec.model_fields)
    assert _config._KNOWN_KEYS == _training.TRAINING_KEYS | _training.CONFIG_ONLY_KEYS
    # a key of the dict form only is not a spec key: the spec refuses it (extra="forbid")
    assert not _training.TRAINING_KEYS & _training.CONFIG_ONLY_KEYS
    policy = typing.get_args(_training.TrainingSpec.model_fields["dtype_policy"].annotation)[0]
    assert typing.get_args(policy) == _training.DTYPE_POLICIES


def test_unknown_training_key_names_the_spec_keys() -> None:
    pytest.importorskip("tensorflow")
    from netform.engine._config import fit_from_training_config
    from netform.errors import EngineError

    with pytest.raises(EngineError, match=r"unknown key 'dtype_polcy'.*Did you mean 'dtype_policy'"):
        fit_from_training_config(None, {"dtype_polcy": "float32"}, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape, text", [
    ((None, 32), "(None, 32)"),
    ((None,), "(None,)"),
    ((), "()"),
    ([(None, 2), (None, 3, 4)], "[(None, 2), (None, 3, 4)]"),
])
def test_one_shape_formatter(shape: object, text: str) -> None:
    assert _shapes.format_shape(shape) == text
    assert _util.shape_str is _shapes.format_shape


def test_engine_data_errors_write_shapes_with_the_same_formatter() -> None:
    pytest.importorskip("tensorflow")
    import numpy as np

    from netform.engine import _data

    assert _data._fmt((None, np.int64(32))) == _shapes.format_shape((None, 32)) == "(None, 32)"
    assert _data._fmt((5,)) == "(5,)"


# --- the Keras graph walk: written once, for from_keras, export-spec and the diagrams ---------------

#: What walking a Keras graph reads: a live model's nodes, call indices and tensor histories, a config's
#: inbound nodes and keras_history, or the order a walk computes. A module that names one walks a graph itself.
_TRAVERSAL = frozenset({
    "_nodes_by_depth", "nodes_by_depth", "_inbound_nodes", "inbound_nodes", "call_index", "input_tensors",
    "_keras_history", "keras_history", "history", "by_depth", "ordered", "depths", "parents", "arguments",
    "calls", "operations", "_functional",
})


def _names_used(module: object) -> set[str]:
    """Every attribute, name, imported name and string constant a module's source uses."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.alias):
            used.add(node.name.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            used.add(node.value)
    return used


def test_the_diagram_does_not_walk_a_graph_itself() -> None:
    """render draws the steps of LiveWalk (a live model) and ConfigGraph (a saved config), the walks the
    builder's from_keras and the TF-free export-spec read; it reads no graph structure of its own."""
    from netform._compat import _keras_graph
    from netform.render import _from_keras as render
    from netform.saving import _config_walk

    assert not _names_used(render) & _TRAVERSAL
    assert render.LiveWalk is _keras_graph.LiveWalk
    assert "model_graph" in _names_used(render) and not hasattr(render, "ConfigGraph")
    assert not hasattr(_config_walk.ConfigGraph, "by_depth")  # the diagram's own order of a config, gone


def test_from_keras_walks_the_graph_with_the_shared_walk() -> None:
    pytest.importorskip("keras")
    from netform._compat import _keras_graph
    from netform.builder import _from_keras as builder

    assert builder.LiveWalk is _keras_graph.LiveWalk
    assert not _names_used(builder) & {"_nodes_by_depth", "nodes_by_depth", "call_index", "_inbound_nodes",
                                       "operations", "by_depth", "depths"}


def test_the_diagram_spec_and_file_follow_one_order(tmp_path: object) -> None:
    """Two branches at one depth: Keras's nodes_by_depth lists them last-defined first; the walk, the exported
    spec, both diagrams and the saved file's diagram all list them in model.operations order."""
    keras = pytest.importorskip("keras")
    import netform as nf
    from netform._compat._keras_graph import LiveWalk, nodes_by_depth
    from netform.render._from_keras import diagram_from_config, diagram_from_keras
    from netform.saving._config_walk import model_graph
    from netform.saving._static_reader import read_config

    x = keras.Input((3,), name="x")
    model = keras.Model(x, [keras.layers.Dense(2, name="a")(x), keras.layers.Dense(1, name="b")(x)], name="two")
    assert [n.operation.name for n in nodes_by_depth(model)[0]] == ["b", "a"]  # what a walk of its own would draw
    walk = [step.name for step in LiveWalk(model).steps]
    assert walk == ["x", "a", "b"]
    assert list(nf.from_keras(model).to_dict()["nodes"]) == ["a", "b"]
    assert list(diagram_from_keras(model).nodes) == walk
    path = f"{tmp_path}/two.keras"
    model.save(path)
    config = read_config(path, "keras", compile=True)
    assert config is not None
    assert [step.name for step in model_graph(config).steps] == walk
    assert list(diagram_from_config(config).nodes) == walk


def _varint_readers(source: str) -> list[str]:
    """Functions of ``source`` that decode a varint: they mask seven bits (``& 0x7F``) and shift them into place."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        ops = [n for n in ast.walk(node) if isinstance(n, ast.BinOp)]
        masks = any(
            isinstance(op.op, ast.BitAnd) and any(isinstance(s, ast.Constant) and s.value == 0x7F for s in (op.left, op.right))
            for op in ops
        )
        if masks and any(isinstance(op.op, ast.LShift) for op in ops):
            found.append(node.name)
    return found


def test_one_protobuf_wire_reader() -> None:
    """The SavedModel reader, the ONNX layout walk, ``inspect``'s ONNX reader and format detection share one."""
    from pathlib import Path

    import netform
    from netform.saving import _detect, _export, _onnx_layout, _protowire, _savedmodel_reader

    root = Path(netform.__file__).parent
    readers = {
        str(path.relative_to(root)): names
        for path in sorted(root.rglob("*.py"))
        if (names := _varint_readers(path.read_text(encoding="utf-8")))
    }
    assert readers == {"saving/_protowire.py": ["read_varint"]}
    for module in (_savedmodel_reader, _onnx_layout, _export):
        assert module.protowire is _protowire, module.__name__
    assert _detect._varint is _protowire.varint_or_none
