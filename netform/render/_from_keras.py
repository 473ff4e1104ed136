"""A Keras model (Sequential, Functional or subclassed) as a :class:`Diagram`.

Functional graphs are walked node by node (``_nodes_by_depth``), so a shared
layer is one box with an edge per call and a nested model is a cluster whose
inner layers connect straight to the outer tensors, exactly as a spec's
nested block is drawn. A subclassed model has no graph: its layers are drawn
as a chain in attribute order, with a note saying so.
"""

from __future__ import annotations

import re
from typing import Any

from ._diagram import DCluster, Diagram, DNode, family_of

__all__ = ["diagram_from_keras", "is_keras_model"]

_STEM_RE = re.compile(r"^(.*?)[._](\d+)$")
_REPEAT_RE = re.compile(r"^(.*)\.(\d+)$")
Endpoint = tuple[str, Any]  # (diagram node id, tensor shape)


def is_keras_model(obj: Any) -> bool:
    """Whether ``obj`` is a Keras model, without importing Keras when nothing has."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def _graph_of(model: Any) -> Any:
    """The Functional graph behind a model, or None (a subclassed or unbuilt model)."""
    import keras

    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_operations"):
        return model
    return None


def _flat(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [t for v in x.values() for t in _flat(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat(v)]
    return [x]


def _shape(t: Any) -> tuple[int | None, ...]:
    return tuple(t.shape)


def _params(layer: Any) -> int | None:
    count = getattr(layer, "count_params", None)
    if count is None:
        return 0  # a raw operation (``x + y``) owns no weights
    try:
        return int(count())
    except Exception:  # an unbuilt layer cannot count its weights
        return None


def _join(prefix: str, name: str) -> str:
    if not prefix or name.startswith(prefix + "."):
        return name
    return f"{prefix}.{name}"


def diagram_from_keras(model: Any) -> Diagram:
    """The diagram of a Keras model.

    Args:
        model: A ``keras.Model`` of any of the three kinds.

    Returns:
        The diagram graph; node ids are layer names, prefixed with the names
        of the nested models holding them (``block.conv``).
    """
    import keras

    graph = _graph_of(model)
    if isinstance(model, keras.Sequential):
        kind = "sequential"
    elif graph is not None:
        kind = "functional"
    else:
        kind = "subclass"
    diagram = Diagram(model.name, kind)
    if graph is None:
        _chain(diagram, model)
        return diagram
    env: dict[int, Endpoint] = {}
    for t in _flat(graph.inputs):
        name = t._keras_history[0].name
        diagram.nodes[name] = DNode(name, name, "InputLayer", "input", _shape(t), 0, role="input")
        env[id(t)] = (name, _shape(t))
    _walk(diagram, graph, env, "", None)
    for t in _flat(graph.outputs):
        if id(t) in env:
            diagram.nodes[env[id(t)][0]].output = True
    _cluster_outputs(diagram)
    return diagram


def _dotted_scope(diagram: Diagram, nid: str, prefix: str, cluster: str | None) -> tuple[str | None, str]:
    """The cluster and shown name of a layer named ``block.2.conv``: netform names the layers of a
    block expanded in place after the block use (``block``) and repeat (``2``), so clusters come back.

    Returns:
        ``(cluster id, local name)``.
    """
    rest = nid[len(prefix) + 1:] if prefix else nid
    parts = rest.split(".")
    scopes: list[str] = []
    for part in parts[:-1]:
        if part.isdigit() and scopes:
            scopes[-1] += "." + part  # a repeat index belongs to its block use
        else:
            scopes.append(part)
    where = cluster
    full = prefix
    for i, sc in enumerate(scopes):
        full = f"{full}.{sc}" if full else sc
        if full not in diagram.clusters:
            m = _REPEAT_RE.match(sc)
            diagram.clusters[full] = DCluster(full, sc, where, "block", m.group(1) if m else "", "")
        where = full
    return where, parts[-1]


def _cluster_outputs(diagram: Diagram) -> None:
    """Fill in the outputs of clusters recovered from names: members feeding something outside."""
    chains: dict[str, set[str]] = {}
    for n in diagram.nodes.values():
        chain, c = set(), n.cluster
        while c is not None:
            chain.add(c)
            c = diagram.clusters[c].parent
        chains[n.id] = chain
    found: dict[str, list[str]] = {}
    for n in diagram.nodes.values():
        if n.output:
            for c in chains[n.id]:
                found.setdefault(c, []).append(n.id)
    for e in diagram.edges:
        for c in chains[e.src] - chains[e.dst]:
            if e.src not in found.setdefault(c, []):
                found[c].append(e.src)
    for cid, cluster in diagram.clusters.items():
        if not cluster.outputs:
            cluster.outputs = tuple(found.get(cid, ()))


def _call_index(node: Any) -> int:
    """Which call of its layer a graph node is, so a shared layer's uses are numbered in call order."""
    inbound = getattr(node.operation, "_inbound_nodes", [])
    return next((i for i, n in enumerate(inbound) if n is node), 0)


def _walk(diagram: Diagram, graph: Any, env: dict[int, Endpoint], prefix: str, cluster: str | None) -> None:
    import keras

    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in sorted(graph._nodes_by_depth[depth], key=_call_index):
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                continue  # its tensor is already mapped to the outer producer
            ins = [env[id(t)] for t in node.arguments.keras_tensors if id(t) in env]
            inner = _graph_of(op) if isinstance(op, keras.Model) else None
            if inner is not None:
                _nested(diagram, op, inner, node, ins, env, prefix, cluster)
                continue
            nid = _join(prefix, op.name)
            existing = diagram.nodes.get(nid)
            if existing is not None:
                existing.uses += 1
            else:
                outs = [_shape(t) for t in node.outputs]
                type_name = type(op).__name__
                where, local = _dotted_scope(diagram, nid, prefix, cluster)
                diagram.nodes[nid] = DNode(nid, local, type_name, family_of(type_name),
                                           outs[0] if len(outs) == 1 else outs, _params(op), where,
                                           config=_config(op))
            for src, shape in ins:
                diagram.add_edge(src, nid, shape)
            for t in node.outputs:
                env[id(t)] = (nid, _shape(t))


def _config(layer: Any) -> dict[str, Any]:
    """The layer's Keras config without its name (shown already), ``{}`` for a raw op or a failing get_config."""
    get = getattr(layer, "get_config", None)
    if get is None:
        return {}
    try:
        config = dict(get())
    except Exception:  # a custom layer without a working get_config: drawn without details
        return {}
    config.pop("name", None)
    return config


def _nested(diagram: Diagram, model: Any, inner: Any, node: Any, ins: list[Endpoint], env: dict[int, Endpoint],
            prefix: str, cluster: str | None) -> None:
    """Draw a call of a nested model: a cluster (once), inner layers wired to this call's tensors."""
    cid = _join(prefix, model.name)
    first = cid not in diagram.clusters
    if first:
        m = _STEM_RE.match(model.name)
        diagram.clusters[cid] = DCluster(cid, model.name, cluster, "model", m.group(1) if m else "",
                                         type(model).__name__)
    inner_env: dict[int, Endpoint] = {id(t): ep for t, ep in zip(_flat(inner.inputs), ins)}
    _walk(diagram, inner, inner_env, cid, cid)
    outs = [inner_env.get(id(t)) for t in _flat(inner.outputs)]
    if first:
        diagram.clusters[cid].outputs = tuple(ep[0] for ep in outs if ep is not None)
    for t, ep in zip(node.outputs, outs):
        if ep is not None:
            env[id(t)] = (ep[0], _shape(t))


def _chain(diagram: Diagram, model: Any) -> None:
    """A subclassed model: its layers in attribute order, drawn as a chain (connections unknown)."""
    prev: str | None = None
    for layer in model.layers:
        shape = None
        try:
            shape = _shape(layer.output)
        except Exception:  # layers called inside call() have no symbolic output
            pass
        type_name = type(layer).__name__
        diagram.nodes[layer.name] = DNode(layer.name, layer.name, type_name, family_of(type_name), shape,
                                          _params(layer), config=_config(layer))
        if prev is not None:
            diagram.add_edge(prev, layer.name, diagram.nodes[prev].shape)
        prev = layer.name
    if prev is not None:
        diagram.nodes[prev].output = True
    diagram.notes.append(f"subclassed model {type(model).__name__}: its call() is Python code, so layers are "
                         "drawn in the order they are attributes, not as the real data flow")
