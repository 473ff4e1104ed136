"""A live Keras model and its saved ``.keras`` file draw the same diagram: the same nodes, edges and clusters.

The file is drawn from its config without Keras (``diagram_from_config``), the
model from its graph (``diagram_from_keras``); both are walks of one
:class:`~netform._compat._keras_graph.Step` list, so they must agree node for
node, edge for edge, in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from netform.render import diagram_of
from netform.render._dot import DotOptions, to_dot
from netform.render._from_keras import diagram_from_config, diagram_from_keras
from netform.saving._config_walk import NeedsKeras
from netform.saving._static_reader import read_config

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

layers = keras.layers


def _nested_twice() -> Any:
    """A nested Functional model called on two tensors, and a nested Sequential."""
    inner_in = keras.Input((6,), name="inner_in")
    h = layers.Dense(5, activation="relu", name="hidden")(inner_in)
    tower = keras.Model(inner_in, layers.Dense(4, name="proj")(h), name="tower")
    seq = keras.Sequential([keras.Input((4,)), layers.Dense(3, name="s1"), layers.Dense(2, name="s2")], name="seq")
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    merged = layers.Concatenate(name="cat")([tower(a), tower(b)])
    out = seq(layers.Dense(4, name="squeeze")(merged))
    return keras.Model([a, b], out, name="nested_twice")


def _shared_layer() -> Any:
    """One Dense called three times, at two depths."""
    x, y = keras.Input((8,), name="x"), keras.Input((8,), name="y")
    shared = layers.Dense(8, activation="tanh", name="shared")
    left, right = shared(x), shared(y)
    again = shared(layers.Add(name="add")([left, right]))
    return keras.Model([x, y], layers.Dense(1, name="score")(again), name="shared_layer")


def _multi_output() -> Any:
    """Two model outputs, one of them from a nested model with two outputs that the outer graph splits."""
    inner_in = keras.Input((4,), name="inner_in")
    heads = keras.Model(
        inner_in, [layers.Dense(2, name="p")(inner_in), layers.Dense(3, name="q")(inner_in)], name="heads"
    )
    image = keras.Input((8, 8, 1), name="image")
    feats = layers.Dense(4, name="feats")(layers.Flatten(name="flat")(layers.Conv2D(2, 3, name="conv")(image)))
    p, q = heads(feats)
    return keras.Model(image, [layers.Dense(1, name="out_p")(p), layers.Activation("softmax", name="out_q")(q)],
                       name="multi_output")


MODELS: dict[str, Callable[[], Any]] = {
    "nested_twice": _nested_twice, "shared_layer": _shared_layer, "multi_output": _multi_output}


def _graph(d: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Nodes (in order, with what a box shows), edges (in order) and clusters of a diagram."""
    nodes = [(n.id, n.name, n.type, n.shape, n.params, n.cluster, n.role, n.output, n.uses) for n in d.nodes.values()]
    edges = [(e.src, e.dst, e.shape, e.use) for e in d.edges]
    clusters = {c.id: (c.label, c.parent, c.kind, c.block, c.outputs) for c in d.clusters.values()}
    return nodes, edges, clusters


@pytest.mark.parametrize("name", sorted(MODELS))
def test_live_model_and_saved_file_draw_the_same_nodes_and_edges(name: str, tmp_path: Path) -> None:
    model = MODELS[name]()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    live = diagram_from_keras(model)
    from_file = diagram_from_config(read_config(str(path), "keras", compile=True))  # without loading the model
    assert _graph(from_file) == _graph(live)
    assert _graph(diagram_of(path)) == _graph(live)
    options = DotOptions("TB", True, True, details=True)
    assert to_dot(from_file, options) == to_dot(live, options)


def test_what_each_model_draws() -> None:
    """The facts the comparison above relies on: shared calls, nested clusters and outputs are drawn."""
    nested = diagram_from_keras(_nested_twice())
    assert nested.nodes["tower.proj"].uses == 2 and nested.nodes["seq.s2"].output
    assert {c: nested.clusters[c].kind for c in nested.clusters} == {"tower": "model", "seq": "model"}
    assert [(e.src, e.use) for e in nested.edges if e.dst == "tower.hidden"] == [("a", 0), ("b", 1)]
    shared = diagram_from_keras(_shared_layer())
    assert shared.nodes["shared"].uses == 3
    assert sorted((e.src, e.use) for e in shared.edges if e.dst == "shared") == [("add", 2), ("x", 0), ("y", 1)]  # in call order
    multi = diagram_from_keras(_multi_output())
    assert [n for n in multi.nodes if multi.nodes[n].output] == ["out_p", "out_q"]
    assert multi.clusters["heads"].outputs == ("heads.p", "heads.q")
    assert {(e.src, e.dst) for e in multi.edges} >= {("heads.p", "out_p"), ("heads.q", "out_q")}


def test_a_layer_with_several_outputs_is_drawn_from_the_loaded_model(tmp_path: Path) -> None:
    """An LSTM returning its states: the config cannot tell their shapes, so the file's diagram is the loaded one's."""
    seq = keras.Input((5, 3), name="seq")
    out, h, c = layers.LSTM(4, return_state=True, name="lstm")(seq)
    model = keras.Model(seq, [layers.Dense(1, name="y")(out), layers.Add(name="state")([h, c])], name="stateful")
    path = tmp_path / "stateful.keras"
    model.save(path)
    with pytest.raises(NeedsKeras):
        diagram_from_config(read_config(str(path), "keras", compile=True))
    live = diagram_from_keras(model)
    assert live.nodes["lstm"].shape == [(None, 4), (None, 4), (None, 4)]
    assert _graph(diagram_of(path)) == _graph(live)
