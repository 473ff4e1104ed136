"""A small reader of the DOT netform writes, so tests check structure rather than text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_Q = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^\s*{_Q} \[(.*)\];$")
_EDGE = re.compile(rf"^\s*{_Q} -> {_Q}(?: \[(.*)\])?;$")
_CLUSTER = re.compile(rf'^\s*subgraph "(cluster_[^"]+)" {{$')
_LABEL = re.compile(rf"label={_Q}")


@dataclass
class Dot:
    """Nodes (id → attribute text), edges (with attribute text) and clusters (name → label, member ids)."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    clusters: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)

    def edge_set(self) -> Counter[tuple[str, str]]:
        """Edges between model nodes (the legend's are left out)."""
        return Counter((a, b) for a, b, _ in self.edges if not a.startswith("__legend"))

    def layer_nodes(self) -> set[str]:
        """Node ids without the legend and notes."""
        return {n for n in self.nodes if not n.startswith("__")}


def parse(text: str) -> Dot:
    """Parse netform's DOT output (one statement per line)."""
    dot = Dot()
    stack: list[str] = []
    lines = text.splitlines()
    assert lines[0].startswith("digraph "), lines[0]
    assert lines[-1] == "}"
    for line in lines[1:-1]:
        if m := _CLUSTER.match(line):
            dot.parent[m.group(1)] = stack[-1] if stack else None
            stack.append(m.group(1))
            dot.clusters[m.group(1)] = ("", [])
        elif line.strip() == "}":
            stack.pop()
        elif stack and line.strip().startswith("label=") and not dot.clusters[stack[-1]][0]:
            label = _LABEL.search(line)
            assert label is not None
            dot.clusters[stack[-1]] = (label.group(1), dot.clusters[stack[-1]][1])
        elif m := _EDGE.match(line):
            dot.edges.append((m.group(1), m.group(2), m.group(3) or ""))
        elif m := _NODE.match(line):
            dot.nodes[m.group(1)] = m.group(2)
            if stack:
                dot.clusters[stack[-1]][1].append(m.group(1))
    assert not stack, "unbalanced braces"
    return dot
