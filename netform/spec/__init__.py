"""The spec layer: schemas, YAML in and out, registries and static shapes.

Nothing in this package imports TensorFlow. Its names are imported on first
use (PEP 562), so a command that needs a few of its modules (``export-spec``
of a saved model: the layer schemas, the loader and the YAML writer) does not
import the others (the custom-class registry, the JSON Schema, the summary
table).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._access import spec_access as spec_access
    from ._custom import register_layer as register_layer
    from ._custom import register_model as register_model
    from ._graph import Graph as Graph
    from ._graph import GraphNode as GraphNode
    from ._graph import Scope as Scope
    from ._layer_base import LayerSpec as LayerSpec
    from ._layer_base import ShapeError as ShapeError
    from ._layer_base import get_layer_spec as get_layer_spec
    from ._layer_base import layer_specs as layer_specs
    from ._layer_base import register_layer_spec as register_layer_spec
    from ._load import graph_of as graph_of
    from ._load import load_spec as load_spec
    from ._load import shapes_of as shapes_of
    from ._load import summary as summary
    from ._model import BlockSpec as BlockSpec
    from ._model import InputSpec as InputSpec
    from ._model import ModelSpec as ModelSpec
    from ._model import Node as Node
    from ._shapes import NodeShape as NodeShape
    from ._shapes import format_shape as format_shape
    from ._summary import Summary as Summary
    from ._training import TrainingSpec as TrainingSpec

#: public name → the module defining it
_LAZY: dict[str, str] = {
    "spec_access": "._access",
    "register_layer": "._custom",
    "register_model": "._custom",
    "Graph": "._graph",
    "GraphNode": "._graph",
    "Scope": "._graph",
    "LayerSpec": "._layer_base",
    "ShapeError": "._layer_base",
    "get_layer_spec": "._layer_base",
    "layer_specs": "._layer_base",
    "register_layer_spec": "._layer_base",
    "graph_of": "._load",
    "load_spec": "._load",
    "shapes_of": "._load",
    "summary": "._load",
    "BlockSpec": "._model",
    "InputSpec": "._model",
    "ModelSpec": "._model",
    "Node": "._model",
    "NodeShape": "._shapes",
    "format_shape": "._shapes",
    "Summary": "._summary",
    "TrainingSpec": "._training",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
