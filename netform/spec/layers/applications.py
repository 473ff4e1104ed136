"""Layers that keras.applications models hold but keras.layers does not define.

ConvNeXt's LayerScale and StochasticDepth and InceptionResNetV2's
CustomScaleLayer: written in a spec by their class names, like built-in layers,
so every keras.applications model exports and rebuilds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import Shape
from ._util import expect_inputs, last_dim, shape_str


@register_layer_spec
class LayerScale(LayerSpec):
    """ConvNeXt's layer scale: multiplies the last axis by a learnt vector (keras.applications.convnext)."""

    type: Literal["LayerScale"] = Field("LayerScale", description="The Keras layer class name.")
    init_values: float = Field(description="Initial value of every scale (ConvNeXt uses 1e-6).")
    projection_dim: PositiveInt = Field(description="Length of the scale vector: the input's last axis.")

    def output_shape(self, input_shape: Shape) -> Shape:
        channels = last_dim(self.type, input_shape)
        if channels not in (1, self.projection_dim):
            raise ShapeError(
                f"LayerScale with projection_dim {self.projection_dim} needs an input whose last axis "
                f"is {self.projection_dim}, received shape {shape_str(input_shape)}"
            )
        return input_shape[:-1] + (self.projection_dim,)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return self.projection_dim, 0


@register_layer_spec
class StochasticDepth(LayerSpec):
    """ConvNeXt's stochastic depth: drops the whole residual path in training (keras.applications.convnext)."""

    family = "regularization"
    type: Literal["StochasticDepth"] = Field("StochasticDepth", description="The Keras layer class name.")
    drop_path_rate: float = Field(ge=0, le=1, description="Probability of dropping the path in training.")

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        return 0, 0


@register_layer_spec
class CustomScaleLayer(LayerSpec):
    """InceptionResNetV2's residual sum: ``inputs[0] + inputs[1] * scale`` (keras.applications.inception_resnet_v2)."""

    family = "merge"
    arity = "many"
    min_inputs = 2
    max_inputs = 2
    type: Literal["CustomScaleLayer"] = Field("CustomScaleLayer", description="The Keras layer class name.")
    scale: float = Field(description="Factor of the residual branch (the second input).")

    def output_shape(self, input_shape: Any) -> Shape:
        shortcut, residual = expect_inputs(self.type, input_shape, 2, 2)
        if len(shortcut) != len(residual) or any(
            a is not None and b is not None and a != b and 1 not in (a, b) for a, b in zip(shortcut[1:], residual[1:])
        ):
            raise ShapeError(
                f"CustomScaleLayer needs two inputs of the same shape, received "
                f"{shape_str(shortcut)} and {shape_str(residual)}"
            )
        return tuple(a if a not in (None, 1) else b for a, b in zip(shortcut, residual))

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0
