"""A Keras model (Sequential, Functional or subclassed), or a saved model's config, as a :class:`Diagram`.

The graph is not walked here: a live model's calls come from
:class:`netform._compat._keras_graph.LiveWalk`, the walk ``from_keras``
writes a spec from, and a saved config's from
:class:`netform.saving._config_walk.ConfigGraph`, the walk ``export-spec``
reads a file with; both give the same :class:`~netform._compat._keras_graph.Step`
records in the same order, and :class:`_Drawer` turns either into boxes and
edges. So a shared layer is one box with an edge per call, and a nested model
is a cluster whose inner layers connect straight to the outer tensors, exactly
as a spec's nested block is drawn. What differs between the two sources is
only what a box says (:class:`_LiveDrawer`, :class:`_ConfigDrawer`). A
subclassed model has no graph: its layers are drawn as a chain in attribute
order, with a note saying so.
"""

from __future__ import annotations

import re
from typing import Any

from .._compat._keras_graph import LiveWalk, Step, TensorKey, graph_of
from ._diagram import DCluster, Diagram, DNode, family_of

__all__ = ["diagram_from_keras", "diagram_from_config", "is_keras_model"]

_STEM_RE = re.compile(r"^(.*?)[._](\d+)$")
_REPEAT_RE = re.compile(r"^(.*)\.(\d+)$")
Endpoint = tuple[str, Any]  # (diagram node id, tensor shape)


def is_keras_model(obj: Any) -> bool:
    """Whether ``obj`` is a Keras model, without importing Keras when nothing has."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


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

    graph = graph_of(model)
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
    _LiveDrawer(diagram).draw(LiveWalk(graph))
    return diagram


def _dotted_scope(diagram: Diagram, nid: str, prefix: str, cluster: str | None) -> tuple[str | None, str]:
    """The cluster and shown name of a layer named ``block.2.conv``: netform names the layers of a
    block expanded in place after the block use (``block``) and repeat (``2``), so clusters come back.

    Returns:
        ``(cluster id, local name)``.
    """
    rest = nid[len(prefix) + 1 :] if prefix else nid
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


class _Drawer:
    """Draws the :class:`~netform._compat._keras_graph.Step` s of a graph walk: the one drawing of both sources.

    A walk (a :class:`~netform._compat._keras_graph.LiveWalk` or a saved config's ``ConfigGraph``) gives
    ``inputs``, ``outputs``, ``steps``, the ``name`` and recorded ``shape`` of a tensor, and the walk of a
    nested model (``nested``). A subclass says what a box shows: :meth:`input_shape`, :meth:`type_name`,
    :meth:`output_shapes` and :meth:`details`.
    """

    def __init__(self, diagram: Diagram) -> None:
        self.diagram = diagram

    def draw(self, walk: Any) -> None:
        env: dict[TensorKey, Endpoint] = {}
        for t in walk.inputs:
            name = walk.name(t)
            shape = self.input_shape(walk, t)
            self.diagram.nodes[name] = DNode(name, name, "InputLayer", "input", shape, 0, role="input")
            env[t] = (name, shape)
        self.walk(walk, env, "", None)
        for t in walk.outputs:
            if t in env:
                self.diagram.nodes[env[t][0]].output = True
        _cluster_outputs(self.diagram)

    def walk(self, walk: Any, env: dict[TensorKey, Endpoint], prefix: str, cluster: str | None) -> None:
        diagram = self.diagram
        for step in walk.steps:
            if step.is_input:
                continue  # its tensor is already mapped to the outer producer
            ins = [env[t] for t in step.inputs if t in env]
            if step.nested:
                self.nested(walk, step, ins, env, prefix, cluster)
                continue
            nid = _join(prefix, step.name)
            existing = diagram.nodes.get(nid)
            shapes = self.output_shapes(walk, step, env)
            if existing is not None:
                existing.uses += 1
            else:
                type_name = self.type_name(step)
                params, config = self.details(walk, step, env)
                where, local = _dotted_scope(diagram, nid, prefix, cluster)
                diagram.nodes[nid] = DNode(
                    nid,
                    local,
                    type_name,
                    family_of(type_name),
                    shapes[0] if len(shapes) == 1 else shapes,
                    params,
                    where,
                    config=config,
                )
            for src, shape in ins:
                diagram.add_edge(src, nid, shape)
            for t, shape in zip(step.outputs, shapes):
                env[t] = (nid, shape)

    def nested(
        self,
        walk: Any,
        step: Step,
        ins: list[Endpoint],
        env: dict[TensorKey, Endpoint],
        prefix: str,
        cluster: str | None,
    ) -> None:
        """A call of a nested model: a cluster (once), inner layers wired to this call's tensors."""
        cid = _join(prefix, step.name)
        first = cid not in self.diagram.clusters
        if first:
            m = _STEM_RE.match(step.name)
            self.diagram.clusters[cid] = DCluster(
                cid, step.name, cluster, "model", m.group(1) if m else "", self.type_name(step)
            )
        inner = walk.nested(step)
        inner_env: dict[TensorKey, Endpoint] = dict(zip(inner.inputs, ins))
        self.walk(inner, inner_env, cid, cid)
        outs = [inner_env.get(t) for t in inner.outputs]
        if first:
            self.diagram.clusters[cid].outputs = tuple(ep[0] for ep in outs if ep is not None)
        for t, ep in zip(step.outputs, outs):
            if ep is not None:
                shape = walk.shape(t)
                env[t] = (ep[0], ep[1] if shape is None else shape)

    def input_shape(self, walk: Any, t: TensorKey) -> Any:
        raise NotImplementedError

    def type_name(self, step: Step) -> str:
        raise NotImplementedError

    def output_shapes(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> list[Any]:
        """The shapes of the tensors a layer's call makes."""
        raise NotImplementedError

    def details(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> tuple[int | None, dict[str, Any]]:
        """``(parameter count, config)`` of a layer, asked at its first call."""
        raise NotImplementedError


class _LiveDrawer(_Drawer):
    """What the boxes of a live model say: Keras's own shapes, parameter counts and configs."""

    def input_shape(self, walk: Any, t: TensorKey) -> Any:
        return walk.shape(t)

    def type_name(self, step: Step) -> str:
        return type(step.operation).__name__

    def output_shapes(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> list[Any]:
        return [walk.shape(t) for t in step.outputs]

    def details(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> tuple[int | None, dict[str, Any]]:
        return _params(step.operation), _config(step.operation)


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
        diagram.nodes[layer.name] = DNode(
            layer.name, layer.name, type_name, family_of(type_name), shape, _params(layer), config=_config(layer)
        )
        if prev is not None:
            diagram.add_edge(prev, layer.name, diagram.nodes[prev].shape)
        prev = layer.name
    if prev is not None:
        diagram.nodes[prev].output = True
    diagram.notes.append(
        f"subclassed model {type(model).__name__}: its call() is Python code, so layers are "
        "drawn in the order they are attributes, not as the real data flow"
    )


# --- what a saved model's config says, without Keras ---------------------------------------------


class _ConfigDrawer(_Drawer):
    """:func:`diagram_from_keras` of the model a saved config builds, drawn from the config itself.

    The steps, so the nodes, their names, clusters and edges, are those of the
    live walk (:class:`~netform.saving._config_walk.ConfigGraph` walks a
    config as :class:`~netform._compat._keras_graph.LiveWalk` walks the loaded
    model). Shapes are those Keras recorded for each tensor a call takes; a
    tensor nothing takes (a model output) gets its shape, and every layer its
    parameter count, from netform's static rules for that layer, the rules
    ``netform summary`` uses.

    Raises:
        NeedsKeras: Something only the live model tells (see
            :mod:`netform.saving._config_walk`), or a layer without static rules.
    """

    def __init__(self, diagram: Diagram) -> None:
        super().__init__(diagram)
        # id of a serialized layer → (the layer, kept so that no other takes its id; its rules)
        self._rules: dict[int, tuple[dict[str, Any], Any]] = {}

    def input_shape(self, walk: Any, t: TensorKey) -> Any:
        from netform.saving._config_walk import NeedsKeras

        shape = (walk.layers[t[0]].get("config") or {}).get("batch_shape")
        if not isinstance(shape, list):
            raise NeedsKeras("an input without a batch shape")
        return tuple(shape)

    def type_name(self, step: Step) -> str:
        return str(step.operation.get("class_name"))

    def output_shapes(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> list[Any]:
        return [self.shape(walk, t, step.operation, step.inputs, env) for t in step.outputs]

    def details(self, walk: Any, step: Step, env: dict[TensorKey, Endpoint]) -> tuple[int | None, dict[str, Any]]:
        return self.params(walk, step.operation, step.inputs, env), _file_config(step.operation)

    def shape(
        self,
        graph: Any,
        t: TensorKey,
        layer: dict[str, Any],
        args: tuple[TensorKey, ...],
        env: dict[TensorKey, Endpoint],
    ) -> Any:
        """A tensor's shape: as Keras recorded it where a call takes it, else from the layer's static rule."""
        if t in graph.shapes:
            return graph.shapes[t]
        from netform.saving._config_walk import NeedsKeras
        from netform.spec._layer_base import NoStaticRule, ShapeError

        try:
            shape = self._rule(layer).output_shape(self._arg(graph, layer, args, env))
        except (NoStaticRule, ShapeError) as err:
            raise NeedsKeras("an output shape only Keras can tell") from err
        if isinstance(shape, list):
            raise NeedsKeras("a layer with several outputs")
        return tuple(shape)

    def params(
        self,
        graph: Any,
        layer: dict[str, Any],
        args: tuple[TensorKey, ...],
        env: dict[TensorKey, Endpoint],
    ) -> int:
        from netform.saving._config_walk import NeedsKeras
        from netform.spec._layer_base import NoStaticRule, ShapeError

        try:
            trainable, frozen = self._rule(layer).counts(self._arg(graph, layer, args, env))
        except (NoStaticRule, ShapeError) as err:
            raise NeedsKeras("a parameter count only Keras can tell") from err
        return int(trainable or 0) + int(frozen or 0)

    def _rule(self, layer: dict[str, Any]) -> Any:
        """The layer's static rules, read once per serialized layer (a shape and a count each ask for them)."""
        from netform.saving._config_walk import static_layer

        known = self._rules.get(id(layer))
        if known is None:
            known = self._rules[id(layer)] = (layer, static_layer(layer))
        return known[1]

    def _arg(
        self,
        graph: Any,
        layer: dict[str, Any],
        args: tuple[TensorKey, ...],
        env: dict[TensorKey, Endpoint],
    ) -> Any:
        """The input shape(s) of a call: as recorded, else as its producer's walk found them."""
        from netform.saving._config_walk import NeedsKeras

        shapes = []
        for t in args:
            shape = graph.shapes.get(t, env[t][1] if t in env else None)
            if shape is None or isinstance(shape, list):
                raise NeedsKeras("an input shape Keras did not record")
            shapes.append(shape)
        if self._rule(layer).arity == "one":
            if len(shapes) != 1:
                raise NeedsKeras("a layer of one input called on several")
            return shapes[0]
        return [tuple(s) for s in shapes]


def _file_config(layer: dict[str, Any]) -> dict[str, Any]:
    """A serialized layer's config as the live layer's ``get_config()`` gives it, without its name."""
    from netform.saving._config_walk import unshared

    config = unshared(dict(layer.get("config") or {}))
    config.pop("name", None)
    return config


def _makes_masks(node: Any) -> bool:
    """Whether a config holds a layer that makes a mask: the loaded graph then holds ops the config does not."""
    if isinstance(node, dict):
        if node.get("class_name") == "Masking" or node.get("mask_zero") is True:
            return True
        return any(_makes_masks(v) for v in node.values())
    if isinstance(node, list):
        return any(_makes_masks(v) for v in node)
    return False


def diagram_from_config(model: dict[str, Any]) -> Diagram:
    """The diagram :func:`diagram_from_keras` draws of the model a saved config builds, without Keras.

    Args:
        model: A Functional or Sequential config, through the loading path's safety checks.

    Returns:
        The diagram graph, node for node the one of the loaded model.

    Raises:
        NeedsKeras: The config holds something only the live model tells; draw the loaded model instead.
    """
    from netform.saving._config_walk import NeedsKeras, is_model, model_graph

    if not is_model(model):
        raise NeedsKeras("a subclassed model or no layer list")
    if _makes_masks(model):
        raise NeedsKeras("a mask (mask_zero, Masking), which Keras computes with ops it adds to the loaded graph")
    kind = "sequential" if model.get("class_name") == "Sequential" else "functional"
    diagram = Diagram(str((model.get("config") or {}).get("name")), kind)
    _ConfigDrawer(diagram).draw(model_graph(model))
    return diagram
