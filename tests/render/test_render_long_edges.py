"""Long edges meeting in one node count toward the layout limit; a graphviz crash is named as one.

A chain of 200 Dense layers beside 45 more reading the input, all joined by one Concatenate (a 9.5 KB spec),
ran dot for 19 s of CPU while every count was under its limit: dot orders and places the 45 parallel chains of
virtual nodes again and again. Each node that several rank-crossing edges reach now adds their number**1.4 x
their mean span**2.5 / 5,000. Measured as dot's CPU time on a 2-core machine (W edges of span L into one node):
45 x 200 19 s, 90 x 100 8.3 s, 45 x 150 9.0 s (refused); 20 x 200 5.7 s, 15 x 250 8.0 s, 45 x 100 3.3 s
(accepted). Some such graphs crash graphviz itself (SIGSEGV): that is said, not "failed (exit -11)".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import netform as nf
from netform.errors import RenderError
from netform.render import _graphviz, diagram_of, to_dot_source
from netform.render._dot import LAYOUT_LIMIT, layout_size


def _long_edges(width: int, length: int) -> str:
    nodes = [f"  c{i}: {{type: Dense, units: 4, in: {'x' if i == 0 else f'c{i - 1}'}}}" for i in range(length)]
    nodes += [f"  d{i}: {{type: Dense, units: 4, in: x}}" for i in range(width)]
    joined = ", ".join([f"c{length - 1}"] + [f"d{i}" for i in range(width)])
    nodes.append(f"  cat: {{type: Concatenate, in: [{joined}]}}")
    return "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n" + "\n".join(nodes) + "\noutputs: [cat]\n"


def _skips(length: int, back: int) -> str:
    """A chain whose every node adds one of the ``back`` before it: long edges, each into its own node."""
    import random

    pick = random.Random(1)
    nodes = ["  n0: {type: Dense, units: 4, in: x}", "  n1: {type: Dense, units: 4, in: n0}"]
    nodes += [f"  n{i}: {{type: Add, in: [n{i - 1}, n{max(0, i - pick.randint(2, back))}]}}" for i in range(2, length)]
    return (
        "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n"
        + "\n".join(nodes)
        + f"\noutputs: [n{length - 1}]\n"
    )


@pytest.mark.parametrize(
    ("width", "length", "accepted"),
    [(45, 200, False), (90, 100, False), (45, 150, False), (20, 200, True), (15, 250, True), (45, 100, True)],
)
def test_long_edges_into_one_node_draw_the_line_measured(width: int, length: int, accepted: bool) -> None:
    assert (layout_size(diagram_of(nf.load_spec(_long_edges(width, length)))) <= LAYOUT_LIMIT) is accepted


def test_long_edges_into_different_nodes_add_nothing() -> None:
    # 299 nodes each adding one of the 70 before it: dot lays it out in 0.7 s
    spec = nf.load_spec(_skips(299, 70))
    assert layout_size(diagram_of(spec)) <= LAYOUT_LIMIT


def test_the_refusal_comes_before_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("graphviz ran")

    monkeypatch.setattr(_graphviz, "layout", refuse)
    with pytest.raises(RenderError, match=r"too large for graphviz to lay out in seconds"):
        nf.render(nf.load_spec(_long_edges(45, 200)), tmp_path / "l.svg")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX's")
def test_a_graphviz_crash_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\ncat > /dev/null\nkill -SEGV $$\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = tmp_path / "m.svg"
    with pytest.raises(RenderError, match=r"graphviz `dot -Tsvg` crashed \(SIGSEGV\).*write DOT source instead"):
        nf.render(nf.load_spec(_long_edges(2, 3)), out)
    assert not out.exists()


def _chain_read_by_one(length: int) -> str:
    """A chain of ``length`` Dense layers, every one of them read by one Concatenate (feature aggregation)."""
    nodes = [f"  a{i}: {{type: Dense, units: 2, in: {'x' if i == 0 else f'a{i - 1}'}}}" for i in range(length)]
    nodes.append(f"  c0: {{type: Concatenate, in: [{', '.join(f'a{i}' for i in range(length))}]}}")
    return "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}}\nnodes:\n" + "\n".join(nodes) + "\noutputs: [c0]\n"


def test_a_node_read_from_many_ranks_is_laid_out_with_dot_s_passes_bounded() -> None:
    # 85 layers all read by one Concatenate (3.3 KB) took dot 39 s of CPU (60: 2.1 s; 95 ran past the 60 s
    # timeout); with dot's passes bounded it takes 1.3 s, and the edges keep their labels
    text = to_dot_source(nf.load_spec(_chain_read_by_one(85)))
    graph = next(line for line in text.splitlines() if line.strip().startswith("graph ["))
    assert "nslimit=1" in graph and "mclimit=0.1" in graph and "splines=line" not in graph
    plain = to_dot_source(nf.load_spec(_chain_read_by_one(10)))  # a small fan-in: dot's own passes
    assert "nslimit=1" not in next(line for line in plain.splitlines() if line.strip().startswith("graph ["))


@pytest.mark.slow
def test_the_fan_in_renders(tmp_path: Path) -> None:
    # (it ran dot past the 60 s timeout at 95 layers; the 30 s given here is a guard, not a measure)
    nf.render(nf.load_spec(_chain_read_by_one(95)), tmp_path / "fan.svg", timeout=30)
    assert (tmp_path / "fan.svg").stat().st_size > 0
