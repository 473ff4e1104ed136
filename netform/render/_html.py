"""An interactive diagram: one self-contained HTML file (graphviz's SVG inline plus a little JS and CSS).

The page loads nothing: no network, no CDN, no other file. A Content-Security-Policy
``default-src 'none'`` forbids every fetch; the one script and the one style sheet are
allowed by their SHA-256 hashes. The diagram data (every node's configuration, shapes
and parameters, every block's members) travels as a JSON data block.

What the page does (see :mod:`._html_assets` for the script):

* pan (drag) and zoom (wheel, or the + / − / fit buttons);
* search by node name: matches highlighted, Enter steps through them, the view
  centres on the current one (a collapsed block holding it opens);
* a click on a block collapses it to one box (name, block, parameters, parameter
  count) or expands it again; blocks deeper than ``collapse_depth`` start collapsed;
* a click on a node or block shows its configuration, input and output
  shapes and parameters in the side panel.

What the page quotes is bounded (:mod:`._bounded`): each value at most a few hundred characters, each
node's configuration about 4,000, with marks saying how much was left out; a page past
:data:`HTML_PAGE_LIMIT` is refused before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any, NoReturn

from ..errors import RenderError
from ._bounded import CONFIG_CHARS, VALUE_CHARS, bounded, shape_text
from ._diagram import FAMILIES, Diagram, depth_of
from ._dot import DotOptions, block_arguments, check_layout_size, html_escape, key_attributes, to_dot
from ._graphviz import layout, write_atomic
from ._html_assets import CSS, JS

__all__ = ["write_html", "html_page", "HTML_PAGE_LIMIT"]

# The most characters of a page (its SVG, its data and its script): the DOT text is bounded at 32 MiB and
# graphviz's SVG is about twice it; a 5,000-node ResNet-like model makes an 8 MB page. The data is checked
# before graphviz runs, the whole page before anything is written.
HTML_PAGE_LIMIT = 64 * 2**20
# The most characters of a node's output shape in the data (a list of outputs shows its first ones, then
# ``… and N more``); an input or edge shape, one tensor's, is cut at VALUE_CHARS.
_SHAPE_CHARS = 2_000
# The most input shapes listed for one node, or output shapes for one block (then a count of the rest).
_SHAPES_LISTED = 100


def _shape(shape: Any, limit: int = VALUE_CHARS) -> str | None:
    return None if shape is None else shape_text(shape, limit)


def _shapes(shapes: list[Any]) -> list[str | None]:
    listed: list[str | None] = [_shape(s) for s in shapes[:_SHAPES_LISTED]]
    if len(shapes) > _SHAPES_LISTED:
        listed.append(f"… and {len(shapes) - _SHAPES_LISTED:,} more")
    return listed


def diagram_data(diagram: Diagram, collapse_depth: int | None) -> dict[str, Any]:
    """What the page's script needs: nodes, clusters and edges, indexed as the SVG ids (``nf-n3``, ``nf-c0``)."""
    node_index = {nid: i for i, nid in enumerate(diagram.nodes)}
    cluster_index = {cid: i for i, cid in enumerate(diagram.clusters)}
    inputs: dict[str, list[Any]] = {}
    for e in diagram.edges:
        inputs.setdefault(e.dst, []).append(e.shape)
    nodes = []
    for n in diagram.nodes.values():
        nodes.append(
            {
                "id": n.id,
                "name": n.name,
                "type": n.type,
                "family": n.family,
                "role": n.role,
                "shape": _shape(n.shape, _SHAPE_CHARS),
                "inputs": _shapes(inputs.get(n.id, [])),
                "params": n.params,
                "uses": n.uses,
                "output": n.output,
                "cluster": cluster_index.get(n.cluster) if n.cluster else None,
                "config": bounded(n.config, CONFIG_CHARS),
                "args": bounded(n.args, CONFIG_CHARS),
                "key": key_attributes(n.config),
            }
        )
    members: dict[str, list[int]] = {cid: [] for cid in diagram.clusters}
    for n in diagram.nodes.values():
        cid = n.cluster
        while cid is not None:
            members[cid].append(node_index[n.id])
            cid = diagram.clusters[cid].parent
    clusters = []
    for c in diagram.clusters.values():
        params: int | None = 0
        for i in members[c.id]:
            p = nodes[i]["params"]
            params = None if params is None or p is None else params + p
        depth = depth_of(diagram, c.id)
        clusters.append(
            {
                "id": c.id,
                "label": c.label,
                "block": c.block,
                "kind": c.kind,
                "depth": depth,
                "parent": cluster_index.get(c.parent) if c.parent else None,
                "members": members[c.id],
                "args": bounded(c.args, CONFIG_CHARS),
                "argsText": block_arguments(c.args),
                "params": params,
                "outputs": _shapes([diagram.nodes[o].shape for o in c.outputs if o in diagram.nodes]),
                "collapsed": collapse_depth is not None and depth > collapse_depth,
            }
        )
    edges = [{"src": node_index[e.src], "dst": node_index[e.dst], "shape": _shape(e.shape)} for e in diagram.edges]
    return {
        "name": diagram.name,
        "kind": diagram.kind,
        "nodes": nodes,
        "clusters": clusters,
        "edges": edges,
        "colors": {"block": FAMILIES["block"], "model": FAMILIES["model"]},
        "notes": list(diagram.notes),
    }


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG document as an element for an HTML page: no XML prolog, doctype, comments or
    namespace declarations (the HTML parser puts inline ``<svg>`` in the SVG namespace by itself)."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _COMMENT.sub("", svg)
    return _XMLNS.sub("", svg)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def html_page(
    diagram: Diagram,
    options: DotOptions | None = None,
    *,
    collapse_depth: int | None = None,
    timeout: float | None = None,
) -> str:
    """The interactive page of ``diagram`` as HTML text (graphviz lays the diagram out).

    Args:
        diagram: An expanded diagram (every block a cluster).
        options: Drawing options; ``svg_ids`` is turned on.
        collapse_depth: Blocks nested deeper than this start collapsed (None: all expanded).
        timeout: Seconds graphviz may take to lay the diagram out (None: the default, 60).

    Returns:
        The HTML document: one file, no external resource.

    Raises:
        RenderError: graphviz is missing, fails or runs past ``timeout``, the diagram is too
            large to lay out (:func:`~._dot.check_layout_size`), or the page would be longer than
            :data:`HTML_PAGE_LIMIT` (its data is measured before graphviz runs).
    """
    check_layout_size(diagram)
    opts = options or DotOptions()
    opts = DotOptions(opts.direction, opts.show_shapes, opts.show_params, opts.legend, opts.details, svg_ids=True)
    data = json.dumps(diagram_data(diagram, collapse_depth), ensure_ascii=True, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # a data block ends at the first </script
    if len(data) > HTML_PAGE_LIMIT:
        _over_page(diagram, len(data))
    svg = _inline_svg(layout(to_dot(diagram, opts), "svg", timeout).decode("utf-8"))
    if len(data) + len(svg) > HTML_PAGE_LIMIT:
        _over_page(diagram, len(data) + len(svg))
    title = html_escape(f"{diagram.name} ({diagram.kind})")
    csp = f"default-src 'none'; script-src {_sha256(JS)}; style-src {_sha256(CSS)}; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        "<header><strong>" + title + "</strong>"
        '<input id="nf-search" type="search" placeholder="search node name (Enter: next)" '
        'autocomplete="off" aria-label="search node name"><span id="nf-count"></span>'
        '<button id="nf-zoom-in" title="zoom in">+</button><button id="nf-zoom-out" title="zoom out">−</button>'
        '<button id="nf-fit" title="fit the diagram">fit</button>'
        '<button id="nf-expand" title="expand every block">expand all</button>'
        '<button id="nf-collapse" title="collapse every top-level block">collapse all</button>'
        '<span class="nf-hint">drag to pan · wheel to zoom · click a block to collapse or expand it, '
        "a node for its details</span></header>\n"
        f'<main><div id="nf-view">{svg}</div>\n'
        '<aside id="nf-panel"><p class="nf-empty">Click a node or a block to see its configuration, '
        "shapes and parameters.</p></aside></main>\n"
        f'<script type="application/json" id="nf-data">{data}</script>\n'
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )


def _over_page(diagram: Diagram, size: int) -> NoReturn:
    raise RenderError(
        f"the interactive page of {diagram.name!r} ({len(diagram.nodes):,} nodes and {len(diagram.edges):,} "
        f"edges) makes more than {HTML_PAGE_LIMIT:,} characters ({size:,} by here); nothing was written: "
        "write a picture or DOT source instead (`-o NAME.svg`, `-o NAME.dot`), which carries no configuration "
        "data, or draw a smaller part of the model"
    )


def write_html(
    diagram: Diagram,
    path: Path,
    options: DotOptions | None = None,
    *,
    collapse_depth: int | None = None,
    timeout: float | None = None,
) -> None:
    """Write :func:`html_page` of ``diagram`` to ``path`` (atomically).

    Raises:
        RenderError: graphviz is missing, fails or runs past ``timeout``, the diagram is too large
            to lay out, or the file cannot be written.
    """
    page = html_page(diagram, options, collapse_depth=collapse_depth, timeout=timeout)
    try:
        write_atomic(path, page.encode("utf-8"))
    except OSError as err:
        raise RenderError(f"cannot write the diagram to {path}: {err.strerror or err}") from err
