"""Boxes of block uses count toward the layout limit, so ``render`` refuses the worst before graphviz runs.

A 358 KB spec of 9,500 uses of a one-layer block ran dot to the 60 s timeout (29 s of CPU): each box is laid
out against the whole graph, and the guard counted nodes and edges only. Measured as dot's CPU on a 2-core
machine: a plain chain of 4,000 nodes 0.8 s, 4,000 uses of a one-layer block 4.9 s, one use of a 4,000-layer
block 3.0 s, the 5,000-node ResNet-like benchmark model (713 block uses) 4.3 s (it still renders:
``tests/render/test_render_edges_run14.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.errors import RenderError
from netform.render import _graphviz, diagram_of
from netform.render._dot import CLUSTER_PAIRS_PER_NODE, LAYOUT_LIMIT, cluster_cost, layout_size


def _chain(uses: int, layers: int) -> str:
    body = "\n".join(["      - {type: Dense, units: 4}"] * layers)
    nodes = "\n".join(f"  n{i}: {{block: b, in: {'x' if i == 0 else f'n{i - 1}'}}}" for i in range(uses))
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [8]}}}}\nblocks:\n  b:\n    layers:\n{body}\n"
        f"nodes:\n{nodes}\noutputs: [n{uses - 1}]\n"
    )


@pytest.fixture
def no_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("graphviz ran")

    monkeypatch.setattr(_graphviz, "layout", refuse)


@pytest.mark.parametrize(("uses", "layers"), [(9_500, 1), (2_000, 4), (1, 9_000), (10, 900)])
@pytest.mark.parametrize("suffix", [".svg", ".html"])
def test_many_or_large_block_boxes_are_refused_before_graphviz(
    uses: int, layers: int, suffix: str, tmp_path: Path, no_dot: None
) -> None:
    spec = nf.load_spec(_chain(uses, layers))
    with pytest.raises(RenderError, match="boxes of block uses") as err:
        nf.render(spec, tmp_path / f"m{suffix}")
    assert "--collapse" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_the_same_chain_collapsed_has_no_boxes_to_lay_out() -> None:
    spec = nf.load_spec(_chain(9_500, 1))
    assert cluster_cost(diagram_of(spec)) > LAYOUT_LIMIT
    assert cluster_cost(diagram_of(spec, collapse_depth=0)) == 0


@pytest.mark.parametrize(("uses", "layers"), [(100, 40), (200, 20), (50, 12)])
def test_real_sized_block_models_stay_under_the_limit(uses: int, layers: int) -> None:
    diagram = diagram_of(nf.load_spec(_chain(uses, layers)))
    assert 0 < cluster_cost(diagram) and layout_size(diagram) <= LAYOUT_LIMIT


def test_a_nested_box_counts_its_nodes_in_each_box_around_it() -> None:
    text = (
        "netform: 1\nkind: functional\ninputs: {x: {shape: [8]}}\nblocks:\n"
        "  inner:\n    layers:\n      - {type: Dense, units: 4}\n      - {type: Dense, units: 4}\n"
        "  outer:\n    layers:\n      - {block: inner}\n      - {type: Dense, units: 4}\n"
        "nodes:\n  o: {block: outer, in: x}\noutputs: [o]\n"
    )
    diagram = diagram_of(nf.load_spec(text))
    assert len(diagram.clusters) == 2
    nodes = len(diagram.nodes)  # the input and three layers
    assert cluster_cost(diagram) == (2 * nodes + 3 * 3 + 2 * 2) // CLUSTER_PAIRS_PER_NODE
