"""The graph-node limit (10,000) and what a spec past it costs.

Every spec under 1 MB is checked in under 2 s of CPU: specs built so that no two nodes are alike (each
adding a different number, a concatenate chain whose output grows at each node) defeat the sharing of
equal nodes' results, and 20,000 of them took over 2 s. A spec past the limit is refused while its YAML is
read: past the limit, the section's entries are counted, not built.
"""

from __future__ import annotations

from typing import Any

import pytest

import netform
from netform.errors import SpecError
from netform.spec import _yaml
from netform.spec._graph import MAX_GRAPH_NODES
from netform.spec._load import graph_of
from tests._budget import assert_cpu_under

HEAD = "netform: 1\nname: large\nkind: functional\ninputs:\n  x: {shape: [8]}\nnodes:\n"


def _chain(n: int, node: str = "{{op: add, in: [{prev}, {i}]}}") -> str:
    lines, prev = [], "x"
    for i in range(n):
        lines.append(f"  n{i}: " + node.format(prev=prev, i=i))
        prev = f"n{i}"
    return HEAD + "\n".join(lines) + f"\noutputs: [{prev}]\n"


def test_the_limit_is_10000_nodes() -> None:
    assert MAX_GRAPH_NODES == 10_000
    with pytest.raises(SpecError) as info:
        netform.load_spec(_chain(10_001))
    assert [str(d) for d in info.value.diagnostics] == [
        "<string>:10007:3: nodes.n10000: the spec lists 10,001 nodes; the limit is 10,000 (netform refuses graphs "
        "past that size)"
    ]
    with pytest.raises(SpecError, match=r"^<string>:10005:3: layers\[10000\]: the spec lists 10,001 layers; the "):
        netform.load_spec("netform: 1\nkind: sequential\ninputs: {x: {shape: [4]}}\nlayers:\n" + "- {type: ReLU}\n" * 10_001)


def test_a_dict_past_the_limit_is_refused_before_its_nodes_are_checked() -> None:
    data = netform.load_spec(_chain(3)).to_dict()
    data["nodes"] = {f"n{i}": {"type": "ReLU", "in": "x"} for i in range(10_001)}
    data["outputs"] = ["n0"]
    with pytest.raises(SpecError, match=r"nodes\.n10000: the spec lists 10,001 nodes; the limit is 10,000"):
        netform.load_spec(data)


def test_repeat_past_the_limit_is_refused() -> None:
    text = (HEAD.replace("nodes:\n", "blocks:\n  b: {layers: [{type: ReLU}]}\nnodes:\n")
            + "  a: {block: b, repeat: 10001, in: x}\noutputs: [a]\n")
    with pytest.raises(SpecError, match=r"nodes\.a\.repeat: `repeat: 10001` is more than the 10000 layers"):
        netform.load_spec(text)


def test_nodes_no_two_alike_at_the_limit_are_checked_in_time() -> None:
    """9,990 nodes each adding a different number, and a concatenate chain whose output grows at every node:
    each node's checks and shape rule run anew (over 2 s of CPU at 20,000 nodes, with the interpreter)."""
    for text in (_chain(9_990), _chain(9_990, "{{op: concatenate, in: [{prev}, x], axis: -1}}")):
        specs: list[Any] = []
        assert_cpu_under(lambda text=text: specs.append(netform.load_spec(text)), 2.0, "9,990 nodes no two alike")
        assert len(graph_of(specs[-1]).nodes) == 9_990


def test_a_spec_past_the_limit_is_refused_in_time() -> None:
    """A 1 MB spec of 24,000 nodes: the entries past the limit are counted, not built."""
    text = _chain(24_000, "{{op: add, in: [{prev}, x]}}")
    assert len(text) < 1_000_000

    def refuse() -> None:
        with pytest.raises(SpecError, match=r"nodes\.n10000: the spec lists 24,000 nodes; the limit is 10,000"):
            netform.load_spec(text)

    assert_cpu_under(refuse, 1.0, "refusing 24,000 nodes")


# -- the one-pass YAML reader counts the rest of a section as the general path counts it ---------------------

SECTIONS = {"nodes": 3, "layers": 2}


def _outcome(text: str, max_values: int, plain: bool) -> Any:
    limits = _yaml.Limits(max_values=max_values)
    real = _yaml._read_plain
    if not plain:
        _yaml._read_plain = lambda *args: None  # type: ignore[assignment]  # the general path only
    try:
        data, smap = _yaml.load_yaml(text, "f.yaml", limits=limits, max_entries=SECTIONS)
    except SpecError as err:
        return "refused", str(err)
    finally:
        _yaml._read_plain = real
    return "ok", data, smap.positions


@pytest.mark.parametrize(
    "text",
    [
        # past the limit: nested entries, anchors and aliases, tags, dates, duplicate keys, deep nesting
        "nodes:\n  a: 1\n  b: [1, {c: 2}]\n  c: {d: [1, 2]}\n  d: {e: {f: [3]}}\n  e: 5\nz: 1\n",
        "nodes:\n  a: 1\n  b: 2\n  c: 3\n  d: &x [1, 2]\n  e: *x\n  f: *x\nz: 1\n",
        "nodes:\n  a: 1\n  b: 2\n  c: 3\n  d: !!int 4\n  e: 2001-01-01\n  d: 5\n",
        "nodes:\n  a: 1\n  b: 2\n  c: 3\n  d: 1:20\n  *y : 1\n",
        "layers: [1, [2, 3], {a: 4}, [5, [6]], 7]\nnodes: {a: 1}\n",
        "layers: [1, 2, [3, &a [4]], *a, *a, {k: *a}]\n",
        "layers:\n- 1\n- 2\n- - 3\n  - 4\n- {a: {b: {c: {d: 1}}}}\n",
        "nodes: {a: 1, b: 2, c: 3, d: 4}\n---\nnodes: 1\n",
        "nodes:\n  ? [a]\n  : 1\n  b: 2\n  c: 3\n  d: 4\n",
        "nodes: {a: 1, b: 2, c: 3, d: [1, 2, 3, 4, 5, 6, 7, 8, 9]}\n",
        "nodes: {a: 1, b: 2, c: 3, d: 4, e: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}\n",
        "layers: [1, 2, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]]\n",
    ],
)
@pytest.mark.parametrize("max_values", [10, 16, 40])
def test_a_section_past_its_limit_reads_as_the_general_path_reads_it(text: str, max_values: int) -> None:
    assert _outcome(text, max_values, True) == _outcome(text, max_values, False)
