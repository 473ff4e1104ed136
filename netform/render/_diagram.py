"""The diagram graph: what a picture shows, independent of where it came from.

Specs (:mod:`._from_spec`) and Keras models (:mod:`._from_keras`) are both
turned into one :class:`Diagram`; :mod:`._dot` writes any diagram as DOT.
Comparing two diagrams (:meth:`Diagram.structure`) is how tests check that a
spec, the model built from it and the saved file draw the same graph.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DNode", "DEdge", "DCluster", "Diagram", "FAMILIES", "family_of", "collapse", "depth_of"]

# Family → fill colour: one distinct pastel per family (readable with black text); a test keeps them distinct.
FAMILIES: dict[str, str] = {
    "input": "#ffffff",
    "core": "#cfe2f3",
    "conv": "#d9ead3",
    "pooling": "#fff2cc",
    "normalization": "#ead1dc",
    "recurrent": "#ea9999",
    "attention": "#b4a7d6",
    "merge": "#f9cb9c",
    "activation": "#a4e8d8",
    "reshaping": "#cccccc",
    "regularization": "#f1e7a5",
    "preprocessing": "#a2c4c9",
    "custom": "#c8c8a0",
    "block": "#9fb8e6",
    "model": "#e6b8af",
}


def family_of(type_name: str) -> str:
    """The family of a layer type from the spec registry, ``"custom"`` when unknown.

    Args:
        type_name: A Keras class name such as ``"Conv2D"``.

    Returns:
        One of the keys of :data:`FAMILIES`.
    """
    from ..spec import get_layer_spec

    try:
        return get_layer_spec(type_name).family
    except Exception:  # an unregistered Keras class or a raw op: still drawable
        return "custom"


@dataclass
class DNode:
    """One box: a layer (drawn once however many times it is called), an input or a collapsed block.

    Attributes:
        id: Unique key, the dotted full name (``stage1.2.conv``).
        name: The name shown (the last part of ``id`` inside a cluster).
        type: The Keras class name, ``"InputLayer"``, or the block name of a collapsed box.
        family: A key of :data:`FAMILIES`.
        shape: Output shape (batch first), a list for several outputs, or None.
        params: Parameters of the layer (None when unknown).
        cluster: Id of the innermost cluster holding the node, or None.
        role: ``"input"``, ``"layer"`` or ``"block"`` (a collapsed cluster).
        output: Whether the node produces a model output.
        uses: How many times the layer is called (> 1 for a shared layer).
        repeat: For a collapsed box, how many chained uses it stands for.
        config: The layer's configuration (the values that differ from the defaults), for
            ``details`` labels and the interactive diagram's panel.
        args: For a collapsed box, the block's parameters (``heads: 4``).
    """

    id: str
    name: str
    type: str
    family: str
    shape: Any = None
    params: int | None = None
    cluster: str | None = None
    role: str = "layer"
    output: bool = False
    uses: int = 1
    repeat: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class DEdge:
    """One tensor flowing from ``src`` to ``dst``; ``use`` numbers calls of a shared ``dst`` (0 = first)."""

    src: str
    dst: str
    shape: Any = None
    use: int = 0


@dataclass
class DCluster:
    """A block use or a nested model: a labelled box around its nodes.

    Attributes:
        id: Unique key (the block instance or nested model's dotted name).
        label: The text shown, e.g. ``"c1.1: conv_bn"``.
        parent: The enclosing cluster id, or None at top level.
        kind: ``"block"`` (a block expanded in place) or ``"model"`` (a nested model).
        group: Chained uses with the same group (``repeat: N``) collapse into one box.
        block: The block name (or nested model type signature), shown on a collapsed box.
        outputs: Ids of the nodes producing the cluster's outputs.
        args: The block's parameters for this use (defaults filled in), e.g. ``{"heads": 4}``.
    """

    id: str
    label: str
    parent: str | None = None
    kind: str = "block"
    group: str = ""
    block: str = ""
    outputs: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Diagram:
    """Nodes, edges and clusters of one model, ready to be written as DOT."""

    name: str
    kind: str
    nodes: dict[str, DNode] = field(default_factory=dict)
    edges: list[DEdge] = field(default_factory=list)
    clusters: dict[str, DCluster] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add_edge(self, src: str, dst: str, shape: Any) -> None:
        """Connect ``src`` to ``dst``; a repeated connection into a shared node counts as a further use."""
        node = self.nodes[dst]
        self.edges.append(DEdge(src, dst, shape, node.uses - 1))

    def families(self) -> list[str]:
        """Families present, in :data:`FAMILIES` order (for the legend)."""
        present = {n.family for n in self.nodes.values()}
        return [f for f in FAMILIES if f in present]

    def in_degree(self) -> Counter[str]:
        """Number of incoming edges of each node."""
        return Counter(e.dst for e in self.edges)

    def structure(self) -> tuple[frozenset[tuple[str, str]], Counter[tuple[str, str]]]:
        """A comparable form: ``(node ids with types, edge multiset)``, names normalised.

        Dots and underscores in names are treated alike, so a nested model named
        ``c1_1`` by Keras matches the spec's block instance ``c1.1``.
        """
        return (
            frozenset((_norm(n.id), n.type) for n in self.nodes.values()),
            Counter((_norm(e.src), _norm(e.dst)) for e in self.edges),
        )


def _norm(name: str) -> str:
    return re.sub(r"[._/]+", "_", name)


def depth_of(diagram: Diagram, cid: str | None) -> int:
    """How deeply cluster ``cid`` is nested: 1 for a top-level cluster, 0 for None."""
    depth = 0
    while cid is not None:
        depth += 1
        cid = diagram.clusters[cid].parent
    return depth


def _ancestor_at(diagram: Diagram, cid: str | None, level: int) -> str | None:
    """The cluster enclosing ``cid`` (or ``cid`` itself) at nesting depth ``level`` (1 = top level), or None."""
    chain: list[str] = []
    while cid is not None:
        chain.append(cid)
        cid = diagram.clusters[cid].parent
    return chain[-level] if len(chain) >= level else None


def _local(name: str, parent: str | None) -> str:
    return name[len(parent) + 1 :] if parent and name.startswith(parent + ".") else name


def collapse(diagram: Diagram, depth: int = 0) -> Diagram:
    """Draw every cluster nested deeper than ``depth`` inside one box; chained ``repeat`` uses become one box ×N.

    Args:
        diagram: An expanded diagram.
        depth: How many levels of clusters stay drawn as clusters: 0 draws every
            top-level block as one box, 1 keeps the top-level blocks and draws the
            blocks inside them as boxes, and so on.

    Returns:
        A new diagram; a box keeps the block's parameters (:attr:`DNode.args`)
        and the sum of its layers' parameter counts.

    Raises:
        ValueError: ``depth`` is negative.
    """
    if depth < 0:
        raise ValueError(f"collapse depth must be 0 or more; received {depth}")
    level = depth + 1
    tops = [c for c in diagram.clusters.values() if depth_of(diagram, c.id) == level]
    members: dict[str, str] = {}  # node id → its cluster at the collapsed level
    for n in diagram.nodes.values():
        top = _ancestor_at(diagram, n.cluster, level)
        if top is not None:
            members[n.id] = top
    feeders: dict[str, set[str | None]] = {}  # collapsed cluster → where its inputs come from
    for e in diagram.edges:
        dst_top, src_top = members.get(e.dst), members.get(e.src)
        if dst_top is not None and src_top != dst_top:
            feeders.setdefault(dst_top, set()).add(src_top)
    # a cluster joins the previous box when it is the next repeat of the same use, fed only by it
    box_of_cluster: dict[str, str] = {}
    boxes: dict[str, list[DCluster]] = {}
    prev: DCluster | None = None
    for c in tops:
        box_of_cluster[c.id] = c.id
        if (
            prev is not None
            and c.group
            and c.group == prev.group
            and c.parent == prev.parent
            and feeders.get(c.id) == {prev.id}
        ):
            box_of_cluster[c.id] = box_of_cluster[prev.id]
        boxes.setdefault(box_of_cluster[c.id], []).append(c)
        prev = c
    out = Diagram(diagram.name, diagram.kind, notes=list(diagram.notes))
    for c in diagram.clusters.values():
        if depth_of(diagram, c.id) <= depth:
            out.clusters[c.id] = DCluster(**c.__dict__)
    remap: dict[str, str] = {}
    for n in diagram.nodes.values():
        top = members.get(n.id)
        if top is None:
            out.nodes[n.id] = DNode(**n.__dict__)
            remap[n.id] = n.id
            continue
        box = box_of_cluster[top]
        remap[n.id] = box
        if box not in out.nodes:
            group = boxes[box]
            first = group[0]
            name = _local((first.group or first.id) if len(group) > 1 else first.id, first.parent)
            out.nodes[box] = DNode(
                box,
                name,
                first.block or first.kind,
                first.kind,
                None,
                0,
                first.parent,
                "block",
                uses=n.uses,
                repeat=len(group),
                args=dict(first.args),
            )
        b = out.nodes[box]
        b.uses = min(b.uses, n.uses)  # a nested model called twice: every layer in it is used twice
        b.output = b.output or n.output
        if b.params is not None:
            b.params = None if n.params is None else b.params + n.params
        last = boxes[box][-1]
        if n.id in last.outputs:
            b.shape = n.shape if b.shape is None else (b.shape if isinstance(b.shape, list) else [b.shape]) + [n.shape]
    for c in out.clusters.values():
        c.outputs = tuple(dict.fromkeys(remap.get(o, o) for o in c.outputs))
    seen: set[tuple[str, str, int]] = set()
    for e in diagram.edges:
        src, dst = remap[e.src], remap[e.dst]
        if src == dst:
            continue
        if out.nodes[src].role == "block" or out.nodes[dst].role == "block":
            # several inner layers reading one tensor (or one box feeding another) draw one edge per use
            if (src, dst, e.use) in seen:
                continue
            seen.add((src, dst, e.use))
        out.edges.append(DEdge(src, dst, e.shape, e.use))
    return out
