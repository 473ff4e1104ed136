"""The node-by-node structure of a Functional model, as Keras keeps it privately.

Walking a model call by call (a shared layer called twice, a nested model,
a ``keras.ops`` call between layers) needs the graph Keras builds when the
model is defined: its nodes grouped by depth, and for each node which call of
its operation it is. Keras 3 has no public API for either: ``model.layers``
and ``model.operations`` list each operation once, not each call, and
``model.get_config()`` holds the graph only in Keras's serialization format.
A Sequential model's graph lives in an inner Functional Keras builds for it,
with no public accessor either. Each private read is wrapped here, with the
public part (``model.operations``) used where it does the job.

The walk itself is written once here: :class:`LiveWalk` lists a graph's
calls as :class:`Step` records in one order (deepest first, then the
order of ``model.operations``, then call order), the order ``from_keras``
writes a spec in and the diagram draws in. A saved config is walked into the
same records, in the same order, by
:class:`netform.saving._config_walk.ConfigGraph`, so ``export-spec`` and
``render`` of a file follow the loaded model step for step.

No module here imports Keras or TensorFlow at import time: the diagram
renderer reads live models through these functions without pulling them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "LiveWalk",
    "Step",
    "TensorKey",
    "call_index",
    "graph_of",
    "is_graph",
    "nodes_by_depth",
    "rebuild_sequential",
]

#: A tensor of a walked graph: ``(operation key, call index, output index)``. The operation key is
#: ``id(operation)`` in a live graph and the layer's name in a saved config.
TensorKey = tuple[Any, int, int]


@dataclass(frozen=True)
class Step:
    """One call of an operation in a graph walk (:class:`LiveWalk`, or a saved config's ``ConfigGraph``).

    Attributes:
        name: The operation's (layer's) name.
        key: ``(operation key, call index)``; the call's outputs are ``(*key, i)``.
        operation: The live operation, or the serialized layer (a dict) in a config.
        call: The Keras graph node of the call, or its serialized form (``{"args", "kwargs"}``) in a
            config; None for an input.
        inputs: The tensors the call takes, in Keras's order (none for an input).
        outputs: The tensors the call makes.
        is_input: Whether it is an ``InputLayer`` (its tensor is a graph input, or a nested model's).
        nested: Whether the operation is a model with a graph of its own (walk it with the walk's ``nested``).
    """

    name: str
    key: tuple[Any, int]
    operation: Any
    call: Any
    inputs: tuple[TensorKey, ...]
    outputs: tuple[TensorKey, ...]
    is_input: bool
    nested: bool


def _flat(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [t for v in x.values() for t in _flat(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _flat(v)]
    return [x]


class LiveWalk:
    """The calls of a live Functional graph (a Functional model, or a Sequential's inner one) as :class:`Step` s.

    Attributes:
        inputs: The graph's input tensors, flattened in Keras's order.
        outputs: Its output tensors, flattened.
        steps: Every call, deepest first, then in ``graph.operations`` order, then in call order.
    """

    def __init__(self, graph: Any) -> None:
        import keras

        self.graph = graph
        self._tensors: dict[TensorKey, Any] = {}
        self._operations: dict[int, Any] = {}
        self.inputs = [self.key(t) for t in _flat(graph.inputs)]
        self.outputs = [self.key(t) for t in _flat(graph.outputs)]
        op_order = {id(op): i for i, op in enumerate(graph.operations)}
        by_depth = nodes_by_depth(graph)
        ordered = sorted(
            (
                (-depth, op_order.get(id(node.operation), 0), call_index(node), node)
                for depth in by_depth
                for node in by_depth[depth]
            ),
            key=lambda t: t[:3],
        )
        self.steps: list[Step] = []
        # A node's `operation`, `input_tensors` and `outputs` are attributes of Keras's graph Node
        # (keras.src.ops.node), which nodes_by_depth returns: read here, beside it.
        for _, _, index, node in ordered:
            op = node.operation
            is_input = isinstance(op, keras.layers.InputLayer)
            self.steps.append(
                Step(
                    op.name,
                    (id(op), index),
                    op,
                    None if is_input else node,
                    () if is_input else tuple(self.key(t) for t in node.input_tensors),
                    tuple(self.key(t) for t in node.outputs),
                    is_input,
                    isinstance(op, keras.Model) and graph_of(op) is not None,
                )
            )

    def key(self, tensor: Any) -> TensorKey:
        """The key of a Keras tensor of the graph (the call that made it, and which of its outputs)."""
        from ._graph_nodes import history

        op, node_index, tensor_index = history(tensor)
        key = (id(op), node_index, tensor_index)
        self._operations[id(op)] = op
        self._tensors.setdefault(key, tensor)
        return key

    def name(self, tensor: TensorKey) -> str:
        """The name of the operation that made ``tensor``."""
        return str(self._operations[tensor[0]].name)

    def shape(self, tensor: TensorKey) -> tuple[int | None, ...] | None:
        """The shape Keras gives ``tensor``, batch first."""
        t = self._tensors.get(tensor)
        return None if t is None else tuple(t.shape)

    def tensor(self, tensor: TensorKey) -> Any:
        """The Keras tensor of a key."""
        return self._tensors[tensor]

    def nested(self, step: Step) -> LiveWalk:
        """The walk of the graph of the model a step calls (``step.nested``)."""
        return LiveWalk(graph_of(step.operation))


def is_graph(model: Any) -> bool:
    """Whether ``model`` holds a Functional graph (a Functional model, or a Sequential's inner one)."""
    # Private: only a keras Function (Functional's base) has `_nodes_by_depth`, and no public
    # attribute tells a Functional from a subclassed model whose class derives from Functional.
    # `operations` is public (Function.operations), and missing on a subclassed model.
    return hasattr(model, "_nodes_by_depth") and hasattr(model, "operations")


def graph_of(model: Any) -> Any:
    """The Functional graph behind ``model``: itself, a Sequential's inner Functional, or ``None``.

    ``None`` for a subclassed model and for a Sequential not built yet (Keras makes its
    graph when it is built with a known input shape).
    """
    import keras

    if isinstance(model, keras.Sequential):
        # Private: Sequential.build stores its graph as `model._functional`; no public accessor
        # (rebuilding one from model.layers would make new nodes, not read the model's own).
        return getattr(model, "_functional", None)
    return model if is_graph(model) else None


def nodes_by_depth(graph: Any) -> dict[int, list[Any]]:
    """A Functional graph's nodes (one per call of an operation) by depth, 0 at the outputs."""
    # Private: `Function._nodes_by_depth`; Keras has no public list of a model's calls.
    return graph._nodes_by_depth


def call_index(node: Any) -> int:
    """Which call of its operation a graph node is (0 for the first), 0 when the operation does not know it."""
    # Private: `Operation._inbound_nodes` lists an operation's calls in order; no public accessor
    # (`Operation.input` / `output` give the first call's tensors only, and Keras 2's
    # `get_input_at(i)` is gone).
    inbound = getattr(node.operation, "_inbound_nodes", [])
    return next((i for i, n in enumerate(inbound) if n is node), 0)


def rebuild_sequential(model: Any) -> None:
    """Make a Sequential's graph anew from its layers (after ``model.add(layer, rebuild=False)``)."""
    # Private: `Sequential._maybe_rebuild`, what `add(layer)` runs after each layer. The public
    # `add(layer, rebuild=True)` remakes the graph at every layer (quadratic in the depth), and
    # `model.build(shape)` alone neither resets `built` nor takes the shape from a first layer
    # that is not an InputLayer, as this does.
    model._maybe_rebuild()
