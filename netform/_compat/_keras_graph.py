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

No module here imports Keras or TensorFlow at import time: the diagram
renderer reads live models through these functions without pulling them in.
"""

from __future__ import annotations

from typing import Any

__all__ = ["call_index", "graph_of", "is_graph", "nodes_by_depth", "rebuild_sequential"]


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
