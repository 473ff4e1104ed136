"""What a diagram quotes is bounded. A 410 KB spec (a KerasLayer config of 1,000 YAML aliases of one 400 KB
string) made a 400 MB interactive page at 2 GB of memory, and 8,000 aliases ran out of memory; a ``split``
into 9,998 tensors made an HTML label graphviz refuses (over 16,384 characters). Values, configurations and
shape lists are now cut with marks saying how much was left out, and a page past its limit is refused
before anything is written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import netform as nf
from netform.errors import RenderError
from netform.render import _html, diagram_of, to_dot_source
from netform.render._bounded import CONFIG_CHARS, bounded, shape_text
from netform.render._diagram import Diagram, DNode
from netform.render._dot import DotOptions, block_arguments, key_attributes, to_dot

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
GRAPHVIZ_HTML_LABEL = 16_384


def alias_spec(chars: int = 100_000, aliases: int = 300) -> str:
    """A KerasLayer whose config holds ``aliases`` YAML aliases of one anchored string of ``chars`` characters."""
    keys = ", ".join(f"k{i}: *b" for i in range(aliases))
    return (
        f'netform: 1\nkind: functional\ndescription: &b "{"A" * chars}"\ninputs: {{x: {{shape: [4, 4, 3]}}}}\n'
        "nodes:\n  o: {type: KerasLayer, class_name: RandomFlip, config: {name: o2, seed: 1, mode: horizontal, "
        f"zz: {{{keys}}}}}, in: x}}\noutputs: [o]\n"
    )


def split_spec(outputs: int = 9_998) -> str:
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [{outputs}]}}}}\nnodes:\n"
        f"  s0: {{op: split, in: x, indices_or_sections: {outputs}, axis: 1}}\noutputs: [s0.0]\n"
    )


def html_labels(source: str) -> list[str]:
    return re.findall(r"label=(<.*?>)(?:, fillcolor|\];)", source)


def test_the_page_data_of_aliased_config_values_is_bounded() -> None:
    diagram = diagram_of(alias_spec())
    data = json.dumps(_html.diagram_data(diagram, None), ensure_ascii=False)
    assert len(data) < 3 * CONFIG_CHARS, len(data)  # 30 MB before
    config = next(n for n in _html.diagram_data(diagram, None)["nodes"] if n["id"] == "o")["config"]["config"]
    assert config["name"] == "o2" and config["mode"] == "horizontal"
    assert config["zz"]["k0"] == "A" * 300 + "… (100,000 characters)"
    last = config["zz"]["…"]
    assert re.fullmatch(r"\d+ more entries", last) and int(last.split()[0]) > 280, last


def test_bounded_stops_early_on_nested_aliases() -> None:
    # a billion laughs: 10 levels of 10 aliases of the level below
    value: object = "lol"
    for _ in range(10):
        value = [value] * 10
    out = bounded({"deep": value, "after": 1})
    text = json.dumps(out, ensure_ascii=False)
    assert len(text) < 2 * CONFIG_CHARS
    assert "… and 9 more" in text and out["…"] == "1 more entries"
    nested: object = 0
    for _ in range(2_000):
        nested = [nested]
    assert "nested more than 32 deep" in json.dumps(bounded(nested), ensure_ascii=False)


@needs_dot
def test_the_interactive_page_of_aliased_config_values_is_small(tmp_path: Path) -> None:
    out = nf.render(alias_spec(), tmp_path / "a.html")
    assert out.stat().st_size < 100_000, out.stat().st_size  # 30 MB before
    page = out.read_text(encoding="utf-8")
    assert "\\u2026 (100,000 characters)" in page and "more entries" in page


def test_a_page_past_its_limit_is_refused_before_graphviz_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _html.HTML_PAGE_LIMIT == 64 * 2**20

    def no_dot(*_: object, **__: object) -> None:
        raise AssertionError("graphviz ran")

    monkeypatch.setattr(_html, "layout", no_dot)
    monkeypatch.setattr(_html, "HTML_PAGE_LIMIT", 2_000)
    with pytest.raises(RenderError) as err:
        nf.render(alias_spec(chars=1_000, aliases=10), tmp_path / "a.html")
    message = str(err.value)
    assert "the interactive page of 'model' (2 nodes and 1 edges) makes more than 2,000 characters" in message
    assert "nothing was written" in message and "-o NAME.svg" in message, message
    assert not (tmp_path / "a.html").exists()


@needs_dot
def test_a_page_whose_picture_passes_the_limit_is_refused_before_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(_html.diagram_data(diagram_of(split_spec(3)), None), separators=(",", ":"))
    monkeypatch.setattr(_html, "HTML_PAGE_LIMIT", len(data) + 100)  # the data passes, with the SVG it does not
    with pytest.raises(RenderError, match="makes more than"):
        nf.render(split_spec(3), tmp_path / "s.html")
    assert not (tmp_path / "s.html").exists()


def test_a_split_into_9998_tensors_has_a_short_label() -> None:
    source = to_dot_source(split_spec())
    labels = html_labels(source)
    assert labels and max(len(label) for label in labels) < 1_000
    assert "(None, 1), … and 9,98" in source
    assert max(len(line) for line in source.splitlines()) < 3_000  # 220,135 before


@needs_dot
def test_a_split_into_9998_tensors_is_drawn(tmp_path: Path) -> None:
    out = nf.render(split_spec(), tmp_path / "s.svg")  # exit 7 before: graphviz refused the label
    assert "more]" in out.read_text(encoding="utf-8")
    assert nf.render(split_spec(), tmp_path / "s.html").stat().st_size < 200_000


def test_every_label_stays_under_graphviz_limit() -> None:
    # the worst a label can quote: a 1,024-character name and values that are all quotes (6 characters escaped)
    worst = '"' * 100_000
    node = DNode(
        id="n",
        name='"' * 1_024,
        type=worst,
        family="custom",
        shape=[(None, *range(300))] * 5_000,
        params=10**12,
        uses=3,
        config={
            "units": worst,
            "filters": list(range(1_000_000)),
            "kernel_size": [worst] * 1_000,
            "pool_size": [[worst] * 10] * 10,
            "activation": worst,
            "rate": 0.5,
        },
    )
    block = DNode(
        id="b",
        name="b",
        type=worst,
        family="block",
        role="block",
        repeat=4,
        args={worst: worst} | {f"p{i}": worst for i in range(10_000)},
    )
    diagram = Diagram("m", "functional")
    diagram.nodes = {"n": node, "b": block}
    source = to_dot(diagram, DotOptions(details=True))
    labels = html_labels(source)
    assert len(labels) == 2
    assert max(len(label) for label in labels) < GRAPHVIZ_HTML_LABEL, [len(label) for label in labels]
    assert max(len(line) for line in source.splitlines()) < 40_000
    assert "… (100,000 characters)" in key_attributes(node.config)
    assert "… and 999,897 more" in key_attributes(node.config)
    assert block_arguments(block.args).endswith("more")
    assert len(shape_text(node.shape)) < 600


@needs_dot
def test_the_worst_label_is_drawn(tmp_path: Path) -> None:
    worst = "<&>" * 30_000
    node = DNode(id="n", name="n", type=worst, family="custom", shape=(None, 3), config={"units": worst})
    diagram = Diagram("m", "functional")
    diagram.nodes = {"n": node}
    from netform.render._graphviz import layout

    assert layout(to_dot(diagram, DotOptions(details=True)), "svg", 60).startswith(b"<?xml")
