"""Layers a spec asks to adapt (``adapt: true``), adapted from the training data before training.

Keras's preprocessing layers such as ``Normalization`` learn their state with
``layer.adapt(data)`` rather than by gradient descent. A spec says which ones
with ``adapt: true``; validation makes sure each is fed directly by a model
input (:func:`netform.spec.layers.preprocessing.adapt_errors`), so the data
that reaches it is that input's training data, and this module calls Keras's
own ``adapt`` on it. The state lands in the layer's variables, so it is saved
and loaded with the model like any weight.
"""

from __future__ import annotations

from typing import Any

import keras

from ..errors import EngineError

__all__ = ["adapt_layers"]


def _layers_by_name(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer of ``model``, named as in the spec's graph: a nested model's layer as ``block.layer``.

    netform names a nested block's layers ``block.layer`` already; a nested
    model from elsewhere is reached through its name as a prefix.
    """
    out: dict[str, keras.layers.Layer] = {}

    def walk(layers: list[keras.layers.Layer], prefix: str) -> None:
        for layer in layers:
            out.setdefault(layer.name, layer)
            out.setdefault(prefix + layer.name, layer)
            inner = getattr(layer, "layers", None)
            if isinstance(layer, keras.Model) and inner:
                walk(list(inner), prefix + layer.name + ".")

    walk(list(model.layers), "")
    return out


def adapt_layers(model: keras.Model, spec: Any, x: Any) -> list[tuple[str, str, int]]:
    """Adapt every layer of ``spec`` marked ``adapt: true`` from the input data that feeds it.

    Args:
        model: The model built from ``spec`` (any of the three APIs).
        spec: The :class:`~netform.spec.ModelSpec` it was built from.
        x: The training inputs: one array for a model with one input, a list
            in the order of ``spec.inputs``, or a dict by input name.

    Returns:
        ``(layer, input, samples)`` for each adapted layer.

    Raises:
        EngineError: A marked layer is missing from ``model``, or no data is
            given for its input.

    Example:
        >>> adapt_layers(model, spec, x_train)  # before model.fit(x_train, y_train)
    """
    from ..spec._load import graph_of

    graph = graph_of(spec)
    marked = [n for n in graph.nodes.values() if getattr(n.layer, "adapt", False) is True and not n.shared]
    if not marked:
        return []
    names = list(spec.inputs)
    if isinstance(x, dict):
        by_input = dict(x)
    elif isinstance(x, (list, tuple)):
        by_input = dict(zip(names, x))
    else:
        by_input = {names[0]: x} if names else {}
    layers = _layers_by_name(model)
    done = []
    for node in marked:
        source = node.inputs[0]
        if source not in by_input:
            raise EngineError(
                f"{spec.source}: layer '{node.name}' has `adapt: true` but no training data was given "
                f"for its input '{source}'"
            )
        layer = layers.get(node.name)
        if layer is None or not hasattr(layer, "adapt"):
            raise EngineError(
                f"{spec.source}: layer '{node.name}' has `adapt: true` but the built model has no "
                f"adaptable layer of that name; its layers: {', '.join(layers)}"
            )
        data = by_input[source]
        layer.adapt(data)
        done.append((node.name, source, len(data)))
    return done
