"""netform/_compat/_keras_graph.py reads a Keras model's graph as Keras itself built it."""

from __future__ import annotations

import keras
import numpy as np

from netform._compat._keras_graph import call_index, graph_of, is_graph, nodes_by_depth, rebuild_sequential


def _shared_model() -> keras.Model:
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, name="shared")
    out = keras.layers.Add(name="add")([shared(a), shared(b)])
    return keras.Model([a, b], out, name="twice")


def test_nodes_by_depth_hold_each_call_once_with_its_call_index() -> None:
    model = _shared_model()
    nodes = [node for depth in sorted(nodes_by_depth(model), reverse=True) for node in nodes_by_depth(model)[depth]]
    shared = [node for node in nodes if node.operation.name == "shared"]
    assert sorted(call_index(node) for node in shared) == [0, 1]
    # call 1 is the one on input "b", as Keras records it
    second = next(node for node in shared if call_index(node) == 1)
    assert [t.name for t in second.input_tensors] == [model.inputs[1].name]
    assert {node.operation.name for node in nodes} == {op.name for op in model.operations}


def test_graph_of_each_kind_of_model() -> None:
    functional = _shared_model()
    assert is_graph(functional) and graph_of(functional) is functional

    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    assert graph_of(unbuilt) is None

    built = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    inner = graph_of(built)
    assert inner is not None and is_graph(inner) and not is_graph(built)
    x = np.ones((3, 5), "float32")
    np.testing.assert_allclose(inner(x), built(x))

    class Sub(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):  # type: ignore[no-untyped-def]
            return self.dense(x)

    assert graph_of(Sub()) is None


def test_rebuild_sequential_matches_kerass_add() -> None:
    layers = [keras.layers.Dense(4, name="d1"), keras.layers.Dense(2, name="d2")]
    ours = keras.Sequential([keras.Input((3,))], name="ours")
    for layer in layers:
        ours.add(layer, rebuild=False)
    assert graph_of(ours) is None and not ours.built  # add(..., rebuild=False) leaves no graph
    rebuild_sequential(ours)
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert ours.built and ours.outputs[0].shape == theirs.outputs[0].shape == (None, 2)
    assert [op.name for op in graph_of(ours).operations][1:] == ["d1", "d2"]
