"""Readable diagrams: collapse depth, block parameters on boxes, key attributes, the legend, colours, labels."""

from __future__ import annotations

import itertools
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netform.errors import RenderError
from netform.render import diagram_of, render, to_dot_source
from netform.render._diagram import FAMILIES

from ._dotparse import parse
from ._specs import FLAT_BLOCKS, MULTI_IO, NESTED_TWICE, SEQUENTIAL, SHARED

ROOT = Path(__file__).resolve().parents[2]
RESNET = str(ROOT / "models" / "resnet_small.yaml")
TRANSFORMER = str(ROOT / "models" / "transformer_text.yaml")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
SVG = "{http://www.w3.org/2000/svg}"


def _blocks(dot_text: str) -> dict[str, str]:
    """Cluster label → cluster name, the legend left out."""
    dot = parse(dot_text)
    return {label: name for name, (label, _m) in dot.clusters.items() if name != "cluster_legend"}


def test_collapse_depth_one_keeps_outer_blocks_and_boxes_inner_ones() -> None:
    dot = parse(to_dot_source(RESNET, collapse_depth=1))
    clusters = {label: members for name, (label, members) in dot.clusters.items() if name != "cluster_legend"}
    # top-level uses stay clusters; the blocks inside them are one box each, inside their cluster
    assert set(clusters) == {"stem: conv_bn_relu", "stage1.1: basic", "stage1.2: basic", "stage2: stage",
                             "stage3: stage", "stage4: stage"}
    assert clusters["stage2: stage"] == ["stage2.down", "stage2.same"]
    assert "stage1.1.conv1" in clusters["stage1.1: basic"]
    for box in ("stage2.down", "stage2.same", "stage1.1.conv1"):
        assert "shape=box3d" in dot.nodes[box]
    # the box shows the block, its parameters (defaults filled in) and the sum of its layers' parameters
    full = diagram_of(RESNET)
    inner = sum(n.params or 0 for n in full.nodes.values() if n.id.startswith("stage1.1.conv1."))
    assert inner == 8 * 8 * 9 + 4 * 8  # Conv2D without bias + BatchNormalization
    assert "conv_bn_relu" in dot.nodes["stage1.1.conv1"]
    assert "filters: 8, kernel_size: 3, strides: 1" in dot.nodes["stage1.1.conv1"]
    assert f"{inner:,} params" in dot.nodes["stage1.1.conv1"]
    assert "filters: 16" in dot.nodes["stage2.down"]
    # edges into a box come from outside it, once per use
    assert dot.edge_set()[("stage2.down", "stage2.same")] == 1


def test_collapse_depth_zero_is_collapse_and_shows_block_parameters() -> None:
    assert to_dot_source(RESNET, collapse_depth=0) == to_dot_source(RESNET, expand_nested=False)
    dot = parse(to_dot_source(TRANSFORMER, collapse_depth=0))
    assert not _blocks(to_dot_source(TRANSFORMER, collapse_depth=0))
    box = dot.nodes["encoders.1"]
    assert "encoder ×2" in box and "<B>encoders</B>" in box
    assert "heads: 4, key_dim: 8, ff_dim: 64, width: 32, rate: 0.1" in box
    full = diagram_of(TRANSFORMER)
    total = sum(n.params or 0 for n in full.nodes.values() if n.id.startswith("encoders."))
    assert f"{total:,} params" in box and total > 0


def test_deep_collapse_depth_changes_nothing_and_negative_is_refused() -> None:
    assert to_dot_source(RESNET, collapse_depth=5) == to_dot_source(RESNET)
    with pytest.raises(RenderError, match=r"collapse_depth must be a whole number 0 or more.*received -1"):
        to_dot_source(RESNET, collapse_depth=-1)


def test_details_add_key_attributes() -> None:
    plain = parse(to_dot_source(MULTI_IO))
    dot = parse(to_dot_source(MULTI_IO, details=True))
    assert "filters: 8, kernel_size: 3" in dot.nodes["conv"] and "kernel_size" not in plain.nodes["conv"]
    assert "units: 5, activation: softmax" in dot.nodes["cat"]
    assert "output_dim: 16" in dot.nodes["emb"]
    resnet = parse(to_dot_source(RESNET, details=True))
    # strides shown where they are not 1, and a default (linear) activation left out
    assert "strides: 2" in resnet.nodes["stage2.down.proj"] and "strides" not in resnet.nodes["stage1.1.conv2"]
    assert "activation" not in resnet.nodes["stage1.1.conv2"]


def _legend(text: str) -> list[str]:
    return [m.removeprefix("__legend_") for m in parse(text).clusters["cluster_legend"][1]]


def test_legend_lists_only_what_the_diagram_uses() -> None:
    assert _legend(to_dot_source(SEQUENTIAL)) == ["input", "core", "regularization", "output"]
    assert _legend(to_dot_source(SHARED)) == ["input", "core", "merge", "output", "shared_use"]
    assert _legend(to_dot_source(NESTED_TWICE, collapse_depth=0)) == ["input", "core", "pooling", "model",
                                                                      "output", "collapsed_block"]
    assert "collapsed_block" not in _legend(to_dot_source(NESTED_TWICE))
    flat = _legend(to_dot_source(FLAT_BLOCKS, collapse_depth=0))
    assert flat == ["input", "core", "block", "output", "collapsed_block"]


def test_every_family_has_its_own_colour() -> None:
    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))

    for (fam_a, a), (fam_b, b) in itertools.combinations(FAMILIES.items(), 2):
        distance = sum((x - y) ** 2 for x, y in zip(rgb(a), rgb(b))) ** 0.5
        assert distance >= 30, (fam_a, fam_b)
    dot = parse(to_dot_source(NESTED_TWICE, collapse_depth=0))
    assert f'fillcolor="{FAMILIES["model"]}"' in dot.nodes["c1.1"]
    assert f'fillcolor="{FAMILIES["model"]}"' in dot.nodes["__legend_model"]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_dot
def test_collapsed_resnet_is_much_smaller(tmp_path: Path) -> None:
    full = _png_size(render(RESNET, tmp_path / "full.png"))
    one = _png_size(render(RESNET, tmp_path / "one.png", collapse_depth=1))
    zero = _png_size(render(RESNET, tmp_path / "zero.png", collapse_depth=0))
    # measured with graphviz 2.43: 632×6395, 711×2432 and 469×897 pixels
    assert full[1] > 5000
    assert one[1] * 2 < full[1]
    assert zero[1] < 1000 and zero[0] * zero[1] * 8 < full[0] * full[1]


def _boxes(svg: Path) -> list[tuple[str, float, float, float, float]]:
    """(text, left, top, right, bottom) of every edge label, its size estimated from the font size."""
    out = []
    for g in ET.parse(svg).getroot().iter(f"{SVG}g"):
        if g.get("class") != "edge":
            continue
        for t in g.iter(f"{SVG}text"):
            size, x, y = float(t.get("font-size", "9")), float(t.get("x", "0")), float(t.get("y", "0"))
            half = 0.25 * size * len(t.text or "")  # Helvetica averages about half an em a character
            out.append((t.text or "", x - half, y - size * 0.8, x + half, y + size * 0.2))
    return out


@needs_dot
@pytest.mark.parametrize("source, kwargs", [(RESNET, {}), (SHARED, {}), (MULTI_IO, {"direction": "LR"}),
                                            (RESNET, {"collapse_depth": 1})])
def test_edge_labels_do_not_overlap(tmp_path: Path, source: str, kwargs: dict[str, object]) -> None:
    assert "xlabel" not in to_dot_source(source, **kwargs)  # type: ignore[arg-type]
    boxes = _boxes(render(source, tmp_path / "d.svg", **kwargs))  # type: ignore[arg-type]
    assert boxes
    for a, b in itertools.combinations(boxes, 2):
        overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
        assert not overlap, (a, b)


@needs_dot
def test_cli_collapse_depth_and_details(tmp_path: Path) -> None:
    from netform.cli._main import main

    assert main(["render", TRANSFORMER, "-o", str(tmp_path / "t.dot"), "--collapse-depth", "0", "--details"]) == 0
    dot = parse((tmp_path / "t.dot").read_text())
    assert "heads: 4" in dot.nodes["encoders.1"] and "encoder ×2" in dot.nodes["encoders.1"]
    assert "units: 4, activation: softmax" in dot.nodes["label"]
    assert main(["render", TRANSFORMER, "-o", str(tmp_path / "t.svg"), "--collapse-depth", "-2"]) == 7
