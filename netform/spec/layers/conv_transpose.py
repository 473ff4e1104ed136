"""Transposed convolution layers: Conv1DTranspose, Conv2DTranspose, Conv3DTranspose."""

from __future__ import annotations

from typing import ClassVar, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from .._layer_base import ShapeError, register_layer_spec
from .._types import ConstraintRef, InitializerRef, IntOrTuple, RegularizerRef, Shape
from ._util import join_spatial, prod, shape_str, split_spatial
from .conv import DILATION, STRIDES, TYPE_DESCRIPTION, BaseConvSpec

__all__ = ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"]

OutputPadding = Union[NonNegativeInt, tuple[NonNegativeInt, ...], None]


def _transpose_out(
    size: int | None, kernel: int, stride: int, padding: str, out_pad: int | None, dilation: int
) -> int | None:
    """Keras's ``_get_output_shape_given_tf_padding`` for one axis."""
    if size is None:
        return None
    kernel = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(kernel, stride) - kernel if out_pad is None else out_pad
        return (size - 1) * stride + kernel + extra
    if out_pad is None:
        return size * stride
    return (size - 1) * stride + kernel % 2 + out_pad


class ConvTransposeSpec(BaseConvSpec):
    """Base of the transposed convolutions (sometimes called deconvolutions)."""

    tuple_fields: ClassVar[tuple[str, ...]] = ("kernel_size", "strides", "dilation_rate", "output_padding")

    filters: PositiveInt = Field(description="Number of filters: the number of output channels.")
    output_padding: OutputPadding = Field(
        None,
        description=(
            "Extra size added to one side of each spatial axis of the output, each < the stride on that axis; "
            "null to infer it."
        ),
    )
    kernel_initializer: InitializerRef = Field("glorot_uniform", description="Initializer for the kernel.")
    kernel_regularizer: RegularizerRef = Field(None, description="Regularizer for the kernel; null for none.")
    kernel_constraint: ConstraintRef = Field(None, description="Constraint on the kernel; null for none.")

    @model_validator(mode="after")
    def _check_output_padding(self) -> ConvTransposeSpec:
        if self.output_padding is not None:
            for axis, (pad, stride) in enumerate(zip(self._ints("output_padding"), self._ints("strides"))):
                if pad >= stride:
                    raise ValueError(
                        f"`output_padding` must be smaller than `strides` on every axis, received "
                        f"output_padding={self.output_padding!r} and strides={self.strides!r} "
                        f"(axis {axis + 1}: {pad} >= {stride})"
                    )
        return self

    def output_shape(self, input_shape: Shape) -> Shape:
        spatial, _ = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
        channels = self._in_channels(input_shape)
        # Keras's transposed kernel: (*kernel_size, filters, input channels)
        self._check_kernel_and_bias((*self._ints("kernel_size"), self.filters, channels), self.filters)
        kernel, strides, dilation = self._ints("kernel_size"), self._ints("strides"), self._ints("dilation_rate")
        pads = (None,) * self.n_spatial if self.output_padding is None else self._ints("output_padding")
        out = [
            _transpose_out(size, kernel[i], strides[i], self.padding, pads[i], dilation[i])
            for i, size in enumerate(spatial)
        ]
        self._check_window_steps(list(spatial))  # (each input position spreads the kernel over the output)
        if any(d is not None and d <= 0 for d in out):
            empty = join_spatial(input_shape[0], out, self.filters, self.data_format)
            raise ShapeError(
                f"{self.type} would produce an empty output {shape_str(empty)} from input shape "
                f"{shape_str(input_shape)}; use a larger kernel_size or output_padding, or padding: valid"
            )
        return join_spatial(input_shape[0], out, self.filters, self.data_format)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        kernel = prod(self._ints("kernel_size")) * self.filters * self._in_channels(input_shape)
        return kernel + (self.filters if self.use_bias else 0), 0


@register_layer_spec
class Conv1DTranspose(ConvTransposeSpec):
    """1D transposed convolution: upsamples the steps of a sequence."""

    type: Literal["Conv1DTranspose"] = Field("Conv1DTranspose", description=TYPE_DESCRIPTION)


@register_layer_spec
class Conv2DTranspose(ConvTransposeSpec):
    """2D transposed convolution: upsamples images."""

    n_spatial: ClassVar[int] = 2
    type: Literal["Conv2DTranspose"] = Field("Conv2DTranspose", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1), description=DILATION)


@register_layer_spec
class Conv3DTranspose(ConvTransposeSpec):
    """3D transposed convolution: upsamples volumes."""

    n_spatial: ClassVar[int] = 3
    type: Literal["Conv3DTranspose"] = Field("Conv3DTranspose", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1, 1), description=DILATION)
