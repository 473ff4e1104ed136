"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling.

None of them has weights. ``data_format: null`` means Keras's global image data
format, taken to be ``channels_last`` (Keras's default).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationInfo, field_validator

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import DataFormat, IntOrTuple, Shape
from ._util import expect_rank, join_spatial, prod, shape_str, split_spatial
from .conv import DATA_FORMAT, TYPE_DESCRIPTION, SpatialLayer

__all__ = [
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
]

Pair = tuple[NonNegativeInt, NonNegativeInt]
Amount1D = Union[NonNegativeInt, Pair]
"""An amount for one axis: the same on both sides, or ``(before, after)``."""
AmountND = Union[NonNegativeInt, tuple[Union[NonNegativeInt, Pair], ...]]
"""An int for every side of every axis, or one entry per axis (an int or ``(before, after)``)."""


class ReshapingSpec(SpatialLayer):
    """Base of the reshaping layers: no weights."""

    family: ClassVar[str] = "reshaping"

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


@register_layer_spec
class Flatten(ReshapingSpec):
    """Flattens every axis but the batch axis into one."""

    type: Literal["Flatten"] = Field("Flatten", description=TYPE_DESCRIPTION)
    data_format: DataFormat = Field(
        None, description="Order in which axes are flattened: channels_first inputs are moved to channels_last first."
    )

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *range(1, 9))
        rest = input_shape[1:]
        return (input_shape[0], prod(rest) if rest else 1)


@register_layer_spec
class Reshape(ReshapingSpec):
    """Reshapes every sample to ``target_shape`` (the batch axis is kept)."""

    type: Literal["Reshape"] = Field("Reshape", description=TYPE_DESCRIPTION)
    target_shape: tuple[int, ...] = Field(
        description="The shape of each sample, batch excluded; one entry may be -1 to infer it from the size."
    )

    @field_validator("target_shape")
    @classmethod
    def _check_target(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d == 0 or d < -1 for d in value):
            raise ValueError(f"`target_shape` entries must be positive ints or -1, received {list(value)}")
        if value.count(-1) > 1:
            raise ValueError(f"`target_shape` may contain at most one -1 (inferred size), received {list(value)}")
        return value

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *range(1, 9))
        target = self.target_shape
        size = prod(input_shape[1:])
        if size is None:
            return (input_shape[0], *(None if d == -1 else d for d in target))
        known = prod([d for d in target if d != -1])
        if -1 not in target and size != known:
            raise ShapeError(
                f"Reshape cannot turn input shape {shape_str(input_shape)} ({size} values per sample) into "
                f"target_shape {list(target)} ({known} values); the sizes must match"
            )
        if -1 in target and size % known:
            raise ShapeError(
                f"Reshape cannot turn input shape {shape_str(input_shape)} ({size} values per sample) into "
                f"target_shape {list(target)}: {size} is not divisible by {known}"
            )
        return (input_shape[0], *(size // known if d == -1 else d for d in target))


@register_layer_spec
class Permute(ReshapingSpec):
    """Permutes the non-batch axes, e.g. ``dims: [2, 1]`` swaps the first two."""

    type: Literal["Permute"] = Field("Permute", description=TYPE_DESCRIPTION)
    dims: tuple[PositiveInt, ...] = Field(
        description="The new order of the non-batch axes, numbered from 1, e.g. [2, 1]."
    )

    @field_validator("dims")
    @classmethod
    def _check_dims(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if sorted(value) != list(range(1, len(value) + 1)):
            raise ValueError(
                f"`dims` must be a permutation of 1..{len(value)} (axis 0 is the batch), received {list(value)}"
            )
        return value

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, len(self.dims) + 1)
        return (input_shape[0], *(input_shape[d] for d in self.dims))


@register_layer_spec
class RepeatVector(ReshapingSpec):
    """Repeats a (batch, features) input ``n`` times: (batch, n, features)."""

    type: Literal["RepeatVector"] = Field("RepeatVector", description=TYPE_DESCRIPTION)
    n: PositiveInt = Field(description="Number of repetitions.")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, 2)
        return (input_shape[0], self.n, input_shape[1])


def _layout(spec: LayerSpec) -> str | None:
    """The data format of a spatial layer; the 1D layers without one are channels_last."""
    return getattr(spec, "data_format", None)


def _pairs(value: Any, n: int) -> list[tuple[int, int]]:
    """Expand a padding or cropping amount to ``n`` ``(before, after)`` pairs."""
    if isinstance(value, int):
        return [(value, value)] * n
    if n == 1:
        return [tuple(value)]
    return [(v, v) if isinstance(v, int) else tuple(v) for v in value]


class _AmountSpec(ReshapingSpec):
    """Base of ZeroPadding and Cropping: an amount per side of every spatial axis."""

    amount_field: ClassVar[str] = "padding"

    @field_validator("*")
    @classmethod
    def _check_amount(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == cls.amount_field and cls.n_spatial > 1 and isinstance(value, tuple):
            if len(value) != cls.n_spatial:
                raise ValueError(
                    f"`{cls.amount_field}` must be an int, or a list of {cls.n_spatial} entries (one per spatial "
                    f"axis, each an int or [before, after]), received {len(value)} entries"
                )
        return value

    def _resize(self, input_shape: Shape, sign: int) -> Shape:
        layout = _layout(self)
        spatial, channels = split_spatial(self.type, input_shape, self.n_spatial, layout)
        amounts = _pairs(getattr(self, self.amount_field), self.n_spatial)
        out: list[int | None] = []
        for axis, (size, (before, after)) in enumerate(zip(spatial, amounts)):
            new = None if size is None else size + sign * (before + after)
            if new is not None and new <= 0:
                raise ShapeError(
                    f"{self.type} crops {before + after} from spatial axis {axis + 1} of input shape "
                    f"{shape_str(input_shape)}, which has only {size}; use a smaller `cropping`"
                )
            out.append(new)
        return join_spatial(input_shape[0], out, channels, layout)


class _ZeroPadding(_AmountSpec):
    """Pads the spatial axes with zeros."""

    def output_shape(self, input_shape: Shape) -> Shape:
        return self._resize(input_shape, +1)


class _Cropping(_AmountSpec):
    """Crops the spatial axes."""

    amount_field: ClassVar[str] = "cropping"

    def output_shape(self, input_shape: Shape) -> Shape:
        return self._resize(input_shape, -1)


PADDING_1D = "Zeros added before and after the steps: an int for both sides, or [before, after]."
PADDING_ND = (
    "Zeros added to each spatial axis: an int for every side, or one entry per axis, "
    "each an int (both sides) or [before, after]."
)
CROPPING_1D = "Steps removed before and after: an int for both sides, or [before, after]."
CROPPING_ND = (
    "Values removed from each spatial axis: an int for every side, or one entry per axis, "
    "each an int (both sides) or [before, after]."
)


@register_layer_spec
class ZeroPadding1D(_ZeroPadding):
    """Pads the steps of a sequence with zeros."""

    type: Literal["ZeroPadding1D"] = Field("ZeroPadding1D", description=TYPE_DESCRIPTION)
    padding: Amount1D = Field(1, description=PADDING_1D)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class ZeroPadding2D(_ZeroPadding):
    """Pads the height and width of an image with zeros."""

    n_spatial: ClassVar[int] = 2
    type: Literal["ZeroPadding2D"] = Field("ZeroPadding2D", description=TYPE_DESCRIPTION)
    padding: AmountND = Field((1, 1), description=PADDING_ND)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class ZeroPadding3D(_ZeroPadding):
    """Pads the three spatial axes of a volume with zeros."""

    n_spatial: ClassVar[int] = 3
    type: Literal["ZeroPadding3D"] = Field("ZeroPadding3D", description=TYPE_DESCRIPTION)
    padding: AmountND = Field(((1, 1), (1, 1), (1, 1)), description=PADDING_ND)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class Cropping1D(_Cropping):
    """Crops the steps of a sequence (batch, steps, features)."""

    type: Literal["Cropping1D"] = Field("Cropping1D", description=TYPE_DESCRIPTION)
    cropping: Amount1D = Field((1, 1), description=CROPPING_1D)


@register_layer_spec
class Cropping2D(_Cropping):
    """Crops the height and width of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["Cropping2D"] = Field("Cropping2D", description=TYPE_DESCRIPTION)
    cropping: AmountND = Field(((0, 0), (0, 0)), description=CROPPING_ND)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class Cropping3D(_Cropping):
    """Crops the three spatial axes of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["Cropping3D"] = Field("Cropping3D", description=TYPE_DESCRIPTION)
    cropping: AmountND = Field(((1, 1), (1, 1), (1, 1)), description=CROPPING_ND)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


class _UpSampling(ReshapingSpec):
    """Repeats (or interpolates) every spatial axis ``size`` times."""

    tuple_fields: ClassVar[tuple[str, ...]] = ("size",)

    def output_shape(self, input_shape: Shape) -> Shape:
        layout = _layout(self)
        spatial, channels = split_spatial(self.type, input_shape, self.n_spatial, layout)
        factors = self._ints("size")
        out = [None if d is None else d * f for d, f in zip(spatial, factors)]
        return join_spatial(input_shape[0], out, channels, layout)


@register_layer_spec
class UpSampling1D(_UpSampling):
    """Repeats each step of a sequence ``size`` times."""

    type: Literal["UpSampling1D"] = Field("UpSampling1D", description=TYPE_DESCRIPTION)
    size: PositiveInt = Field(2, description="Upsampling factor: how many times each step is repeated.")


@register_layer_spec
class UpSampling2D(_UpSampling):
    """Upsamples the height and width of an image by ``size``."""

    n_spatial: ClassVar[int] = 2
    type: Literal["UpSampling2D"] = Field("UpSampling2D", description=TYPE_DESCRIPTION)
    size: IntOrTuple = Field((2, 2), description="Upsampling factor: one int for both axes, or [height, width].")
    data_format: DataFormat = Field(None, description=DATA_FORMAT)
    interpolation: Literal["bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area"] = Field(
        "nearest", description="How new values are computed: 'nearest' repeats; the others interpolate."
    )


@register_layer_spec
class UpSampling3D(_UpSampling):
    """Repeats each value of a volume ``size`` times along each spatial axis."""

    n_spatial: ClassVar[int] = 3
    type: Literal["UpSampling3D"] = Field("UpSampling3D", description=TYPE_DESCRIPTION)
    size: IntOrTuple = Field((2, 2, 2), description="Upsampling factor: one int for every axis, or one per axis.")
    data_format: DataFormat = Field(None, description=DATA_FORMAT)
