"""Static shape rules of op nodes: one pure-Python function per keras.ops function (or family).

A rule (every function here but the index helpers) takes the op's arguments by parameter name (a tensor argument is its
shape, wrapped in :class:`TensorArg`; a constant is itself) and returns the output
shape, or a list of shapes for an op with several outputs. Each one is checked
against Keras's ``compute_output_spec`` in ``tests/spec/test_op_shapes.py``.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Callable

from .._layer_base import ShapeError
from .._types import Shape
from ._util import check_products, prod, shape_str

__all__ = ["TensorArg", "broadcast", "parse_index", "format_index", "index_shape"]


class TensorArg:
    """A tensor argument at static-shape time: its shape."""

    __slots__ = ("shape",)

    def __init__(self, shape: Shape) -> None:
        self.shape = shape


def _shape_of(value: Any, what: str = "argument") -> Shape:
    """The shape of a tensor argument or of a constant (a number or nested lists)."""
    if isinstance(value, TensorArg):
        return value.shape
    if value is None or isinstance(value, str):
        raise ShapeError(f"{what} must be a tensor or a number, received {value!r}")
    dims: list[int] = []
    while isinstance(value, (list, tuple)):
        dims.append(len(value))
        value = value[0] if value else 0
    return tuple(dims)


def broadcast(*shapes: Shape) -> Shape:
    """Keras's broadcasting of several shapes (``None`` against a size is that size unless it is 1)."""
    if shapes:  # equal shapes broadcast to themselves (most ops of a model)
        first = shapes[0]
        for shape in shapes:
            if shape != first:
                break
        else:
            return tuple(first)
    out: list[Any] = []
    rank = max(len(s) for s in shapes)
    for shape in shapes:
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        if not out:
            out = list(padded)
            continue
        for i, (a, b) in enumerate(zip(out, padded)):
            if a == 1:
                out[i] = b
            elif a is None:
                out[i] = None if b == 1 else b
            elif not (b == 1 or b is None or b == a):
                raise ShapeError(
                    f"shapes {shape_str(tuple(out))} and {shape_str(tuple(shape))} do not broadcast "
                    f"(axis {i - rank}: {a} vs {b}; only axes of size 1 broadcast)"
                )
    return tuple(out)


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis!r} is out of range for a tensor of rank {rank} (batch included)")
    return axis % rank


def _axes(axis: Any, rank: int, what: str = "axis") -> list[int]:
    """``axis`` (one axis or a list of them) as axes from 0, refusing an axis named twice.

    Keras's and TensorFlow's ops that take several axes (reductions, expand_dims, flip, moveaxis…) refuse
    an axis given twice, also when one is written negative (1 and -2 of a rank-3 tensor); they check it
    only when the model runs, or fail with an error of Keras's own while it is built.
    """
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = [_axis(ax, rank, what) for ax in axes]
    twice = sorted({ax for ax in out if out.count(ax) > 1})
    if twice:
        raise ShapeError(
            f"{what} {axis!r:.60} names axis {twice[0]} twice (axes count the batch axis as 0, negative ones "
            f"from the end, so {twice[0]} and {twice[0] - rank} are one axis); give each axis once"
        )
    return out


def unary(a: dict[str, Any]) -> Any:
    return _shape_of(a[next(iter(a))])


def first_keeps_shape(a: dict[str, Any]) -> Shape:
    """``bitwise_and(x, y)`` and the shifts: Keras's static shape is x's, so y must broadcast into x.

    At run time the result is the broadcast of both; a ``y`` that widens ``x`` makes the static shape
    (Keras's too) wrong, and the layers after it are built for the wrong shape.
    """
    x, y = list(a.values())[:2]
    shape = _shape_of(x, "x")
    both = broadcast(shape, _shape_of(y, "y"))
    if both != shape:
        raise ShapeError(
            f"y of shape {shape_str(_shape_of(y, 'y'))} broadcasts x {shape_str(shape)} to "
            f"{shape_str(both)}, but Keras gives the result x's shape, so the layers after it would be "
            f"built for {shape_str(shape)}; give y a shape that fits into x's (size 1 or x's size on "
            "each axis)"
        )
    return shape


def full_like(a: dict[str, Any]) -> Shape:
    """``full_like(x, fill_value)``: x's shape filled with ``fill_value``, a number or an array that broadcasts into it.

    Keras broadcasts ``fill_value`` to x's shape (one way: it may not widen x), and its static shape is x's.
    """
    shape = _shape_of(a["x"], "x")
    fill = _shape_of(a["fill_value"], "fill_value")
    if len(fill) > len(shape) or any(f not in (1, d) for f, d in zip(reversed(fill), reversed(shape))):
        raise ShapeError(
            f"fill_value of shape {shape_str(fill)} does not broadcast to x's shape {shape_str(shape)}: Keras "
            "fills x's shape with it; give a number, or a list whose sizes are 1 or x's on its last axes "
            f"(e.g. {shape[-1] if shape and shape[-1] is not None else 1} values for the last axis)"
        )
    return shape


def _constant_against_batch(values: list[tuple[str, Any]]) -> None:
    """Refuse a constant whose size on the axis where a tensor has its batch axis (a leading None) is not 1.

    Keras broadcasts the batch against it (its static shape takes the constant's size), so the model works
    only for batches of that size (or of one sample) and fails for the others.
    """
    for _, v in values:
        if v is not None and not isinstance(v, TensorArg):
            break
    else:
        return  # no constant
    shapes = [(name, v, _shape_of(v, name)) for name, v in values if v is not None]
    rank = max((len(s) for _, _, s in shapes), default=0)
    for _, tensor, shape in shapes:
        if not (isinstance(tensor, TensorArg) and shape and shape[0] is None):
            continue
        pos = rank - len(shape)
        for name, value, other in shapes:
            i = pos - (rank - len(other))
            if not isinstance(value, TensorArg) and 0 <= i < len(other) and other[i] != 1:
                raise ShapeError(
                    f"the constant {name} of shape {shape_str(other)} has size {other[i]} where {shape_str(shape)} "
                    "has its batch axis: Keras broadcasts the batch against it, so the model works only for "
                    f"batches of {other[i]} samples (or of one); give the constant size 1 on that axis, or leave "
                    "the axis out (the values for one sample, as [1, 2, 3, 4] for a batch of 4 features)"
                )


def binary(a: dict[str, Any]) -> Any:
    (n1, x1), (n2, x2) = list(a.items())[:2]
    _constant_against_batch([(n1, x1), (n2, x2)])
    return broadcast(_shape_of(x1, "x1"), _shape_of(x2, "x2"))


def along_axis(a: dict[str, Any]) -> Shape:
    """Ops that keep ``x``'s shape and work along ``axis`` (an axis, a list of axes, or null for all): flip…"""
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    if axis is not None:
        _axes(axis, len(shape))
    return shape


def along_axis_or_flat(a: dict[str, Any]) -> Shape:
    """``cumsum``, ``cumprod``, ``sort``, ``argsort``: x's shape along one ``axis``; with ``axis: null`` they
    work on the flattened tensor, batch included, as NumPy's do, and give one axis of all its values."""
    if a.get("axis") is None:
        return flatten_all(a)
    return along_axis(a)


def roll(a: dict[str, Any]) -> Shape:
    """``roll(x, shift, axis)``: x's shape; TensorFlow takes one shift per axis (an axis may come twice: its
    shifts add up), and one shift when ``axis`` is one axis or null."""
    shape = _shape_of(a["x"])
    shift, axis = a["shift"], a.get("axis")
    axes = axis if isinstance(axis, (list, tuple)) else None
    for ax in axes if axes is not None else [] if axis is None else [axis]:
        _axis(ax, len(shape))
    shifts = len(shift) if isinstance(shift, (list, tuple)) else None
    if (axes is None and shifts is not None) or (axes is not None and shifts != len(axes)):
        raise ShapeError(
            f"shift {shift!r:.40} and axis {axis!r:.40}: TensorFlow rolls by one shift per axis; give shift and "
            "axis as lists of one length (e.g. shift: [1, 2], axis: [1, 2]), or one number each"
        )
    for one in shift if isinstance(shift, (list, tuple)) else [shift]:
        if not isinstance(one, (int, TensorArg)) or isinstance(one, bool):
            # TensorFlow's roll takes an int32 or int64 shift: Keras builds the model with any other and
            # fails on every input (a float, also 1.0, nan or inf; a bool; text)
            raise ShapeError(
                f"shift {one!r:.40} is not a whole number: TensorFlow rolls by int32 or int64 shifts and fails "
                "on every input with another value (a float, also 1.0, nan or inf; true; text); write the shift as "
                "an integer, such as 1 or -2"
            )
        if isinstance(one, int) and not -MAX_INT64 - 1 <= one <= MAX_INT64:
            raise ShapeError(
                f"shift {one:.3g}: TensorFlow takes a shift of int64 (from -2^63 to 2^63 - 1) and fails on every "
                "input with a larger one; a roll by the axis's size changes nothing, so give the shift modulo "
                "the axis's size"
            )
    return shape


def axis_keep(a: dict[str, Any], what: str = "axis") -> Shape:
    """The output of a reduction over ``axis`` (all axes when null), with ``keepdims``."""
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    keep = a.get("keepdims", False)
    if axis is None:
        return tuple(1 for _ in shape) if keep else ()
    axes = set(_axes(axis, len(shape), what))
    return tuple((1 if i in axes else d) for i, d in enumerate(shape) if keep or i not in axes)


def softmax_like(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    _axes(a.get("axis", -1), len(shape))
    return shape


def reshape(a: dict[str, Any]) -> Shape:
    """``reshape(x, newshape)``; ``newshape`` includes the batch axis.

    When the batch is unknown (a model input's), ``newshape`` must start with -1 and the other sizes must
    divide each sample's values: any other batch size, or a count that does not divide, holds for some
    batch sizes only (``reshape`` fails at predict), or gives results that are not one per sample.
    """
    shape = _shape_of(a["x"])
    new = a["newshape"]
    new = (new,) if isinstance(new, int) else tuple(new)
    if sum(1 for d in new if d == -1) > 1:
        raise ShapeError(f"newshape {list(new)} has more than one -1")
    if any(not isinstance(d, int) or isinstance(d, bool) or d < -1 for d in new):
        raise ShapeError(f"newshape {list(new)} must hold sizes ≥ 0 and at most one -1")
    per_sample = prod(shape[1:])
    if 0 in new and per_sample != 0:
        raise ShapeError(
            f"newshape {list(new)} has a size 0, so the result holds no values, while "
            f"{shape_str(shape)} holds {per_sample if per_sample is not None else 'some'} per sample; "
            "write the sizes of the result (at most one -1)"
        )
    if shape and shape[0] is None:
        if not new or new[0] != -1:
            first = f"fixes the batch axis to {new[0]}" if new else "has no batch axis"
            raise ShapeError(
                f"newshape {list(new)} {first}: the result would not be one per sample (and would "
                f"fail for other batch sizes); newshape includes the batch axis: write -1 first, "
                f"e.g. {[-1, *new[1:]] if new else [-1]}"
            )
        known = math.prod(new[1:])
        if per_sample is not None and (known == 0 or per_sample % known):
            raise ShapeError(
                f"cannot reshape {shape_str(shape)} ({per_sample} values per sample) to {list(new)}: "
                f"{per_sample} is not a multiple of {known}, so it fails for every batch whose "
                f"size is not a multiple of {known // math.gcd(known, per_sample)}; make the sizes after -1 multiply to a divisor of "
                f"{per_sample}, e.g. {[-1, per_sample]}"
            )
        return (None, *new[1:])
    total = prod(shape)
    if -1 not in new:
        if total is not None and total != math.prod(new):
            raise ShapeError(f"cannot reshape {shape_str(shape)} ({total} values) to {list(new)}")
        return new
    if total is None:
        return tuple(None if d == -1 else d for d in new)
    known = math.prod(d for d in new if d != -1)
    if known == 0 or total % known:
        raise ShapeError(f"cannot reshape {shape_str(shape)} ({total} values) to {list(new)}")
    return tuple(total // known if d == -1 else d for d in new)


def transpose(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axes = a.get("axes")
    if axes is None:
        return tuple(reversed(shape))
    if len(axes) != len(shape) or sorted(_axis(x, len(shape)) for x in axes) != list(range(len(shape))):
        raise ShapeError(f"axes {list(axes)} is not a permutation of the {len(shape)} axes of {shape_str(shape)}")
    return tuple(shape[x] for x in axes)


def expand_dims(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    axis = a["axis"]
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = len(shape) + len(axes)
    norm = sorted(_axes(axes, rank))
    for ax in norm:
        shape.insert(ax, 1)
    return tuple(shape)


def squeeze(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    if axis is None:
        return tuple(d for d in shape if d != 1)
    axes = {_axis(ax, len(shape)) for ax in (axis if isinstance(axis, (list, tuple)) else [axis])}
    if 0 in axes and shape and shape[0] is None:
        raise ShapeError(
            f"squeeze of axis 0 of {shape_str(shape)} removes the batch axis, which works only for a "
            "batch of one sample; axes count the batch axis as 0: squeeze axis 1 or later"
        )
    for ax in axes:
        if shape[ax] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {ax} of {shape_str(shape)}: its size is {shape[ax]}, not 1")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def concatenate(a: dict[str, Any]) -> Shape:
    shapes = [_shape_of(x) for x in a["xs"]]
    axis = a.get("axis", 0)
    if axis is None:
        raise ShapeError("concatenate needs an axis (Keras refuses axis null)")
    rank = len(shapes[0])
    ax = _axis(axis, rank)
    total: int | None = 0
    out = list(shapes[0])
    for s in shapes:
        if len(s) != rank:
            raise ShapeError(f"concatenate needs tensors of one rank, received {shape_str(shapes)}")
        for i, (d, o) in enumerate(zip(s, out)):
            if i == ax:
                continue
            if d is not None and o is not None and d != o:
                raise ShapeError(
                    f"concatenate needs the same size on every axis but {axis}, received {shape_str(shapes)}"
                )
            out[i] = o if o is not None else d
        size = s[ax]
        total = None if total is None or size is None else total + size
    out[ax] = total
    return tuple(out)


def stack(a: dict[str, Any]) -> Shape:
    shapes = [_shape_of(x) for x in a["x"]]
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(p is not None and q is not None and p != q for p, q in zip(s, first)):
            raise ShapeError(f"stack needs tensors of one shape, received {shape_str(shapes)}")
    ax = _axis(a.get("axis", 0), len(first) + 1)
    out = list(first)
    out.insert(ax, len(shapes))
    return tuple(out)


#: the most parts ``split`` may make (one output each): as many as a graph has nodes
MAX_SPLIT_PARTS = 10_000


def split(a: dict[str, Any]) -> list[Shape]:
    shape = _shape_of(a["x"])
    ax = _axis(a.get("axis", 0), len(shape))
    if ax == 0:
        _batch_taken(shape, "split cuts", "split axis 1 or later (axis counts the batch axis as 0)")
    sections = a["indices_or_sections"]
    size = shape[ax]
    if isinstance(sections, int) and not isinstance(sections, bool) and sections < 1:
        raise ShapeError(
            f"indices_or_sections {sections}: a number of equal parts is 1 or more (Keras fails to build the "
            "model with another)"
        )
    parts = sections if isinstance(sections, int) else len(sections) + 1 if isinstance(sections, (list, tuple)) else 0
    if parts > MAX_SPLIT_PARTS:
        raise ShapeError(
            f"indices_or_sections {sections if isinstance(sections, int) else f'(a list of {len(sections):,})'}: "
            f"split makes {parts:,} parts, one output each; netform takes at most {MAX_SPLIT_PARTS:,}"
        )
    if isinstance(sections, (list, tuple)):
        if not sections:
            raise ShapeError(
                "indices_or_sections []: TensorFlow's split takes no empty list of indices (the model fails on "
                "every input); give the indices to cut at, e.g. [2], or a number of equal parts"
            )
        ints = [i for i in sections if isinstance(i, int) and not isinstance(i, bool)]
        if len(ints) != len(sections):
            raise ShapeError(
                f"indices_or_sections {sections!r:.60}: the indices to cut at are whole numbers, e.g. [2, 5]"
            )
        if ints[0] < 0:
            raise ShapeError(
                f"split index {ints[0]} is negative: Keras cuts at indices from 0, counted from the start of "
                f"axis {ax} (it takes no index from the end)"
            )
        for lo, hi in zip(ints, ints[1:]):
            if hi < lo:
                raise ShapeError(
                    f"split indices {lo} then {hi}: each index is at least the one before it (the part between "
                    f"them would have {hi - lo} values, and Keras fails to build the model); give them in order"
                )
    if isinstance(sections, int):
        if size is not None and size % sections:
            raise ShapeError(f"split cannot cut axis {ax} of size {size} into {sections} equal parts")
        piece = None if size is None else size // sections
        return [shape[:ax] + (piece,) + shape[ax + 1 :] for _ in range(sections)]
    if size is not None:
        bad = [i for i in sections if isinstance(i, int) and not 0 <= i <= size]
        if bad:
            raise ShapeError(f"split index {bad[0]} is outside axis {ax} of size {size}")
    bounds = [0, *sections, size]
    out = []
    for lo, hi in zip(bounds, bounds[1:]):
        length = None if hi is None else max(0, min(hi, size) - lo) if size is not None else None
        out.append(shape[:ax] + (length,) + shape[ax + 1 :])
    return out


def matmul(a: dict[str, Any]) -> Shape:
    x1, x2 = _shape_of(a["x1"], "x1"), _shape_of(a["x2"], "x2")
    if not x1 or not x2:
        raise ShapeError("matmul takes tensors of rank 1 or more")
    s1 = (1,) + x1 if len(x1) == 1 else x1
    s2 = x2 + (1,) if len(x2) == 1 else x2
    for shape, axis in ((x1, len(x1) - 1), (x2, len(x2) - 2 if len(x2) > 1 else 0)):
        if axis == 0 and shape[0] is None:
            _batch_taken(
                shape,
                "matmul sums over",
                "the batch axis must stay first: multiply by a tensor without a batch axis, e.g. weights of "
                "shape (4, 5), or use einsum such as 'bi,bi->b'",
            )
    if s1[-1] is not None and s2[-2] is not None and s1[-1] != s2[-2]:
        raise ShapeError(
            f"matmul needs the last axis of x1 to match the second-last of x2, received "
            f"{shape_str(x1)} and {shape_str(x2)}"
        )
    out = _broadcast_batch([s1[:-2], s2[:-2]]) + (s1[-2], s2[-1])
    if len(x1) == 1:
        out = out[:-2] + out[-1:]
    if len(x2) == 1:
        out = out[:-1]
    check_products("matmul", out[1:] if out and out[0] is None else out, (s1[-1],))
    return out


def where(a: dict[str, Any]) -> Shape:
    shapes = [_shape_of(a["condition"])]
    if a.get("x1") is None and a.get("x2") is None:
        raise ShapeError("where with only a condition has a data-dependent shape; give x1 and x2")
    shapes += [_shape_of(a[k], k) for k in ("x1", "x2")]
    _constant_against_batch([(k, a[k]) for k in ("condition", "x1", "x2")])
    return broadcast(*shapes)


def clip(a: dict[str, Any]) -> Shape:
    return _shape_of(a["x"])


#: what Keras's TensorFlow ``image.resize`` takes (it checks them when the model runs, not when it is built)
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")


def resize(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["images"])
    size = a["size"]
    interpolation = a.get("interpolation", "bilinear")
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ShapeError(
            f"interpolation {interpolation!r:.60} is not one Keras resizes with; use one of "
            f"{', '.join(RESIZE_INTERPOLATIONS)}"
        )
    if a.get("fill_mode", "constant") != "constant":
        raise ShapeError(f"fill_mode {a['fill_mode']!r:.60}: Keras's image.resize takes only 'constant'")
    if a.get("pad_to_aspect_ratio") and a.get("crop_to_aspect_ratio"):
        raise ShapeError("pad_to_aspect_ratio and crop_to_aspect_ratio cannot both be true; choose one")
    if a.get("data_format") not in (None, "channels_last", "channels_first"):
        raise ShapeError(f"data_format {a['data_format']!r:.60} is not 'channels_last' or 'channels_first'")
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ShapeError(f"size must be [height, width], received {size!r}")
    if any(isinstance(d, int) and not isinstance(d, bool) and d < 1 for d in size):
        raise ShapeError(f"size {list(size)!r:.60}: Keras resizes to a height and width of 1 or more")
    fmt = a.get("data_format") or "channels_last"
    if len(shape) not in (3, 4):
        raise ShapeError(f"image.resize takes a tensor of rank 3 or 4, received {shape_str(shape)}")
    if len(shape) == 3 and fmt == "channels_last" and shape[0] is None:
        # Keras takes a rank-3 tensor as one image (height, width, channels): the batch axis is its height
        raise ShapeError(
            f"image.resize takes the rank-3 tensor {shape_str(shape)} as one image (height, width, channels), so "
            f"it resizes the batch axis as the height: every batch gives {size[0]} results, not one per sample; "
            "give each sample a channels axis first (op expand_dims, axis: -1, makes "
            f"{shape_str((*shape, 1))}), or write data_format: channels_first to resize each sample's "
            f"{shape_str(shape[1:])} as one image"
        )
    if fmt == "channels_last":
        return shape[:-3] + tuple(size) + shape[-1:]
    return shape[:-2] + tuple(size)


def normalize(a: dict[str, Any]) -> Shape:
    """``normalize(x, axis, order)``: Keras takes only a whole ``order`` ≥ 1 (and checks it when the model runs)."""
    order = a.get("order", 2)
    if not isinstance(order, int) or order < 1:
        raise ShapeError(
            f"order {order!r:.20}: Keras normalizes by the p-norm of a whole order p ≥ 1 only; write e.g. order: 2"
        )
    return softmax_like(a)


#: the largest ``k`` TensorFlow's band of a matrix (``tril``, ``triu``) takes when the axis size is unknown
MAX_INT64 = 2**63 - 1
MAX_INT32 = 2**31 - 1


def band(upper: bool) -> Callable[[dict[str, Any]], Shape]:
    """The rule of ``tril`` (``upper`` False) or ``triu``: x's shape; ``k`` within what TensorFlow takes.

    TensorFlow keeps ``tril``'s diagonals up to ``k ≥ 0`` (``triu``'s from ``k ≤ 0``) with a matrix band that
    takes at most as many diagonals as the last (second-last) axis has; a larger ``k`` fails when the model
    runs. ``k`` is an int64.
    """

    def rule(a: dict[str, Any]) -> Shape:
        name = "triu" if upper else "tril"
        shape = _shape_of(a["x"])
        k = a.get("k", 0)
        if len(shape) < 2:
            raise ShapeError(f"{name} takes a tensor of rank 2 or more (batch included), received {shape_str(shape)}")
        if not isinstance(k, int) or isinstance(k, bool):
            raise ShapeError(f"k {k!r:.30} must be a whole number (the diagonal: 0 the main one, > 0 above it)")
        size = shape[-2] if upper else shape[-1]
        limit = size if isinstance(size, int) else MAX_INT64
        lo, hi = (-limit, MAX_INT64) if upper else (-MAX_INT64 - 1, limit)
        if not lo <= k <= hi:
            known = f" ({size} {'rows' if upper else 'columns'})" if isinstance(size, int) else ""
            raise ShapeError(
                f"k {k} is outside what TensorFlow's {name} takes for {shape_str(shape)}{known}: k from {lo} to {hi}"
                + (f"; k {lo if upper else hi} already keeps every value" if known else "")
            )
        return shape

    return rule


def glu(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    ax = _axis(a.get("axis", -1), len(shape))
    size = shape[ax]
    if size is not None:
        if size % 2:
            raise ShapeError(f"glu needs an even size on axis {ax}, received {shape_str(tuple(shape))}")
        shape[ax] = size // 2
    return tuple(shape)


def _batch_taken(shape: Shape, what: str, fix: str) -> None:
    """Refuse ``what`` on the batch axis of a model input's batch (unknown size): it would give results
    that are not one per sample, and fail for some batch sizes."""
    if shape and shape[0] is None:
        raise ShapeError(
            f"{what} the batch axis (axis 0 of {shape_str(shape)}): the results would not be one per "
            f"sample, and some batch sizes fail; {fix}"
        )


def getitem(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    key = parse_index(a["index"])
    full = key
    if Ellipsis in key:  # as index_shape expands it: the items after ... index the last axes
        i = key.index(Ellipsis)
        n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
        full = key[:i] + (slice(None),) * max(0, len(shape) - n_real) + key[i + 1 :]
    first = next((k for k in full if k is not None), slice(None))
    if not (isinstance(first, slice) and first.start in (None, 0) and first.stop is None and first.step in (None, 1)):
        _batch_taken(
            shape,
            f"index {a['index']!r} picks from",
            "the first index item is the batch axis: write ':' (or '...') first, e.g. '[:, 0]'",
        )
    return index_shape(shape, key)


def arg_reduce(a: dict[str, Any]) -> Shape:
    return axis_keep(a)


def flatten_all(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    return (prod(shape),)


def repeat(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    reps, axis = a["repeats"], a.get("axis")
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 0:
        raise ShapeError(f"repeat takes a whole number ≥ 0 as `repeats` for a static shape, received {reps!r:.60}")
    if axis is None:
        _batch_taken(
            shape, "repeat without an axis flattens", "give an axis of 1 or later (axis counts the batch as 0)"
        )
        total = prod(shape)
        return (None if total is None else total * reps,)
    ax = _axis(axis, len(shape))
    if ax == 0 and reps != 1:
        _batch_taken(shape, "repeat repeats", "repeat along axis 1 or later (axis counts the batch axis as 0)")
    size = shape[ax]
    return shape[:ax] + (None if size is None else size * reps,) + shape[ax + 1 :]


def tile(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    reps = a["repeats"]
    reps = [reps] if isinstance(reps, int) else list(reps)
    if any(not isinstance(r, int) or isinstance(r, bool) or r < 0 for r in reps):
        raise ShapeError(f"tile takes whole numbers ≥ 0 as `repeats`, received {reps!r:.60}")
    rank = max(len(shape), len(reps))
    if rank > len(shape) or (len(reps) == rank and reps[0] != 1):
        _batch_taken(
            shape,
            f"tile with repeats {reps} repeats or moves",
            f"give one repeat per axis, 1 for the batch axis, e.g. {[1, *reps[-(len(shape) - 1) :]] if len(shape) > 1 else [1]}",
        )
    shape = (1,) * (rank - len(shape)) + shape
    reps = [1] * (rank - len(reps)) + reps
    return tuple(None if d is None else d * r for d, r in zip(shape, reps))


def moveaxis(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    src, dst = a["source"], a["destination"]
    src = [src] if isinstance(src, int) else list(src)
    dst = [dst] if isinstance(dst, int) else list(dst)
    src = _axes(src, len(shape), "source")
    dst = _axes(dst, len(shape), "destination")
    if len(src) != len(dst):
        raise ShapeError(
            f"source names {len(src)} axes and destination {len(dst)}; give source and destination the same "
            "number of axes"
        )
    order = [i for i in range(len(shape)) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tuple(shape[i] for i in order)


def swapaxes(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    i, j = _axis(a["axis1"], len(shape)), _axis(a["axis2"], len(shape))
    shape[i], shape[j] = shape[j], shape[i]
    return tuple(shape)


def top_k(a: dict[str, Any]) -> list[Shape]:
    shape = _shape_of(a["x"])
    if shape and isinstance(shape[-1], int) and isinstance(a["k"], int) and not 0 <= a["k"] <= shape[-1]:
        raise ShapeError(f"top_k takes k from 0 to the last axis's size {shape[-1]}, received k={a['k']}")
    out = shape[:-1] + (a["k"],)
    return [out, out]


def one_hot(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    axis = a.get("axis", -1)
    if axis != -1 and not (isinstance(axis, int) and 0 <= axis < len(shape)):
        # Keras's one_hot takes the new axis last (-1) or before one of x's axes, no other negative axis
        raise ShapeError(
            f"axis {axis!r:.40} of one_hot is out of range: Keras takes -1 (the classes last) or 0 to "
            f"{len(shape) - 1} (the classes before that axis of {shape_str(tuple(shape))})"
        )
    if a.get("sparse"):
        raise ShapeError(
            "sparse: true: Keras's TensorFlow one_hot makes its sparse result only for a batch of known size, "
            "and a model runs on batches of any size (netform's predict and train fail on every input); drop "
            "sparse (the result is dense)"
        )
    classes = a["num_classes"]
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 0:
        raise ShapeError(
            f"num_classes {classes!r:.40}: the number of classes is a whole number ≥ 0 (the size of the new "
            "axis; Keras fails to build the model with a negative one)"
        )
    ax = _axis(axis, len(shape) + 1)
    shape.insert(ax, classes)
    return tuple(shape)


#: the ``ord`` values Keras's matrix norm (``norm`` over two axes) takes
MATRIX_ORDS: tuple[Any, ...] = (None, "fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def norm(a: dict[str, Any]) -> Shape:
    """``norm(x, ord, axis)``: a vector norm over one axis or a matrix norm over two (all axes when null).

    Keras takes no other number of axes, a text ``ord`` only for a matrix norm, and for a matrix norm only
    the ``ord`` values of :data:`MATRIX_ORDS`; it checks them only when the model is built.
    """
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    order = a.get("ord")
    n_axes = len(shape) if axis is None else len(_axes(axis, len(shape)))
    if n_axes not in (1, 2):
        raise ShapeError(
            f"norm over {n_axes} axes ({'axis null: all axes of ' + shape_str(shape) if axis is None else axis!r:.60}): "
            "Keras computes a vector norm over one axis or a matrix norm over two; give axis one axis or two"
        )
    if n_axes == 1 and isinstance(order, str):
        raise ShapeError(
            f"ord {order!r:.20} is a matrix norm's, but axis names one axis (a vector norm); give a number, or two axes"
        )
    if n_axes == 2 and (isinstance(order, bool) or not any(order == o for o in MATRIX_ORDS)):
        raise ShapeError(
            f"ord {order!r:.20} is not one Keras's matrix norm (over two axes) takes; use one of "
            "null, 'fro', 'nuc', 1, -1, 2, -2, .inf or -.inf, or give one axis for a vector norm of any order"
        )
    if axis is None:
        return tuple(1 for _ in shape) if a.get("keepdims") else ()
    return axis_keep({"x": TensorArg(shape), "axis": axis, "keepdims": a.get("keepdims", False)})


def logsumexp(a: dict[str, Any]) -> Shape:
    return axis_keep({"x": a["x"], "axis": a.get("axis"), "keepdims": a.get("keepdims", False)})


def broadcast_to(a: dict[str, Any]) -> Shape:
    target = tuple(a["shape"])
    _batch_taken(
        _shape_of(a["x"]),
        f"broadcast_to {list(target)} sets",
        "broadcast a tensor without a batch axis, or let the batch broadcast with an op such as add",
    )
    if broadcast(_shape_of(a["x"]), target) != target:
        raise ShapeError(f"cannot broadcast {shape_str(_shape_of(a['x']))} to {list(target)}")
    return target


def pad(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    width = a["pad_width"]
    if isinstance(width, int):
        pairs = [(width, width)] * len(shape)
    elif len(width) == 2 and all(isinstance(w, int) for w in width):
        pairs = [tuple(width)] * len(shape)
    elif len(width) == 1:
        pairs = [tuple(width[0])] * len(shape)
    else:
        if len(width) != len(shape):
            raise ShapeError(f"pad_width gives {len(width)} pairs for a tensor of rank {len(shape)}")
        pairs = [tuple(w) for w in width]
    if any(len(p) != 2 or any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for w in p) for p in pairs):
        raise ShapeError(f"pad_width takes pairs of whole numbers ≥ 0, received {width!r:.80}")
    mode = a.get("mode", "constant")
    if a.get("constant_values") is not None and mode != "constant":
        raise ShapeError(
            f"constant_values {a['constant_values']!r:.30} is given with mode {mode!r:.30}: Keras takes "
            "constant_values only with mode 'constant' (reflect and symmetric copy the tensor's own values); "
            "drop constant_values, or use mode: constant"
        )
    if mode in ("reflect", "symmetric"):
        # TensorFlow's MirrorPad mirrors values of the axis itself: reflect (the edge not repeated) pads fewer
        # than the axis's size, symmetric (the edge repeated) at most its size; more fails on every input
        for axis, (dim, (lo, hi)) in enumerate(zip(shape, pairs)):
            most = None if dim is None else dim - 1 if mode == "reflect" else dim
            if most is not None and max(lo, hi) > most:
                raise ShapeError(
                    f"pad_width {width!r:.60} pads axis {axis} (size {dim}) by {max(lo, hi)} in mode {mode!r}: "
                    f"TensorFlow mirrors the axis's own values, so {mode} pads each side by at most {most} "
                    f"({'size - 1' if mode == 'reflect' else 'the size'}); pad less, or use mode: constant"
                )
    if pairs and pairs[0] != (0, 0):
        _batch_taken(
            shape,
            f"pad_width {width!r:.60} pads",
            f"pad_width includes the batch axis: give it [0, 0], e.g. {[[0, 0], *[list(p) for p in pairs[1:]]]!r:.80}",
        )
    return tuple(None if d is None else d + lo + hi for d, (lo, hi) in zip(shape, pairs))


def take(a: dict[str, Any]) -> Shape:
    shape, indices = _shape_of(a["x"]), _shape_of(a["indices"], "indices")
    axis = a.get("axis")
    if axis is None:  # indices into the flattened tensor (batch included): bounded only when every size is known
        total = prod(shape) if shape else None
        if total is not None and not isinstance(a["indices"], TensorArg):
            bad = [v for v in _numbers(a["indices"]) if not -total <= v < total]
            if bad:
                raise ShapeError(f"index {bad[0]} is out of range for the {total} values of the flattened input")
        elif not isinstance(a["indices"], TensorArg):
            known = math.prod(d for d in shape if isinstance(d, int))
            bad = [v for v in _numbers(a["indices"]) if v < -known * MAX_BATCH or v >= known * MAX_BATCH]
            if bad:
                raise ShapeError(f"index {bad[0]} is out of range for the flattened input")
        if not (indices and indices[0] is None):  # indices of a batch pick as many values as there are samples
            _batch_taken(
                shape,
                f"take without an axis picks indices of shape {shape_str(indices)} from the flattened tensor "
                "whatever the batch size, so it picks across",
                "give the axis to pick along, 1 or later (axis counts the batch axis as 0), e.g. axis: 1",
            )
        return indices
    ax = _axis(axis, len(shape))
    if ax == 0:
        _batch_taken(shape, "take picks from", "take along axis 1 or later (axis counts the batch axis as 0)")
    size = shape[ax]
    if isinstance(size, int) and not isinstance(a["indices"], TensorArg):
        bad = [v for v in _numbers(a["indices"]) if not -size <= v < size]
        if bad:
            raise ShapeError(f"index {bad[0]} is out of range for axis {axis} of size {size}")
    return shape[:ax] + indices + shape[ax + 1 :]


#: The largest batch the bound on flattened indices allows for (an unknown batch is at most this).
MAX_BATCH = 2**31 - 1


def _numbers(value: Any) -> list[Any]:
    """The numbers of a constant (a number or nested lists)."""
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def outer(a: dict[str, Any]) -> Shape:
    sizes = []
    for key in ("x1", "x2"):
        s = _shape_of(a[key], key)
        sizes.append(prod(s))
    return tuple(sizes)


def moments(a: dict[str, Any]) -> list[Shape]:
    out = axis_keep({"x": a["x"], "axis": a["axes"], "keepdims": a.get("keepdims", False)}, "axes")
    return [out, out]


def reduce_no_keep(a: dict[str, Any]) -> Shape:
    return axis_keep({"x": a["x"], "axis": a.get("axis"), "keepdims": False})


def average(a: dict[str, Any]) -> Shape:
    """``average(x, axis, weights)``: Keras takes weights of x's shape, or 1-D of x's size on ``axis``.

    Weights of x's shape fit only the batch size they were written for (x's batch is unknown), so with a
    batch only the 1-D form over an axis of x works for every batch.
    """
    out = reduce_no_keep(a)
    weights, axis = a.get("weights"), a.get("axis")
    if weights is None:
        return out
    shape, w = _shape_of(a["x"]), _shape_of(weights, "weights")
    if w == shape:
        return out
    size = shape[_axis(axis, len(shape))] if isinstance(axis, int) and not isinstance(axis, bool) else _MISSING_AXIS
    if size is _MISSING_AXIS or len(w) != 1 or (size is not None and w[0] != size):
        on_axis = f"x's size on axis {axis} ({size})" if size is not _MISSING_AXIS else "x's size on an axis"
        raise ShapeError(
            f"weights of shape {shape_str(w)} do not fit x {shape_str(shape)}: Keras takes weights of x's shape "
            f"or a list as long as {on_axis}{' (axis must be one axis)' if size is _MISSING_AXIS else ''}; "
            f"e.g. {size if isinstance(size, int) else 'n'} weights with axis: {axis if size is not _MISSING_AXIS else 1}"
        )
    return out


_MISSING_AXIS: Any = object()


def grayscale(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["images"])
    if len(shape) not in (3, 4):
        raise ShapeError(f"image.rgb_to_grayscale takes a tensor of rank 3 or 4, received {shape_str(shape)}")
    last = (a.get("data_format") or "channels_last") == "channels_last"
    if len(shape) == 3 and not last and shape[0] is None:
        # Keras takes a rank-3 tensor as one image (channels, height, width): the batch axis is its channels
        raise ShapeError(
            f"with data_format channels_first, image.rgb_to_grayscale takes the rank-3 tensor {shape_str(shape)} "
            "as one image (channels, height, width), so the batch axis would be its channels: it gives one "
            "result for a batch of 1 or 3 samples, not one per sample, and fails for other batch sizes; give "
            f"each sample its channels axis (a rank-4 tensor, e.g. op expand_dims, axis: 1, makes "
            f"{shape_str((None, 1, *shape[1:]))})"
        )
    channels = shape[-1] if last else shape[-3]
    if channels not in (None, 1, 3):
        raise ShapeError(
            f"it takes images of 3 channels (RGB) or 1, received {channels} ({shape_str(shape)}, "
            f"{'channels last' if last else 'channels first'}); pick the RGB channels first, e.g. with an op "
            f"getitem, index '{'[..., :3]' if last else '[:, :3]'}'"
        )
    if last:
        return shape[:-1] + (1,)
    return shape[:-3] + (1,) + shape[-2:]


def append(a: dict[str, Any]) -> Shape:
    if a.get("axis") is None:
        x1, x2 = (prod(_shape_of(a[k], k)) for k in ("x1", "x2"))
        return (None if x1 is None or x2 is None else x1 + x2,)
    shapes = [_shape_of(a[k], k) for k in ("x1", "x2")]
    axis = a["axis"]
    ax = _axis(axis, len(shapes[0]))
    unknown = next((s for s in shapes if len(s) > ax and s[ax] is None), None)
    if unknown is not None:
        raise ShapeError(
            f"append along axis {axis} of {shape_str(unknown)}, whose size is unknown"
            f"{' (the batch axis)' if ax == 0 else ''}: Keras's append adds the two sizes to give the result's, and "
            "fails while the model is built; use op concatenate (in: [x1, x2]) on that axis"
        )
    return concatenate({"xs": [a["x1"], a["x2"]], "axis": axis})


#: the largest order ``diff`` takes: Keras's diff loops n times in Python, each pass adding ops to the graph
MAX_DIFF_ORDER = 32


def diff(a: dict[str, Any]) -> Shape:
    """``diff(a, n, axis)``: a's shape, n fewer values along ``axis``; n from 0 to the axis's size (and at
    most :data:`MAX_DIFF_ORDER`)."""
    shape = list(_shape_of(a["a"]))
    if isinstance(a.get("axis"), (list, tuple)):
        raise ShapeError(f"axis {a['axis']!r:.40}: diff takes differences along one axis; give one, e.g. axis: -1")
    ax = _axis(a.get("axis", -1), len(shape))
    n = a.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ShapeError(
            f"n={n!r:.60}: the order n (how many times to take differences) is a whole number ≥ 0; write n: 1 "
            "for the first difference"
        )
    size = shape[ax]
    if size is not None and n > size:
        raise ShapeError(
            f"n={n}: more differences than axis {ax} has values ({size}); each one leaves one value fewer, "
            f"and Keras takes them one by one, n times over even once none is left; give n from 0 to {size}"
        )
    if n > MAX_DIFF_ORDER:
        raise ShapeError(
            f"n={n}: Keras takes differences one by one, each a step of the model's graph (n: 100 took 5 s "
            f"before the first batch, 10^9 never ended); netform takes n up to {MAX_DIFF_ORDER}"
        )
    if size is not None:
        shape[ax] = size - n
    return tuple(shape)


def _window(value: Any, n: int, what: str) -> list[int]:
    """A pooling ``pool_size`` or ``strides``: one whole number ≥ 1, or a list of 1 or ``n`` of them."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(values) not in (1, n) or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise ShapeError(
            f"{what} {value!r:.60}: Keras takes one whole number ≥ 1, or a list of {'1 or ' if n > 1 else ''}{n} "
            f"(one per spatial axis), and fails to build the model with another"
        )
    big = next((v for v in values if v > MAX_INT32), None)
    if big is not None:  # TensorFlow's pooling takes 32-bit sizes: Keras builds the model, then fails on every input
        raise ShapeError(
            f"{what} {big:,} is too large; pooling takes whole numbers up to {MAX_INT32:,} (TensorFlow holds "
            f"pool sizes and strides as 32-bit integers and fails on every input with a larger one); give at "
            "most the size of the axis it pools"
        )
    return values * n if len(values) == 1 else values


def pool(a: dict[str, Any]) -> Shape:
    from ._util import conv_out

    shape = _shape_of(a["inputs"])
    n = len(shape) - 2
    if not 1 <= n <= 3:
        raise ShapeError(
            f"pooling takes a tensor of rank 3 to 5 (batch and channels included: 1 to 3 spatial axes), received "
            f"{shape_str(shape)}" + (" (Keras builds the model, and it fails on every input)" if n > 3 else "")
        )
    pool = _window(a["pool_size"], n, "pool_size")
    strides = pool if a.get("strides") is None else _window(a["strides"], n, "strides")
    first = (a.get("data_format") or "channels_last") == "channels_first"
    spatial = shape[2:] if first else shape[1:-1]
    padding = a.get("padding", "valid")
    out = [conv_out(d, k, st, padding) for d, k, st in zip(spatial, pool, strides)]
    from .pooling import check_pool_cost

    what = f"pooling with pool_size {a['pool_size']!r} and strides {a.get('strides')!r}"
    check_pool_cost(what, spatial, out, pool, strides, str(padding).lower(), shape[1] if first else shape[-1])
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def slice_(a: dict[str, Any]) -> Shape:
    """``slice(inputs, start_indices, shape)``; a size -1 takes the rest of its axis.

    The batch axis of a model input's batch (unknown size) must be taken whole (start 0, size -1): any
    other slice gives that many results whatever the batch, not one per sample.
    """
    shape = _shape_of(a["inputs"])
    size = tuple(a["shape"])
    starts = tuple(a["start_indices"])
    if len(size) != len(shape) or len(starts) != len(shape):
        raise ShapeError(f"slice needs start_indices and shape of rank {len(shape)}")
    out: list[int | None] = []
    for axis, (dim, start, length) in enumerate(zip(shape, starts, size)):
        if axis == 0 and dim is None and (start != 0 or length != -1):
            raise ShapeError(
                f"slice takes {length if length != -1 else 'the rest'} of the batch axis from {start}: "
                "the model would give that many results whatever the batch size, not one per sample; "
                "start_indices and shape include the batch axis: write start 0 and size -1 for it, "
                f"e.g. start_indices: {[0, *starts[1:]]}, shape: {[-1, *size[1:]]}"
            )
        if (
            not isinstance(start, int)
            or isinstance(start, bool)
            or not isinstance(length, int)
            or isinstance(length, bool)
        ):
            out.append(None)
            continue
        if start < 0 or length < -1 or (isinstance(dim, int) and (start + max(length, 0) > dim or start > dim)):
            raise ShapeError(
                f"slice of axis {axis}: start {start} and size {length} do not fit "
                f"{'size ' + str(dim) if dim is not None else 'it'}"
            )
        out.append((dim - start if dim is not None else None) if length == -1 else length)
    return tuple(out)


_EINSUM_TERM = re.compile(r"[A-Za-z]*(?:\.\.\.)?[A-Za-z]*")
#: the longest subscripts text read (52 letters per term, a few dozen operands)
_MAX_SUBSCRIPTS = 1_000


def _einsum_terms(text: str, n_operands: int) -> tuple[list[str], str | None]:
    """Split ``subscripts`` into its input terms and its output term (None when implicit), checking the syntax."""
    if len(text) > _MAX_SUBSCRIPTS:
        raise ShapeError(f"subscripts are {len(text):,} characters long; einsum takes at most {_MAX_SUBSCRIPTS:,}")
    if any(c.isspace() for c in text):
        raise ShapeError(f"subscripts {text!r} hold spaces, which Keras does not read; write them without spaces")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    for term in [*terms, *([output] if arrow else [])]:
        if not _EINSUM_TERM.fullmatch(term):
            raise ShapeError(
                f"subscripts {text!r} are not einsum subscripts: each term holds letters and at most one '...', "
                "terms are separated by ',' and the output follows one '->' (e.g. 'bij,bjk->bik')"
            )
    if len(terms) != n_operands:
        raise ShapeError(f"subscripts {text!r} name {len(terms)} operands, `in` gives {n_operands}")
    return terms, output if arrow else None


def einsum(a: dict[str, Any]) -> Shape:
    """Output of ``einsum(subscripts, *operands)``, refusing what TensorFlow or Keras's static shape refuses.

    The letters of a term name the axes of its operand (``...`` stands for the axes the letters leave, which
    broadcast between operands); a letter's sizes must be equal in every operand (TensorFlow does not
    broadcast them). The output is the ``->`` term, or else the ``...`` axes (when
    one term has them) then the letters used once, in the order they first appear (TensorFlow's order;
    Keras's static shape sorts them, so where the two differ the spec is refused). The batch axis of a model input's batch must stay an axis of the output, matched only with
    other batch axes: summing over it, or pairing it with a fixed size, gives results that are not one per
    sample.
    """
    text = a["subscripts"]
    if not isinstance(text, str):
        raise ShapeError(f"subscripts must be text such as 'bij,bjk->bik', received {text!r:.60}")
    shapes = [_shape_of(x) for x in a["operands"]]
    terms, output = _einsum_terms(text, len(shapes))
    sizes: dict[str, int | None] = {}
    batch_letters: set[str] = set()
    ellipses: list[Shape] = []
    for term, shape in zip(terms, shapes):
        head, dots, tail = term.partition("...")
        letters = head + tail
        if len(letters) > len(shape) or (not dots and len(letters) != len(shape)):
            raise ShapeError(
                f"subscripts {term!r} name {len(letters)} axes{' and ...' if dots else ''}, "
                f"but the operand {shape_str(shape)} has {len(shape)}"
            )
        batch = bool(shape) and shape[0] is None
        middle = shape[len(head) : len(shape) - len(tail)]
        if dots:
            ellipses.append(tuple(middle))
        axes = list(zip(head, shape[: len(head)])) + list(zip(tail, shape[len(shape) - len(tail) :]))
        for i, (letter, d) in enumerate(axes):
            is_batch = batch and i == 0 and bool(head)
            if is_batch:
                if letters.count(letter) > 1:
                    raise ShapeError(
                        f"subscripts {term!r} repeat {letter!r}, the batch axis: the result would not be one per "
                        "sample (and fails for other batch sizes); give the batch axis its own letter"
                    )
                batch_letters.add(letter)
            if letter not in sizes:
                sizes[letter] = d
                continue
            known = sizes[letter]
            if (letter in batch_letters) != is_batch or (is_batch and known is not None):
                if known is not None or d is not None:
                    raise ShapeError(
                        f"subscript {letter!r} pairs the batch axis with an axis of size "
                        f"{known if d is None else d}: that works only for batches of that size; "
                        "give the batch axis its own letter"
                    )
            if d is not None and known is not None and known != d:
                raise ShapeError(f"subscript {letter!r} has sizes {known} and {d}; einsum needs them equal")
            if known is None:
                sizes[letter] = d
    dims = _broadcast_batch(ellipses) if ellipses else ()
    inputs = "".join(terms)
    if output is None:
        # TensorFlow keeps the letters used once in the order they first appear (NumPy and Keras sort them)
        out_letters = "".join(c for c in dict.fromkeys(inputs) if c.isalpha() and inputs.count(c) == 1)
        if len(ellipses) > 1 and dims:  # TensorFlow keeps '...' only when one term has it, like a letter
            raise ShapeError(
                f"subscripts {text!r} give '...' axes {shape_str(dims)} in several inputs and no output; "
                "TensorFlow then drops them and fails: write the output, e.g. '...i,...i->...'"
            )
        result = dims + tuple(sizes[c] for c in out_letters)
    else:
        head, dots, tail = output.partition("...")
        out_letters = head + tail
        repeated = sorted({c for c in out_letters if out_letters.count(c) > 1})
        if repeated:
            raise ShapeError(
                f"the output of subscripts {text!r} repeats {repeated[0]!r}; each output letter appears once"
            )
        missing = [c for c in out_letters if c not in sizes]
        if missing:
            raise ShapeError(f"the output of subscripts {text!r} names {missing[0]!r}, which no input term has")
        if not dots and dims:
            raise ShapeError(
                f"subscripts {text!r} give '...' axes {shape_str(dims)} in the inputs but none in the output; "
                "TensorFlow needs '...' in the output too"
            )
        result = tuple(sizes[c] for c in head) + (dims if dots else ()) + tuple(sizes[c] for c in tail)
    # einsum visits every combination of its letters' values (the batch's aside): made x summed
    kept = [sizes[c] for c in out_letters if c not in batch_letters] + [d for d in dims if d is not None]
    summed = [sizes[c] for c in sizes if c not in out_letters and c not in batch_letters]
    check_products(f"einsum {text!r}", kept, summed)
    gone = [c for c in batch_letters if c not in out_letters]
    if gone:
        raise ShapeError(
            f"subscripts {text!r} sum over the batch axis {gone[0]!r}: the result would not be one per sample; "
            f"keep {gone[0]!r} in the output, first"
        )
    if len(batch_letters) > 1:
        raise ShapeError(
            f"subscripts {text!r} give the batch axes of two operands different letters "
            f"({', '.join(repr(c) for c in sorted(batch_letters))}): the result pairs every sample with every "
            "other, not one result per sample; use one letter for the batch axis"
        )
    upper = [c for c in out_letters if c.isupper() and not all(c in t for t in terms)]
    if upper:
        raise ShapeError(
            f"subscripts {text!r}: Keras's static shape of einsum reads an uppercase output letter only when "
            f"every input term has it ({upper[0]!r}); use a lowercase letter"
        )
    keras_shape = _keras_einsum_shape(terms, shapes, output, "".join(sorted(out_letters)))
    if keras_shape != result:
        raise ShapeError(
            f"subscripts {text!r}: Keras's static shape {shape_str(keras_shape)} differs from einsum's result "
            f"{shape_str(result)}, so the layers after it would be built for the wrong shape; write the output "
            "after '->' with '...' first and the letters in order, e.g. '...ij,jk->...ik'"
        )
    return result


def _keras_einsum_shape(terms: list[str], shapes: list[Shape], output: str | None, kept: str) -> Shape:
    """Keras's ``Einsum.compute_output_spec``: each operand's sizes placed in the output's letters (``...``
    taking the operand's own ``...`` axes, a letter it lacks 1), then all broadcast (right-aligned)."""
    target = output if output is not None else "..." + kept
    head, dots, tail = target.partition("...")
    expanded: list[Shape] = []
    for term, shape in zip(terms, shapes):
        t_head, t_dots, t_tail = term.partition("...")
        where: dict[str, int | None] = {}
        for i, c in enumerate(t_head):  # Keras replaces a letter's every place with its first size
            where.setdefault(c, shape[i])
        for i, c in enumerate(reversed(t_tail)):
            where.setdefault(c, shape[len(shape) - 1 - i])
        middle = tuple(shape[len(t_head) : len(shape) - len(t_tail)]) if t_dots else ()
        expanded.append(
            tuple(where.get(c, 1) for c in head) + (middle if dots else ()) + tuple(where.get(c, 1) for c in tail)
        )
    return broadcast(*expanded)


def _broadcast_batch(shapes: list[Shape]) -> Shape:
    """Broadcast shapes as :func:`broadcast` does, refusing a batch axis (a leading ``None``) broadcast to a size."""
    rank = max(len(s) for s in shapes)
    for s in shapes:
        if s and s[0] is None:
            pos = rank - len(s)
            for other in shapes:
                i = pos - (rank - len(other))
                if 0 <= i < len(other) and other[i] not in (None, 1):
                    raise ShapeError(
                        f"the batch axis of {shape_str(s)} broadcasts against size {other[i]} of "
                        f"{shape_str(other)}: that works only for batches of that size"
                    )
    return broadcast(*shapes)


# -- getitem indices ----------------------------------------------------------
_INDEX_ITEM = re.compile(
    r"(?:(-?\d{1,18})|(-?\d{1,18})?\s*:\s*(-?\d{1,18})?\s*(?::\s*(-?\d{1,18})?)?|(\.\.\.)|(None|newaxis))"
)
_MAX_INDEX_TEXT = 1_000


def parse_index(text: Any) -> tuple[Any, ...]:
    """Parse a NumPy-style index written as text, ``"[:, 0]"`` or ``"[..., 1:3, None]"``.

    Only integers, slices, ``...`` and ``None`` are allowed (nothing is evaluated).

    Raises:
        ShapeError: The text is not such an index.
    """
    if isinstance(text, str) and len(text) <= _MAX_INDEX_TEXT:
        return _parse_index_text(text)
    return _parse_index(text)


@functools.lru_cache(maxsize=1024)
def _parse_index_text(text: str) -> tuple[Any, ...]:
    """:func:`_parse_index` of a text, remembered: a spec's getitem nodes repeat a few indices (and each is read
    twice, when the node is parsed and by its shape rule); the result holds only immutable values."""
    return _parse_index(text)


def _parse_index(text: Any) -> tuple[Any, ...]:
    if isinstance(text, str) and len(text) > _MAX_INDEX_TEXT:
        raise ShapeError(f"index text is {len(text):,} characters long; an index takes at most {_MAX_INDEX_TEXT:,}")
    if not isinstance(text, str) or not text.strip().startswith("[") or not text.strip().endswith("]"):
        raise ShapeError(f'index must be text like "[:, 0]" or "[..., 1:3]", received {text!r}')
    body = text.strip()[1:-1]
    out: list[Any] = []
    for part in body.split(",") if body.strip() else []:
        m = _INDEX_ITEM.fullmatch(part.strip())
        if m is None:
            raise ShapeError(
                f"index item {part.strip()!r} in {text!r} is not an integer, a slice such as 1:3 or ::2, ..., or None"
            )
        if m.group(1) is not None:
            out.append(int(m.group(1)))
        elif m.group(5):
            out.append(Ellipsis)
        elif m.group(6):
            out.append(None)
        else:
            start, stop, step = (int(g) if g is not None else None for g in m.group(2, 3, 4))
            if step == 0:
                raise ShapeError(f"slice step cannot be zero in {text!r}")
            out.append(slice(start, stop, step))
    if sum(1 for x in out if x is Ellipsis) > 1:
        raise ShapeError(f"index {text!r} has more than one ...")
    return tuple(out)


def format_index(key: Any) -> str:
    """Write an index (int, slice, ``...``, ``None`` or a tuple of them) as :func:`parse_index` reads it.

    Raises:
        ValueError: The index holds something else (a tensor, a list).
    """
    items = key if isinstance(key, tuple) else (key,)
    parts = []
    for item in items:
        if item is Ellipsis:
            parts.append("...")
        elif item is None:
            parts.append("None")
        elif isinstance(item, int) and not isinstance(item, bool):
            parts.append(str(item))
        elif isinstance(item, slice) and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (item.start, item.stop, item.step)
        ):
            text = ("" if item.start is None else str(item.start)) + ":" + ("" if item.stop is None else str(item.stop))
            parts.append(text + (f":{item.step}" if item.step is not None else ""))
        else:
            raise ValueError(f"index item {item!r} is not an integer, a slice of integers, ... or None")
    return "[" + ", ".join(parts) + "]"


def index_shape(shape: Shape, key: tuple[Any, ...]) -> Shape:
    """The shape of ``x[key]`` for ``x`` of ``shape``."""
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise ShapeError(f"index has {n_real} items for a tensor of rank {len(shape)} {shape_str(shape)}")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - n_real) + key[i + 1 :]
    key = key + (slice(None),) * (len(shape) - (len(key) - sum(1 for k in key if k is None)))
    out: list[Any] = []
    axis = 0
    for k in key:
        if k is None:
            out.append(1)
            continue
        size = shape[axis]
        if isinstance(k, int):
            if size is not None and not -size <= k < size:
                raise ShapeError(f"index {k} is out of range for axis {axis} of size {size}")
        elif size is None:
            out.append(None)
        else:
            out.append(len(range(*k.indices(size))))
        axis += 1
    return tuple(out)
