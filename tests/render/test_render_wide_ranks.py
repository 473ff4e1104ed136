"""A rank's width counts toward the layout limit, so ``render`` refuses a very wide fan-out before graphviz runs.

6,000 Dense layers reading one input (a 280 KB spec) sit on one rank; dot orders a rank against its neighbours
in time that grows with the square of its width, and took 22-26 s of CPU, while the guard counted 18,000 places
(under its 20,000). Each rank now adds its width squared / 3,000. Measured as the render's CPU time on a 2-core
machine: 2,000 wide 1.8 s, 3,000 wide 4.2 s (accepted); 4,000 wide took 8.5 s and is refused with the edges
between its ranks counted too (below).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.errors import RenderError
from netform.render import _graphviz, diagram_of
from netform.render._dot import LAYOUT_LIMIT, layout_size


def _fan_out(width: int, group: int = 1_000) -> str:
    nodes = [f"  d{i}: {{type: Dense, units: 1, in: x}}" for i in range(width)]
    joins = []
    for start in range(0, width, group):
        names = ", ".join(f"d{i}" for i in range(start, min(width, start + group)))
        nodes.append(f"  c{start}: {{type: Concatenate, in: [{names}]}}")
        joins.append(f"c{start}")
    nodes.append(f"  out: {{type: Concatenate, in: [{', '.join(joins)}]}}")
    return "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n" + "\n".join(nodes) + "\noutputs: [out]\n"


def test_a_very_wide_rank_is_refused_before_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("graphviz ran")

    monkeypatch.setattr(_graphviz, "layout", refuse)
    spec = nf.load_spec(_fan_out(6_000))
    with pytest.raises(RenderError, match=r"about [\d,]+ nodes to place \(limit 20,000; .* a rank its width squared"):
        nf.render(spec, tmp_path / "w.svg")
    assert not list(tmp_path.iterdir())


# (4,000 wide, 8.5 s, is over the limit too once the edges between its ranks count: 4,000 into one rank)
@pytest.mark.parametrize(("width", "accepted"), [(2_000, True), (3_500, True), (4_000, False), (6_000, False)])
def test_the_width_term_draws_the_line_measured(width: int, accepted: bool) -> None:
    assert (layout_size(diagram_of(nf.load_spec(_fan_out(width)))) <= LAYOUT_LIMIT) is accepted


def test_a_narrow_model_adds_almost_nothing() -> None:
    chain = "\n".join(f"  n{i}: {{type: Dense, units: 4, in: {'x' if i == 0 else f'n{i - 1}'}}}" for i in range(3_000))
    spec = nf.load_spec(f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [8]}}}}\nnodes:\n{chain}\noutputs: [n2999]\n")
    # the nodes, one place for each edge of span 1 (its label's rank), and 3,001 ranks of one node: 3,001 / 3,000
    assert layout_size(diagram_of(spec)) == 3_001 + 3_000 + 1


def _complete(width: int, layers: int) -> str:
    """``width`` layers reading the input, then ``layers`` ranks of ``width`` Adds each taking every layer of
    the rank before (all edges between neighbouring ranks), then one Add."""
    nodes = [f"  a{i}: {{type: Dense, units: 4, in: x}}" for i in range(width)]
    before = [f"a{i}" for i in range(width)]
    for rank in range(layers):
        now = [f"b{rank}_{j}" for j in range(width)]
        nodes += [f"  {name}: {{type: Add, in: [{', '.join(before)}]}}" for name in now]
        before = now
    nodes.append(f"  c: {{type: Add, in: [{', '.join(before)}]}}")
    return "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n" + "\n".join(nodes) + "\noutputs: [c]\n"


@pytest.mark.parametrize(
    ("width", "layers", "accepted"),
    # measured as the render's CPU time: 100 wide 3.0 s, 110 wide 4.2 s, three ranks of 80 9.7 s (accepted);
    # 140 wide (19,600 edges between two ranks, every other count under its limit) took 11-15 s
    [(100, 1, True), (110, 1, True), (80, 3, True), (140, 1, False), (90, 3, False)],
)
def test_the_edges_between_two_ranks_count(width: int, layers: int, accepted: bool) -> None:
    assert (layout_size(diagram_of(nf.load_spec(_complete(width, layers)))) <= LAYOUT_LIMIT) is accepted
