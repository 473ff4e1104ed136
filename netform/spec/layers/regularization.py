"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout,
ActivityRegularization.

All keep the input shape and have no weights; the noise layers act only in training.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import DataFormat, Shape
from ._util import DATA_FORMAT, TYPE_DESCRIPTION, expect_rank, shape_str, split_spatial

__all__ = [
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
]

RATE = "Fraction of the inputs to drop in training, in [0, 1)."
SEED = "Seed of the random noise, for reproducible training; null for a random seed."
NOISE_SHAPE = (
    "Shape of the dropout mask, batch included, broadcast over the input: a 1 shares the mask along that axis, "
    "null takes the input's size; null for a mask as large as the input. Fewer entries cover the last axes "
    "(TensorFlow broadcasts the mask from the last axis)."
)


class RegularizationSpec(LayerSpec):
    """Base of the regularization schemas: shape-preserving, no weights."""

    family: ClassVar[str] = "regularization"

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, *range(1, 9))
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


class _NoiseShaped(RegularizationSpec):
    """Adds a ``noise_shape`` that must broadcast to the input."""

    noise_shape: tuple[PositiveInt | None, ...] | None = Field(None, description=NOISE_SHAPE)

    def output_shape(self, input_shape: Shape) -> Shape:
        super().output_shape(input_shape)
        if self.noise_shape is None:
            return input_shape
        if not _noise_fits(self.noise_shape, input_shape):
            shown = "(" + ", ".join("None" if n is None else str(n) for n in self.noise_shape) + ")"
            raise ShapeError(
                f"{self.type} `noise_shape` {shown} does not broadcast to input shape {shape_str(input_shape)}; "
                "give one entry per axis (batch included), each 1, null or the input's size, or fewer entries "
                "for the last axes"
            )
        return input_shape


def _noise_fits(noise: tuple[int | None, ...], shape: Shape) -> bool:
    """Whether a dropout mask of shape ``noise`` broadcasts to ``shape`` without changing it, as Keras makes it.

    Keras puts the input's size for each null entry (``noise[i]`` takes ``shape[i]``), then TensorFlow
    broadcasts the mask to the input from the last axis: a shorter ``noise_shape`` covers the last axes
    (``[1]`` shares one mask value over a whole ``(batch, 4)`` input). A longer one would make the output
    larger than the input (Keras returns ``(1, batch, 4)`` for ``[1, 1, 1]``). An axis whose sizes are not
    known here (the batch) is left to TensorFlow, at run time.
    """
    if len(noise) > len(shape):
        return False
    made = [shape[i] if n is None else n for i, n in enumerate(noise)]
    offset = len(shape) - len(noise)
    for i, size in enumerate(made):
        target = shape[offset + i]
        if size == 1 or (noise[i] is None and offset == 0):
            continue  # a 1 broadcasts; a null on the same axis is the input's own size
        if size is not None and target is not None and size != target:
            return False
    return True


@register_layer_spec
class Dropout(_NoiseShaped):
    """Sets a random fraction ``rate`` of the inputs to 0 in training and scales the rest by 1 / (1 - rate)."""

    type: Literal["Dropout"] = Field("Dropout", description=TYPE_DESCRIPTION)
    rate: float = Field(ge=0, lt=1, description=RATE)
    seed: int | None = Field(None, description=SEED)


class _SpatialDropout(RegularizationSpec):
    """Drops whole channels (feature maps) instead of single values."""

    n_spatial: ClassVar[int] = 1
    rate: float = Field(ge=0, lt=1, description="Fraction of the channels to drop in training, in [0, 1).")
    seed: int | None = Field(None, description=SEED)

    def output_shape(self, input_shape: Shape) -> Shape:
        split_spatial(self.type, input_shape, self.n_spatial, getattr(self, "data_format", None))
        return input_shape

    def keras_arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        """Drop ``trainable``: Keras's SpatialDropout constructors do not take it (the layers have no weights)."""
        args.pop("trainable", None)
        return args


@register_layer_spec
class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a sequence (batch, steps, channels)."""

    type: Literal["SpatialDropout1D"] = Field("SpatialDropout1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["SpatialDropout2D"] = Field("SpatialDropout2D", description=TYPE_DESCRIPTION)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature maps of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["SpatialDropout3D"] = Field("SpatialDropout3D", description=TYPE_DESCRIPTION)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)


@register_layer_spec
class GaussianNoise(RegularizationSpec):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training."""

    type: Literal["GaussianNoise"] = Field("GaussianNoise", description=TYPE_DESCRIPTION)
    stddev: float = Field(ge=0, le=1, description="Standard deviation of the noise, in [0, 1].")
    seed: int | None = Field(None, description=SEED)


@register_layer_spec
class GaussianDropout(RegularizationSpec):
    """Multiplies the inputs by 1-centred Gaussian noise of variance rate / (1 - rate) in training."""

    type: Literal["GaussianDropout"] = Field("GaussianDropout", description=TYPE_DESCRIPTION)
    rate: float = Field(ge=0, lt=1, description="Drop probability, as for Dropout, in [0, 1).")
    seed: int | None = Field(None, description=SEED)


@register_layer_spec
class AlphaDropout(_NoiseShaped):
    """Dropout that keeps the mean and variance of the inputs, for self-normalizing (selu) networks."""

    type: Literal["AlphaDropout"] = Field("AlphaDropout", description=TYPE_DESCRIPTION)
    rate: float = Field(ge=0, lt=1, description=RATE)
    seed: int | None = Field(None, description=SEED)


@register_layer_spec
class ActivityRegularization(RegularizationSpec):
    """Adds ``l1 * sum(|x|) + l2 * sum(x**2)`` of its inputs to the training loss."""

    type: Literal["ActivityRegularization"] = Field("ActivityRegularization", description=TYPE_DESCRIPTION)
    l1: float = Field(0.0, ge=0, description="L1 regularization factor.")
    l2: float = Field(0.0, ge=0, description="L2 regularization factor.")
