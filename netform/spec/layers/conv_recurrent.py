"""Convolutional LSTMs: ConvLSTM1D/2D/3D (an LSTM whose gates are convolutions over each time step)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt

from .._layer_base import LimitError, ShapeError, register_layer_spec
from .._types import ActivationRef, ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import expect_rank, prod, shape_str, unroll_problem
from .conv import TYPE_DESCRIPTION, BaseConvSpec

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]


class _ConvLSTM(BaseConvSpec):
    """Shared fields and rule: input (batch, time, *spatial, channels); four gates of ``filters`` each."""

    family: ClassVar[str] = "recurrent"

    filters: PositiveInt = Field(description="Number of filters: the channels of the output and of each state.")
    activation: ActivationRef = Field("tanh", description="Activation of the output; null for linear.")
    recurrent_activation: ActivationRef = Field("sigmoid", description="Activation of the gates; null for linear.")
    kernel_initializer: InitializerRef = Field("glorot_uniform", description="Initializer of the input kernel.")
    recurrent_initializer: InitializerRef = Field("orthogonal", description="Initializer of the recurrent kernel.")
    unit_forget_bias: bool = Field(True, description="Initialize the forget-gate bias to 1.")
    kernel_regularizer: RegularizerRef = Field(None, description="Regularizer of the input kernel; null for none.")
    recurrent_regularizer: RegularizerRef = Field(
        None, description="Regularizer of the recurrent kernel; null for none."
    )
    kernel_constraint: ConstraintRef = Field(None, description="Constraint on the input kernel; null for none.")
    recurrent_constraint: ConstraintRef = Field(None, description="Constraint on the recurrent kernel; null for none.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Fraction of the input units to drop in training.")
    recurrent_dropout: float = Field(
        0.0, ge=0, lt=1, description="Fraction of the recurrent units to drop in training."
    )
    seed: int | None = Field(None, description="Seed of the dropout masks; null for random.")
    return_sequences: bool = Field(False, description="Return the whole output sequence, not just the last output.")
    return_state: bool = Field(False, description="Also return the last states h and c: the output becomes a list.")
    go_backwards: bool = Field(False, description="Process the sequence backwards and return the reversed sequence.")
    stateful: bool = Field(
        False, description="Carry the last state of each batch over to the next (needs a fixed batch size)."
    )
    unroll: bool = Field(False, description="Unroll the loop (needs a known number of time steps).")
    zero_output_for_mask: bool = Field(False, description="With return_sequences, output zeros at masked steps.")

    def _step(self, input_shape: Shape) -> Shape:
        expect_rank(self.type, input_shape, self.n_spatial + 3)
        if self.stateful and input_shape[0] is None:
            raise ShapeError(
                f"{self.type} with stateful: true needs a known batch size, received shape {shape_str(input_shape)}"
            )
        unrolled = unroll_problem(self.type, input_shape) if self.unroll else None
        if unrolled is not None:
            raise LimitError(unrolled)
        return (input_shape[0], *input_shape[2:])

    def traced_steps(self, input_shape: Any) -> int:
        """The time steps an unrolled layer writes into the graph (0 when it loops in the graph)."""
        steps = input_shape[1] if isinstance(input_shape, tuple) and len(input_shape) > 1 else None
        return steps if self.unroll and isinstance(steps, int) else 0

    def output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        state = self._conv_output(self._step(input_shape), self.filters)
        out = (state[0], input_shape[1], *state[1:]) if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        step = self._step(input_shape)
        self._conv_output(step, self.filters)
        window = prod(self._ints("kernel_size")) or 0
        gates = 4 * self.filters
        bias = gates if self.use_bias else 0
        return window * self._in_channels(step) * gates + window * self.filters * gates + bias, 0


@register_layer_spec
class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over a sequence of 1D feature maps: input (batch, time, steps, channels)."""

    n_spatial = 1
    type: Literal["ConvLSTM1D"] = Field("ConvLSTM1D", description=TYPE_DESCRIPTION)


@register_layer_spec
class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over a sequence of images: input (batch, time, rows, cols, channels)."""

    n_spatial = 2
    type: Literal["ConvLSTM2D"] = Field("ConvLSTM2D", description=TYPE_DESCRIPTION)


@register_layer_spec
class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over a sequence of volumes: input (batch, time, d1, d2, d3, channels)."""

    n_spatial = 3
    type: Literal["ConvLSTM3D"] = Field("ConvLSTM3D", description=TYPE_DESCRIPTION)
