"""Recurrent layers: SimpleRNN, LSTM, GRU, and the Bidirectional and TimeDistributed wrappers."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    Field,
    PositiveInt,
    SerializationInfo,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from .._layer_base import LayerSpec, LimitError, ShapeError, get_layer_spec, register_layer_spec
from .._types import ActivationRef, ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import (
    check_weight,
    distributed_steps_problem,
    expect_rank,
    last_dim,
    shape_str,
    traced_copies,
    unroll_problem,
)

_RNN_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful")
#: the Keras classes a generic ``KerasLayer`` may name inside netform's own Bidirectional: Keras's Bidirectional
#: takes an instance of ``keras.layers.RNN``, and these are that class and its public subclasses
_KERAS_RNN_CLASSES = frozenset({"RNN", "SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def _flag(spec: LayerSpec, flag: str) -> bool:
    """One of a recurrent layer's :data:`_RNN_FLAGS`, of a native layer or of a generic one (from its config)."""
    if flag in type(spec).model_fields:
        return bool(getattr(spec, flag))
    return getattr(spec, "config", {}).get(flag, False) is True


class _RNN(LayerSpec):
    """Shared fields and rule of the Keras recurrent layers (one cell unrolled over time)."""

    family = "recurrent"
    gates: ClassVar[int] = 1
    n_states: ClassVar[int] = 1

    units: PositiveInt = Field(description="Dimensionality of the output space (and of each state).")
    activation: ActivationRef = Field("tanh", description="Activation of the output; null for linear.")
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: InitializerRef = Field("glorot_uniform", description="Initializer of the input kernel.")
    recurrent_initializer: InitializerRef = Field("orthogonal", description="Initializer of the recurrent kernel.")
    bias_initializer: InitializerRef = Field("zeros", description="Initializer of the bias.")
    kernel_regularizer: RegularizerRef = Field(None, description="Regularizer of the input kernel; null for none.")
    recurrent_regularizer: RegularizerRef = Field(
        None, description="Regularizer of the recurrent kernel; null for none."
    )
    bias_regularizer: RegularizerRef = Field(None, description="Regularizer of the bias; null for none.")
    activity_regularizer: RegularizerRef = Field(None, description="Regularizer of the output; null for none.")
    kernel_constraint: ConstraintRef = Field(None, description="Constraint on the input kernel; null for none.")
    recurrent_constraint: ConstraintRef = Field(None, description="Constraint on the recurrent kernel; null for none.")
    bias_constraint: ConstraintRef = Field(None, description="Constraint on the bias; null for none.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Fraction of the input units to drop in training.")
    recurrent_dropout: float = Field(
        0.0, ge=0, lt=1, description="Fraction of the recurrent units to drop in training."
    )
    seed: int | None = Field(None, description="Seed of the dropout masks; null for random.")
    return_sequences: bool = Field(False, description="Return the whole output sequence, not just the last output.")
    return_state: bool = Field(False, description="Also return the last state(s): the output becomes a list.")
    go_backwards: bool = Field(False, description="Process the sequence backwards and return the reversed sequence.")
    stateful: bool = Field(
        False, description="Carry the last state of each batch over to the next (needs a fixed batch size)."
    )
    unroll: bool = Field(False, description="Unroll the loop (faster for short sequences; needs a known length).")
    zero_output_for_mask: bool = Field(
        False,
        description="With return_sequences, output zeros at masked steps instead of the last output "
        "(Bidirectional sets it on the layers it wraps).",
    )

    def _bias_size(self) -> int:
        return self.gates * self.units

    def _bias_shapes(self) -> tuple[tuple[int, ...], ...]:
        """The shapes Keras calls the bias initializer with."""
        return ((self._bias_size(),),)

    def _check_weights(self, n_in: int) -> None:
        """Check each weight of the cell can be made (and regularized) as the spec asks."""
        width = self.gates * self.units
        check_weight(
            self.type,
            (n_in, width),
            ("kernel_initializer", self.kernel_initializer),
            ("kernel_regularizer", self.kernel_regularizer),
            dtype=self.dtype,
        )
        check_weight(
            self.type,
            (self.units, width),
            ("recurrent_initializer", self.recurrent_initializer),
            ("recurrent_regularizer", self.recurrent_regularizer),
            dtype=self.dtype,
        )
        if self.use_bias:
            for shape in self._bias_shapes():
                bias = ("bias_initializer", self.bias_initializer)
                check_weight(self.type, shape, bias, ("bias_regularizer", self.bias_regularizer), dtype=self.dtype)

    def traced_steps(self, input_shape: Any) -> int:
        """The time steps an unrolled layer writes into the graph (0 when it loops in the graph)."""
        steps = input_shape[1] if isinstance(input_shape, tuple) and len(input_shape) > 1 else None
        return steps if self.unroll and isinstance(steps, int) else 0

    def output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        expect_rank(self.type, input_shape, 3)
        self._check_weights(last_dim(self.type, input_shape))
        batch, steps = input_shape[0], input_shape[1]
        if self.stateful and batch is None:
            raise ShapeError(
                f"{self.type} with stateful: true needs a known batch size, received shape {shape_str(input_shape)}"
            )
        unrolled = unroll_problem(self.type, input_shape) if self.unroll else None
        if unrolled is not None:
            raise LimitError(unrolled)
        out: Shape = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.n_states
        return out

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        expect_rank(self.type, input_shape, 3)
        n_in = last_dim(self.type, input_shape)
        width = self.gates * self.units
        return n_in * width + self.units * width + (self._bias_size() if self.use_bias else 0), 0


@register_layer_spec
class SimpleRNN(_RNN):
    """Fully-connected RNN whose output is fed back as the next input state."""

    type: Literal["SimpleRNN"] = Field("SimpleRNN", description="The Keras layer class name.")


@register_layer_spec
class LSTM(_RNN):
    """Long Short-Term Memory layer (four gates; states h and c)."""

    gates = 4
    n_states = 2
    type: Literal["LSTM"] = Field("LSTM", description="The Keras layer class name.")
    recurrent_activation: ActivationRef = Field("sigmoid", description="Activation of the gates; null for linear.")
    unit_forget_bias: bool = Field(True, description="Initialize the forget-gate bias to 1.")
    use_cudnn: bool | Literal["auto"] = Field("auto", description="Use the cuDNN kernel: true, false or 'auto'.")

    def _bias_shapes(self) -> tuple[tuple[int, ...], ...]:
        # with unit_forget_bias, Keras fills the input gate's part and the last two gates' parts apart
        if self.unit_forget_bias:
            return ((self.units,), (2 * self.units,))
        return super()._bias_shapes()


@register_layer_spec
class GRU(_RNN):
    """Gated Recurrent Unit layer (three gates)."""

    gates = 3
    type: Literal["GRU"] = Field("GRU", description="The Keras layer class name.")
    recurrent_activation: ActivationRef = Field("sigmoid", description="Activation of the gates; null for linear.")
    reset_after: bool = Field(
        True, description="Apply the reset gate after the recurrent matrix (cuDNN-compatible; doubles the bias)."
    )
    use_cudnn: bool | Literal["auto"] = Field("auto", description="Use the cuDNN kernel: true, false or 'auto'.")

    def _bias_size(self) -> int:
        return (2 if self.reset_after else 1) * self.gates * self.units

    def _bias_shapes(self) -> tuple[tuple[int, ...], ...]:
        # reset_after keeps an input bias and a recurrent bias: a (2, 3 × units) weight
        return ((2, self.gates * self.units),) if self.reset_after else super()._bias_shapes()


# --- wrappers ---------------------------------------------------------------


def _nested_spec(wrapper: str, value: Any) -> Any:
    """Validate a nested ``{type: Name, ...}`` mapping against the schema its ``type`` names."""
    if value is None or isinstance(value, LayerSpec):
        return value
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError(f"{wrapper} expects a layer written as {{type: Name, ...}}, received {value!r}")
    try:
        cls = get_layer_spec(value["type"])
    except ValueError as err:  # RegistryError: keep its message (and suggestion), not its file prefix
        messages = getattr(err, "diagnostics", None)
        raise ValueError("; ".join(d.message for d in messages) if messages else str(err)) from None
    return cls.model_validate(value)


def _with_nested(
    owner: LayerSpec, data: dict[str, Any], info: SerializationInfo, fields: tuple[str, ...]
) -> dict[str, Any]:
    """Give nested specs their ``type`` first, even when defaults are left out.

    The handler already dumped each nested spec with its own class's serializer (the fields are
    ``SerializeAsAny``); dumping it again here, at every level of a wrapper in a wrapper, doubled the work
    per level (a 22-deep ``TimeDistributed`` took 39 s to validate).
    """
    for name in fields:
        value = getattr(owner, name)
        if name not in data or not isinstance(value, LayerSpec) or not isinstance(data[name], dict):
            continue
        nested = {k: v for k, v in data[name].items() if k != "type"}
        data[name] = {"type": value.type, **nested}
    return data


def _single(wrapper: str, inner: LayerSpec, shape: Any) -> Shape:
    if not isinstance(shape, tuple):
        raise ShapeError(f"{wrapper} needs its {inner.type} layer to return one tensor, it returns {shape_str(shape)}")
    return shape


@register_layer_spec
class Bidirectional(LayerSpec):
    """Runs a recurrent layer forwards and backwards and merges the two outputs."""

    family = "recurrent"
    type: Literal["Bidirectional"] = Field("Bidirectional", description="The Keras layer class name.")
    layer: SerializeAsAny[LayerSpec] = Field(
        description="The recurrent layer to run forwards, e.g. {type: LSTM, units: 8, return_sequences: true}, "
        "or a KerasLayer of a recurrent class (RNN, SimpleRNN, LSTM, GRU, ConvLSTM1D/2D/3D)."
    )
    merge_mode: Literal["concat", "sum", "mul", "ave"] | None = Field(
        "concat", description="How to merge the two outputs: concat, sum, mul, ave, or null for a list of both."
    )
    backward_layer: SerializeAsAny[LayerSpec] | None = Field(
        None, description="The layer to run backwards (with go_backwards: true); null for a copy of `layer`."
    )

    @field_validator("layer", "backward_layer", mode="before")
    @classmethod
    def _validate_nested(cls, value: Any) -> Any:
        spec = _nested_spec("Bidirectional", value)
        if spec is not None and spec.type == "KerasLayer":
            name = getattr(spec, "class_name", "")
            if name not in _KERAS_RNN_CLASSES:
                raise ValueError(
                    f"Bidirectional wraps a recurrent layer, received a KerasLayer of class {name}; a generic layer "
                    f"here must be one of Keras's recurrent classes ({', '.join(sorted(_KERAS_RNN_CLASSES))}); "
                    "use TimeDistributed to apply a layer at each time step"
                )
            for flag in _RNN_FLAGS:
                if not isinstance(spec.config.get(flag, False), bool):
                    raise ValueError(f"config.{flag}: true or false; received {spec.config[flag]!r:.60}")
        elif spec is not None and not all(f in type(spec).model_fields for f in _RNN_FLAGS):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU, …), received {spec.type}; "
                "use TimeDistributed to apply a layer at each time step"
            )
        return spec

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        return _with_nested(self, handler(self), info, ("layer", "backward_layer"))

    @model_validator(mode="after")
    def _check_directions(self) -> Bidirectional:
        forward = self.layer
        if _flag(forward, "stateful") and _flag(forward, "return_state"):
            # Keras 3's Bidirectional.compute_mask fails on this combination.
            raise ValueError(
                "Bidirectional cannot wrap a layer with both stateful: true and return_state: true in Keras 3; "
                "drop one of them"
            )
        if self.backward_layer is None:
            if _flag(forward, "go_backwards"):
                raise ValueError(
                    "Bidirectional needs `layer` with go_backwards: false (the backward copy sets it to true); "
                    "or give a `backward_layer`"
                )
            return self
        backward = self.backward_layer
        if _flag(forward, "go_backwards") == _flag(backward, "go_backwards"):
            raise ValueError(
                "Bidirectional needs `layer` and `backward_layer` with different go_backwards, "
                f"received go_backwards={_flag(forward, 'go_backwards')} for both; set backward_layer.go_backwards: true"
            )
        for flag in ("stateful", "return_sequences", "return_state"):
            if _flag(forward, flag) != _flag(backward, flag):
                raise ValueError(
                    f"Bidirectional needs `layer` and `backward_layer` with the same {flag}, received "
                    f"{_flag(forward, flag)} and {_flag(backward, flag)}"
                )
        return self

    def _parts(self, input_shape: Shape) -> tuple[Shape, list[Shape], Shape, list[Shape]]:
        def split(spec: LayerSpec) -> tuple[Shape, list[Shape]]:
            shape = spec.output_shape(input_shape)
            return (shape[0], list(shape[1:])) if isinstance(shape, list) else (shape, [])

        f_out, f_states = split(self.layer)
        b_out, b_states = split(self.backward_layer) if self.backward_layer is not None else (f_out, f_states)
        if b_out != f_out:
            # Keras's symbolic shape assumes both directions match, so a mismatch would mislead later layers.
            raise ShapeError(
                f"Bidirectional needs the backward layer to output the same shape as the forward layer, "
                f"received {shape_str(f_out)} and {shape_str(b_out)}; give both the same units"
            )
        return f_out, f_states, b_out, b_states

    def traced_steps(self, input_shape: Any) -> int:
        """Both directions' unrolled steps."""
        backward = self.backward_layer if self.backward_layer is not None else self.layer
        return self.layer.traced_steps(input_shape) + backward.traced_steps(input_shape)

    def output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        f_out, f_states, b_out, b_states = self._parts(input_shape)
        outs: list[Shape]
        if self.merge_mode == "concat":
            outs = [f_out[:-1] + ((f_out[-1] or 0) + (b_out[-1] or 0),)]
        elif self.merge_mode is None:
            outs = [f_out, b_out]
        else:
            outs = [f_out]
        if _flag(self.layer, "return_state"):
            return outs + f_states + b_states
        return outs[0] if len(outs) == 1 else outs

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        self._parts(input_shape)
        ft, fn = self.layer.counts(input_shape)
        bt, bn = (self.backward_layer or self.layer).counts(input_shape)
        return ft + bt, fn + bn


@register_layer_spec
class TimeDistributed(LayerSpec):
    """Applies a layer to every time step (axis 1) of its input."""

    family = "recurrent"
    type: Literal["TimeDistributed"] = Field("TimeDistributed", description="The Keras layer class name.")
    layer: SerializeAsAny[LayerSpec] = Field(
        description="The layer applied at each time step, e.g. {type: Dense, units: 8}."
    )

    @field_validator("layer", mode="before")
    @classmethod
    def _validate_nested(cls, value: Any) -> Any:
        spec = _nested_spec("TimeDistributed", value)
        if spec is not None and spec.arity != "one":
            raise ValueError(f"TimeDistributed wraps a layer with one input, received {spec.type}, which takes a list")
        return spec

    @model_serializer(mode="wrap")
    def _serialize(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        return _with_nested(self, handler(self), info, ("layer",))

    def _keras_form(self) -> dict[str, Any]:
        """The wrapped layers as Keras's configs nest them (``layer`` within ``layer``), enough to count the steps
        Keras repeats (:func:`~netform.spec.layers._util.traced_copies`)."""
        form: dict[str, Any] = {}
        here, inner = form, self.layer
        for _ in range(9):
            name = getattr(inner, "keras_class", None)
            name = name() if callable(name) else getattr(inner, "type", "")
            config: dict[str, Any] = {"unroll": getattr(inner, "unroll", False)}
            if hasattr(inner, "config") and isinstance(inner.config, dict):
                config = dict(inner.config)
            here["layer"] = {"class_name": name, "config": config}
            nested = getattr(inner, "layer", None)
            if not isinstance(nested, LayerSpec):
                break
            here, inner = config, nested
        return form

    def _step_shape(self, input_shape: Shape) -> Shape:
        if not isinstance(input_shape, tuple) or len(input_shape) < 3:
            raise ShapeError(
                "TimeDistributed expects an input of rank 3 or more (batch, time, ...), "
                f"received shape {shape_str(input_shape)}"
            )
        return (input_shape[0], *input_shape[2:])

    def traced_steps(self, input_shape: Any) -> int:
        """The copies of the wrapped layer Keras writes over fixed time steps (times those it repeats itself)."""
        if not isinstance(input_shape, tuple) or len(input_shape) < 3 or input_shape[1] is None:
            return 0
        return traced_copies("TimeDistributed", self._keras_form(), input_shape)

    def output_shape(self, input_shape: Shape) -> Shape:
        looped = distributed_steps_problem(
            self.type, input_shape, traced_copies("TimeDistributed", self._keras_form(), input_shape)
        )
        if looped is not None:
            raise LimitError(looped)
        inner = _single("TimeDistributed", self.layer, self.layer.output_shape(self._step_shape(input_shape)))
        return (inner[0], input_shape[1], *inner[1:])

    def param_counts(self, input_shape: Shape) -> tuple[int, int]:
        return self.layer.counts(self._step_shape(input_shape))
