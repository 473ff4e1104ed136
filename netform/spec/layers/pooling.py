"""Pooling layers: Max/AveragePooling1D/2D/3D and GlobalAverage/GlobalMaxPooling1D/2D/3D.

``data_format: null`` means Keras's global image data format, taken to be
``channels_last`` (Keras's default).
"""

from __future__ import annotations

from typing import ClassVar, Literal, Sequence

from pydantic import Field

from .._layer_base import LimitError, register_layer_spec
from .._types import MAX_ELEMENTS, DataFormat, IntOrTuple, Padding, Shape
from ._util import join_spatial, prod, split_spatial, window_out
from .conv import DATA_FORMAT, TYPE_DESCRIPTION, SpatialLayer

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
]

POOL_SIZE = "Size of the pooling window: one int for every spatial axis, or a list with one per axis."
POOL_STRIDES = "Step of the window: one int for every spatial axis, or one per axis; null for pool_size."
POOL_PADDING = "'valid' (no padding: the output shrinks) or 'same' (pad so that output = ceil(input / strides))."

#: The most window positions a 'same'-padded pooling layer may slide over the padded edge of one axis: the
#: outputs whose window reaches into the padding, times the input steps each covers. TensorFlow's pooling cost
#: grows with it, not with the input's length (measured on a CPU: a window of 2,048 over 2,048 steps, 4.2
#: million, took 1.3 s and 250 MB a sample; 4,096 over 4,096 took 5 s and 1 GB, and 16,384 crashed the process).
MAX_POOL_EDGE = 2**22


def check_pool_reads(what: str, out: Sequence[int], pool: Sequence[int], channels: int | None) -> None:
    """Refuse a pooling window that reads more than :data:`MAX_ELEMENTS` values a sample: output positions x
    window x channels (TensorFlow visits each window whole). ``what``: the layer or op, for the message."""
    positions, window = prod(list(out)), prod(list(pool))
    reads = positions * window * (channels or 1)
    if reads <= MAX_ELEMENTS:
        return
    raise LimitError(
        f"{what} reads {reads:,} values a sample ({positions:,} output positions x a window of {window:,} x "
        f"{channels or 1:,} channels); TensorFlow visits each window whole (a MaxPooling2D of 512 x 512 with "
        f"strides 1 over a 1,024 x 1,024 image took 47 s of CPU a sample), and the limit is {MAX_ELEMENTS:,}, as "
        "for any tensor: use larger strides or a smaller window, or a global pooling layer for a window as large "
        "as the input"
    )


def check_pool_edge(what: str, axis: int, size: int | None, out: int | None, pool: int, stride: int) -> None:
    """Refuse a 'same'-padded window whose edge work on one axis passes :data:`MAX_POOL_EDGE` (an input of
    unknown length counted as at least the window). ``what``: the layer or op, for the message."""
    covered = pool if size is None else min(pool, size)
    edge = -(-pool // stride) if out is None else min(out, -(-pool // stride))
    if covered * edge <= MAX_POOL_EDGE:
        return
    raise LimitError(
        f"{what} slides {edge:,} windows of {covered:,} steps over the padded edge of spatial axis {axis} "
        f"({covered * edge:,} window steps a sample); TensorFlow's cost grows with that number, not with the "
        f"input (a window of 4,096 over 4,096 steps takes 1 GB and 5 s of CPU a sample; 16,384 crashes the "
        f"process), and the limit is {MAX_POOL_EDGE:,}: use a smaller window, larger strides, or padding 'valid'"
    )


def check_pool_cost(
    what: str,
    spatial: Sequence[int | None],
    out: Sequence[int | None],
    pool: Sequence[int],
    strides: Sequence[int],
    padding: str,
    channels: int | None,
) -> None:
    """Both pooling bounds (:func:`check_pool_edge` on each axis when 'same'-padded, :func:`check_pool_reads`)."""
    if padding == "same":
        for i, (size, n) in enumerate(zip(spatial, out)):
            check_pool_edge(f"{what} and padding 'same'", i + 1, size, n, pool[i], strides[i])
    if all(n is not None for n in out):
        check_pool_reads(what, [n for n in out if n is not None], pool, channels)


class PoolingSpec(SpatialLayer):
    """Base of the windowed pooling layers; no weights."""

    family: ClassVar[str] = "pooling"
    tuple_fields: ClassVar[tuple[str, ...]] = ("pool_size", "strides")
    limits_inside: ClassVar[bool] = True  # (the windows over a 'same'-padded edge, the values the windows read)

    pool_size: IntOrTuple = Field(2, description=POOL_SIZE)
    strides: IntOrTuple | None = Field(None, description=POOL_STRIDES)
    padding: Padding = Field("valid", description=POOL_PADDING)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)

    def output_shape(self, input_shape: Shape) -> Shape:
        spatial, channels = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
        pool = self._ints("pool_size")
        strides = pool if self.strides is None else self._ints("strides")
        out = [
            window_out(self.type, input_shape, i + 1, size, pool[i], strides[i], self.padding)
            for i, size in enumerate(spatial)
        ]
        if self.padding == "same":
            for i, (size, n) in enumerate(zip(spatial, out)):
                self._check_edge(i + 1, size, n, pool[i], strides[i])
        if all(n is not None for n in out):
            self._check_reads([n for n in out if n is not None], pool, channels)
        return join_spatial(input_shape[0], out, channels, self.data_format)

    def _check_reads(self, out: list[int], pool: tuple[int, ...], channels: int | None) -> None:
        check_pool_reads(
            f"{self.type} with pool_size {self.pool_size!r} and strides {self.strides!r}", out, pool, channels
        )

    def _check_edge(self, axis: int, size: int | None, out: int | None, pool: int, stride: int) -> None:
        what = f"{self.type} with pool_size {self.pool_size!r}, strides {self.strides!r} and padding 'same'"
        check_pool_edge(what, axis, size, out, pool, stride)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


@register_layer_spec
class MaxPooling1D(PoolingSpec):
    """Max over windows of steps of a sequence."""

    type: Literal["MaxPooling1D"] = Field("MaxPooling1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class MaxPooling2D(PoolingSpec):
    """Max over windows of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["MaxPooling2D"] = Field("MaxPooling2D", description=TYPE_DESCRIPTION)
    pool_size: IntOrTuple = Field((2, 2), description=POOL_SIZE)


@register_layer_spec
class MaxPooling3D(PoolingSpec):
    """Max over windows of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["MaxPooling3D"] = Field("MaxPooling3D", description=TYPE_DESCRIPTION)
    pool_size: IntOrTuple = Field((2, 2, 2), description=POOL_SIZE)


@register_layer_spec
class AveragePooling1D(PoolingSpec):
    """Mean over windows of steps of a sequence."""

    type: Literal["AveragePooling1D"] = Field("AveragePooling1D", description=TYPE_DESCRIPTION)
    pool_size: IntOrTuple = Field(description=POOL_SIZE)


@register_layer_spec
class AveragePooling2D(PoolingSpec):
    """Mean over windows of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["AveragePooling2D"] = Field("AveragePooling2D", description=TYPE_DESCRIPTION)
    pool_size: IntOrTuple = Field(description=POOL_SIZE)


@register_layer_spec
class AveragePooling3D(PoolingSpec):
    """Mean over windows of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["AveragePooling3D"] = Field("AveragePooling3D", description=TYPE_DESCRIPTION)
    pool_size: IntOrTuple = Field(description=POOL_SIZE)


class GlobalPoolingSpec(SpatialLayer):
    """Base of the global pooling layers: reduce every spatial axis; no weights."""

    family: ClassVar[str] = "pooling"

    data_format: DataFormat = Field(None, description=DATA_FORMAT)
    keepdims: bool = Field(False, description="Keep the spatial axes with size 1 instead of dropping them.")

    def output_shape(self, input_shape: Shape) -> Shape:
        _, channels = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
        spatial = [1] * self.n_spatial if self.keepdims else []
        return join_spatial(input_shape[0], spatial, channels, self.data_format)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


@register_layer_spec
class GlobalAveragePooling1D(GlobalPoolingSpec):
    """Mean over all steps of a sequence (masked steps excluded)."""

    type: Literal["GlobalAveragePooling1D"] = Field("GlobalAveragePooling1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class GlobalAveragePooling2D(GlobalPoolingSpec):
    """Mean over the height and width of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["GlobalAveragePooling2D"] = Field("GlobalAveragePooling2D", description=TYPE_DESCRIPTION)


@register_layer_spec
class GlobalAveragePooling3D(GlobalPoolingSpec):
    """Mean over the three spatial axes of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["GlobalAveragePooling3D"] = Field("GlobalAveragePooling3D", description=TYPE_DESCRIPTION)


@register_layer_spec
class GlobalMaxPooling1D(GlobalPoolingSpec):
    """Max over all steps of a sequence."""

    type: Literal["GlobalMaxPooling1D"] = Field("GlobalMaxPooling1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class GlobalMaxPooling2D(GlobalPoolingSpec):
    """Max over the height and width of an image."""

    n_spatial: ClassVar[int] = 2
    type: Literal["GlobalMaxPooling2D"] = Field("GlobalMaxPooling2D", description=TYPE_DESCRIPTION)


@register_layer_spec
class GlobalMaxPooling3D(GlobalPoolingSpec):
    """Max over the three spatial axes of a volume."""

    n_spatial: ClassVar[int] = 3
    type: Literal["GlobalMaxPooling3D"] = Field("GlobalMaxPooling3D", description=TYPE_DESCRIPTION)
