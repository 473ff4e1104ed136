"""Core layers: Dense, EinsumDense, Activation, Identity, Embedding."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import ActivationRef, ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import check_weight, expect_rank, last_dim, prod, shape_str


@register_layer_spec
class Dense(LayerSpec):
    """Densely-connected layer: ``activation(dot(x, kernel) + bias)`` on the last axis."""

    type: Literal["Dense"] = "Dense"
    units: PositiveInt = Field(description="Dimensionality of the output space.")
    activation: ActivationRef = None
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: InitializerRef = "glorot_uniform"
    bias_initializer: InitializerRef = "zeros"
    kernel_regularizer: RegularizerRef = None
    bias_regularizer: RegularizerRef = None
    activity_regularizer: RegularizerRef = None
    kernel_constraint: ConstraintRef = None
    bias_constraint: ConstraintRef = None
    lora_rank: PositiveInt | None = Field(None, description="Rank of a LoRA update of the kernel; null for none.")
    lora_alpha: PositiveFloat | None = Field(None, description="LoRA scale numerator (defaults to lora_rank).")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank("Dense", input_shape, *range(2, 9))
        n_in = last_dim("Dense", input_shape)
        kernel = ("kernel_initializer", self.kernel_initializer)
        check_weight(
            "Dense", (n_in, self.units), kernel, ("kernel_regularizer", self.kernel_regularizer), dtype=self.dtype
        )
        if self.use_bias:
            bias = ("bias_initializer", self.bias_initializer)
            check_weight("Dense", (self.units,), bias, ("bias_regularizer", self.bias_regularizer), dtype=self.dtype)
        return input_shape[:-1] + (self.units,)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        n_in = last_dim("Dense", input_shape)
        bias = self.units if self.use_bias else 0
        if self.lora_rank:
            # LoRA freezes the kernel and trains two low-rank factors instead.
            return self.lora_rank * (n_in + self.units) + bias, n_in * self.units
        return n_in * self.units + bias, 0


# Keras's three accepted forms ("..." written as "0"): no ellipsis, ellipsis on
# the left of input and output, ellipsis on the right of input and output.
_EINSUM_FORMS: tuple[tuple[str, bool], ...] = (
    (r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", False),
    (r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", True),
    (r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", False),
)


def _split_einsum(equation: str) -> tuple[str, str, str, bool, bool]:
    """``(input, kernel, output, has_ellipsis, left_elided)`` of an EinsumDense equation."""
    plain = equation.replace(" ", "").replace("...", "0")
    for pattern, left in _EINSUM_FORMS:
        match = re.fullmatch(pattern, plain)
        if match:
            return match.group(1), match.group(2), match.group(3), "0" in plain, left
    raise ValueError(
        f"invalid einsum equation '{equation}'; expected the form 'ab,bc->ac', '...b,bc->...c' "
        "or 'ab...,bc->ac...' (input,kernel->output, letters only, at most one '...' per side)"
    )


@register_layer_spec
class EinsumDense(LayerSpec):
    """A dense layer of any rank, written as an einsum equation between input and kernel."""

    type: Literal["EinsumDense"] = Field("EinsumDense", description="The Keras layer class name.")
    equation: str = Field(description="Einsum equation 'input,kernel->output', e.g. 'ab,bc->ac' or '...b,bc->...c'.")
    # Named `output_shape` in YAML and Keras; renamed here so it does not hide the shape rule.
    partial_output_shape: PositiveInt | tuple[PositiveInt | None, ...] = Field(
        alias="output_shape",
        description="Output shape without the batch axis (and without '...' axes); null for an axis kept from the input.",
    )
    activation: ActivationRef = None
    bias_axes: str | None = Field(None, description="Output letters that get a bias, e.g. 'c'; null for no bias.")
    kernel_initializer: InitializerRef = "glorot_uniform"
    bias_initializer: InitializerRef = "zeros"
    kernel_regularizer: RegularizerRef = None
    bias_regularizer: RegularizerRef = None
    activity_regularizer: RegularizerRef = Field(None, description="Regularizer of the output; null for none.")
    kernel_constraint: ConstraintRef = None
    bias_constraint: ConstraintRef = None
    lora_rank: PositiveInt | None = Field(None, description="Rank of a LoRA update of the kernel; null for none.")
    lora_alpha: PositiveFloat | None = Field(None, description="LoRA scale numerator (defaults to lora_rank).")

    @field_validator("equation", "bias_axes")
    @classmethod
    def _check_equation(cls, value: str | None, info: ValidationInfo) -> str | None:
        from .._keras_arg_checks import MAX_EINSUM_CHARS

        if value is not None and len(value) > MAX_EINSUM_CHARS:
            raise ValueError(
                f"{len(value):,} characters; netform takes at most {MAX_EINSUM_CHARS:,} (an equation names each axis "
                "once; Keras reads it in time growing with the square of its length)"
            )
        if info.field_name == "equation" and value is not None:
            _split_einsum(value)
        return value

    def keras_arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        """Give ``partial_output_shape`` back its Keras name."""
        args = dict(args)
        if "partial_output_shape" in args:
            args["output_shape"] = args.pop("partial_output_shape")
        return args

    def _analyze(self, input_shape: Shape) -> tuple[Shape, list[int | None], list[int | None] | None]:
        """``(output_shape, kernel_shape, bias_shape)``, following Keras's ``_analyze_einsum_string``."""
        expect_rank("EinsumDense", input_shape, *range(2, 9))
        ins, kernel, outs, ellipsis, left = _split_einsum(self.equation)
        rank = len(input_shape)
        elided = rank - len(ins)
        if (not ellipsis and elided != 0) or elided < 0:
            raise ShapeError(
                f"EinsumDense equation '{self.equation}' names {len(ins)} input axes, "
                f"received an input of rank {rank} {shape_str(input_shape)}"
            )
        partial = (
            [self.partial_output_shape]
            if isinstance(self.partial_output_shape, int)
            else list(self.partial_output_shape)
        )
        out: list[int | None] = [input_shape[0], *partial]
        if elided > 0 and left:
            middle = list(input_shape[1:elided])
            if middle != middle[::-1]:
                # Keras 3 reverses these axes in its symbolic shape while the einsum keeps them.
                raise ShapeError(
                    f"EinsumDense '{self.equation}' on input {shape_str(input_shape)}: Keras 3 computes a wrong "
                    f"symbolic shape when a leading '...' covers several non-batch axes of different sizes "
                    f"{shape_str(tuple(middle))}; write those axes out as letters instead"
                )
            out[1:1] = middle
        elif elided > 0:
            out.extend(input_shape[rank - elided :])
        if len(out) != len(outs) + elided:
            want = len(outs) if left and elided else len(outs) - 1
            raise ShapeError(
                f"EinsumDense output_shape {partial} does not fit equation '{self.equation}' on input "
                f"{shape_str(input_shape)}: expected {want} entries (one per output letter, batch excluded)"
            )
        if left:
            in_map = {c: i + elided - rank for i, c in enumerate(ins)}
            out_map = {c: i + elided for i, c in enumerate(outs)}
        else:
            in_map = {c: i for i, c in enumerate(ins)}
            out_map = {c: i for i, c in enumerate(outs)}
        for c in ins:
            if c in out_map and out[out_map[c]] is not None and out[out_map[c]] != input_shape[in_map[c]]:
                raise ShapeError(
                    f"EinsumDense axis '{c}' is {input_shape[in_map[c]]} in the input {shape_str(input_shape)} "
                    f"but {out[out_map[c]]} in output_shape; set it to null or {input_shape[in_map[c]]}"
                )
        for c in outs:
            if c not in ins and c not in kernel:
                raise ShapeError(
                    f"EinsumDense output letter '{c}' is in neither the input nor the kernel of '{self.equation}'"
                )
        kernel_shape: list[int | None] = []
        for c in kernel:
            if c in out_map:
                kernel_shape.append(out[out_map[c]])
            elif c in in_map:
                kernel_shape.append(input_shape[in_map[c]])
            else:
                raise ShapeError(
                    f"EinsumDense kernel letter '{c}' is in neither the input nor the output of '{self.equation}'"
                )
        if None in kernel_shape:
            raise ShapeError(
                f"EinsumDense needs known sizes for the kernel axes '{kernel}', got {kernel_shape} "
                f"from input {shape_str(input_shape)} and output_shape {partial}"
            )
        bias_shape: list[int | None] | None = None
        if self.bias_axes is not None:
            bad = [c for c in self.bias_axes if c not in outs]
            if bad or not self.bias_axes:
                raise ShapeError(f"EinsumDense bias_axes '{self.bias_axes}' must be letters of the output '{outs}'")
            offset = elided if left else 0
            sizes = {c: out[i + offset] for i, c in enumerate(outs)}
            first = min(outs.find(c) for c in self.bias_axes)
            bias_shape = [sizes[c] if c in self.bias_axes else 1 for c in outs[first:]]
            if None in bias_shape:
                raise ShapeError(
                    f"EinsumDense needs known sizes for the bias axes '{self.bias_axes}', got {bias_shape}"
                )
        return tuple(out), kernel_shape, bias_shape

    def output_shape(self, input_shape: Shape) -> Shape:
        return self._analyze(input_shape)[0]

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        _, kernel_shape, bias_shape = self._analyze(input_shape)
        kernel = prod(kernel_shape) or 0
        bias = (prod(bias_shape) or 0) if bias_shape is not None else 0
        if self.lora_rank:
            lora = (prod(kernel_shape[:-1]) or 0) * self.lora_rank + self.lora_rank * (kernel_shape[-1] or 0)
            return lora + bias, kernel
        return kernel + bias, 0


@register_layer_spec
class Activation(LayerSpec):
    """Applies an activation function element-wise."""

    family = "activation"
    type: Literal["Activation"] = Field("Activation", description="The Keras layer class name.")
    activation: ActivationRef = Field(description="The activation, by name ('relu'); null for linear.")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank("Activation", input_shape, *range(1, 9))
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        return 0, 0


@register_layer_spec
class Identity(LayerSpec):
    """Returns its input unchanged (a placeholder)."""

    type: Literal["Identity"] = Field("Identity", description="The Keras layer class name.")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank("Identity", input_shape, *range(1, 9))
        return input_shape

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        return 0, 0


@register_layer_spec
class Embedding(LayerSpec):
    """Maps integer indices in ``[0, input_dim)`` to dense vectors of size ``output_dim``."""

    type: Literal["Embedding"] = Field("Embedding", description="The Keras layer class name.")
    input_dim: PositiveInt = Field(description="Vocabulary size: the largest index plus one.")
    output_dim: PositiveInt = Field(description="Size of each embedding vector.")
    # Keras's default "uniform" is an alias the shared initializer list does not spell.
    embeddings_initializer: Literal["uniform", "normal"] | InitializerRef = Field(
        "uniform", description="Initializer of the embeddings matrix, e.g. 'uniform' or {type: RandomNormal}."
    )
    embeddings_regularizer: RegularizerRef = None
    activity_regularizer: RegularizerRef = Field(None, description="Regularizer of the output; null for none.")
    embeddings_constraint: ConstraintRef = None
    mask_zero: bool = Field(False, description="Whether index 0 is padding and masked in later layers.")
    lora_rank: PositiveInt | None = Field(None, description="Rank of a LoRA update of the embeddings; null for none.")
    lora_alpha: PositiveFloat | None = Field(None, description="LoRA scale numerator (defaults to lora_rank).")

    def output_shape(self, input_shape: Shape) -> Shape:
        expect_rank("Embedding", input_shape, *range(1, 8))
        shape = (self.input_dim, self.output_dim)
        check_weight("Embedding", shape, ("embeddings_initializer", self.embeddings_initializer), dtype=self.dtype)
        return input_shape + (self.output_dim,)

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        table = self.input_dim * self.output_dim
        if self.lora_rank:
            return (self.input_dim + self.output_dim) * self.lora_rank, table
        return table, 0
