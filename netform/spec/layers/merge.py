"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .._layer_base import LayerSpec, ShapeError, register_layer_spec
from .._types import Shape
from ._util import check_products, expect_inputs, norm_axis, shape_str


class _Merge(LayerSpec):
    """Base of the merge layers: a list of inputs, no weights."""

    family = "merge"
    arity = "many"
    min_inputs = 2
    max_inputs = 1024

    def _inputs(self, input_shape: Any) -> list[Shape]:
        return expect_inputs(self.type, input_shape, self.min_inputs, self.max_inputs)

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0


class _Elementwise(_Merge):
    """Element-wise merges; like Keras, size-1 axes broadcast and shapes align on the right."""

    def output_shape(self, input_shape: Any) -> Shape:
        shapes = self._inputs(input_shape)
        batches = {s[0] for s in shapes if s} - {None}
        if len(batches) > 1:
            raise ShapeError(f"{self.type} needs inputs with the same batch size, received {shape_str(shapes)}")
        out = shapes[0][1:]
        for shape in shapes[1:]:
            out = self._broadcast(out, shape[1:], shapes[0], shape)
        return (batches.pop() if batches else None,) + out

    def _broadcast(self, a: Shape, b: Shape, full_a: Shape, full_b: Shape) -> Shape:
        if len(a) < len(b):
            a, b = b, a
        dims: list[int | None] = list(a[: len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b) :], b):
            if i is None or j is None:
                dims.append(None)
            elif i == 1 or j == 1 or i == j:
                dims.append(j if i == 1 else i)
            else:
                raise ShapeError(
                    f"{self.type} needs inputs of the same shape, received {shape_str(full_a)} and "
                    f"{shape_str(full_b)} (only axes of size 1 broadcast)"
                )
        return tuple(dims)


@register_layer_spec
class Add(_Elementwise):
    """Adds its inputs element-wise."""

    type: Literal["Add"] = Field("Add", description="The Keras layer class name.")


@register_layer_spec
class Subtract(_Elementwise):
    """Subtracts the second input from the first, element-wise."""

    max_inputs = 2
    type: Literal["Subtract"] = Field("Subtract", description="The Keras layer class name.")


@register_layer_spec
class Multiply(_Elementwise):
    """Multiplies its inputs element-wise."""

    type: Literal["Multiply"] = Field("Multiply", description="The Keras layer class name.")


@register_layer_spec
class Average(_Elementwise):
    """Averages its inputs element-wise."""

    type: Literal["Average"] = Field("Average", description="The Keras layer class name.")


@register_layer_spec
class Maximum(_Elementwise):
    """Element-wise maximum of its inputs."""

    type: Literal["Maximum"] = Field("Maximum", description="The Keras layer class name.")


@register_layer_spec
class Minimum(_Elementwise):
    """Element-wise minimum of its inputs."""

    type: Literal["Minimum"] = Field("Minimum", description="The Keras layer class name.")


@register_layer_spec
class Concatenate(_Merge):
    """Concatenates its inputs along one axis; all other axes must match."""

    type: Literal["Concatenate"] = Field("Concatenate", description="The Keras layer class name.")
    axis: int = Field(-1, description="The axis to concatenate along (batch excluded).")

    def output_shape(self, input_shape: Any) -> Shape:
        shapes = self._inputs(input_shape)
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ShapeError(f"Concatenate needs inputs of the same rank, received {shape_str(shapes)}")
        first = shapes[0]
        axis = norm_axis("Concatenate", first, self.axis)
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(first, shape)):
                if i != axis and a is not None and b is not None and a != b:
                    raise ShapeError(
                        f"Concatenate needs inputs that match except on axis {self.axis}, received "
                        f"{shape_str(first)} and {shape_str(shape)} (they differ on axis {i})"
                    )
        sizes = [s[axis] for s in shapes]
        total = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        return first[:axis] + (total,) + first[axis + 1 :]


@register_layer_spec
class Dot(_Merge):
    """Dot product of two inputs along the given axes, per sample."""

    max_inputs = 2
    limits_inside = True  # (the multiply-adds of the product)
    type: Literal["Dot"] = Field("Dot", description="The Keras layer class name.")
    axes: int | tuple[int, int] = Field(
        description="Axis, or [axis of input 1, axis of input 2], summed over (batch excluded)."
    )
    normalize: bool = Field(False, description="L2-normalize both inputs along the axes first (cosine similarity).")

    def output_shape(self, input_shape: Any) -> Shape:
        a, b = self._inputs(input_shape)
        if len(a) < 2 or len(b) < 2 or len(a) > 3 or len(b) > 3:
            raise ShapeError(f"Dot needs two inputs of rank 2 or 3, received {shape_str([a, b])}")
        ax = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        i, j = norm_axis("Dot", a, ax[0], what="axes"), norm_axis("Dot", b, ax[1], what="axes")
        if a[i] is not None and b[j] is not None and a[i] != b[j]:
            raise ShapeError(
                f"Dot needs equal sizes on the summed axes, received {a[i]} (axis {i} of {shape_str(a)}) "
                f"and {b[j]} (axis {j} of {shape_str(b)})"
            )
        out = a[:i] + a[i + 1 :] + (b[:j] + b[j + 1 :])[1:]
        check_products("Dot", out[1:], (a[i],))
        return out + (1,) if len(out) == 1 else out
