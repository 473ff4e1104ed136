"""Move weights between models layer by layer, by name."""

from __future__ import annotations

from typing import Mapping

import keras

from ..errors import BuildError

__all__ = ["copy_weights", "leaf_layers"]


def leaf_layers(model: keras.layers.Layer) -> dict[str, keras.layers.Layer]:
    """Every layer that is not itself a model, by name, nested models flattened."""
    out: dict[str, keras.layers.Layer] = {}
    stack = [model]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for layer in getattr(current, "layers", []):
            if isinstance(layer, keras.Model):
                stack.append(layer)
            elif layer.weights:
                out.setdefault(layer.name, layer)
    return out


def copy_weights(src: keras.Model, dst: keras.Model, *, name_map: Mapping[str, str] | None = None) -> int:
    """Copy every layer's weights from ``src`` into the layer of the same name in ``dst``.

    Args:
        src: The model to read.
        dst: The model to write; must hold a layer of each name with the same weight shapes.
        name_map: ``dst`` layer name → ``src`` layer name where they differ.

    Returns:
        The number of layers copied.

    Raises:
        BuildError: A layer is missing from ``src`` or weight shapes differ (all listed).
    """
    source = leaf_layers(src)
    problems = []
    copied = 0
    for name, layer in leaf_layers(dst).items():
        src_name = (name_map or {}).get(name, name)
        other = source.get(src_name)
        if other is None:
            problems.append(f"'{name}': no layer named '{src_name}' in {src.name}")
            continue
        values = other.get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != shapes:
            problems.append(f"'{name}': shapes {shapes} vs {[tuple(v.shape) for v in values]} in {src.name}")
            continue
        layer.set_weights(values)
        copied += 1
    if problems:
        raise BuildError("cannot copy weights: " + "; ".join(problems))
    return copied
