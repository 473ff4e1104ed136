"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention.

Inputs are ``[query, value]`` or ``[query, value, key]`` (key defaults to value).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from .._layer_base import LayerSpec, LimitError, ShapeError, register_layer_spec
from .._types import MAX_ELEMENTS, ConstraintRef, InitializerRef, RegularizerRef, Shape
from ._util import check_products, expect_inputs, last_dim, prod, shape_str


def _check_scores(layer: str, what: str, *dims: Any) -> None:
    """Refuse attention scores of more than :data:`MAX_ELEMENTS` values a sample (``dims`` their sizes; None: not
    known before the data)."""
    if any(d is None for d in dims):
        return
    size = prod(dims)
    if size > MAX_ELEMENTS:
        raise LimitError(
            f"{layer}'s {what} hold {size:,} values a sample ({' x '.join(f'{d:,}' for d in dims)}), made inside the "
            f"layer at every call; the limit is {MAX_ELEMENTS:,} (8 GB as float32), as for any tensor: fewer heads, "
            "shorter sequences, or attention over fewer axes"
        )


def _qvk(layer: str, input_shape: Any) -> tuple[Shape, Shape, Shape]:
    """``(query, value, key)`` shapes of a 2- or 3-input attention layer."""
    shapes = expect_inputs(layer, input_shape, 2, 3)
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) == 3 else value
    return query, value, key


def attention_axes(axes: int | tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    """The axes MultiHeadAttention attends over for inputs of ``rank``, as Keras reads ``attention_axes``.

    Null is every axis between the batch and the feature axis. Keras makes a negative axis positive by adding
    the rank of its projected tensors (batch, ..., heads, head size) less one, which is the query's rank: -2 is
    the last axis before the features, as in Python. Keras checks none of them when it builds; with an axis
    outside ``1..rank - 2`` it attends across the samples of a batch or across the heads (or fails at the first
    batch), and with an axis named twice its einsum fails at the first batch, so each raises ShapeError.
    """
    name = "MultiHeadAttention"
    if axes is None:
        return tuple(range(1, rank - 1))
    given = (axes,) if isinstance(axes, int) else tuple(axes)
    attn = tuple(a if a >= 0 else rank + a for a in given)
    if any(not 1 <= a < rank - 1 for a in attn):
        bad = [g for g, a in zip(given, attn, strict=True) if not 1 <= a < rank - 1]
        raise ShapeError(
            f"{name} attention_axes {_axes_text(axes)} do not fit inputs of rank {rank}: "
            f"{', '.join(map(str, bad))} {'is' if len(bad) == 1 else 'are'} not an axis between the batch and "
            f"the feature axis; give axes in 1..{rank - 2} (or -{rank - 1}..-2 from the end)"
        )
    twice = sorted({a for a in attn if attn.count(a) > 1})
    if twice:
        spelled = "; ".join(
            f"axis {a} as {' and '.join(str(g) for g, b in zip(given, attn, strict=True) if b == a)}" for a in twice
        )
        raise ShapeError(
            f"{name} attention_axes {_axes_text(axes)} name an axis more than once for inputs of rank {rank} "
            f"({spelled}), and Keras's attention einsum then fails at the first batch; give each axis once"
        )
    return attn


def _axes_text(axes: int | tuple[int, ...]) -> str:
    """``attention_axes`` as the spec writes them: ``-2`` or ``[1, -2]``."""
    return str(axes) if isinstance(axes, int) else f"[{', '.join(map(str, axes))}]"


def _same(layer: str, what: str, a: Any, b: Any, sa: Shape, sb: Shape, names: tuple[str, str]) -> None:
    if a is not None and b is not None and a != b:
        raise ShapeError(
            f"{layer} needs {what} to match, received {names[0]} {shape_str(sa)} and {names[1]} {shape_str(sb)}"
        )


class _Projected(LayerSpec):
    """Shared fields of the attention layers with learned query/key/value projections."""

    family = "attention"
    arity = "many"
    limits_inside = True  # (the attention scores)
    min_inputs = 2
    max_inputs = 3
    # Keras calls these layers as layer(query, value, key), not layer([query, value, key]).
    unpack_inputs: ClassVar[bool] = True

    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate on the attention weights.")
    use_bias: bool = Field(True, description="Whether the projections use bias vectors.")
    sliding_window: PositiveInt | None = Field(
        None, description="Attend only to keys within this distance of the query; null for all."
    )
    flash_attention: bool | None = Field(
        None, description="Use flash attention: true, false, or null for Keras's global setting."
    )
    kernel_initializer: InitializerRef = Field("glorot_uniform", description="Initializer of the projection kernels.")
    bias_initializer: InitializerRef = Field("zeros", description="Initializer of the projection biases.")
    kernel_regularizer: RegularizerRef = Field(
        None, description="Regularizer of the projection kernels; null for none."
    )
    bias_regularizer: RegularizerRef = Field(None, description="Regularizer of the projection biases; null for none.")
    activity_regularizer: RegularizerRef = Field(None, description="Regularizer of the output; null for none.")
    kernel_constraint: ConstraintRef = Field(None, description="Constraint on the projection kernels; null for none.")
    bias_constraint: ConstraintRef = Field(None, description="Constraint on the projection biases; null for none.")
    use_gate: bool = Field(False, description="Gate the attention output with a sigmoid projection of the query.")
    seed: int | None = Field(None, description="Seed of the dropout; null for random.")

    @model_validator(mode="after")
    def _no_dropout_with_flash(self) -> _Projected:
        if self.flash_attention and self.dropout > 0:
            raise ValueError(
                "dropout is not supported with flash_attention: true; set dropout: 0 or flash_attention: false"
            )
        return self

    def _proj(self, n_in: int, *heads: int) -> int:
        """Parameters of one projection from ``n_in`` features to ``heads`` (e.g. num_heads × key_dim)."""
        out = prod(heads) or 0
        return n_in * out + (out if self.use_bias else 0)


@register_layer_spec
class MultiHeadAttention(_Projected):
    """Multi-head scaled dot-product attention (as in "Attention is all you need")."""

    type: Literal["MultiHeadAttention"] = Field("MultiHeadAttention", description="The Keras layer class name.")
    num_heads: PositiveInt = Field(description="Number of attention heads.")
    key_dim: PositiveInt = Field(description="Size of each head for query and key.")
    value_dim: PositiveInt | None = Field(None, description="Size of each head for value; null for key_dim.")
    # Named `output_shape` in YAML and Keras; renamed here so it does not hide the shape rule.
    attention_output_shape: PositiveInt | tuple[PositiveInt, ...] | None = Field(
        None,
        alias="output_shape",
        description="Output shape without batch and query axes; null for the query's last dimension.",
    )
    attention_axes: int | tuple[int, ...] | None = Field(
        None, description="Axes attention runs over (batch and features excluded); null for all of them."
    )

    @field_validator("attention_axes")
    @classmethod
    def _check_attention_axes(cls, value: int | tuple[int, ...] | None) -> int | tuple[int, ...] | None:
        # what needs no input rank; the rest (range, negative axes, an axis named twice) is in attention_axes()
        if isinstance(value, tuple):
            if not value:
                raise ValueError(
                    "attention_axes [] names no axis, and Keras's softmax over the attention scores then fails at "
                    "the first batch; list the axes attention runs over (e.g. [1]), or null for all of them"
                )
            twice = sorted({a for a in value if value.count(a) > 1})
            if twice:
                raise ValueError(
                    f"attention_axes {_axes_text(value)} name axis {', '.join(map(str, twice))} more than once, and "
                    "Keras's attention einsum then fails at the first batch; give each axis once"
                )
        return value

    def keras_arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        """Give ``attention_output_shape`` back its Keras name."""
        args = dict(args)
        if "attention_output_shape" in args:
            args["output_shape"] = args.pop("attention_output_shape")
        return args

    def _out_dims(self, query: Shape) -> tuple[int, ...]:
        shape = self.attention_output_shape
        if shape is None:
            return (last_dim("MultiHeadAttention", query),)
        return (shape,) if isinstance(shape, int) else tuple(shape)

    def _check(self, input_shape: Any) -> tuple[Shape, Shape, Shape]:
        name = "MultiHeadAttention"
        query, value, key = _qvk(name, input_shape)
        if not len(query) == len(value) == len(key) or len(query) < 3:
            raise ShapeError(
                f"{name} needs query, value and key of the same rank, at least 3 (batch, ..., features), "
                f"received {shape_str([query, value, key])}"
            )
        for s in (query, value, key):
            last_dim(name, s)
        if value[1:-1] != key[1:-1]:
            raise ShapeError(
                f"{name} needs value and key to match in all but the last axis, "
                f"received value {shape_str(value)} and key {shape_str(key)}"
            )
        rank = len(query)
        attn = attention_axes(self.attention_axes, rank)
        for a in range(1, rank - 1):
            if a not in attn:
                _same(name, f"size on non-attention axis {a}", query[a], key[a], query, key, ("query", "key"))
        others = [query[a] for a in range(1, rank - 1) if a not in attn]
        _check_scores(
            name, "attention scores", self.num_heads, *others, *(query[a] for a in attn), *(key[a] for a in attn)
        )
        return query, value, key

    def output_shape(self, input_shape: Any) -> Shape:
        query, _, _ = self._check(input_shape)
        return query[:-1] + self._out_dims(query)

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        query, value, key = self._check(input_shape)
        heads, kd = self.num_heads, self.key_dim
        vd = self.value_dim or self.key_dim
        out = self._out_dims(query)
        total = (
            self._proj(last_dim("", query), heads, kd)
            + self._proj(last_dim("", key), heads, kd)
            + self._proj(last_dim("", value), heads, vd)
            + (self._proj(last_dim("", query), heads, vd) if self.use_gate else 0)
            + self._proj(heads * vd, *out)
        )
        return total, 0


@register_layer_spec
class GroupQueryAttention(_Projected):
    """Grouped-query attention: query heads share fewer key/value heads."""

    type: Literal["GroupQueryAttention"] = Field("GroupQueryAttention", description="The Keras layer class name.")
    head_dim: PositiveInt = Field(description="Size of each attention head.")
    num_query_heads: PositiveInt = Field(description="Number of query heads.")
    num_key_value_heads: PositiveInt = Field(description="Number of key and value heads; divides num_query_heads.")

    @model_validator(mode="after")
    def _check_heads(self) -> GroupQueryAttention:
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_query_heads ({self.num_query_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        return self

    def _check(self, input_shape: Any) -> tuple[Shape, Shape, Shape]:
        name = "GroupQueryAttention"
        query, value, key = _qvk(name, input_shape)
        if not len(query) == len(value) == len(key) == 3:
            raise ShapeError(
                f"{name} needs query, value and key of rank 3 (batch, time, features), "
                f"received {shape_str([query, value, key])}"
            )
        for s in (query, value, key):
            last_dim(name, s)
        _same(name, "the last axis", query[-1], value[-1], query, value, ("query", "value"))
        if value[1:-1] != key[1:-1]:
            raise ShapeError(
                f"{name} needs value and key to match in all but the last axis, "
                f"received value {shape_str(value)} and key {shape_str(key)}"
            )
        _check_scores(name, "attention scores", self.num_query_heads, query[1], key[1])
        return query, value, key

    def output_shape(self, input_shape: Any) -> Shape:
        return self._check(input_shape)[0]

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        query, value, key = self._check(input_shape)
        h, nq, nkv = self.head_dim, self.num_query_heads, self.num_key_value_heads
        features = last_dim("", query)
        total = (
            self._proj(features, nq, h)
            + self._proj(last_dim("", key), nkv, h)
            + self._proj(last_dim("", value), nkv, h)
            + (self._proj(features, nq, h) if self.use_gate else 0)
            + self._proj(nq * h, features)
        )
        return total, 0


class _DotAttention(LayerSpec):
    """Shared rule of the parameter-light attention layers (Luong and Bahdanau style)."""

    family = "attention"
    arity = "many"
    limits_inside = True  # (the attention scores)
    min_inputs = 2
    max_inputs = 3

    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout rate on the attention scores.")

    def _check(self, input_shape: Any) -> tuple[Shape, Shape, Shape]:
        name = self.type
        query, value, key = _qvk(name, input_shape)
        if not len(query) == len(value) == len(key) == 3:
            raise ShapeError(
                f"{name} needs query, value and key of rank 3 (batch, time, features), "
                f"received {shape_str([query, value, key])}"
            )
        _same(name, "the last axis", query[-1], key[-1], query, key, ("query", "key"))
        _same(name, "the time axis", value[1], key[1], value, key, ("value", "key"))
        # Additive scores (and Attention's concat ones) sum each query step with each key step, feature by feature
        pairwise = self.type == "AdditiveAttention" or getattr(self, "score_mode", "dot") == "concat"
        _check_scores(name, "attention scores", query[1], key[1], *((query[-1],) if pairwise else ()))
        # each score a sum over the features, each output value a sum over the key steps: no weights to show it
        check_products(f"{name} (its scores)", (query[1], key[1]), (query[-1],))
        check_products(name, (query[1], value[-1]), (key[1],))
        return query, value, key

    def output_shape(self, input_shape: Any) -> Shape:
        query, value, _ = self._check(input_shape)
        return query[:-1] + value[-1:]


@register_layer_spec
class Attention(_DotAttention):
    """Dot-product (Luong-style) attention over [query, value(, key)]."""

    type: Literal["Attention"] = Field("Attention", description="The Keras layer class name.")
    use_scale: bool = Field(False, description="Learn a scalar that scales the attention scores.")
    score_mode: Literal["dot", "concat"] = Field(
        "dot", description="Score function: 'dot' (query·key) or 'concat' (tanh of query + key)."
    )
    seed: int | None = Field(None, description="Seed of the dropout; null for random.")

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self._check(input_shape)
        return int(self.use_scale) + int(self.score_mode == "concat"), 0


@register_layer_spec
class AdditiveAttention(_DotAttention):
    """Additive (Bahdanau-style) attention over [query, value(, key)]."""

    type: Literal["AdditiveAttention"] = Field("AdditiveAttention", description="The Keras layer class name.")
    use_scale: bool = Field(True, description="Learn a per-feature vector that scales the attention scores.")
    seed: int | None = Field(None, description="Seed of the dropout; null for random.")

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        query, _, _ = self._check(input_shape)
        return (last_dim("AdditiveAttention", query) if self.use_scale else 0), 0
