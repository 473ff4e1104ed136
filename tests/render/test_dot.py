"""DOT structure of diagrams drawn from specs (no TensorFlow)."""

from __future__ import annotations

import pytest

from netform.render import diagram_of, to_dot_source
from netform.render._dot import html_escape, quote

from ._dotparse import parse
from ._specs import FLAT_BLOCKS, MULTI_IO, NESTED_TWICE, SEQUENTIAL, SHARED


def test_sequential_nodes_edges_and_labels() -> None:
    dot = parse(to_dot_source(SEQUENTIAL))
    assert dot.layer_nodes() == {"pixels", "hidden", "dropout", "probs"}
    assert dot.edge_set() == {("pixels", "hidden"): 1, ("hidden", "dropout"): 1, ("dropout", "probs"): 1}
    assert "<B>hidden</B>" in dot.nodes["hidden"] and "Dense" in dot.nodes["hidden"]
    assert "(None, 32) · 2,080 params" in dot.nodes["hidden"]
    assert "shape=ellipse" in dot.nodes["pixels"]  # input marked
    assert "peripheries=2" in dot.nodes["probs"] and "peripheries=2" not in dot.nodes["hidden"]  # output marked
    assert not [c for c in dot.clusters if c != "cluster_legend"]


def test_multi_input_multi_output() -> None:
    dot = parse(to_dot_source(MULTI_IO, direction="LR"))
    assert dot.layer_nodes() == {"text", "image", "emb", "pool_t", "conv", "pool_i", "merged", "cat", "prio"}
    inputs = {n for n, a in dot.nodes.items() if "shape=ellipse" in a and not n.startswith("__")}
    outputs = {n for n, a in dot.nodes.items() if "peripheries=2" in a and not n.startswith("__")}
    assert (inputs, outputs) == ({"text", "image"}, {"cat", "prio"})
    edges = {(a, b): attrs for a, b, attrs in dot.edges}
    # merges always carry the shapes flowing in; a plain Dense → Dense edge does not
    assert 'label="(None, 16)"' in edges[("pool_t", "merged")]
    assert 'label="(None, 6, 6, 8)"' not in edges[("image", "conv")] and edges[("merged", "prio")] == ""
    assert "rankdir=LR" in to_dot_source(MULTI_IO, direction="LR")


def test_nested_block_used_twice_draws_clusters() -> None:
    dot = parse(to_dot_source(NESTED_TWICE))
    labels = {label: members for label, members in dot.clusters.values()}
    assert set(labels) == {"c1.1: conv_bn (nested model)", "c1.2: conv_bn (nested model)",
                           "c2: conv_bn (nested model)", "Legend"}
    assert labels["c1.2: conv_bn (nested model)"] == ["c1.2.conv2d", "c1.2.batch_normalization"]
    assert dot.edge_set()[("c1.1.batch_normalization", "c1.2.conv2d")] == 1
    assert "<B>conv2d</B>" in dot.nodes["c2.conv2d"]  # names shown local to their cluster


def test_collapsed_repeat_is_one_box_times_n() -> None:
    dot = parse(to_dot_source(NESTED_TWICE, expand_nested=False))
    assert dot.layer_nodes() == {"image", "c1.1", "c2", "pool", "head"}
    assert "conv_bn ×2" in dot.nodes["c1.1"] and "<B>c1</B>" in dot.nodes["c1.1"]
    assert "872 params" in dot.nodes["c1.1"] and "shape=box3d" in dot.nodes["c1.1"]
    assert "×" not in dot.nodes["c2"]
    assert dot.edge_set() == {("image", "c1.1"): 1, ("c1.1", "c2"): 1, ("c2", "pool"): 1, ("pool", "head"): 1}


def test_flat_blocks_are_dashed_clusters() -> None:
    dot = parse(to_dot_source(FLAT_BLOCKS))
    blocks = {label: members for name, (label, members) in dot.clusters.items() if name != "cluster_legend"}
    assert blocks == {"hidden": ["hidden.dense", "hidden.dropout"], "hidden_1: hidden": ["hidden_1.dense",
                                                                                          "hidden_1.dropout"]}
    assert 'style="rounded,dashed"' in to_dot_source(FLAT_BLOCKS)


def test_shared_layer_drawn_once_with_every_use() -> None:
    dot = parse(to_dot_source(SHARED))
    assert "enc_r" not in dot.nodes
    assert "shared, 2 uses" in dot.nodes["enc"]
    assert "4 params" not in dot.nodes["enc"] and "36 params" in dot.nodes["enc"]
    uses = sorted(attrs for a, b, attrs in dot.edges if b == "enc")
    assert uses == ['label="use 1"', 'label="use 2", style="dashed"']
    assert {a for a, b, _ in dot.edges if b == "enc"} == {"left", "right"}
    assert dot.edge_set()[("enc", "diff")] == 2


def test_legend_lists_families_present() -> None:
    dot = parse(to_dot_source(MULTI_IO))
    label, members = dot.clusters["cluster_legend"]
    assert label == "Legend"
    assert members == ["__legend_input", "__legend_core", "__legend_conv", "__legend_pooling", "__legend_merge",
                       "__legend_output"]
    assert 'fillcolor="#d9ead3"' in dot.nodes["__legend_conv"] and 'fillcolor="#d9ead3"' in dot.nodes["conv"]


def test_no_shapes_no_params() -> None:
    text = to_dot_source(MULTI_IO, show_shapes=False, show_params=False)
    dot = parse(text)
    assert "params" not in dot.nodes["emb"] and "(None" not in dot.nodes["emb"]
    assert all(attrs == "" for _src, _dst, attrs in dot.edges)


def test_large_graph_uses_compact_labels() -> None:
    layers = "\n".join("  - {type: Dense, units: 4}" for _ in range(320))
    spec = f"netform: 1\nname: big\nkind: sequential\ninputs:\n  x: {{shape: [4]}}\nlayers:\n{layers}\n"
    dot = parse(to_dot_source(spec))
    assert len(dot.layer_nodes()) == 321
    assert dot.nodes["dense_7"].startswith('label="dense_7\\nDense"')
    assert "(None, 4) 20 params" in dot.nodes["dense_7"]  # moved to the tooltip


def test_quoting_and_escaping() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert html_escape('<a & "b">') == "&lt;a &amp; &quot;b&quot;&gt;"


def test_diagram_ids_match_spec_graph() -> None:
    d = diagram_of(NESTED_TWICE)
    assert d.kind == "functional" and set(d.clusters) == {"c1.1", "c1.2", "c2"}
    assert d.clusters["c1.2"].group == "c1" and d.clusters["c2"].group == ""
    assert d.nodes["head"].output and d.nodes["head"].params == 15


@pytest.mark.parametrize("direction", ["TB", "LR", "BT", "RL"])
def test_directions(direction: str) -> None:
    assert f"rankdir={direction}," in to_dot_source(SEQUENTIAL, direction=direction)
