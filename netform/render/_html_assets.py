"""The style sheet and script of the interactive HTML diagram (hand-written, no library).

The script reads the JSON data block ``#nf-data`` (see :func:`._html.diagram_data`) and
the SVG graphviz made, whose node, cluster and edge groups carry the ids ``nf-n<i>``,
``nf-c<i>`` and ``nf-e<i>`` (positions in that data). It never fetches anything and
builds the panel with ``textContent`` only (configuration text is never parsed as HTML).
"""

from __future__ import annotations

__all__ = ["CSS", "JS"]

CSS = """
html, body { margin: 0; height: 100%; font: 13px Helvetica, Arial, sans-serif; color: #222; }
body { display: flex; flex-direction: column; }
header { display: flex; gap: 8px; align-items: center; padding: 6px 10px; border-bottom: 1px solid #ccc;
  background: #f7f7fb; flex-wrap: wrap; }
header input { width: 240px; padding: 3px 6px; }
header button { padding: 2px 8px; cursor: pointer; }
.nf-hint { color: #777; font-size: 11px; }
#nf-count { color: #555; min-width: 44px; }
main { flex: 1; display: flex; min-height: 0; }
#nf-view { flex: 1; overflow: hidden; cursor: grab; background: #fff; }
#nf-view.nf-dragging { cursor: grabbing; }
#nf-view svg { width: 100%; height: 100%; display: block; user-select: none; }
#nf-panel { width: 340px; overflow: auto; border-left: 1px solid #ccc; padding: 8px 12px; background: #fcfcfe; }
#nf-panel h2 { font-size: 15px; margin: 4px 0 8px; word-break: break-all; }
#nf-panel dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 10px; margin: 0 0 10px; }
#nf-panel dt { color: #666; }
#nf-panel dd { margin: 0; word-break: break-all; }
#nf-panel pre { background: #f0f0f5; padding: 6px; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.nf-empty { color: #777; }
g.node, g.cluster[id^="nf-c"] { cursor: pointer; }
g.cluster[id^="nf-c"] path, g.cluster[id^="nf-c"] polygon { pointer-events: all; }
g.nf-hit path, g.nf-hit polygon, g.nf-hit ellipse { stroke: #e69138; stroke-width: 3px; }
g.nf-current path, g.nf-current polygon, g.nf-current ellipse { stroke: #cc0000; stroke-width: 4px; }
g.nf-selected path, g.nf-selected polygon, g.nf-selected ellipse { stroke: #1155cc; stroke-width: 3px; }
g.nf-collapsed > g > a > path, g.nf-collapsed > g > a > polygon { stroke-width: 1.5px; }
"""

JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nf-data").textContent);
  var svg = document.querySelector("#nf-view svg");
  var view = document.getElementById("nf-view");
  var graph = svg.querySelector("g.graph");
  var NS = svg.namespaceURI;
  var nodes = data.nodes, clusters = data.clusters, edges = data.edges;
  var home = svg.viewBox.baseVal;
  var vb = {x: home.x, y: home.y, w: home.width, h: home.height};
  var full = {x: vb.x, y: vb.y, w: vb.w, h: vb.h};
  svg.removeAttribute("width");
  svg.removeAttribute("height");

  function el(prefix, i) { return document.getElementById(prefix + i); }
  function apply() { svg.setAttribute("viewBox", [vb.x, vb.y, vb.w, vb.h].join(" ")); }
  function fit() { vb = {x: full.x, y: full.y, w: full.w, h: full.h}; apply(); }
  function toSvg(cx, cy) {
    var p = svg.createSVGPoint(); p.x = cx; p.y = cy;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoom(factor, cx, cy) {
    var r = svg.getBoundingClientRect();
    if (cx === undefined) { cx = r.left + r.width / 2; cy = r.top + r.height / 2; }
    var p = toSvg(cx, cy);
    vb.x = p.x - (p.x - vb.x) * factor; vb.y = p.y - (p.y - vb.y) * factor;
    vb.w *= factor; vb.h *= factor; apply();
  }

  // ---- collapse and expand ------------------------------------------------------------
  function ancestors(ci) { var out = []; var p = clusters[ci].parent; while (p !== null) { out.push(p); p = clusters[p].parent; } return out; }
  function ownerOfCluster(ci) {  // the outermost collapsed cluster enclosing ci (ci included), or null
    var chain = [ci].concat(ancestors(ci)), owner = null;
    chain.forEach(function (c) { if (clusters[c].collapsed) owner = c; });
    return owner;
  }
  function ownerOfNode(ni) { var c = nodes[ni].cluster; return c === null ? null : ownerOfCluster(c); }
  function svgText(parent, x, y, text, size, bold) {
    var t = document.createElementNS(NS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("text-anchor", "middle");
    t.setAttribute("font-family", "Helvetica,sans-Serif"); t.setAttribute("font-size", size);
    if (bold) t.setAttribute("font-weight", "bold");
    t.textContent = text; parent.appendChild(t); return t;
  }
  function boxLines(c) {
    var lines = [[c.id, 12, true], [c.block + (c.kind === "model" ? " (nested model)" : ""), 10, false]];
    if (c.argsText) lines.push([c.argsText, 10, false]);
    var bits = [];
    if (c.outputs.length) bits.push(c.outputs.join(", "));
    bits.push(c.params === null ? "? params" : c.params.toLocaleString("en-US") + " params");
    lines.push([bits.join(" · "), 10, false]);
    return lines;
  }
  function drawCollapsed(ci, on, b) {  // b: the block's bounding box, read before any change (one layout)
    var c = clusters[ci], g = el("nf-c", ci);
    if (!g) return;
    var shape = g.querySelector("path, polygon"), label = g.querySelector("text:not(.nf-box)");
    var old = g.querySelector("g.nf-boxlabel");
    if (old) old.parentNode.removeChild(old);
    if (on) {
      if (!c.marker) { c.marker = document.createComment("nf-c" + ci); g.parentNode.insertBefore(c.marker, g); }
      graph.appendChild(g);  // on top: the box covers what it holds
      g.classList.add("nf-collapsed");
      shape.style.fill = data.colors[c.kind] || data.colors.block;
      if (label) label.style.display = "none";
      var lines = boxLines(c), group = document.createElementNS(NS, "g");
      group.setAttribute("class", "nf-boxlabel");
      var y = b.y + b.height / 2 - (lines.length - 1) * 7;
      lines.forEach(function (l) { svgText(group, b.x + b.width / 2, y + 4, l[0], l[1], l[2]).classList.add("nf-box"); y += 14; });
      g.appendChild(group);
    } else {
      if (c.marker) { c.marker.parentNode.insertBefore(g, c.marker); }
      g.classList.remove("nf-collapsed");
      shape.style.fill = "";
      if (label) label.style.display = "";
    }
  }
  function refresh() {
    var changed = [];
    clusters.forEach(function (c, ci) {
      var g = el("nf-c", ci); if (!g) return;
      var hidden = ancestors(ci).some(function (a) { return clusters[a].collapsed; });
      g.style.display = hidden ? "none" : "";
      var want = c.collapsed && !hidden;
      if (c.drawn !== want) changed.push([ci, want]);  // only blocks whose state changed are redrawn
    });
    // read every box first, then change the drawing: one layout, not one per block
    changed.forEach(function (x) { x.push(x[1] ? el("nf-c", x[0]).querySelector("path, polygon").getBBox() : null); });
    changed.forEach(function (x) { drawCollapsed(x[0], x[1], x[2]); clusters[x[0]].drawn = x[1]; });
    nodes.forEach(function (n, ni) { var g = el("nf-n", ni); if (g) g.style.display = ownerOfNode(ni) === null ? "" : "none"; });
    edges.forEach(function (e, ei) {
      var g = el("nf-e", ei); if (!g) return;
      var a = ownerOfNode(e.src), b = ownerOfNode(e.dst);
      g.style.display = a !== null && a === b ? "none" : "";
    });
  }
  function toggle(ci) { clusters[ci].collapsed = !clusters[ci].collapsed; refresh(); }
  function setAll(on) { clusters.forEach(function (c) { c.collapsed = on; }); refresh(); }

  // ---- the panel ----------------------------------------------------------------------
  var panel = document.getElementById("nf-panel");
  function row(dl, key, value) {
    var dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = key; dd.textContent = value; dd.setAttribute("data-key", key);
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function pre(title, obj) {
    var h = document.createElement("h3"); h.textContent = title; h.style.fontSize = "13px";
    var p = document.createElement("pre"); p.textContent = JSON.stringify(obj, null, 2);
    p.setAttribute("data-key", title); panel.appendChild(h); panel.appendChild(p);
  }
  function count(n) { return n === null ? "unknown" : n.toLocaleString("en-US"); }
  function select(g) {
    Array.prototype.forEach.call(svg.querySelectorAll(".nf-selected"), function (x) { x.classList.remove("nf-selected"); });
    if (g) g.classList.add("nf-selected");
  }
  function showNode(ni) {
    var n = nodes[ni];
    panel.textContent = "";
    var h = document.createElement("h2"); h.textContent = n.id; panel.appendChild(h);
    var dl = document.createElement("dl"); panel.appendChild(dl);
    row(dl, "type", n.type); row(dl, "family", n.family);
    row(dl, "output shape", n.shape === null ? "unknown" : n.shape);
    if (n.inputs.length) row(dl, "input shapes", n.inputs.map(function (s) { return s === null ? "?" : s; }).join("; "));
    if (n.role !== "input") row(dl, "params", count(n.params));
    if (n.uses > 1) row(dl, "uses", n.uses + " (shared layer)");
    if (n.cluster !== null) row(dl, "in block", clusters[n.cluster].id);
    if (n.output) row(dl, "model output", "yes");
    if (n.role === "block") pre("block parameters", n.args);
    if (n.role !== "input") pre("configuration", n.config);
    panel.setAttribute("data-selected", n.id);
    select(el("nf-n", ni));
  }
  function showCluster(ci) {
    var c = clusters[ci];
    panel.textContent = "";
    var h = document.createElement("h2"); h.textContent = c.id; panel.appendChild(h);
    var dl = document.createElement("dl"); panel.appendChild(dl);
    row(dl, "block", c.block + (c.kind === "model" ? " (nested model)" : ""));
    row(dl, "state", c.collapsed ? "collapsed (click to expand)" : "expanded (click to collapse)");
    row(dl, "output shape", c.outputs.join("; ") || "unknown");
    row(dl, "params", count(c.params));
    row(dl, "layers", String(c.members.length));
    pre("block parameters", c.args);
    panel.setAttribute("data-selected", c.id);
  }

  // ---- search -------------------------------------------------------------------------
  var search = document.getElementById("nf-search"), counter = document.getElementById("nf-count");
  var hits = [], current = -1, fresh = true;  // fresh: Enter shows the first match, then steps on
  function mark() {
    Array.prototype.forEach.call(svg.querySelectorAll(".nf-hit, .nf-current"), function (x) {
      x.classList.remove("nf-hit"); x.classList.remove("nf-current");
    });
    hits.forEach(function (ni, k) {
      var owner = ownerOfNode(ni), g = owner === null ? el("nf-n", ni) : el("nf-c", owner);
      if (g) g.classList.add(k === current ? "nf-current" : "nf-hit");
    });
    counter.textContent = search.value ? (hits.length ? (current + 1) + "/" + hits.length : "none") : "";
  }
  function find() {
    var q = search.value.trim().toLowerCase();
    hits = [];
    if (q) nodes.forEach(function (n, ni) { if (n.id.toLowerCase().indexOf(q) >= 0) hits.push(ni); });
    current = hits.length ? 0 : -1; fresh = true; mark();
  }
  function focusNode(ni) {
    var c = nodes[ni].cluster;
    if (c !== null) [c].concat(ancestors(c)).forEach(function (a) { clusters[a].collapsed = false; });
    refresh(); mark();
    var g = el("nf-n", ni), r = g.getBoundingClientRect(), p = toSvg(r.left + r.width / 2, r.top + r.height / 2);
    var box = svg.getBoundingClientRect();  // natural size (one unit a pixel) around the node, or closer
    var k = Math.min(1, vb.w / box.width, vb.h / box.height);
    vb.w = box.width * k; vb.h = box.height * k; vb.x = p.x - vb.w / 2; vb.y = p.y - vb.h / 2; apply();
    showNode(ni);
  }
  search.addEventListener("input", find);
  search.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || !hits.length) return;
    ev.preventDefault();
    current = fresh ? 0 : (current + 1) % hits.length; fresh = false;
    focusNode(hits[current]);
  });

  // ---- pan, zoom and clicks ---------------------------------------------------------------
  var drag = null, moved = false;
  svg.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    drag = {x: ev.clientX, y: ev.clientY, vx: vb.x, vy: vb.y, k: 1 / svg.getScreenCTM().a}; moved = false;
    view.classList.add("nf-dragging");
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
    vb.x = drag.vx - dx * drag.k; vb.y = drag.vy - dy * drag.k; apply();
  });
  window.addEventListener("mouseup", function () { drag = null; view.classList.remove("nf-dragging"); });
  svg.addEventListener("wheel", function (ev) { ev.preventDefault(); zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX, ev.clientY); },
                       {passive: false});
  svg.addEventListener("click", function (ev) {
    if (moved) { moved = false; return; }
    var g = ev.target.closest("g.node, g.cluster");
    if (!g || !/^nf-[nc]\d+$/.test(g.id)) return;
    var i = parseInt(g.id.slice(4), 10);
    if (g.id.charAt(3) === "n") { showNode(i); return; }
    toggle(i); mark(); showCluster(i); select(null);
  });
  document.getElementById("nf-zoom-in").addEventListener("click", function () { zoom(1 / 1.25); });
  document.getElementById("nf-zoom-out").addEventListener("click", function () { zoom(1.25); });
  document.getElementById("nf-fit").addEventListener("click", fit);
  document.getElementById("nf-expand").addEventListener("click", function () { setAll(false); mark(); });
  document.getElementById("nf-collapse").addEventListener("click", function () { setAll(true); mark(); });

  refresh(); fit();
  document.body.setAttribute("data-ready", "1");
})();
"""
