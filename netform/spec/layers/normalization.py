"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, field_validator

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import expect_rank, norm_axis, prod, shape_str

_RANKS = tuple(range(2, 9))


def _known(layer: str, shape: Shape, axes: list[int]) -> list[int]:
    """The sizes of ``axes``, which must be known to create weights."""
    sizes = [shape[a] for a in axes]
    if None in sizes:
        raise ShapeError(
            f"{layer} needs known sizes on its normalization axes {axes}, received shape {shape_str(shape)}"
        )
    return sizes  # type: ignore[return-value]


def _axes(layer: str, shape: Shape, axis: int | tuple[int, ...]) -> list[int]:
    expect_rank(layer, shape, *_RANKS)
    axes = (axis,) if isinstance(axis, int) else axis
    return sorted(norm_axis(layer, shape, a) for a in axes)


class _Affine(LayerSpec):
    """Shared fields of normalizations with a learned scale (gamma) and offset (beta)."""

    family = "normalization"

    epsilon: PositiveFloat = Field(1e-3, description="Small float added to the variance to avoid dividing by zero.")
    center: bool = Field(True, description="Whether to learn an offset `beta` added after normalizing.")
    scale: bool = Field(True, description="Whether to learn a scale `gamma` multiplied after normalizing.")
    beta_initializer: InitializerRef = Field("zeros", description="Initializer of the offset `beta`.")
    gamma_initializer: InitializerRef = Field("ones", description="Initializer of the scale `gamma`.")
    beta_regularizer: RegularizerRef = Field(None, description="Regularizer of `beta`; null for none.")
    gamma_regularizer: RegularizerRef = Field(None, description="Regularizer of `gamma`; null for none.")
    beta_constraint: ConstraintRef = Field(None, description="Constraint on `beta`; null for none.")
    gamma_constraint: ConstraintRef = Field(None, description="Constraint on `gamma`; null for none.")

    def _affine(self, size: int) -> int:
        return size * (int(self.center) + int(self.scale))

    def output_shape(self, input_shape: Shape) -> Shape:
        self.param_counts(input_shape)
        return input_shape


@register_layer_spec
class BatchNormalization(_Affine):
    """Normalizes each feature over the batch, keeping moving averages for inference."""

    type: Literal["BatchNormalization"] = Field("BatchNormalization", description="The Keras layer class name.")
    axis: int = Field(-1, description="The feature axis to normalize (usually -1, channels last).")
    momentum: float = Field(0.99, ge=0, le=1, description="Momentum of the moving mean and variance.")
    moving_mean_initializer: InitializerRef = Field("zeros", description="Initializer of the moving mean.")
    moving_variance_initializer: InitializerRef = Field("ones", description="Initializer of the moving variance.")
    renorm: bool = Field(False, description="Whether to use batch renormalization (adds 3 non-trainable vectors).")
    renorm_clipping: dict[Literal["rmax", "rmin", "dmax"], float] | None = Field(
        None, description="Clipping of the renorm correction: keys rmax, rmin, dmax; null for none."
    )
    renorm_momentum: float = Field(0.99, ge=0, le=1, description="Momentum of the renorm moving statistics.")
    synchronized: bool = Field(False, description="Synchronize batch statistics across replicas (TensorFlow only).")

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        (size,) = _known("BatchNormalization", input_shape, _axes("BatchNormalization", input_shape, self.axis))
        return self._affine(size), size * (5 if self.renorm else 2)


@register_layer_spec
class LayerNormalization(_Affine):
    """Normalizes each sample over the given axes (the features by default)."""

    type: Literal["LayerNormalization"] = Field("LayerNormalization", description="The Keras layer class name.")
    axis: int | tuple[int, ...] = Field(-1, description="The axis, or list of axes, to normalize over.")

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        size = prod(_known("LayerNormalization", input_shape, _axes("LayerNormalization", input_shape, self.axis)))
        return self._affine(size or 0), 0


@register_layer_spec
class GroupNormalization(_Affine):
    """Normalizes each sample over groups of channels (-1 groups is instance normalization)."""

    type: Literal["GroupNormalization"] = Field("GroupNormalization", description="The Keras layer class name.")
    groups: int = Field(32, description="Number of channel groups; -1 for one group per channel.")
    axis: int = Field(-1, description="The channel axis.")

    @field_validator("groups")
    @classmethod
    def _check_groups(cls, value: int) -> int:
        if value <= 0 and value != -1:
            raise ValueError(f"expected a positive number of groups or -1 (instance normalization), received {value}")
        return value

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        (size,) = _known("GroupNormalization", input_shape, _axes("GroupNormalization", input_shape, self.axis))
        groups = size if self.groups == -1 else self.groups
        if size < groups or size % groups:
            raise ShapeError(
                f"GroupNormalization splits {size} channels into {groups} groups; the channels "
                f"(axis {self.axis} of {shape_str(input_shape)}) must be a multiple of groups"
            )
        return self._affine(size), 0


@register_layer_spec
class UnitNormalization(LayerSpec):
    """Scales each sample to unit L2 norm over the given axes."""

    family = "normalization"
    type: Literal["UnitNormalization"] = Field("UnitNormalization", description="The Keras layer class name.")
    axis: int | tuple[int, ...] = Field(-1, description="The axis, or list of axes, over which the norm is 1.")

    def output_shape(self, input_shape: Shape) -> Shape:
        _axes("UnitNormalization", input_shape, self.axis)
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        return 0, 0
