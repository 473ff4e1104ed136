"""What a Functional model's graph records about each call: the operation, its arguments, its outputs.

Keras 3 keeps a functional graph as ``keras.src.ops.node.Node`` objects
(``model._nodes_by_depth``), each with the operation called, the call's
arguments (``node.arguments``, a ``SymbolicArguments`` holding Keras tensors
and constants) and its output tensors; a tensor knows the node that made it
through ``tensor._keras_history``. Keras has no public API for any of this
(``model.get_config()`` serializes the graph but drops nothing less, and
reading it back means re-parsing Keras's own serialization format), so
reading the graph is wrapped here.

A call of a ``keras.ops`` function on Keras tensors records an ``Operation``
that is not a layer: its class (``keras.src.ops.numpy.Add``) names the
function, and its ``get_config()`` holds the function's non-tensor arguments.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "call_arguments",
    "call_shapes",
    "history",
    "op_function_name",
    "output_count",
    "is_keras_tensor",
    "propagated_mask",
    "same_computation",
]

# Operation classes whose keras.ops function is not the snake_case of the class name
_FUNCTION_OF = {"GetItem": "getitem", "RGBToGrayscale": "rgb_to_grayscale"}
# keras.src.ops modules whose functions live in a namespace of keras.ops (keras.ops.image.resize)
_NAMESPACES = {"keras.src.ops.image": "image."}


def call_arguments(node: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments a graph node was called with (Keras tensors included)."""
    arguments = node.arguments  # keras.src.ops.symbolic_arguments.SymbolicArguments: no public accessor
    return tuple(arguments.args), dict(arguments.kwargs)


def history(tensor: Any) -> tuple[Any, int, int]:
    """``(operation, node_index, tensor_index)`` of the call that made ``tensor``."""
    hist = tensor._keras_history  # the only link from a Keras tensor to the node that made it
    return hist.operation, hist.node_index, hist.tensor_index


def is_keras_tensor(value: Any) -> bool:
    """Whether ``value`` is a symbolic Keras tensor (made by a call in the graph)."""
    import keras

    return isinstance(value, keras.KerasTensor) and hasattr(value, "_keras_history")


def call_shapes(operation: Any) -> list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """``(input shapes, output shapes)`` of each call of ``operation`` in the graphs it was called in."""
    found = []
    for node in getattr(operation, "_inbound_nodes", ()):  # the node of each call: no public accessor
        found.append(([tuple(t.shape) for t in node.input_tensors], [tuple(t.shape) for t in node.output_tensors]))
    return found


def output_count(operation: Any, node_index: int) -> int:
    """How many tensors call ``node_index`` of ``operation`` returned."""
    return len(operation._inbound_nodes[node_index].outputs)  # the node of each call: no public accessor


def op_function_name(operation: Any) -> str | None:
    """The ``keras.ops`` function an operation of the graph stands for (``add``, ``image.resize``).

    ``None`` when the operation is not one of Keras's ops (a layer, or a class of someone else's).
    """
    module = type(operation).__module__
    if not module.startswith("keras.src.ops."):
        return None
    cls = type(operation).__name__
    name = _FUNCTION_OF.get(cls) or re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", cls).lower()
    return _NAMESPACES.get(module, "") + name


def propagated_mask(tensor: Any) -> Any:
    """The mask Keras attached to ``tensor`` (``Embedding(mask_zero=True)``'s output), or ``None``.

    Keras passes such a mask to the next layer's ``mask`` argument by itself, so a graph records it as
    if it had been given; there is no public accessor (``keras.src.backend.get_keras_mask``).
    """
    from keras.src.backend import get_keras_mask

    return get_keras_mask(tensor)


def same_computation(a: Any, b: Any, depth: int = 16) -> bool:
    """Whether Keras tensors ``a`` and ``b`` are one tensor, or the same chain of ``keras.ops`` calls on one tensor.

    A model Keras rebuilt from its config holds the mask it once propagated (``Masking``'s
    ``any(not_equal(x, 0.0), axis=-1)``) as explicit op nodes passed as ``mask``, next to the mask the
    rebuilt layer propagates again: two chains of the same ops with the same constants on the same tensor.
    """
    if a is b:
        return True
    if depth <= 0 or not (is_keras_tensor(a) and is_keras_tensor(b)):
        return False
    (op_a, node_a, index_a), (op_b, node_b, index_b) = history(a), history(b)
    name = op_function_name(op_a)
    if name is None or name != op_function_name(op_b) or index_a != index_b:
        return False
    try:
        config_a, config_b = dict(op_a.get_config()), dict(op_b.get_config())
    except (NotImplementedError, TypeError, ValueError):
        return False
    config_a.pop("name", None)  # each call of an op is an operation of its own name (not_equal, not_equal_2)
    config_b.pop("name", None)
    if config_a != config_b:
        return False
    args_a, kwargs_a = call_arguments(op_a._inbound_nodes[node_a])  # the node of each call: no public accessor
    args_b, kwargs_b = call_arguments(op_b._inbound_nodes[node_b])
    if len(args_a) != len(args_b) or kwargs_a.keys() != kwargs_b.keys():
        return False
    pairs = list(zip(args_a, args_b)) + [(kwargs_a[k], kwargs_b[k]) for k in kwargs_a]
    for x, y in pairs:
        if is_keras_tensor(x) or is_keras_tensor(y):
            if not same_computation(x, y, depth - 1):
                return False
        elif type(x) is not type(y) or x != y:
            return False
    return True
