"""Op nodes: a ``keras.ops`` function applied in a graph, ``{op: add, in: [a, b]}``.

Keras's functional API records a call of a ``keras.ops`` function on Keras
tensors (``keras.ops.add(a, b)``, and Python operators such as ``x * 0.5``) as
a node of the graph, like a layer without weights. A spec writes such a node
with ``op:`` (the function's name in ``keras.ops``, ``image.resize`` for
``keras.ops.image.resize``), ``in:`` (its leading arguments in order: node
names are tensors, other values are constants) and the remaining arguments by
the function's own parameter names.

:data:`OPS` lists every supported function with its signature (checked
against ``keras.ops`` by a test) and its static shape rule (checked against
Keras's ``compute_output_spec``).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

from pydantic import Field, model_validator

from ...errors import did_you_mean
from .._layer_base import LayerSpec, ShapeError
from .._types import Shape
from ._util import shape_str

__all__ = ["Op", "Pick", "OpDef", "OPS", "parse_index", "format_index", "op_def", "op_problems", "index_shape", "broadcast"]

_MISSING: Any = object()


@dataclass(frozen=True)
class OpDef:
    """One supported ``keras.ops`` function.

    Attributes:
        name: Its name in ``keras.ops`` (``image.resize`` for ``keras.ops.image.resize``).
        params: Parameter names in order, with defaults (``_MISSING`` when required).
        rule: The static shape rule: ``rule(args, kwargs)`` where ``args`` maps
            each parameter to a shape (a tensor), a list of shapes or a constant.
        list_input: The first parameter takes a list of tensors (``concatenate``).
    """

    name: str
    params: tuple[tuple[str, Any], ...]
    rule: Callable[[dict[str, Any]], Any]
    list_input: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names in order."""
        return tuple(p for p, _ in self.params)


def _sig(text: str) -> tuple[tuple[str, Any], ...]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, default = part.partition("=")
        out.append((name.strip(), ast.literal_eval(default.strip()) if default else _MISSING))
    return tuple(out)


class _T:
    """A tensor argument at static-shape time: its shape."""

    __slots__ = ("shape",)

    def __init__(self, shape: Shape) -> None:
        self.shape = shape


def _shape_of(value: Any, what: str = "argument") -> Shape:
    """The shape of a tensor argument or of a constant (a number or nested lists)."""
    if isinstance(value, _T):
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
                raise ShapeError(f"shapes {shape_str(tuple(out))} and {shape_str(tuple(shape))} do not broadcast "
                                 f"(axis {i - rank}: {a} vs {b}; only axes of size 1 broadcast)")
    return tuple(out)


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis!r} is out of range for a tensor of rank {rank} (batch included)")
    return axis % rank


def _unary(a: dict[str, Any]) -> Any:
    return _shape_of(a[next(iter(a))])


def _binary(a: dict[str, Any]) -> Any:
    x1, x2 = list(a.values())[:2]
    return broadcast(_shape_of(x1, "x1"), _shape_of(x2, "x2"))


def _axis_keep(a: dict[str, Any]) -> Shape:
    """The output of a reduction over ``axis`` (all axes when null), with ``keepdims``."""
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    keep = a.get("keepdims", False)
    if axis is None:
        return tuple(1 for _ in shape) if keep else ()
    axes = {_axis(ax, len(shape)) for ax in (axis if isinstance(axis, (list, tuple)) else [axis])}
    return tuple((1 if i in axes else d) for i, d in enumerate(shape) if keep or i not in axes)


def _softmax_like(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axis = a.get("axis", -1)
    for ax in axis if isinstance(axis, (list, tuple)) else [axis]:
        _axis(ax, len(shape))
    return shape


def _reshape(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    new = a["newshape"]
    new = (new,) if isinstance(new, int) else tuple(new)
    if sum(1 for d in new if d == -1) > 1:
        raise ShapeError(f"newshape {list(new)} has more than one -1")
    if any(not isinstance(d, int) or d < -1 for d in new):
        raise ShapeError(f"newshape {list(new)} must hold sizes ≥ 0 and at most one -1")
    if -1 not in new:
        if None not in shape and math.prod(shape) != math.prod(new):
            raise ShapeError(f"cannot reshape {shape_str(shape)} ({math.prod(shape)} values) to {list(new)}")
        return new
    if None in shape:
        return tuple(None if d == -1 else d for d in new)
    known = math.prod(d for d in new if d != -1)
    total = math.prod(shape)
    if known == 0 or total % known:
        raise ShapeError(f"cannot reshape {shape_str(shape)} ({total} values) to {list(new)}")
    return tuple(total // known if d == -1 else d for d in new)


def _transpose(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axes = a.get("axes")
    if axes is None:
        return tuple(reversed(shape))
    if len(axes) != len(shape) or sorted(_axis(x, len(shape)) for x in axes) != list(range(len(shape))):
        raise ShapeError(f"axes {list(axes)} is not a permutation of the {len(shape)} axes of {shape_str(shape)}")
    return tuple(shape[x] for x in axes)


def _expand_dims(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    axis = a["axis"]
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    rank = len(shape) + len(axes)
    norm = sorted(_axis(ax, rank) for ax in axes)
    for ax in norm:
        shape.insert(ax, 1)
    return tuple(shape)


def _squeeze(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    if axis is None:
        return tuple(d for d in shape if d != 1)
    axes = {_axis(ax, len(shape)) for ax in (axis if isinstance(axis, (list, tuple)) else [axis])}
    for ax in axes:
        if shape[ax] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {ax} of {shape_str(shape)}: its size is {shape[ax]}, not 1")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _concatenate(a: dict[str, Any]) -> Shape:
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
                raise ShapeError(f"concatenate needs the same size on every axis but {axis}, received "
                                 f"{shape_str(shapes)}")
            out[i] = o if o is not None else d
        total = None if total is None or s[ax] is None else total + s[ax]
    out[ax] = total
    return tuple(out)


def _stack(a: dict[str, Any]) -> Shape:
    shapes = [_shape_of(x) for x in a["x"]]
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first) or any(p is not None and q is not None and p != q for p, q in zip(s, first)):
            raise ShapeError(f"stack needs tensors of one shape, received {shape_str(shapes)}")
    ax = _axis(a.get("axis", 0), len(first) + 1)
    out = list(first)
    out.insert(ax, len(shapes))
    return tuple(out)


def _split(a: dict[str, Any]) -> list[Shape]:
    shape = _shape_of(a["x"])
    ax = _axis(a.get("axis", 0), len(shape))
    sections = a["indices_or_sections"]
    size = shape[ax]
    if isinstance(sections, int):
        if size is not None and size % sections:
            raise ShapeError(f"split cannot cut axis {ax} of size {size} into {sections} equal parts")
        piece = None if size is None else size // sections
        return [shape[:ax] + (piece,) + shape[ax + 1:] for _ in range(sections)]
    bounds = [0, *sections, size]
    out = []
    for lo, hi in zip(bounds, bounds[1:]):
        length = None if hi is None else max(0, min(hi, size) - lo) if size is not None else None
        out.append(shape[:ax] + (length,) + shape[ax + 1:])
    return out


def _matmul(a: dict[str, Any]) -> Shape:
    x1, x2 = _shape_of(a["x1"], "x1"), _shape_of(a["x2"], "x2")
    if not x1 or not x2:
        raise ShapeError("matmul takes tensors of rank 1 or more")
    s1 = (1,) + x1 if len(x1) == 1 else x1
    s2 = x2 + (1,) if len(x2) == 1 else x2
    if s1[-1] is not None and s2[-2] is not None and s1[-1] != s2[-2]:
        raise ShapeError(f"matmul needs the last axis of x1 to match the second-last of x2, received "
                         f"{shape_str(x1)} and {shape_str(x2)}")
    out = broadcast(s1[:-2], s2[:-2]) + (s1[-2], s2[-1])
    if len(x1) == 1:
        out = out[:-2] + out[-1:]
    if len(x2) == 1:
        out = out[:-1]
    return out


def _where(a: dict[str, Any]) -> Shape:
    shapes = [_shape_of(a["condition"])]
    if a.get("x1") is None and a.get("x2") is None:
        raise ShapeError("where with only a condition has a data-dependent shape; give x1 and x2")
    shapes += [_shape_of(a[k], k) for k in ("x1", "x2")]
    return broadcast(*shapes)


def _clip(a: dict[str, Any]) -> Shape:
    return _shape_of(a["x"])


def _resize(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["images"])
    size = a["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ShapeError(f"size must be [height, width], received {size!r}")
    fmt = a.get("data_format") or "channels_last"
    if len(shape) not in (3, 4):
        raise ShapeError(f"image.resize takes a tensor of rank 3 or 4, received {shape_str(shape)}")
    if fmt == "channels_last":
        return shape[:-3] + tuple(size) + shape[-1:]
    return shape[:-2] + tuple(size)


def _glu(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    ax = _axis(a.get("axis", -1), len(shape))
    if shape[ax] is not None:
        if shape[ax] % 2:
            raise ShapeError(f"glu needs an even size on axis {ax}, received {shape_str(tuple(shape))}")
        shape[ax] //= 2
    return tuple(shape)


def _getitem(a: dict[str, Any]) -> Shape:
    return index_shape(_shape_of(a["x"]), parse_index(a["index"]))


def _arg_reduce(a: dict[str, Any]) -> Shape:
    return _axis_keep(a)


def _flatten_all(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    return (None if None in shape else math.prod(shape),)


def _repeat(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    reps, axis = a["repeats"], a.get("axis")
    if not isinstance(reps, int):
        raise ShapeError("repeat takes an integer `repeats` for a static shape")
    if axis is None:
        return (None if None in shape else math.prod(shape) * reps,)
    ax = _axis(axis, len(shape))
    return shape[:ax] + (None if shape[ax] is None else shape[ax] * reps,) + shape[ax + 1:]


def _tile(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    reps = a["repeats"]
    reps = [reps] if isinstance(reps, int) else list(reps)
    rank = max(len(shape), len(reps))
    shape = (1,) * (rank - len(shape)) + shape
    reps = [1] * (rank - len(reps)) + reps
    return tuple(None if d is None else d * r for d, r in zip(shape, reps))


def _moveaxis(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    src, dst = a["source"], a["destination"]
    src = [src] if isinstance(src, int) else list(src)
    dst = [dst] if isinstance(dst, int) else list(dst)
    src = [_axis(s, len(shape)) for s in src]
    dst = [_axis(d, len(shape)) for d in dst]
    order = [i for i in range(len(shape)) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tuple(shape[i] for i in order)


def _swapaxes(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    i, j = _axis(a["axis1"], len(shape)), _axis(a["axis2"], len(shape))
    shape[i], shape[j] = shape[j], shape[i]
    return tuple(shape)


def _top_k(a: dict[str, Any]) -> list[Shape]:
    shape = _shape_of(a["x"])
    out = shape[:-1] + (a["k"],)
    return [out, out]


def _one_hot(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["x"]))
    ax = a.get("axis", -1)
    ax = ax if ax >= 0 else len(shape) + 1 + ax
    shape.insert(ax, a["num_classes"])
    return tuple(shape)


def _norm(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["x"])
    axis = a.get("axis")
    if axis is None:
        return tuple(1 for _ in shape) if a.get("keepdims") else ()
    return _axis_keep({"x": _T(shape), "axis": axis, "keepdims": a.get("keepdims", False)})


def _logsumexp(a: dict[str, Any]) -> Shape:
    return _axis_keep({"x": a["x"], "axis": a.get("axis"), "keepdims": a.get("keepdims", False)})


def _broadcast_to(a: dict[str, Any]) -> Shape:
    target = tuple(a["shape"])
    if broadcast(_shape_of(a["x"]), target) != target:
        raise ShapeError(f"cannot broadcast {shape_str(_shape_of(a['x']))} to {list(target)}")
    return target


def _pad(a: dict[str, Any]) -> Shape:
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
    return tuple(None if d is None else d + lo + hi for d, (lo, hi) in zip(shape, pairs))


def _take(a: dict[str, Any]) -> Shape:
    shape, indices = _shape_of(a["x"]), _shape_of(a["indices"], "indices")
    axis = a.get("axis")
    if axis is None:
        return indices
    ax = _axis(axis, len(shape))
    return shape[:ax] + indices + shape[ax + 1:]


def _outer(a: dict[str, Any]) -> Shape:
    sizes = []
    for key in ("x1", "x2"):
        s = _shape_of(a[key], key)
        sizes.append(None if None in s else math.prod(s))
    return tuple(sizes)


def _moments(a: dict[str, Any]) -> list[Shape]:
    out = _axis_keep({"x": a["x"], "axis": a["axes"], "keepdims": a.get("keepdims", False)})
    return [out, out]


def _reduce_no_keep(a: dict[str, Any]) -> Shape:
    return _axis_keep({"x": a["x"], "axis": a.get("axis"), "keepdims": False})


def _grayscale(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["images"])
    if len(shape) not in (3, 4):
        raise ShapeError(f"image.rgb_to_grayscale takes a tensor of rank 3 or 4, received {shape_str(shape)}")
    if (a.get("data_format") or "channels_last") == "channels_last":
        return shape[:-1] + (1,)
    return shape[:-3] + (1,) + shape[-2:]


def _append(a: dict[str, Any]) -> Shape:
    if a.get("axis") is None:
        sizes = [_shape_of(a[k], k) for k in ("x1", "x2")]
        flat = [None if None in s else math.prod(s) for s in sizes]
        return (None if None in flat else sum(flat),)  # type: ignore[arg-type]
    return _concatenate({"xs": [a["x1"], a["x2"]], "axis": a["axis"]})


def _diff(a: dict[str, Any]) -> Shape:
    shape = list(_shape_of(a["a"]))
    ax = _axis(a.get("axis", -1), len(shape))
    n = a.get("n", 1)
    if shape[ax] is not None:
        shape[ax] = max(0, shape[ax] - n)
    return tuple(shape)


def _pool(a: dict[str, Any]) -> Shape:
    from ._util import conv_out

    shape = _shape_of(a["inputs"])
    n = len(shape) - 2
    if n < 1:
        raise ShapeError(f"pooling takes a tensor of rank 3 to 5, received {shape_str(shape)}")
    pool = a["pool_size"]
    pool = [pool] * n if isinstance(pool, int) else list(pool)
    strides = a.get("strides") or pool
    strides = [strides] * n if isinstance(strides, int) else list(strides)
    first = (a.get("data_format") or "channels_last") == "channels_first"
    spatial = shape[2:] if first else shape[1:-1]
    out = [conv_out(d, k, st, a.get("padding", "valid")) for d, k, st in zip(spatial, pool, strides)]
    return (shape[0], shape[1], *out) if first else (shape[0], *out, shape[-1])


def _slice(a: dict[str, Any]) -> Shape:
    shape = _shape_of(a["inputs"])
    size = tuple(a["shape"])
    if len(size) != len(shape) or len(a["start_indices"]) != len(shape):
        raise ShapeError(f"slice needs start_indices and shape of rank {len(shape)}")
    return size


_UNARY = (
    "abs absolute negative sqrt square exp exp2 log log1p log2 log10 expm1 sin cos tan sinh cosh tanh arcsin arccos "
    "arctan arcsinh arccosh arctanh sign floor ceil trunc reciprocal rsqrt logical_not isnan isinf isfinite erf "
    "erfinv conj conjugate real imag signbit cbrt "
    "relu relu6 sigmoid softplus softsign silu swish hard_sigmoid hard_silu hard_swish log_sigmoid selu "
    "sparse_plus tanh_shrink hard_tanh angle deg2rad rad2deg"
).split()
_BINARY = (
    "add subtract multiply divide true_divide floor_divide mod power maximum minimum equal not_equal greater "
    "greater_equal less less_equal logical_and logical_or logical_xor arctan2 hypot heaviside divide_no_nan"
).split()

# name: (signature, rule, list_input)
_SPECIAL: dict[str, tuple[str, Callable[[dict[str, Any]], Any], bool]] = {
    "round": ("x, decimals=0", _unary, False),
    "gelu": ("x, approximate=True", _unary, False),
    "elu": ("x, alpha=1.0", _unary, False),
    "celu": ("x, alpha=1.0", _unary, False),
    "leaky_relu": ("x, negative_slope=0.2", _unary, False),
    "squareplus": ("x, b=4", _unary, False),
    "soft_shrink": ("x, threshold=0.5", _unary, False),
    "hard_shrink": ("x, threshold=0.5", _unary, False),
    "threshold": ("x, threshold, default_value", _unary, False),
    "softmax": ("x, axis=-1", _softmax_like, False),
    "log_softmax": ("x, axis=-1", _softmax_like, False),
    "sparsemax": ("x, axis=-1", _softmax_like, False),
    "glu": ("x, axis=-1", _glu, False),
    "normalize": ("x, axis=-1, order=2, epsilon=None", _softmax_like, False),
    "cast": ("x, dtype", _unary, False),
    "clip": ("x, x_min, x_max", _clip, False),
    "nan_to_num": ("x, nan=0.0, posinf=None, neginf=None", _unary, False),
    "where": ("condition, x1=None, x2=None", _where, False),
    "reshape": ("x, newshape", _reshape, False),
    "transpose": ("x, axes=None", _transpose, False),
    "expand_dims": ("x, axis", _expand_dims, False),
    "squeeze": ("x, axis=None", _squeeze, False),
    "concatenate": ("xs, axis=0", _concatenate, True),
    "stack": ("x, axis=0", _stack, True),
    "split": ("x, indices_or_sections, axis=0", _split, False),
    "getitem": ("x, index", _getitem, False),
    "ravel": ("x", _flatten_all, False),
    "repeat": ("x, repeats, axis=None", _repeat, False),
    "tile": ("x, repeats", _tile, False),
    "moveaxis": ("x, source, destination", _moveaxis, False),
    "swapaxes": ("x, axis1, axis2", _swapaxes, False),
    "matmul": ("x1, x2", _matmul, False),
    "top_k": ("x, k, sorted=True", _top_k, False),
    "one_hot": ("x, num_classes, axis=-1, dtype=None, sparse=False", _one_hot, False),
    "logsumexp": ("x, axis=None, keepdims=False", _logsumexp, False),
    "norm": ("x, ord=None, axis=None, keepdims=False", _norm, False),
    "cumsum": ("x, axis=None, dtype=None", _unary, False),
    "cumprod": ("x, axis=None, dtype=None", _unary, False),
    "stop_gradient": ("variable", _unary, False),
    "flip": ("x, axis=None", _unary, False),
    "roll": ("x, shift, axis=None", _unary, False),
    "sort": ("x, axis=-1", _unary, False),
    "argsort": ("x, axis=-1", _unary, False),
    "triu": ("x, k=0", _unary, False),
    "tril": ("x, k=0", _unary, False),
    "full_like": ("x, fill_value, dtype=None", _unary, False),
    "broadcast_to": ("x, shape", _broadcast_to, False),
    "pad": ("x, pad_width, mode='constant', constant_values=None", _pad, False),
    "take": ("x, indices, axis=None", _take, False),
    "outer": ("x1, x2", _outer, False),
    "moments": ("x, axes, keepdims=False, synchronized=False", _moments, False),
    "average": ("x, axis=None, weights=None", _reduce_no_keep, False),
    "median": ("x, axis=None, keepdims=False", _axis_keep, False),
    "count_nonzero": ("x, axis=None", _reduce_no_keep, False),
    "append": ("x1, x2, axis=None", _append, False),
    "diff": ("a, n=1, axis=-1", _diff, False),
    "slice": ("inputs, start_indices, shape", _slice, False),
    "max_pool": ("inputs, pool_size, strides=None, padding='valid', data_format=None", _pool, False),
    "average_pool": ("inputs, pool_size, strides=None, padding='valid', data_format=None", _pool, False),
    "image.rgb_to_grayscale": ("images, data_format=None", _grayscale, False),
    "image.resize": ("images, size, interpolation='bilinear', antialias=False, crop_to_aspect_ratio=False, "
                     "pad_to_aspect_ratio=False, fill_mode='constant', fill_value=0.0, data_format=None",
                     _resize, False),
}
for _name in ("mean", "sum", "any", "all"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", _axis_keep, False)
for _name in ("max", "min"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False, initial=None", _axis_keep, False)
_SPECIAL["prod"] = ("x, axis=None, keepdims=False, dtype=None", _axis_keep, False)
for _name in ("ones_like", "zeros_like"):
    _SPECIAL[_name] = ("x, dtype=None", _unary, False)
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"):
    # Keras's compute_output_spec of these gives x's shape (no broadcasting); a functional graph takes that shape
    _SPECIAL[_name] = ("x, y", _unary, False)
for _name in ("var", "std"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", _axis_keep, False)
for _name in ("argmax", "argmin"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", _arg_reduce, False)

def _build_table() -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for name in _UNARY:
        table[name] = OpDef(name, _sig("x"), _unary)
    for name in _BINARY:
        table[name] = OpDef(name, _sig("x1, x2"), _binary)
    for name, (sig, rule, list_input) in _SPECIAL.items():
        table[name] = OpDef(name, _sig(sig), rule, list_input)
    return table


#: every op a spec can use, by its ``keras.ops`` name
OPS: dict[str, OpDef] = _build_table()


def op_def(name: str) -> OpDef:
    """The :class:`OpDef` of ``name``.

    Raises:
        ValueError: Unknown op (with close matches).
    """
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}{did_you_mean(name, OPS)}; an op is a keras.ops function such as "
                         f"add, multiply, reshape, mean, relu or image.resize ({len(OPS)} are supported)")
    return OPS[name]


# -- getitem indices ----------------------------------------------------------
_INDEX_ITEM = re.compile(r"^\s*(?:(-?\d+)|(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?)?|(\.\.\.)|(None|newaxis))\s*$")


def parse_index(text: Any) -> tuple[Any, ...]:
    """Parse a NumPy-style index written as text, ``"[:, 0]"`` or ``"[..., 1:3, None]"``.

    Only integers, slices, ``...`` and ``None`` are allowed (nothing is evaluated).

    Raises:
        ShapeError: The text is not such an index.
    """
    if not isinstance(text, str) or not text.strip().startswith("[") or not text.strip().endswith("]"):
        raise ShapeError(f"index must be text like \"[:, 0]\" or \"[..., 1:3]\", received {text!r}")
    body = text.strip()[1:-1]
    out: list[Any] = []
    for part in body.split(",") if body.strip() else []:
        m = _INDEX_ITEM.match(part)
        if m is None:
            raise ShapeError(f"index item {part.strip()!r} in {text!r} is not an integer, a slice such as 1:3 or "
                             "::2, ..., or None")
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
        elif isinstance(item, slice) and all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                              for v in (item.start, item.stop, item.step)):
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
        key = key[:i] + (slice(None),) * (len(shape) - n_real) + key[i + 1:]
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


# -- the node schema ----------------------------------------------------------
def op_problems(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str | None, str]]:
    """What is wrong with an op node: ``(argument name or None, message)`` pairs, none when it is fine."""
    if not isinstance(op, str):
        return [(None, f"`op` must name a keras.ops function such as add or reshape; received {op!r:.60}")]
    try:
        spec = op_def(op)
    except ValueError as err:
        return [(None, str(err))]
    names = spec.names
    n_pos = 1 if spec.list_input else len(args)
    if n_pos > len(names):
        return [(None, f"op {op} takes at most {len(names)} arguments ({', '.join(names)}); `in` lists {len(args)}")]
    out: list[tuple[str | None, str]] = []
    taken = names[:n_pos]
    for key in kwargs:
        if key not in names:
            out.append((key, f"op {op} has no argument '{key}'{did_you_mean(key, names)}; its arguments: "
                             f"{', '.join(names)}"))
        elif key in taken:
            out.append((key, f"op {op}: '{key}' is given in `in` and again by name"))
    missing = [p for p, d in spec.params[n_pos:] if d is _MISSING and p not in kwargs]
    if missing and not out:  # a misspelt argument is reported once, as the misspelling
        out.append((None, f"op {op} needs {', '.join(repr(m) for m in missing)} (its arguments: {', '.join(names)})"))
    if not any(isinstance(a, str) for a in args):
        out.append((None, f"op {op} needs at least one node or input in `in`"))
    for i, a in enumerate(args):
        if not isinstance(a, str) and not _constant(a):
            out.append((None, f"op {op}: `in` item {i} must name a node or input, or be a number or a list of "
                              f"numbers; received {a!r:.60}"))
    if op == "getitem" and isinstance(kwargs.get("index"), (str, type(None))) and "index" in kwargs:
        try:
            parse_index(kwargs["index"])
        except ShapeError as err:
            out.append(("index", str(err)))
    return out


def _constant(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_constant(v) for v in value)
    return value is None or isinstance(value, (int, float, bool))


class Op(LayerSpec):
    """A ``keras.ops`` function applied to tensors: ``{op: add, in: [a, b]}`` (no weights)."""

    type: Literal["Op"] = "Op"
    op: str = Field(description="The keras.ops function, e.g. add, multiply, reshape, mean, relu, image.resize.")
    args: tuple[Any, ...] = Field((), description="The leading arguments as written in `in` (names are tensors).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="The other arguments, by parameter name.")

    family = "merge"
    arity: ClassVar[Literal["one", "many"]] = "many"
    min_inputs = 0
    max_inputs = 1 << 30

    @model_validator(mode="after")
    def _check(self) -> Op:
        problems = op_problems(self.op, self.args, self.kwargs)
        if problems:
            raise ValueError(problems[0][1])
        return self

    @property
    def refs(self) -> tuple[str, ...]:
        """The node or input names among the arguments (the tensors), in order."""
        return tuple(a for a in self.args if isinstance(a, str))

    def bind(self, values: list[Any]) -> dict[str, Any]:
        """Every argument by parameter name, with ``values`` (one per ref, in order) in place of the refs."""
        spec = op_def(self.op)
        it = iter(values)
        args = [next(it) if isinstance(a, str) else a for a in self.args]
        out: dict[str, Any] = {}
        if spec.list_input:
            out[spec.names[0]] = args
        else:
            out.update(zip(spec.names, args))
        for name, default in spec.params:
            if name not in out:
                value = self.kwargs.get(name, default)
                if value is not _MISSING:
                    out[name] = value
        return out

    def output_shape(self, input_shape: Any) -> Shape | list[Shape]:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        try:
            return op_def(self.op).rule(self.bind([_T(tuple(s)) for s in shapes]))
        except ShapeError as err:
            raise ShapeError(f"op {self.op}: {err}") from None
        except (TypeError, ValueError, IndexError, KeyError) as err:
            raise ShapeError(f"op {self.op}: arguments do not fit ({err})") from None

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0

    def to_dict(self) -> dict[str, Any]:
        args = list(self.args)
        return {"op": self.op, "in": args[0] if len(args) == 1 else args, **self.kwargs}


class Pick(LayerSpec):
    """One output of a node with several outputs, ``in: enc.1``; the graph makes it, a spec never writes it."""

    type: Literal["Pick"] = "Pick"
    source: str = Field(description="The node whose outputs are picked from.")
    index: int = Field(ge=0, description="Which output (0 is the first).")

    family = "merge"

    def output_shape(self, input_shape: Any) -> Shape | list[Shape]:
        if not isinstance(input_shape, list):
            raise ShapeError(f"'{self.source}' has one output, so '{self.source}.{self.index}' names nothing; "
                             f"write '{self.source}'")
        if self.index >= len(input_shape):
            names = ", ".join(f"{self.source}.{i}" for i in range(len(input_shape)))
            raise ShapeError(f"'{self.source}' has {len(input_shape)} outputs ({names}); "
                             f"'{self.source}.{self.index}' is not one of them")
        return input_shape[self.index]

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0
