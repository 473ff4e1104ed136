"""Convolution layers: Conv1D/2D/3D, SeparableConv1D/2D, DepthwiseConv1D/2D.

The transposed convolutions live in :mod:`.conv_transpose`. ``data_format:
null`` means Keras's global image data format, which netform takes to be
``channels_last`` (Keras's default).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Sequence

from pydantic import Field, PositiveInt, ValidationInfo, field_validator, model_validator

from .._layer_base import LayerSpec, LimitError, ShapeError, register_layer_spec
from .._types import (
    MAX_ELEMENTS,
    ActivationRef,
    ConstraintRef,
    DataFormat,
    InitializerRef,
    IntOrTuple,
    Padding,
    RegularizerRef,
    Shape,
)
from ._util import (
    DATA_FORMAT,
    TYPE_DESCRIPTION,
    as_tuple,
    check_ints,
    check_weight,
    join_spatial,
    known_channels,
    prod,
    shape_str,
    split_spatial,
    window_out,
)

__all__ = [
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
]

KERNEL_SIZE = "Size of the convolution window: one int for every spatial axis, or a list with one per axis."
STRIDES = "Step of the window: one int for every spatial axis, or one per axis. Values > 1 exclude dilation_rate > 1."
PADDING = "'valid' (no padding: the output shrinks) or 'same' (zero-pad so that output = ceil(input / strides))."
DILATION = "Spacing between kernel taps (atrous convolution): one int for every spatial axis, or one per axis."


def check_kernel_steps(what: str, positions: Sequence[int | None], cells: int) -> None:
    """Refuse a kernel of ``cells`` cells slid over more than :data:`MAX_ELEMENTS` positions x kernel cells a
    sample (unknown positions: not checked). A convolution's cost is that number times its channels, which grow
    with its weights; that number grows with neither: a ``DepthwiseConv2D`` of kernel 256 over 1,024 x 1,024,
    65,537 weights in a 274 KB file, took 34 s of CPU a sample. ``what``: the layer or op, for the message."""
    if any(n is None for n in positions):
        return
    steps = prod([n for n in positions if n is not None]) * cells
    if steps <= MAX_ELEMENTS:
        return
    raise LimitError(
        f"{what} slides its kernel of {cells:,} cells over {steps // max(cells, 1):,} positions, {steps:,} kernel "
        "steps a sample; TensorFlow's cost grows with that number times the channels, whatever the weights (a "
        f"DepthwiseConv2D of kernel 256 over 1,024 x 1,024 took 34 s of CPU a sample), and the limit is "
        f"{MAX_ELEMENTS:,}: use a smaller kernel, larger strides, or a smaller input"
    )


class SpatialLayer(LayerSpec):
    """Base of layers with a window over ``n_spatial`` axes: checks the length of int-or-list fields."""

    n_spatial: ClassVar[int] = 1
    tuple_fields: ClassVar[tuple[str, ...]] = ()

    @field_validator("*")
    @classmethod
    def _check_tuple_length(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.tuple_fields:
            return check_ints(value, cls.n_spatial, info.field_name)
        return value

    def _ints(self, field: str) -> tuple[int, ...]:
        return as_tuple(getattr(self, field), self.n_spatial, field)


class BaseConvSpec(SpatialLayer):
    """Fields and window arithmetic shared by every convolution schema."""

    family: ClassVar[str] = "conv"
    limits_inside: ClassVar[bool] = True  # (a sample padded for a dilated kernel, the kernel's steps)
    tuple_fields: ClassVar[tuple[str, ...]] = ("kernel_size", "strides", "dilation_rate")
    #: Keras refuses strides > 1 with dilation_rate > 1 (depthwise and separable convs decompose instead).
    strides_exclude_dilation: ClassVar[bool] = True

    kernel_size: IntOrTuple = Field(description=KERNEL_SIZE)
    strides: IntOrTuple = Field(1, description=STRIDES)
    padding: Padding = Field("valid", description=PADDING)
    data_format: DataFormat = Field(None, description=DATA_FORMAT)
    dilation_rate: IntOrTuple = Field(1, description=DILATION)
    activation: ActivationRef = None
    use_bias: bool = Field(True, description="Whether the layer adds a bias vector to the output.")
    bias_initializer: InitializerRef = Field("zeros", description="Initializer for the bias vector.")
    bias_regularizer: RegularizerRef = Field(None, description="Regularizer for the bias vector; null for none.")
    activity_regularizer: RegularizerRef = Field(None, description="Regularizer for the layer output; null for none.")
    bias_constraint: ConstraintRef = Field(None, description="Constraint on the bias vector; null for none.")

    @model_validator(mode="after")
    def _check_strides_dilation(self) -> BaseConvSpec:
        if self.strides_exclude_dilation and max(self._ints("strides")) > 1 and max(self._ints("dilation_rate")) > 1:
            raise ValueError(
                f"{self.type} does not support strides > 1 together with dilation_rate > 1, received "
                f"strides={self.strides!r} and dilation_rate={self.dilation_rate!r}; set one of them to 1"
            )
        return self

    def _conv_output(self, input_shape: Shape, out_channels: int | None) -> Shape:
        spatial, _ = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
        kernel, strides, dilation = self._ints("kernel_size"), self._ints("strides"), self._ints("dilation_rate")
        out = [
            window_out(self.type, input_shape, i + 1, size, kernel[i], strides[i], self.padding, dilation[i])
            for i, size in enumerate(spatial)
        ]
        if max(dilation) > 1 and all(size is not None for size in spatial):
            # TensorFlow runs a dilated convolution on each sample padded (by the kernel's reach) to a multiple of
            # the dilation on every axis (SpaceToBatchND): a dilation far past the input pads it far past its size
            padded = [
                -(-(size + (k - 1) * d) // d) * d for size, k, d in zip(spatial, kernel, dilation) if size is not None
            ]
            _, channels = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
            values = prod(padded) * (channels or 1)
            if values > MAX_ELEMENTS:
                raise LimitError(
                    f"{self.type} with dilation_rate {self.dilation_rate!r} pads each sample to "
                    f"{' x '.join(f'{p:,}' for p in padded)} ({values:,} values) to dilate its kernel; the limit is "
                    f"{MAX_ELEMENTS:,} values a sample, as for any tensor: use a dilation no larger than the input"
                )
        self._check_window_steps(out)
        return join_spatial(input_shape[0], out, out_channels, self.data_format)

    def _check_window_steps(self, positions: list[int | None]) -> None:
        """:func:`check_kernel_steps` of this layer's kernel (``positions``: the output's for a convolution, the
        input's for a transposed one)."""
        what = f"{self.type} with kernel_size {self.kernel_size!r}"
        check_kernel_steps(what, positions, prod(list(self._ints("kernel_size"))))

    def _in_channels(self, input_shape: Shape) -> int:
        _, channels = split_spatial(self.type, input_shape, self.n_spatial, self.data_format)
        return known_channels(self.type, input_shape, channels, self.data_format)

    def _check_kernel_and_bias(self, kernel_shape: tuple[int, ...], bias_units: int, kernel: str = "kernel") -> None:
        """Check the kernel (its ``<kernel>_initializer`` and ``<kernel>_regularizer``) of ``kernel_shape``,
        and the bias of ``bias_units`` when there is one, can be made as the spec asks."""
        initializer, regularizer = f"{kernel}_initializer", f"{kernel}_regularizer"
        check_weight(
            self.type,
            kernel_shape,
            (initializer, getattr(self, initializer)),
            (regularizer, getattr(self, regularizer)),
            dtype=self.dtype,
        )
        if self.use_bias:
            bias = ("bias_initializer", self.bias_initializer)
            check_weight(self.type, (bias_units,), bias, ("bias_regularizer", self.bias_regularizer), dtype=self.dtype)


class ConvSpec(BaseConvSpec):
    """Base of Conv1D/2D/3D: ``filters`` kernels, optionally grouped, with optional LoRA."""

    filters: PositiveInt = Field(description="Number of filters: the number of output channels.")
    groups: PositiveInt = Field(
        1, description="Split the input channels into this many groups, each convolved with filters / groups filters."
    )
    kernel_initializer: InitializerRef = Field("glorot_uniform", description="Initializer for the kernel.")
    kernel_regularizer: RegularizerRef = Field(None, description="Regularizer for the kernel; null for none.")
    kernel_constraint: ConstraintRef = Field(None, description="Constraint on the kernel; null for none.")
    lora_rank: PositiveInt | None = Field(
        None, description="Rank of a trainable LoRA update of the (then frozen) kernel; null for none."
    )
    lora_alpha: float | None = Field(
        None, gt=0, description="LoRA scale: the update is multiplied by lora_alpha / lora_rank; null for lora_rank."
    )

    @model_validator(mode="after")
    def _check_filters(self) -> ConvSpec:
        if self.filters % self.groups:
            raise ValueError(
                f"`filters` must be divisible by `groups`, received filters={self.filters} and groups={self.groups}"
            )
        if self.lora_alpha is not None and self.lora_rank is None:
            raise ValueError("`lora_alpha` has no effect without `lora_rank`; set lora_rank or remove lora_alpha")
        if self.lora_rank is not None and self.kernel_constraint is not None:
            raise ValueError("LoRA (`lora_rank`) is incompatible with `kernel_constraint` in Keras; remove one of them")
        return self

    def _group_channels(self, input_shape: Shape) -> int:
        channels = self._in_channels(input_shape)
        if channels % self.groups:
            raise ShapeError(
                f"{self.type} with groups={self.groups} needs a number of input channels divisible by "
                f"{self.groups}, received shape {shape_str(input_shape)} with {channels} channels"
            )
        return channels // self.groups

    def output_shape(self, input_shape: Shape) -> Shape:
        channels = self._group_channels(input_shape)
        self._check_kernel_and_bias((*self._ints("kernel_size"), channels, self.filters), self.filters)
        return self._conv_output(input_shape, self.filters)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        fan_in = prod(self._ints("kernel_size")) * self._group_channels(input_shape)
        kernel = fan_in * self.filters
        bias = self.filters if self.use_bias else 0
        if self.lora_rank is None:
            return kernel + bias, 0
        # LoRA freezes the kernel and trains two low-rank factors instead.
        lora = fan_in * self.lora_rank + self.lora_rank * self.filters
        return lora + bias, kernel


@register_layer_spec
class Conv1D(ConvSpec):
    """1D convolution over the steps of a sequence (batch, steps, channels)."""

    type: Literal["Conv1D"] = Field("Conv1D", description=TYPE_DESCRIPTION)
    # A Pydantic field widened in a subclass (Conv1D alone takes "causal"), which mypy reads as an attribute.
    padding: Literal["valid", "same", "causal"] = Field(  # type: ignore[assignment]
        "valid", description=PADDING[:-1] + "; or 'causal' (pad on the left only, for temporal models)."
    )


@register_layer_spec
class Conv2D(ConvSpec):
    """2D convolution over images (batch, height, width, channels)."""

    n_spatial: ClassVar[int] = 2
    type: Literal["Conv2D"] = Field("Conv2D", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1), description=DILATION)


@register_layer_spec
class Conv3D(ConvSpec):
    """3D convolution over volumes (batch, depth, height, width, channels)."""

    n_spatial: ClassVar[int] = 3
    type: Literal["Conv3D"] = Field("Conv3D", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1, 1), description=DILATION)


class DepthwiseSpec(BaseConvSpec):
    """Base of depthwise and separable convolutions: one kernel per input channel."""

    strides_exclude_dilation: ClassVar[bool] = False

    depth_multiplier: PositiveInt = Field(1, description="Number of depthwise output channels per input channel.")
    depthwise_initializer: InitializerRef = Field("glorot_uniform", description="Initializer for the depthwise kernel.")
    depthwise_regularizer: RegularizerRef = Field(
        None, description="Regularizer for the depthwise kernel; null for none."
    )
    depthwise_constraint: ConstraintRef = Field(None, description="Constraint on the depthwise kernel; null for none.")

    def _check_weights(self, input_shape: Shape, out_channels: int) -> int:
        """Check the depthwise kernel (``(*kernel_size, channels, depth_multiplier)``) and the bias (of
        ``out_channels``) can be made as the spec asks; return the input channels."""
        channels = self._in_channels(input_shape)
        kernel_shape = (*self._ints("kernel_size"), channels, self.depth_multiplier)
        self._check_kernel_and_bias(kernel_shape, out_channels, kernel="depthwise")
        return channels


class _Depthwise(DepthwiseSpec):
    """Depthwise convolution: output channels = input channels × depth_multiplier."""

    def output_shape(self, input_shape: Shape) -> Shape:
        channels = self._in_channels(input_shape)
        self._check_weights(input_shape, channels * self.depth_multiplier)
        return self._conv_output(input_shape, channels * self.depth_multiplier)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        out_channels = self._in_channels(input_shape) * self.depth_multiplier
        return prod(self._ints("kernel_size")) * out_channels + (out_channels if self.use_bias else 0), 0


@register_layer_spec
class DepthwiseConv1D(_Depthwise):
    """1D depthwise convolution: each input channel convolved with its own kernels."""

    type: Literal["DepthwiseConv1D"] = Field("DepthwiseConv1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class DepthwiseConv2D(_Depthwise):
    """2D depthwise convolution: each input channel convolved with its own kernels."""

    n_spatial: ClassVar[int] = 2
    type: Literal["DepthwiseConv2D"] = Field("DepthwiseConv2D", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1), description=DILATION)


class _Separable(DepthwiseSpec):
    """Depthwise convolution followed by a 1×1 pointwise convolution to ``filters`` channels."""

    filters: PositiveInt = Field(description="Number of output channels of the pointwise convolution.")
    pointwise_initializer: InitializerRef = Field("glorot_uniform", description="Initializer for the pointwise kernel.")
    pointwise_regularizer: RegularizerRef = Field(
        None, description="Regularizer for the pointwise kernel; null for none."
    )
    pointwise_constraint: ConstraintRef = Field(None, description="Constraint on the pointwise kernel; null for none.")

    def output_shape(self, input_shape: Shape) -> Shape:
        channels = self._check_weights(input_shape, self.filters)
        check_weight(  # the pointwise kernel: (*ones, channels × depth_multiplier, filters)
            self.type,
            (*(1,) * self.n_spatial, channels * self.depth_multiplier, self.filters),
            ("pointwise_initializer", self.pointwise_initializer),
            ("pointwise_regularizer", self.pointwise_regularizer),
            dtype=self.dtype,
        )
        return self._conv_output(input_shape, self.filters)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self.output_shape(input_shape)
        depthwise = self._in_channels(input_shape) * self.depth_multiplier
        total = prod(self._ints("kernel_size")) * depthwise + depthwise * self.filters
        return total + (self.filters if self.use_bias else 0), 0


@register_layer_spec
class SeparableConv1D(_Separable):
    """1D separable convolution: depthwise then pointwise."""

    type: Literal["SeparableConv1D"] = Field("SeparableConv1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class SeparableConv2D(_Separable):
    """2D separable convolution: depthwise then pointwise."""

    n_spatial: ClassVar[int] = 2
    type: Literal["SeparableConv2D"] = Field("SeparableConv2D", description=TYPE_DESCRIPTION)
    strides: IntOrTuple = Field((1, 1), description=STRIDES)
    dilation_rate: IntOrTuple = Field((1, 1), description=DILATION)
