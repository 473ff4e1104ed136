"""render counts edges too: a 2.7 KB spec whose block's Add reads its input 1,020 times, used 280 times,
draws 285,600 parallel edges between 281 nodes. Its layout (dot past its 60 s timeout, 640 MB) is refused
before graphviz runs; its DOT text is made without writing the shape of each edge it does not label (28 s
before); and DOT text past a bound is refused before anything is written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import netform as nf
from netform.errors import RenderError
from netform.render import _dot, diagram_of, to_dot_source
from tests._budget import assert_cpu_under

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
ROOT = Path(__file__).resolve().parents[2]


def block_fan(rank: int = 250, fan: int = 1020, repeat: int = 280) -> str:
    """One block whose Add reads its input ``fan`` times, used with ``repeat``; the input has ``rank`` axes."""
    return (
        "netform: 1\nkind: functional\ninputs:\n  x: {shape: [%s]}\n" % ",".join(["1"] * (rank - 1))
        + "blocks:\n  b:\n    inputs: [x]\n    nodes:\n"
        + f"      a: {{type: Add, in: [{','.join(['x'] * fan)}]}}\n"
        + f"    outputs: [a]\nnodes:\n  n: {{block: b, repeat: {repeat}, in: x}}\noutputs: [n]\n"
    )


@pytest.fixture(scope="module")
def fan_spec() -> nf.ModelSpec:
    return nf.load_spec(block_fan())


def test_parallel_edges_are_refused_before_graphviz_runs(
    fan_spec: nf.ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diagram = diagram_of(fan_spec)
    assert (len(diagram.nodes), len(diagram.edges)) == (281, 285_600)
    # each edge crosses one rank: the node count alone missed them; the edges between two ranks count now too,
    # but the edge limit, checked first, is what the message names
    assert _dot.layout_size(diagram) > _dot.LAYOUT_LIMIT

    def no_dot(*_: object, **__: object) -> None:
        raise AssertionError("graphviz ran")

    monkeypatch.setattr("netform.render.run_dot", no_dot)
    monkeypatch.setattr("netform.render._html.layout", no_dot)
    for name in ("x.svg", "x.png", "x.html"):
        with pytest.raises(RenderError) as err:
            nf.render(fan_spec, tmp_path / name)
        message = str(err.value)
        assert "281 nodes and 285,600 edges (limit 20,000 edges" in message, message
        assert "--collapse" in message and "NAME.dot" in message
        assert not (tmp_path / name).exists()


@needs_dot
def test_collapsed_blocks_of_the_same_spec_render(fan_spec: nf.ModelSpec, tmp_path: Path) -> None:
    out = nf.render(fan_spec, tmp_path / "x.svg", expand_nested=False)
    assert out.read_bytes().lstrip().startswith(b"<?xml")


def test_dot_text_of_many_edges_is_made_quickly(fan_spec: nf.ModelSpec, tmp_path: Path) -> None:
    # a dense graph has no edge labels: their shapes (250 axes each) are no longer written and thrown away
    seconds = assert_cpu_under(lambda: to_dot_source(fan_spec), 8.0, "DOT text of 285,600 edges", warm=False)
    source = to_dot_source(fan_spec)
    edges = [line for line in source.splitlines() if line.startswith("  \"") and "\" -> \"" in line]
    assert len(edges) == 285_600 and all("label=" not in line for line in edges)
    assert seconds < 8.0
    out = nf.render(fan_spec, tmp_path / "x.dot")
    assert out.read_text() == source


def test_dot_text_past_the_limit_is_refused_before_it_is_written(
    fan_spec: nf.ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _dot.DOT_TEXT_LIMIT == 32 * 2**20
    monkeypatch.setattr(_dot, "DOT_TEXT_LIMIT", 2 * 2**20)
    with pytest.raises(RenderError) as err:
        nf.render(fan_spec, tmp_path / "x.dot")
    message = str(err.value)
    assert "281 nodes and 285,600 edges) makes more than 2,097,152 characters of DOT text" in message, message
    assert "--collapse" in message
    assert not (tmp_path / "x.dot").exists()
    monkeypatch.setattr(_dot, "DOT_TEXT_LIMIT", 100)  # the nodes alone pass it
    with pytest.raises(RenderError, match="more than 100 characters of DOT text"):
        to_dot_source(nf.load_spec(block_fan(rank=2, fan=2, repeat=1)))


def test_edges_under_the_limit_keep_their_layout_and_labels() -> None:
    small = diagram_of(block_fan(rank=3, fan=2, repeat=3))
    _dot.check_layout_size(small)
    source = to_dot_source(block_fan(rank=3, fan=2, repeat=3))
    assert source.count("label=\"(None, 1, 1)\"") == 6  # the edges into each Add carry the shape
    for spec in sorted((ROOT / "models").glob("*.yaml")):
        diagram = diagram_of(spec)
        assert len(diagram.edges) < _dot.EDGE_LIMIT // 100, spec
        _dot.check_layout_size(diagram)


@needs_dot
def test_a_5000_node_model_still_renders(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_render import resnet_spec
    finally:
        sys.path.remove(str(ROOT / "bench"))
    spec = resnet_spec(5000)
    diagram = diagram_of(spec)
    assert len(diagram.nodes) > 4_900 and len(diagram.edges) < _dot.EDGE_LIMIT
    out = nf.render(spec, tmp_path / "r.svg", timeout=300)
    assert out.stat().st_size > 1_000_000
