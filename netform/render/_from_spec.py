"""A spec's resolved graph as a :class:`Diagram`, in pure Python (no TensorFlow)."""

from __future__ import annotations

import re
from typing import Any

from ..spec import ModelSpec, Scope, graph_of, shapes_of
from ._diagram import DCluster, Diagram, DNode

__all__ = ["diagram_from_spec"]

_REPEAT_RE = re.compile(r"^(.*)\.(\d+)$")


def diagram_from_spec(spec: ModelSpec) -> Diagram:
    """The diagram of ``spec``: blocks as clusters, shared layers drawn once.

    Args:
        spec: A validated spec.

    Returns:
        The diagram graph; node ids are the spec's dotted node names.

    Example::

        d = diagram_from_spec(netform.load_spec("models/mlp.yaml"))
        sorted(d.nodes)[:2]
    """
    graph = graph_of(spec)
    shapes = shapes_of(spec)
    diagram = Diagram(graph.name, graph.kind)
    for name in graph.inputs:
        diagram.nodes[name] = DNode(name, name, "InputLayer", "input", shapes[name].output_shape, 0, role="input")
    _add_clusters(diagram, graph.scopes)
    _add_block_args(diagram, spec, graph.scopes)
    for node in graph.nodes.values():
        cluster = _innermost(node.scope, graph.scopes)
        if node.shared:
            continue
        s = shapes[node.name]
        params = None if s.trainable is None or s.non_trainable is None else s.trainable + s.non_trainable
        local = node.name[len(cluster) + 1 :] if cluster and node.name.startswith(cluster + ".") else node.name
        diagram.nodes[node.name] = DNode(
            node.name,
            local,
            node.layer.type,
            node.layer.family,
            s.output_shape,
            params,
            cluster,
            config=_config(node.layer),
        )
    owner = {n.name: n.owner for n in graph.nodes.values()}
    for node in graph.nodes.values():
        dst = owner[node.name]
        if node.shared:
            diagram.nodes[dst].uses += 1
        for producer in node.inputs:
            src = owner.get(producer, producer)
            diagram.add_edge(src, dst, shapes[producer].output_shape)
    for out in graph.outputs:
        diagram.nodes[owner.get(out, out)].output = True
    for dc in diagram.clusters.values():
        dc.outputs = tuple(owner.get(o, o) for o in dc.outputs)
    if graph.kind == "subclass" and spec.model is not None:
        box = f"{spec.model.type}"
        diagram.nodes[box] = DNode(box, box, spec.model.type, "model", None, None, role="block", output=True)
        for name in graph.inputs:
            diagram.add_edge(name, box, shapes[name].output_shape)
        diagram.notes.append("subclassed model: its layers are known only once it is built (render the built model)")
    return diagram


def _innermost(scope: tuple[str, ...], scopes: dict[str, Scope]) -> str | None:
    """The innermost drawn cluster of a scope chain (uses that share another use are not drawn)."""
    for inst in reversed(scope):
        if scopes[inst].shares is None:
            return inst
    return None


def _add_clusters(diagram: Diagram, scopes: dict[str, Scope]) -> None:
    by_path: dict[tuple[object, ...], int] = {}
    for sc in scopes.values():
        key = (sc.path, sc.parent)
        by_path[key] = by_path.get(key, 0) + 1
    for sc in scopes.values():
        if sc.shares is not None:
            continue
        parent = _innermost(sc.parent, scopes)
        local = sc.name[len(parent) + 1 :] if parent and sc.name.startswith(parent + ".") else sc.name
        group = ""
        m = _REPEAT_RE.match(sc.name)
        if m and by_path[(sc.path, sc.parent)] > 1:
            group = m.group(1)  # one use with `repeat: N`: its instances chain
        diagram.clusters[sc.name] = DCluster(
            sc.name,
            f"{local}: {sc.block}" if local != sc.block else local,
            parent,
            "model" if sc.nested else "block",
            group,
            sc.block,
            sc.outputs,
        )


# keys of a block use that are not the block's parameters
_USE_KEYS = frozenset({"block", "in", "repeat", "nested", "name", "call", "shares", "type", "outputs"})


def _config(layer: Any) -> dict[str, Any]:
    """The layer's non-default configuration, without its type."""
    try:
        config = dict(layer.to_dict())
    except Exception:  # a plugin layer without a dict form: draw it without details
        return {}
    config.pop("type", None)
    return config


def _walk(spec: ModelSpec, path: tuple[object, ...]) -> Any:
    obj: Any = spec
    for part in path:
        if isinstance(obj, dict):
            obj = obj[part]
        elif isinstance(obj, (list, tuple)):
            obj = obj[int(part)]  # type: ignore[call-overload]
        else:
            obj = getattr(obj, str(part))
    return obj


def _use_args(spec: ModelSpec, scope: Scope) -> dict[str, Any]:
    """The arguments written on a block use (``{block: encoder, heads: 4}`` → ``{"heads": 4}``)."""
    try:
        use = _walk(spec, tuple(scope.path))
    except (KeyError, IndexError, AttributeError, TypeError, ValueError):
        return {}
    if isinstance(use, dict):
        return {k: v for k, v in use.items() if k not in _USE_KEYS}
    args = getattr(use, "args", None)
    return dict(args) if isinstance(args, dict) else {}


def _resolve(value: Any, outer: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in outer:
        return outer[value[1:]]
    return value


def _add_block_args(diagram: Diagram, spec: ModelSpec, scopes: dict[str, Scope]) -> None:
    """Give every drawn cluster its block's parameters: defaults, then the use's values (``$name`` resolved)."""
    resolved: dict[str, dict[str, Any]] = {}
    for sc in scopes.values():  # a parent is resolved first, on demand, whatever the order
        _scope_args(sc.name, spec, scopes, resolved)
    for cid, cluster in diagram.clusters.items():
        cluster.args = dict(resolved.get(cid, {}))


def _scope_args(
    name: str, spec: ModelSpec, scopes: dict[str, Scope], resolved: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    if name in resolved:
        return resolved[name]
    sc = scopes[name]
    outer = _scope_args(sc.parent[-1], spec, scopes, resolved) if sc.parent and sc.parent[-1] in scopes else {}
    block = (spec.blocks or {}).get(sc.block)
    defaults = dict(getattr(block, "params", None) or {})
    args = {**defaults, **{k: _resolve(v, outer) for k, v in _use_args(spec, sc).items()}}
    resolved[name] = args
    return args
