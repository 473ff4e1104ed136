"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import expect_rank, norm_axis, prod, shape_str

_RANKS = tuple(range(1, 9))


class _Elementwise(LayerSpec):
    """An activation applied element-wise: same shape out, no weights."""

    family = "activation"

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *_RANKS)
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


@register_layer_spec
class ReLU(_Elementwise):
    """Rectified linear unit with optional cap, leak and threshold."""

    type: Literal["ReLU"] = Field("ReLU", description="The Keras layer class name.")
    max_value: float | None = Field(None, ge=0, description="Largest output value; null for no cap.")
    negative_slope: float = Field(0.0, ge=0, description="Slope below the threshold.")
    threshold: float = Field(
        0.0, ge=0, description="Inputs below this value are damped (multiplied by negative_slope)."
    )


@register_layer_spec
class LeakyReLU(_Elementwise):
    """Leaky ReLU: ``x`` for positive inputs, ``negative_slope * x`` otherwise."""

    type: Literal["LeakyReLU"] = Field("LeakyReLU", description="The Keras layer class name.")
    negative_slope: float = Field(0.3, ge=0, description="Slope for negative inputs.")


@register_layer_spec
class ELU(_Elementwise):
    """Exponential linear unit: ``alpha * (exp(x) - 1)`` for negative inputs."""

    type: Literal["ELU"] = Field("ELU", description="The Keras layer class name.")
    alpha: float = Field(1.0, description="Scale of the negative part.")


@register_layer_spec
class Softmax(_Elementwise):
    """Softmax over one or more axes."""

    type: Literal["Softmax"] = Field("Softmax", description="The Keras layer class name.")
    axis: int | tuple[int, ...] = Field(-1, description="The axis, or list of axes, normalized to sum to 1.")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank("Softmax", input_shape, *range(2, 9))
        for axis in (self.axis,) if isinstance(self.axis, int) else self.axis:
            norm_axis("Softmax", input_shape, axis)
        return input_shape


@register_layer_spec
class PReLU(_Elementwise):
    """Parametric ReLU: a learned slope for negative inputs, per element or shared along axes."""

    type: Literal["PReLU"] = Field("PReLU", description="The Keras layer class name.")
    alpha_initializer: InitializerRef = Field("Zeros", description="Initializer of the learned slopes.")
    alpha_regularizer: RegularizerRef = Field(None, description="Regularizer of the slopes; null for none.")
    alpha_constraint: ConstraintRef = Field(None, description="Constraint on the slopes; null for none.")
    shared_axes: PositiveInt | tuple[PositiveInt, ...] | None = Field(
        None, description="Axes (1 = first after batch) along which one slope is shared, e.g. [1, 2] for images."
    )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.param_counts(input_shape)
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        expect_rank("PReLU", input_shape, *range(2, 9))
        shared = (
            ()
            if self.shared_axes is None
            else ((self.shared_axes,) if isinstance(self.shared_axes, int) else self.shared_axes)
        )
        bad = [a for a in shared if a >= len(input_shape)]
        if bad:
            raise ShapeError(
                f"PReLU shared_axes {list(shared)} do not fit an input of rank {len(input_shape)}, "
                f"received shape {shape_str(input_shape)}"
            )
        dims = [1 if i in shared else d for i, d in enumerate(input_shape) if i > 0]
        if None in dims:
            raise ShapeError(
                f"PReLU needs known sizes on the axes it does not share, received shape {shape_str(input_shape)}; "
                "share the unknown axes with shared_axes"
            )
        return prod(dims) or 0, 0
