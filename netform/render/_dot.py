"""Write a :class:`Diagram` as DOT source (text; no pydot, no graphviz needed)."""

from __future__ import annotations

from collections import Counter

from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import RenderError
from ._bounded import LINE_CHARS, NAME_CHARS, SHAPE_CHARS, VALUE_CHARS, bounded, clip, shape_text
from ._diagram import FAMILIES, DCluster, DEdge, Diagram, DNode

__all__ = [
    "DotOptions",
    "to_dot",
    "quote",
    "html_escape",
    "COMPACT_ABOVE",
    "DETAIL_KEYS",
    "key_attributes",
    "block_arguments",
    "legend_entries",
    "is_dense",
    "layout_size",
    "cluster_cost",
    "LAYOUT_LIMIT",
    "EDGE_LIMIT",
    "DOT_TEXT_LIMIT",
    "check_layout_size",
]

# Above this many nodes labels shrink to name and type (shape and params move to the tooltip)
# and only edges into merges carry shapes: the picture stays readable and dot stays fast.
COMPACT_ABOVE = 300
# A graph with more edges than this and more than DENSE_PER_NODE edges a node is drawn without edge labels,
# with straight edges and graphviz's iteration limits: a 4 KB spec whose 40 layers each take every earlier
# layer (782 edges) kept `dot` busy for minutes.
DENSE_EDGES = 200
DENSE_PER_NODE = 2
# The most nodes graphviz's layout may handle, counting the one it adds on every rank an edge crosses
# (``layout_size``): 20,000 take dot about 2 s; the 1,000-node benchmark models about 1,100.
LAYOUT_LIMIT = 20_000
# Cluster node pairs (:func:`cluster_cost`) that cost dot about what one more node to place does
CLUSTER_PAIRS_PER_NODE = 2_000
# Pairs of nodes on one rank that cost dot about what one more node to place does: dot orders each rank
# against its neighbours, in time that grows with the square of its width (measured as dot's CPU time: 6,000
# layers reading one input, on one rank, took 22-26 s; 3,000 took 4.3 s)
RANK_PAIRS_PER_NODE = 3_000
# Edges between one pair of ranks, squared, that cost dot about what one more node to place does: it orders two
# ranks by their edges' crossings (140 layers each adding all of 140 others, 19,600 edges between two ranks,
# took 11-15 s of CPU while every other count was under its limit)
RANK_EDGE_PAIRS_PER_NODE = 8_000
# What edges crossing ranks into one node cost, as number**1.4 x mean span**2.5, per node to place: 45 edges of
# span 200 into one Concatenate (a 9.5 KB spec) took dot 19 s of CPU while every other count was under its limit
CONVERGING_PER_NODE = 5_000
# The ranks an edge may span before it counts there (only what it spans beyond them counts): 50 layers each adding
# every earlier one (spans up to 49, 1.2 s of dot) add little
CONVERGING_SHORT = 16
# Edges from this many different ranks into one node make dot's passes run away (see staggered_fan_in)
STAGGERED_FAN_IN = 16
# The most labelled edges a diagram is drawn with; past it, none is labelled (dot places each label as a node:
# 588 labels on a 299-node graph of random skip connections took it 18 s of CPU, 1.2 s without them)
EDGE_LABEL_LIMIT = 200
# The most edges graphviz may lay out, each of parallel edges counted: 20,000 take dot 0.5-1.6 s (20 nodes
# of 1,000 edges each, 280 of 100), 100,000 took 3.7 s and 285,600 (a block's Add reading its input 1,020
# times, repeated 280 times) ran past the 60 s timeout; a 5,000-node ResNet-like model has about 5,700.
EDGE_LIMIT = 20_000
# The most characters of DOT text (the same with `-o NAME.dot`, which needs no layout): a 10,000-node diagram
# writes about 4 MB; checked as the text is made, before anything is written.
DOT_TEXT_LIMIT = 32 * 2**20
_FONT = "Helvetica"
_OUTPUT_COLOR = "#b03a2e"
_INPUT_COLOR = "#1f618d"


@dataclass(frozen=True)
class DotOptions:
    """How a diagram is drawn.

    Attributes:
        direction: Graphviz ``rankdir``: ``TB``, ``LR``, ``BT`` or ``RL``.
        show_shapes: Show output shapes on nodes (and on the edges where they help).
        show_params: Show parameter counts on nodes.
        legend: Add a legend listing what the diagram uses: the layer families
            present, inputs, outputs, collapsed blocks and shared-layer uses.
        details: Add each layer's key attributes (kernel size, strides,
            activation, units, …) to its box.
        svg_ids: Give nodes, clusters and edges stable ids (``nf-n3``, ``nf-c0``,
            ``nf-e7``: positions in the diagram) that graphviz copies into the SVG,
            for the interactive HTML diagram.
    """

    direction: str = "TB"
    show_shapes: bool = True
    show_params: bool = True
    legend: bool = True
    details: bool = False
    svg_ids: bool = False


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes, quotes and newlines escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def html_escape(text: str) -> str:
    """Text safe inside a DOT HTML-like label."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _shape(shape: Any) -> str:
    return shape_text(shape, SHAPE_CHARS)


def _params(n: int | None) -> str:
    return "? params" if n is None else f"{n:,} params"


# The attributes ``details`` shows, in this order, and the values left out as uninformative.
DETAIL_KEYS = (
    "units",
    "filters",
    "kernel_size",
    "pool_size",
    "strides",
    "dilation_rate",
    "num_heads",
    "key_dim",
    "output_dim",
    "rate",
    "activation",
)
_DULL = (None, 1, (1, 1), [1, 1], (1,), [1], "linear")
# The most characters of a node's tooltip.
_TOOLTIP_CHARS = 2_000


def _item(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return clip(str(bounded(value, VALUE_CHARS)))
    return clip(str(value))


def _value(value: Any) -> str:
    """A value as a label shows it (``3×3``, ``0.5``), cut to about :data:`VALUE_CHARS` characters."""
    if isinstance(value, (list, tuple)):
        parts: list[str] = []
        size = 0
        for i, v in enumerate(value):
            if parts and size > VALUE_CHARS:
                parts.append(f"… and {len(value) - i:,} more")
                break
            parts.append(_item(v))
            size += len(parts[-1]) + 1
        return "×".join(parts)
    if isinstance(value, float):
        return f"{value:g}"
    return _item(value)


def _joined(pairs: list[tuple[str, Any]], limit: int = LINE_CHARS) -> str:
    """``key: value`` pairs joined with commas while the line is under about ``limit`` characters, then
    ``… and N more``."""
    out: list[str] = []
    size = 0
    for i, (key, value) in enumerate(pairs):
        if out and size > limit:
            out.append(f"… and {len(pairs) - i:,} more")
            break
        out.append(f"{clip(key)}: {_value(value)}")
        size += len(out[-1]) + 2
    return ", ".join(out)


def key_attributes(config: dict[str, Any]) -> str:
    """The key attributes of a layer configuration as one short line (``kernel_size: 3×3, activation: relu``)."""
    parts = []
    for key in DETAIL_KEYS:
        value = config.get(key)
        if key in ("strides", "dilation_rate", "activation") and value in _DULL:
            continue
        if value is not None and not isinstance(value, dict):
            parts.append((key, value))
    return _joined(parts)


def block_arguments(args: dict[str, Any]) -> str:
    """A collapsed block's parameters as one line (``heads: 4, key_dim: 8``)."""
    return _joined([(str(k), v) for k, v in args.items() if not isinstance(v, dict)])


def _node_label(node: DNode, opts: DotOptions, compact: bool) -> tuple[str, str]:
    """(label attribute value, tooltip) of a node.

    Every line is cut (:mod:`._bounded`): graphviz refuses an HTML label of more than 16,384 characters.
    """
    kind = clip(node.type, LINE_CHARS)
    if node.role == "block":
        kind = f"{kind} ×{node.repeat}" if node.repeat > 1 else kind
    if node.uses > 1:
        kind += f" · shared, {node.uses} uses"
    extra = block_arguments(node.args) if node.role == "block" else ""
    if opts.details and node.role == "layer":
        extra = key_attributes(node.config)
    extra = clip(extra, LINE_CHARS)
    details = []
    if opts.show_shapes and node.shape is not None:
        details.append(_shape(node.shape))
    if opts.show_params and node.role != "input":
        details.append(_params(node.params))
    tooltip = clip(" ".join([f"{node.id} ({kind})", *details, *([extra] if extra else [])]), _TOOLTIP_CHARS)
    name = clip(node.name, NAME_CHARS)
    if compact:
        return quote(f"{name}\n{kind}"), tooltip
    parts = [f"<B>{html_escape(name)}</B>", f'<FONT POINT-SIZE="9">{html_escape(kind)}</FONT>']
    if extra:
        parts.append(f'<FONT POINT-SIZE="9" COLOR="#333366">{html_escape(extra)}</FONT>')
    if details:
        parts.append(f'<FONT POINT-SIZE="9">{html_escape(" · ".join(details))}</FONT>')
    return "<" + "<BR/>".join(parts) + ">", tooltip


def _node_line(node: DNode, opts: DotOptions, compact: bool, indent: str, gid: str | None = None) -> str:
    label, tooltip = _node_label(node, opts, compact)
    attrs = [
        f"label={label}",
        f"fillcolor={quote(FAMILIES.get(node.family, FAMILIES['custom']))}",
        f"tooltip={quote(tooltip)}",
    ]
    if gid is not None:
        attrs.append(f"id={quote(gid)}")
    if node.role == "input":
        attrs += ["shape=ellipse", f"color={quote(_INPUT_COLOR)}", "penwidth=1.5"]
    elif node.role == "block":
        attrs += ["shape=box3d"]
    if node.family == "custom":
        attrs.append('style="rounded,filled,dashed"')
    if node.output:
        attrs += ["peripheries=2", f"color={quote(_OUTPUT_COLOR)}", "penwidth=1.5"]
    return f"{indent}{quote(node.id)} [{', '.join(attrs)}];"


def _rank(shape: Any) -> int | None:
    return len(shape) if isinstance(shape, tuple) else None


def is_dense(diagram: Diagram) -> bool:
    """Whether ``diagram`` has so many edges for its nodes that it is drawn with dot's iteration limits,
    straight edges and no edge labels (more than :data:`DENSE_EDGES`, and :data:`DENSE_PER_NODE` a node)."""
    edges = len(diagram.edges)
    return edges > DENSE_EDGES and edges > DENSE_PER_NODE * len(diagram.nodes)


def staggered_fan_in(diagram: Diagram) -> bool:
    """Whether a node is read by edges from :data:`STAGGERED_FAN_IN` or more different ranks (a Concatenate of
    every layer of a chain): dot's crossing and placement passes run away on such a graph, so it is laid out
    with them bounded."""
    rank = _ranks(diagram)
    spans: dict[str, set[int]] = {}
    for e in diagram.edges:
        if e.src in rank and e.dst in rank:
            spans.setdefault(e.dst, set()).add(rank[e.dst] - rank[e.src])
    return any(len(found) >= STAGGERED_FAN_IN for found in spans.values())


def _ranks(diagram: Diagram) -> dict[str, int]:
    """Each node's rank by longest path (nodes on a cycle, a shared layer's, keep rank 0)."""
    succ: dict[str, list[str]] = {nid: [] for nid in diagram.nodes}
    indeg = dict.fromkeys(diagram.nodes, 0)
    for e in diagram.edges:
        if e.src in succ and e.dst in indeg and e.src != e.dst:
            succ[e.src].append(e.dst)
            indeg[e.dst] += 1
    rank = dict.fromkeys(diagram.nodes, 0)
    ready = [nid for nid, n in indeg.items() if n == 0]
    while ready:
        nid = ready.pop()
        for dst in succ[nid]:
            rank[dst] = max(rank[dst], rank[nid] + 1)
            indeg[dst] -= 1
            if indeg[dst] == 0:
                ready.append(dst)
    return rank


def layout_size(diagram: Diagram) -> int:
    """About how many nodes graphviz's layout of ``diagram`` handles: the nodes, and one more for each rank
    an edge crosses (ranks by longest path; an edge label takes a rank of its own, so where labels may
    be drawn every edge counts twice), each rank's width squared / :data:`RANK_PAIRS_PER_NODE`, and the edges
    between each pair of ranks squared / :data:`RANK_EDGE_PAIRS_PER_NODE`."""
    rank = _ranks(diagram)
    scale = 1 if is_dense(diagram) else 2
    size = len(diagram.nodes)
    for e in diagram.edges:
        span = abs(rank.get(e.dst, 0) - rank.get(e.src, 0))
        size += max(scale * span - 1, 0)
    widths = Counter(rank.values())
    size += sum(w * w for w in widths.values()) // RANK_PAIRS_PER_NODE
    between = Counter((rank.get(e.src, 0), rank.get(e.dst, 0)) for e in diagram.edges)
    size += sum(n * n for n in between.values()) // RANK_EDGE_PAIRS_PER_NODE
    return size + converging_cost(diagram, rank) + cluster_cost(diagram)


def converging_cost(diagram: Diagram, rank: dict[str, int]) -> int:
    """What long edges meeting in one node add to :func:`layout_size`: for each node that two or more edges
    spanning over :data:`CONVERGING_SHORT` ranks reach, their number to the power 1.4 times the mean of what they
    span beyond those to the power 2.5, over :data:`CONVERGING_PER_NODE`.

    dot orders and places each such bundle of parallel chains of virtual nodes again and again. Measured as
    dot's CPU time on one 2-core machine for W edges of span L into one node beside a chain of L: W=45, L=200
    19 s; W=90, L=100 8.3 s; W=45, L=150 9.0 s; W=20, L=200 5.7 s; W=45, L=100 3.3 s; W=30, L=100 1.7 s
    (about 0.155 s x W**1.4 x L**2.5 / 10**6). Edges ending at different nodes (skip connections, a U-Net's)
    cost far less and add nothing here.
    """
    spans: dict[str, list[int]] = {}
    for e in diagram.edges:
        span = rank.get(e.dst, 0) - rank.get(e.src, 0) - CONVERGING_SHORT
        if span > 0:
            spans.setdefault(e.dst, []).append(span)
    cost = 0.0
    for reaching in spans.values():
        if len(reaching) > 1:
            cost += len(reaching) ** 1.4 * (sum(reaching) / len(reaching)) ** 2.5
    return int(cost / CONVERGING_PER_NODE)


def cluster_cost(diagram: Diagram) -> int:
    """What the boxes of block uses add to :func:`layout_size`: dot lays out each cluster against every node
    and the nodes of a cluster against each other, so (clusters x nodes + the sum of each cluster's nodes
    squared) / :data:`CLUSTER_PAIRS_PER_NODE`.

    Measured as dot's CPU time on one 2-core machine: a plain chain of 4,000 nodes 0.8 s; the same 4,000 nodes
    as 4,000 uses of a one-layer block 4.9 s, as one use of a 4,000-layer block 3.0 s; 9,500 uses of a
    one-layer block 29 s (run to the 60 s timeout); the 5,000-node ResNet-like benchmark model (713 block
    uses) 4.3 s.
    """
    if not diagram.clusters:
        return 0
    sizes = dict.fromkeys(diagram.clusters, 0)
    for node in diagram.nodes.values():
        cid = node.cluster
        depth = 0
        while cid is not None and cid in sizes and depth <= len(sizes):  # the node is inside each enclosing box
            sizes[cid] += 1
            cid = diagram.clusters[cid].parent
            depth += 1
    pairs = len(diagram.clusters) * len(diagram.nodes) + sum(n * n for n in sizes.values())
    return pairs // CLUSTER_PAIRS_PER_NODE


def check_layout_size(diagram: Diagram) -> None:
    """Refuse, before graphviz runs, a diagram whose :func:`layout_size` is over :data:`LAYOUT_LIMIT`.

    Raises:
        RenderError: The diagram is too large to lay out in seconds (the message says what to do instead).
    """
    edges = len(diagram.edges)
    if edges > EDGE_LIMIT:  # counted first: layout_size walks every edge
        raise RenderError(
            f"the diagram of {diagram.name!r} is too large for graphviz to lay out in seconds: "
            f"{len(diagram.nodes):,} nodes and {edges:,} edges (limit {EDGE_LIMIT:,} edges; a node reading one "
            "tensor several times has an edge for each); write DOT source instead (`-o NAME.dot`, "
            "format='dot'), which needs no layout, or draw blocks as single boxes (`--collapse` / "
            "`--collapse-depth N`, collapse_depth=N)"
        )
    size = layout_size(diagram)
    if size > LAYOUT_LIMIT:
        boxes = cluster_cost(diagram)
        raise RenderError(
            f"the diagram of {diagram.name!r} is too large for graphviz to lay out in seconds: "
            f"{len(diagram.nodes):,} nodes and {len(diagram.edges):,} edges, about {size:,} nodes to place "
            f"(limit {LAYOUT_LIMIT:,}; an edge adds one for every rank it crosses, a rank its width squared / "
            f"{RANK_PAIRS_PER_NODE:,}, the edges between two ranks their number squared / "
            f"{RANK_EDGE_PAIRS_PER_NODE:,}"
            + (f", and the boxes of block uses {boxes:,} of them" if boxes else "")
            + "); write DOT source instead "
            "(`-o NAME.dot`, format='dot'), which needs no layout, or draw blocks as single boxes "
            "(`--collapse` / `--collapse-depth N`, collapse_depth=N)"
        )


def _labelled_edges(diagram: Diagram, indeg: dict[str, int], compact: bool) -> int:
    """How many edges :func:`_edge_line` labels: those into a merge, the uses of a shared layer, and (in a
    diagram not compact) those where the rank changes or a block box begins or ends."""
    count = 0
    for edge in diagram.edges:
        src, dst = diagram.nodes[edge.src], diagram.nodes[edge.dst]
        if dst.uses > 1:
            count += 1
        elif edge.shape is not None:
            merge = indeg.get(edge.dst, 0) > 1 and dst.uses == 1
            changes = _rank(edge.shape) != _rank(dst.shape) or src.role == "block" or dst.role == "block"
            count += merge or (changes and not compact)
    return count


def _edge_line(
    edge: DEdge,
    diagram: Diagram,
    indeg: dict[str, int],
    opts: DotOptions,
    compact: bool,
    gid: str | None = None,
    dense: bool = False,
) -> str:
    src, dst = diagram.nodes[edge.src], diagram.nodes[edge.dst]
    attrs = []
    label = ""
    # a dense graph's labels would be unreadable, and each one is a node to lay out: none is written (nor worked
    # out: a shape of 250 axes written on each of 285,600 edges took 28 s)
    if opts.show_shapes and edge.shape is not None and not dense:
        merge = indeg.get(edge.dst, 0) > 1 and dst.uses == 1
        changes = _rank(edge.shape) != _rank(dst.shape) or src.role == "block" or dst.role == "block"
        if merge or (changes and not compact):
            label = _shape(edge.shape)
    if dst.uses > 1:
        if not dense:
            label = f"use {edge.use + 1}" + (f"\n{label}" if label else "")
        if edge.use > 0:
            attrs.append('style="dashed"')
    if label:
        # `label` (never `xlabel`): dot lays an edge label out as a node of its own, so labels never overlap
        attrs.insert(0, f"label={quote(label)}")
    if gid is not None:
        attrs.append(f"id={quote(gid)}")
    suffix = f" [{', '.join(attrs)}]" if attrs else ""
    return f"  {quote(edge.src)} -> {quote(edge.dst)}{suffix};"


def _emit_cluster(
    cluster: DCluster,
    index: dict[str, int],
    children: dict[str | None, list[DCluster]],
    members: dict[str | None, list[DNode]],
    opts: DotOptions,
    compact: bool,
    depth: int,
    out: list[str],
    node_ids: dict[str, str],
) -> None:
    ind = "  " * depth
    out.append(f"{ind}subgraph {quote(f'cluster_{index[cluster.id]}')} {{")
    style = "rounded" if cluster.kind == "model" else "rounded,dashed"
    label = clip(cluster.label, NAME_CHARS + LINE_CHARS) + (" (nested model)" if cluster.kind == "model" else "")
    gid = f" id={quote(f'nf-c{index[cluster.id]}')};" if opts.svg_ids else ""
    out.append(
        f'{ind}  label={quote(label)}; style={quote(style)}; color="#7f7f9f"; '
        f"fontsize=10; tooltip={quote(cluster.id)};{gid}"
    )
    for node in members.get(cluster.id, []):
        out.append(_node_line(node, opts, compact, ind + "  ", node_ids.get(node.id)))
    for child in children.get(cluster.id, []):
        _emit_cluster(child, index, children, members, opts, compact, depth + 1, out, node_ids)
    out.append(f"{ind}}}")


def to_dot(diagram: Diagram, options: DotOptions | None = None) -> str:
    """DOT source for ``diagram``.

    Args:
        diagram: The diagram graph.
        options: Drawing options (defaults: top to bottom, shapes and params shown).

    Returns:
        The DOT text, ready for ``dot -Tsvg``.

    Example::

        text = to_dot(diagram_from_spec(spec), DotOptions(direction="LR"))
    """
    opts = options or DotOptions()
    compact = len(diagram.nodes) > COMPACT_ABOVE
    big = len(diagram.nodes) > 100
    dense = is_dense(diagram)
    title = f"{diagram.name} ({diagram.kind})"
    graph_attrs = [
        f"rankdir={opts.direction}",
        f"label={quote(title)}",
        "labelloc=t",
        f"fontname={quote(_FONT)}",
        "fontsize=14",
        f"nodesep={0.2 if compact else 0.3}",
        f"ranksep={0.3 if compact else 0.4}",
        'splines="true"',
        f"tooltip={quote(title)}",
    ]
    if big:
        # fewer crossing-minimisation passes: layouts of hundreds of nodes stay well under a second
        graph_attrs += ["mclimit=0.5", "nslimit=2", "remincross=false"]
    if not dense and staggered_fan_in(diagram):
        # dot's passes bounded (edges and labels kept): a chain of 85 layers all read by one Concatenate took dot
        # 39 s of CPU (60 layers 2.1 s, 95 past its timeout); bounded, 1.3 s
        graph_attrs = [a for a in graph_attrs if not a.startswith(("mclimit=", "nslimit=", "remincross="))]
        graph_attrs += ["mclimit=0.1", "nslimit=1", "nslimit1=1", "searchsize=5", "remincross=false"]
    if dense:
        # edges straight and dot's passes bounded: the 782-edge graph above lays out in about 1.5 s of CPU
        graph_attrs = [a for a in graph_attrs if not a.startswith(("splines=", "mclimit=", "nslimit="))]
        graph_attrs += ["splines=line", "mclimit=0.1", "nslimit=1", "nslimit1=1", "searchsize=5"]
        if "remincross=false" not in graph_attrs:
            graph_attrs.append("remincross=false")
    out = [
        f"digraph {quote(diagram.name)} {{",
        f"  graph [{', '.join(graph_attrs)}];",
        f'  node [shape=box, style="rounded,filled", fontname={quote(_FONT)}, fontsize=11, '
        f'color="#555555", margin="0.12,0.04"];',
        f'  edge [fontname={quote(_FONT)}, fontsize=9, color="#555555", arrowsize=0.7];',
    ]
    members: dict[str | None, list[DNode]] = {}
    for node in diagram.nodes.values():
        members.setdefault(node.cluster, []).append(node)
    children: dict[str | None, list[DCluster]] = {}
    for cluster in diagram.clusters.values():
        children.setdefault(cluster.parent, []).append(cluster)
    index = {cid: i for i, cid in enumerate(diagram.clusters)}
    node_ids = {nid: f"nf-n{i}" for i, nid in enumerate(diagram.nodes)} if opts.svg_ids else {}
    for node in members.get(None, []):
        out.append(_node_line(node, opts, compact, "  ", node_ids.get(node.id)))
    for cluster in children.get(None, []):
        _emit_cluster(cluster, index, children, members, opts, compact, 1, out, node_ids)
    indeg = dict(diagram.in_degree())
    size = sum(len(line) + 1 for line in out)
    if size > DOT_TEXT_LIMIT:
        _over_text(diagram, size)
    # a graph with many labelled edges is drawn without edge labels (as a dense one): dot places each label as
    # a node of its own, and a 3,000-node residual ladder (1,500 labelled merges) took 27 s of dot's CPU and ran
    # to the timeout, where without them it takes a few seconds; the shapes stay in the tooltips
    bare = dense or _labelled_edges(diagram, indeg, compact) > EDGE_LABEL_LIMIT
    for i, e in enumerate(diagram.edges):
        line = _edge_line(e, diagram, indeg, opts, compact, f"nf-e{i}" if opts.svg_ids else None, bare)
        size += len(line) + 1
        if size > DOT_TEXT_LIMIT:
            _over_text(diagram, size)
        out.append(line)
    if opts.legend:
        out += _legend(diagram)
    for i, note in enumerate(diagram.notes):
        out.append(
            f"  {quote(f'__note_{i}')} [label={quote('Note: ' + note)}, "
            'shape=note, style="filled", fillcolor="#fffbe6", fontsize=9];'
        )
    out.append("}")
    return "\n".join(out) + "\n"


def _over_text(diagram: Diagram, size: int) -> NoReturn:
    raise RenderError(
        f"the diagram of {diagram.name!r} ({len(diagram.nodes):,} nodes and {len(diagram.edges):,} edges) makes "
        f"more than {DOT_TEXT_LIMIT:,} characters of DOT text ({size:,} by here): draw blocks as single boxes "
        "(`--collapse` / `--collapse-depth N`, collapse_depth=N), or give nodes fewer inputs"
    )


def legend_entries(diagram: Diagram) -> list[str]:
    """What the legend lists: the families present, then ``output``, ``collapsed block`` and ``shared use``
    when the diagram has them (and nothing it does not use)."""
    entries = list(diagram.families())
    if any(n.output for n in diagram.nodes.values()):
        entries.append("output")
    if any(n.role == "block" for n in diagram.nodes.values()):
        entries.append("collapsed block")
    if any(diagram.nodes[e.dst].uses > 1 for e in diagram.edges):
        entries.append("shared use")
    return entries


def _legend(diagram: Diagram) -> list[str]:
    entries = legend_entries(diagram)
    if not entries:
        return []
    lines = ['  subgraph "cluster_legend" {', '    label="Legend"; style="rounded"; color="#bbbbbb"; fontsize=10;']
    ids = []
    for entry in entries:
        nid = f"__legend_{entry.replace(' ', '_')}"
        ids.append(quote(nid))
        if entry in FAMILIES:
            shape = "ellipse" if entry == "input" else "box"
            extra = ', style="rounded,filled,dashed"' if entry == "custom" else ""
            lines.append(
                f"    {quote(nid)} [label={quote(entry)}, shape={shape}, fillcolor={quote(FAMILIES[entry])}, "
                f"fontsize=9, height=0.25{extra}];"
            )
        elif entry == "output":
            lines.append(
                f'    {quote(nid)} [label="model output", peripheries=2, color={quote(_OUTPUT_COLOR)}, '
                'fillcolor="#ffffff", fontsize=9, height=0.25];'
            )
        elif entry == "collapsed block":
            lines.append(
                f'    {quote(nid)} [label="collapsed block", shape=box3d, '
                f"fillcolor={quote(FAMILIES['block'])}, fontsize=9, height=0.25];"
            )
        else:
            lines.append(
                f'    {quote(nid)} [label="shared layer: one box,\\nan edge per use\\n(use 2+ dashed)", '
                'shape=plaintext, style="", fontsize=9, height=0.25];'
            )
    if len(ids) > 1:
        lines.append(f"    {' -> '.join(ids)} [style=invis];")
    lines.append("  }")
    return lines
