"""The output shapes the nodes hold are bounded (``MAX_SHAPE_HELD``), each copy of a repeated block counted.

A ``split`` makes up to 10,000 outputs, which no input-dimension budget counted: a 330-byte spec (a block
holding one 10,000-way split, used with ``repeat: 4999``) held 50 million shapes (validate 2.4 s and 436 MB,
summary 62 s, build over 150 s and 3 GB), and a 603 KB chain of 4,900 pads and splits took validate 52 s and
2.6 GB. Past 1,000,000 output dimensions the spec is refused at the node that passes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec import _shapes
from tests._budget import assert_cpu_under

ROOT = Path(__file__).resolve().parents[2]
HEAD = "netform: 1\nkind: functional\ninputs: {x: {shape: [10000]}}\n"


def _split_repeat(parts: int = 10_000, repeat: int = 4999) -> str:
    return HEAD + (
        "blocks:\n  b:\n    inputs: [x]\n    outputs: [o]\n    nodes:\n"
        f"      s: {{op: split, in: x, indices_or_sections: {parts}, axis: 1}}\n"
        "      o: {op: add, in: [x, 0.0]}\n"
        f"nodes:\n  u: {{block: b, in: x, repeat: {repeat}}}\noutputs: [u]\n"
    )


def _split_chain(count: int = 4900) -> str:
    """A pad and a split of one part more than the pad's width, 4,900 times (no two nodes alike)."""
    nodes, prev = [], "x"
    for i in range(count):
        nodes.append(f"  p{i}: {{op: pad, in: {prev}, pad_width: [[0,0],[0,1]]}}\n")
        nodes.append(f"  s{i}: {{op: split, in: p{i}, indices_or_sections: {5_001 + i}, axis: 1}}\n")
        prev = f"p{i}"
    head = HEAD.replace("10000", "5000")
    return head + "nodes:\n" + "".join(nodes) + f"outputs: [{prev}]\n"


@pytest.mark.parametrize(
    ("text", "node"), [(_split_repeat(), "u.34.s"), (_split_chain(), "s66")], ids=["repeat", "chain"]
)
def test_many_split_outputs_are_refused_quickly(text: str, node: str) -> None:
    assert len(text) < 1_000_000
    with pytest.raises(SpecError, match=f"hold .* dimensions by node '{node}'.*the limit is 1,000,000"):
        nf.load_spec(text)
    assert_cpu_under(lambda: pytest.raises(SpecError, nf.load_spec, text), 2.0, "split outputs past the bound")


def test_a_split_of_10000_parts_used_a_few_times_is_accepted() -> None:
    spec = nf.load_spec(_split_repeat(repeat=30))
    assert nf.summary(spec).rows


def test_zoo_specs_hold_a_hundredth_of_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_shapes, "MAX_SHAPE_HELD", _shapes.MAX_SHAPE_HELD // 100)
    for path in sorted((ROOT / "models").glob("*.yaml")):
        nf.load_spec(path)
