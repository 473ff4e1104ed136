"""The spec layer: schemas, YAML in and out, registries and static shapes.

Nothing in this package imports TensorFlow.
"""

from __future__ import annotations

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

__all__ = [
    "BlockSpec",
    "Graph",
    "GraphNode",
    "InputSpec",
    "LayerSpec",
    "ModelSpec",
    "Node",
    "NodeShape",
    "Scope",
    "ShapeError",
    "Summary",
    "TrainingSpec",
    "format_shape",
    "get_layer_spec",
    "graph_of",
    "layer_specs",
    "load_spec",
    "register_layer",
    "register_layer_spec",
    "register_model",
    "shapes_of",
    "spec_access",
    "summary",
]
