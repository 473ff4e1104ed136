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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, ClassVar, Literal

from pydantic import Field, ValidationInfo, model_validator

from ...errors import did_you_mean
from .._layer_base import LayerSpec, ShapeError
from .._types import Shape
from . import _op_rules as rules
from ._op_rules import TensorArg, format_index, parse_index
from ._util import shape_str

__all__ = [
    "Op",
    "Pick",
    "OpDef",
    "OPS",
    "op_def",
    "op_problems",
    "op_kind",
    "dtype_kind",
    "parse_index",
    "format_index",
]

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
        operands: The function takes its tensors as ``*operands`` after ``params`` (``einsum``): all of
            ``in`` goes there, and every parameter is written by name.
    """

    name: str
    params: tuple[tuple[str, Any], ...]
    rule: Callable[[dict[str, Any]], Any]
    list_input: bool = False
    operands: bool = False

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The parameter names in order."""
        return tuple(p for p, _ in self.params)

    @cached_property
    def defaults(self) -> dict[str, Any]:
        """Each parameter's default (``_MISSING`` when it is required)."""
        return dict(self.params)

    @cached_property
    def required(self) -> tuple[tuple[int, str], ...]:
        """The position and name of each parameter without a default."""
        return tuple((i, p) for i, (p, d) in enumerate(self.params) if d is _MISSING)


def _sig(text: str) -> tuple[tuple[str, Any], ...]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, default = part.partition("=")
        out.append((name.strip(), ast.literal_eval(default.strip()) if default else _MISSING))
    return tuple(out)


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
    "round": ("x, decimals=0", rules.unary, False),
    "gelu": ("x, approximate=True", rules.unary, False),
    "elu": ("x, alpha=1.0", rules.unary, False),
    "celu": ("x, alpha=1.0", rules.unary, False),
    "leaky_relu": ("x, negative_slope=0.2", rules.unary, False),
    "squareplus": ("x, b=4", rules.unary, False),
    "soft_shrink": ("x, threshold=0.5", rules.unary, False),
    "hard_shrink": ("x, threshold=0.5", rules.unary, False),
    "threshold": ("x, threshold, default_value", rules.unary, False),
    "softmax": ("x, axis=-1", rules.softmax_like, False),
    "log_softmax": ("x, axis=-1", rules.softmax_like, False),
    "sparsemax": ("x, axis=-1", rules.softmax_like, False),
    "glu": ("x, axis=-1", rules.glu, False),
    "normalize": ("x, axis=-1, order=2, epsilon=None", rules.normalize, False),
    "cast": ("x, dtype", rules.unary, False),
    "clip": ("x, x_min, x_max", rules.clip, False),
    "nan_to_num": ("x, nan=0.0, posinf=None, neginf=None", rules.unary, False),
    "where": ("condition, x1=None, x2=None", rules.where, False),
    "reshape": ("x, newshape", rules.reshape, False),
    "transpose": ("x, axes=None", rules.transpose, False),
    "expand_dims": ("x, axis", rules.expand_dims, False),
    "squeeze": ("x, axis=None", rules.squeeze, False),
    "concatenate": ("xs, axis=0", rules.concatenate, True),
    "stack": ("x, axis=0", rules.stack, True),
    "split": ("x, indices_or_sections, axis=0", rules.split, False),
    "getitem": ("x, index", rules.getitem, False),
    "ravel": ("x", rules.flatten_all, False),
    "repeat": ("x, repeats, axis=None", rules.repeat, False),
    "tile": ("x, repeats", rules.tile, False),
    "moveaxis": ("x, source, destination", rules.moveaxis, False),
    "swapaxes": ("x, axis1, axis2", rules.swapaxes, False),
    "matmul": ("x1, x2", rules.matmul, False),
    "top_k": ("x, k, sorted=True", rules.top_k, False),
    "one_hot": ("x, num_classes, axis=-1, dtype=None, sparse=False", rules.one_hot, False),
    "logsumexp": ("x, axis=None, keepdims=False", rules.logsumexp, False),
    "norm": ("x, ord=None, axis=None, keepdims=False", rules.norm, False),
    "cumsum": ("x, axis=None, dtype=None", rules.along_axis_or_flat, False),
    "cumprod": ("x, axis=None, dtype=None", rules.along_axis_or_flat, False),
    "stop_gradient": ("variable", rules.unary, False),
    "flip": ("x, axis=None", rules.along_axis, False),
    "roll": ("x, shift, axis=None", rules.roll, False),
    "sort": ("x, axis=-1", rules.along_axis_or_flat, False),
    "argsort": ("x, axis=-1", rules.along_axis_or_flat, False),
    "triu": ("x, k=0", rules.band(upper=True), False),
    "tril": ("x, k=0", rules.band(upper=False), False),
    "full_like": ("x, fill_value, dtype=None", rules.full_like, False),
    "broadcast_to": ("x, shape", rules.broadcast_to, False),
    "pad": ("x, pad_width, mode='constant', constant_values=None", rules.pad, False),
    "take": ("x, indices, axis=None", rules.take, False),
    "outer": ("x1, x2", rules.outer, False),
    "moments": ("x, axes, keepdims=False, synchronized=False", rules.moments, False),
    "average": ("x, axis=None, weights=None", rules.average, False),
    "median": ("x, axis=None, keepdims=False", rules.axis_keep, False),
    "count_nonzero": ("x, axis=None", rules.reduce_no_keep, False),
    "append": ("x1, x2, axis=None", rules.append, False),
    "diff": ("a, n=1, axis=-1", rules.diff, False),
    "slice": ("inputs, start_indices, shape", rules.slice_, False),
    "max_pool": ("inputs, pool_size, strides=None, padding='valid', data_format=None", rules.pool, False),
    "average_pool": ("inputs, pool_size, strides=None, padding='valid', data_format=None", rules.pool, False),
    "image.rgb_to_grayscale": ("images, data_format=None", rules.grayscale, False),
    "image.resize": (
        "images, size, interpolation='bilinear', antialias=False, crop_to_aspect_ratio=False, "
        "pad_to_aspect_ratio=False, fill_mode='constant', fill_value=0.0, data_format=None",
        rules.resize,
        False,
    ),
}
for _name in ("mean", "sum", "any", "all"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", rules.axis_keep, False)
for _name in ("max", "min"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False, initial=None", rules.axis_keep, False)
_SPECIAL["prod"] = ("x, axis=None, keepdims=False, dtype=None", rules.axis_keep, False)
for _name in ("ones_like", "zeros_like"):
    _SPECIAL[_name] = ("x, dtype=None", rules.unary, False)
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"):
    # Keras's compute_output_spec of these gives x's shape (no broadcasting); a functional graph takes that shape
    _SPECIAL[_name] = ("x, y", rules.first_keeps_shape, False)
for _name in ("var", "std"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", rules.axis_keep, False)
for _name in ("argmax", "argmin"):
    _SPECIAL[_name] = ("x, axis=None, keepdims=False", rules.arg_reduce, False)


def _build_table() -> dict[str, OpDef]:
    table: dict[str, OpDef] = {}
    for name in _UNARY:
        table[name] = OpDef(name, _sig("x"), rules.unary)
    for name in _BINARY:
        table[name] = OpDef(name, _sig("x1, x2"), rules.binary)
    for name, (sig, rule, list_input) in _SPECIAL.items():
        table[name] = OpDef(name, _sig(sig), rule, list_input)
    table["einsum"] = OpDef("einsum", _sig("subscripts"), rules.einsum, operands=True)
    return table


#: every op a spec can use, by its ``keras.ops`` name
OPS: dict[str, OpDef] = _build_table()


def op_def(name: str, *, brief: bool = False) -> OpDef:
    """The :class:`OpDef` of ``name``.

    Raises:
        ValueError: Unknown op (with close matches unless ``brief``).
    """
    if name not in OPS:
        raise ValueError(
            f"unknown op {name!r}{'' if brief else did_you_mean(name, OPS)}; an op is a keras.ops function such as "
            f"add, multiply, reshape, mean, relu or image.resize ({len(OPS)} are supported)"
        )
    return OPS[name]


# -- the node schema ----------------------------------------------------------
#: The dtypes an op's ``dtype`` may name: Keras's (``keras.backend`` standardize_dtype) without "string",
#: which TensorFlow cannot cast numbers to; "int" is Keras's spelling of its default integer (int64).
DTYPES: tuple[str, ...] = (
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
    "float8_e4m3fn",
    "float8_e5m2",
    "complex64",
    "complex128",
    "int",
)


#: The values Keras takes of the ops' settings that name a choice (by parameter name). Keras (TensorFlow)
#: checks most of them only when the model runs: a model built with another value fails on every input.
#: The static shape rules read them as written, so only these spellings are taken (Keras also takes some
#: in capitals).
CHOICES: dict[str, tuple[Any, ...]] = {
    "mode": ("constant", "reflect", "symmetric"),  # TensorFlow's tf.pad modes
    "padding": ("valid", "same"),
    "data_format": (None, "channels_last", "channels_first"),
    "interpolation": rules.RESIZE_INTERPOLATIONS,
    "fill_mode": ("constant",),  # the only one Keras's TensorFlow image.resize takes
}


#: unknown arguments of one op node reported one by one (with suggestions); the rest are counted in one line
MAX_UNKNOWN_SHOWN = 100

#: arguments that are values computed with (a number, a bool or nested lists of them) when given by name:
#: a string there passes the shape rules and fails only when the model runs
_VALUE_ARGS = frozenset(
    {"fill_value", "constant_values", "nan", "posinf", "neginf", "x_min", "x_max", "x", "x1", "x2", "y", "weights"}
)
#: those of them that may not be None
_VALUE_REQUIRED = frozenset({"fill_value"})


#: validation context of an op whose arguments :func:`op_problems` has just passed (the spec parser checks
#: them itself, to report every problem located; the model's own check would only repeat it)
ARGS_CHECKED: dict[str, Any] = {}


def op_problems(
    op: Any, args: tuple[Any, ...], kwargs: dict[str, Any], *, brief: bool = False
) -> list[tuple[str | None, str]]:
    """What is wrong with an op node: ``(argument name or None, message)`` pairs, none when it is fine.

    With ``brief`` (a message past those shown), no "did you mean": each costs a comparison with every op name.
    """
    if not isinstance(op, str):
        return [(None, f"`op` must name a keras.ops function such as add or reshape; received {op!r:.60}")]
    try:
        spec = op_def(op, brief=brief)
    except ValueError as err:
        return [(None, str(err))]
    names = spec.names
    n_pos = 1 if spec.list_input else 0 if spec.operands else len(args)
    if n_pos > len(names):
        return [(None, f"op {op} takes at most {len(names)} arguments ({', '.join(names)}); `in` lists {len(args)}")]
    out: list[tuple[str | None, str]] = []
    if kwargs:  # (most op nodes name no argument: the checks of named ones find nothing to read)
        taken = names[:n_pos]
        unknown = [key for key in kwargs if key not in names]
        for key in unknown[:MAX_UNKNOWN_SHOWN]:  # each suggestion costs a comparison with every name: cap them
            out.append(
                (
                    key,
                    f"op {op} has no argument '{key}'{'' if brief else did_you_mean(str(key), names)}; its arguments: "
                    f"{', '.join(names)}",
                )
            )
        if len(unknown) > MAX_UNKNOWN_SHOWN:
            out.append(
                (
                    unknown[MAX_UNKNOWN_SHOWN],
                    f"op {op}: … and {len(unknown) - MAX_UNKNOWN_SHOWN:,} more unknown arguments "
                    f"({len(unknown):,} in all); its arguments: {', '.join(names)}",
                )
            )
        for key in kwargs:
            if key in taken:
                out.append((key, f"op {op}: '{key}' is given in `in` and again by name"))
    missing: list[str] = []
    for i, p in spec.required:
        if i >= n_pos and p not in kwargs:
            missing.append(p)
    if missing and not out:  # a misspelt argument is reported once, as the misspelling
        out.append((None, f"op {op} needs {', '.join(repr(m) for m in missing)} (its arguments: {', '.join(names)})"))
    constants: list[tuple[int, Any]] = []
    for i, a in enumerate(args):
        if not isinstance(a, str):
            constants.append((i, a))
    if len(constants) == len(args):
        out.append((None, f"op {op} needs at least one node or input in `in`"))
    for i, a in constants:
        if not _constant(a):
            out.append(
                (
                    None,
                    f"op {op}: `in` item {i} must name a node or input, or be a number or a list of "
                    f"numbers; received {a!r:.60}",
                )
            )
        elif (where := _ragged(a)) is not None:
            out.append((None, f"op {op}: `in` item {i} is a ragged list: {where}; {_RECTANGULAR}"))
    if not kwargs:
        return out
    for key in _VALUE_ARGS.intersection(kwargs).intersection(names):
        value = kwargs[key]
        if not _constant(value) or (value is None and key in _VALUE_REQUIRED):
            out.append(
                (
                    key,
                    f"op {op}: {key} must be a number, a bool or a list of numbers; received {value!r:.60} "
                    "(tensors are named in `in`)",
                )
            )
        elif (where := _ragged(value)) is not None:
            out.append((key, f"op {op}: {key} is a ragged list: {where}; {_RECTANGULAR}"))
    dtype = kwargs.get("dtype")
    if "dtype" in names and dtype is not None and dtype not in DTYPES:
        out.append(
            (
                "dtype",
                f"op {op}: dtype {dtype!r:.60} is not a dtype Keras computes with; use one of "
                f"{', '.join(DTYPES)} (text is not a tensor dtype a model can cast numbers to)",
            )
        )
    for key, value in kwargs.items():
        if key not in names:
            continue
        choices = CHOICES.get(key)
        if choices is not None and value not in choices:
            out.append(
                (
                    key,
                    f"op {op}: {key} {value!r:.60} is not one of "
                    f"{', '.join('null' if c is None else repr(c) for c in choices)}, the values Keras runs "
                    "with (netform reads them in lowercase); Keras checks most of them only when the model runs, so a "
                    "model built with another value fails on every input",
                )
            )
        elif isinstance(spec.defaults.get(key), bool) and not isinstance(value, bool):
            out.append((key, f"op {op}: {key} must be true or false; received {value!r:.60}"))
    if op == "getitem" and isinstance(kwargs.get("index"), (str, type(None))) and "index" in kwargs:
        try:
            parse_index(kwargs["index"])
        except ShapeError as err:
            out.append(("index", str(err)))
    return out


# -- what the tensors hold ---------------------------------------------------
from .._kinds import Kind, dtype_kind  # noqa: E402 - re-exported: what a tensor holds

#: Keras's integer-only ops: TensorFlow's bitwise kernels take int8 … uint64 only (no float, bool or text)
INTEGER_ONLY = frozenset({"bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"})
#: ops TensorFlow computes with floats only: its kernels (or Keras's float constants inside the op) take no
#: integer or bool tensor, and the model fails on every input (checked against Keras by a test)
FLOAT_ONLY = frozenset(
    "average_pool celu elu erf erfinv gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh "
    "log_sigmoid log_softmax logsumexp normalize reciprocal rsqrt selu sigmoid silu swish soft_shrink softmax "
    "softplus softsign sparse_plus sparsemax squareplus tanh_shrink threshold".split()
)
#: ops TensorFlow computes with numbers only: no kernel takes bool values (logical_* are the ops for bools)
NUMBERS_ONLY = frozenset(
    "add subtract multiply maximum minimum power floor_divide greater greater_equal less less_equal heaviside "
    "hypot negative conj conjugate real einsum image.resize leaky_relu max_pool moments relu relu6 round sign "
    "top_k".split()
)
#: ops whose result is bool whatever they are given
_BOOL_RESULT = frozenset(
    "equal not_equal greater greater_equal less less_equal logical_and logical_or logical_xor logical_not "
    "isnan isinf isfinite signbit".split()
)
#: ops whose result is an integer index or count
_INT_RESULT = frozenset({"argmax", "argmin", "argsort", "count_nonzero"})
#: ops that move, pick or copy values without computing with them: the result holds what the input holds
_STRUCTURAL = frozenset(
    "reshape transpose expand_dims squeeze concatenate stack getitem ravel repeat tile moveaxis swapaxes flip "
    "roll broadcast_to pad take slice append stop_gradient".split()
)
#: the ops Keras (TensorFlow) runs on text tensors; every other op computes with numbers
_TEXT_OPS = _STRUCTURAL | {"split", "add", "equal", "not_equal", "isnan", "isinf", "isfinite", "count_nonzero"}
#: the arguments whose values an op computes with (the others are sizes, axes or settings)
_OPERANDS = ("x", "x1", "x2", "y", "a", "xs", "inputs", "images", "operands", "variable")


def _promote(kinds: list[Kind | None]) -> Kind | None:
    """Keras's type promotion, by kind: text or float wins, then int, then bool; None when one is unknown."""
    if None in kinds:
        return None
    order: tuple[Kind, ...] = ("string", "float", "int", "bool")
    for kind in order:
        if kind in kinds:
            return kind
    return None


def _constant_kinds(value: Any) -> list[Kind]:
    """The kinds of a constant's numbers (Keras makes a Python float a float, an int an int, a bool a bool)."""
    if isinstance(value, (list, tuple)):
        return [k for item in value for k in _constant_kinds(item)]
    if isinstance(value, bool):
        return ["bool"]
    if isinstance(value, int):
        return ["int"]
    if isinstance(value, float):
        return ["float"]
    return []


class _Fed:
    """A tensor argument at kind-checking time: its kind and what feeds it (for messages)."""

    __slots__ = ("kind", "_where", "_index")

    def __init__(self, kind: Kind | None, where: Sequence[str], index: int) -> None:
        self.kind = kind
        self._where = where
        self._index = index

    @property
    def what(self) -> str:
        """What feeds the tensor (``"input 'x' (dtype float32)"``), written when a message needs it."""
        return self._where[self._index]


def op_kind(op: Op, kinds: list[Kind | None], where: Sequence[str]) -> Kind | None:
    """The kind of an op node's result from the kinds of its tensors (one per ref, in order), or None.

    Args:
        op: The node's op.
        kinds: The kind of each tensor in ``in`` (None when unknown).
        where: For each tensor, what feeds it (``"input 'x' (dtype float32)"``), for messages.

    Raises:
        ShapeError: The op cannot compute with what it is given (a float tensor in a bitwise op, text in
            an op that computes with numbers).
    """
    # plain loops, no comprehensions: this runs once a node, and a spec may have 20,000 op nodes
    spec = op_def(op.op)
    fed: list[_Fed] = []
    for i, k in enumerate(kinds):
        fed.append(_Fed(k, where, i))
    bound = op.bind(fed)
    tensors: list[_Fed] = []
    constants: list[Kind | None] = []
    spread = spec.list_input or spec.operands
    text: _Fed | None = None  # the first tensor that holds text
    for name in _OPERANDS:
        if name in bound:
            value = bound[name]
            for v in value if spread else (value,):
                if isinstance(v, _Fed):
                    tensors.append(v)
                    if text is None and v.kind == "string":
                        text = v
                else:
                    constants += _constant_kinds(v)
    if text is not None and op.op not in _TEXT_OPS:
        raise ShapeError(
            f"op {op.op} computes with numbers, but {text.what} holds text; map text to numbers first "
            "(e.g. StringLookup or Hashing), or give the input a numeric dtype"
        )
    if text is not None and (constants or any(t.kind not in ("string", None) for t in tensors)):
        raise ShapeError(
            f"op {op.op} combines {text.what}, which holds text, with numbers; TensorFlow takes one dtype: map the "
            "text to numbers first (e.g. StringLookup or Hashing), or give every operand text"
        )
    if op.op in INTEGER_ONLY:
        _integer_operands(op.op, bound.get("x"), bound.get("y"))
        return "int"
    _integer_arithmetic(op.op, bound)
    all_kinds: list[Kind | None] = []
    for t in tensors:
        all_kinds.append(t.kind)
    kind = _promote(all_kinds + constants)
    _number_kinds(op.op, tensors, kind)
    dtype = bound.get("dtype")
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype_kind(dtype)
    if op.op in _BOOL_RESULT:
        return "bool"
    if op.op in _INT_RESULT:
        return "int"
    if op.op == "one_hot":
        return "float"
    if kind == "float" or op.op in _STRUCTURAL:
        return kind
    return None  # ints and bools: some ops keep them, others (divide, mean, sqrt) give floats


def _number_kinds(op: str, tensors: list[_Fed], kind: Kind | None) -> None:
    """Refuse integer or bool values in an op TensorFlow computes with floats only (:data:`FLOAT_ONLY`),
    and bool values in one it computes with numbers only (:data:`NUMBERS_ONLY`).

    The values it computes with are those of its operands together, as Keras promotes them (``kind``, from
    :func:`_promote`): a bool tensor added to a float constant is computed as floats.
    """
    if kind == "int" and op in FLOAT_ONLY or kind == "bool" and op in FLOAT_ONLY | NUMBERS_ONLY:
        fed = next((t.what for t in tensors if t.kind == kind), "its operands")
        dtype = "float32" if op in FLOAT_ONLY else "int32 or float32"
        raise ShapeError(
            f"op {op} computes with {'floats' if op in FLOAT_ONLY else 'numbers'} only (TensorFlow runs it on "
            f"no {kind} values), but {fed} holds {'integers' if kind == 'int' else 'bools'}; the model would "
            f"fail on every input: cast first, {{op: cast, in: …, dtype: float32}}, or give the input dtype {dtype}"
        )


def _numbers(value: Any) -> list[Any]:
    """The numbers (bools included) of a constant: a number or nested lists."""
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(item)]
    return [value] if isinstance(value, (int, float)) else []


def _integer_arithmetic(op: str, bound: dict[str, Any]) -> None:
    """Refuse what TensorFlow refuses, when the model runs, of an integer tensor and a constant.

    Keras keeps an integer tensor's dtype with a whole-number constant (a float constant makes the result
    float), and TensorFlow then refuses a negative integer power (``power``), a division by zero
    (``floor_divide``, ``mod``: "Integer division by zero"), and ``clip`` casts float bounds to the integer
    dtype, which fails.
    """
    if op in ("power", "floor_divide", "mod"):
        x1, x2 = bound.get("x1"), bound.get("x2")
        if not (isinstance(x1, _Fed) and x1.kind in ("int", "bool")) or isinstance(x2, _Fed):
            return
        numbers = _numbers(x2)
        if any(isinstance(n, float) for n in numbers):
            return  # the result is float
        if op == "power" and any(n < 0 for n in numbers) and x1.kind == "int":
            raise ShapeError(
                f"op power raises {x1.what}, which holds integers, to the negative power {x2!r:.40}: TensorFlow "
                "refuses negative integer powers of integers; write the power as a float (e.g. -1.0) for a float "
                "result, or cast x1 to float first"
            )
        if op != "power" and any(n == 0 for n in numbers):
            raise ShapeError(
                f"op {op} divides {x1.what}, which holds integers, by {x2!r:.40}"
                f"{', which holds 0' if isinstance(x2, (list, tuple)) else ''}: TensorFlow "
                "refuses an integer division by zero; divide by a nonzero number, or by a float (e.g. 0.0) "
                "for a float result"
            )
    if op == "clip":
        x = bound.get("x")
        if not (isinstance(x, _Fed) and x.kind in ("int", "bool")):
            return
        for name in ("x_min", "x_max"):
            value = bound.get(name)
            if not isinstance(value, _Fed) and any(isinstance(n, float) for n in _numbers(value)):
                raise ShapeError(
                    f"op clip of {x.what}, which holds {'integers' if x.kind == 'int' else 'bools'}, by the float "
                    f"{name} {value!r:.40}: Keras casts the bounds to x's integer dtype, and TensorFlow refuses a "
                    "float there; give whole-number bounds, or cast x to float first"
                )


def _integer_operands(op: str, x: Any, y: Any) -> None:
    """Refuse what Keras's bitwise ops and shifts fail on when the model runs.

    Keras casts ``x`` and ``y`` to their common dtype (a Python float makes it float), except that a
    shift by a Python int keeps x's dtype; TensorFlow's kernels then take integers only.
    """
    fix = "give the input an integer dtype (e.g. dtype: int32), or cast first: {op: cast, in: …, dtype: int32}"
    for value, name in ((x, "x"), (y, "y")):
        if isinstance(value, _Fed) and value.kind in ("float", "string"):
            raise ShapeError(
                f"op {op} works on integers only (TensorFlow's bitwise kernels take int8 … uint64), but {name} is "
                f"{value.what}, which holds {value.kind} values; {fix}"
            )
        if not isinstance(value, _Fed) and "float" in _constant_kinds(value):
            raise ShapeError(
                f"op {op} works on integers only, but {name} is the number {value!r:.40}; give a whole number"
            )
    shift_by_int = op.endswith("_shift") and isinstance(y, int) and not isinstance(y, bool)
    kinds: list[Kind | None] = []
    for value in (x, y):
        kinds += [value.kind] if isinstance(value, _Fed) else _constant_kinds(value)
    x_bool = isinstance(x, _Fed) and x.kind == "bool"
    if (shift_by_int and x_bool) or (kinds and all(k == "bool" for k in kinds)):
        what = x.what if isinstance(x, _Fed) else "x"
        raise ShapeError(f"op {op} works on integers only, but {what} holds bool values; {fix}")


#: the fix of a ragged constant
_RECTANGULAR = (
    "TensorFlow makes a tensor only of rectangular nested lists (the lists at one depth all of one length, "
    "numbers all at the deepest): pad the short lists, or split the value"
)


def _ragged(value: Any) -> str | None:
    """Where a nested-list constant is not rectangular (TensorFlow's tensors are), or None when it is.

    Reads the lists depth by depth (each item once), comparing every list at a depth with the first.
    """
    level: list[tuple[tuple[int, ...], Any]] = [((), value)]
    while level:
        lists = [(path, v) for path, v in level if isinstance(v, (list, tuple))]
        if not lists:
            return None
        if len(lists) != len(level):
            path, number = next((p, v) for p, v in level if not isinstance(v, (list, tuple)))
            return f"{_at(lists[0][0])} is a list but {_at(path)} is {number!r:.20}"
        first, items = lists[0]
        for path, v in lists:
            if len(v) != len(items):
                return f"{_at(first)} holds {len(items)} items but {_at(path)} holds {len(v)}"
        level = [((*path, i), item) for path, v in lists for i, item in enumerate(v)]
    return None


def _at(path: tuple[int, ...]) -> str:
    return "".join(f"[{i}]" for i in path) or "the value"


def _constant(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_constant(v) for v in value)
    return value is None or isinstance(value, (int, float, bool))


#: shape rules whose output, for inputs with each unknown size 1, is their output shape with each unknown size 1
_SIZED_BY_SHAPE = frozenset({rules.unary, rules.binary})


class Op(LayerSpec):
    """A ``keras.ops`` function applied to tensors: ``{op: add, in: [a, b]}`` (no weights)."""

    type: Literal["Op"] = "Op"
    op: str = Field(description="The keras.ops function, e.g. add, multiply, reshape, mean, relu, image.resize.")
    args: tuple[Any, ...] = Field((), description="The leading arguments as written in `in` (names are tensors).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="The other arguments, by parameter name.")

    family = "merge"
    arity: ClassVar[Literal["one", "many"]] = "many"
    limits_inside = True  # (the multiply-adds of matmul and einsum)
    min_inputs = 0
    max_inputs = 1 << 30

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Op:
        if info.context is ARGS_CHECKED:  # the parser ran op_problems on these very values: once a node
            return self
        problems = op_problems(self.op, self.args, self.kwargs)
        if problems:
            raise ValueError(problems[0][1])
        return self

    @property
    def sized_by_shape(self) -> bool:
        """Whether the output for inputs whose unknown sizes are 1 holds as many values as the output shape
        counts (each unknown size as 1): true of the elementwise ops, whose shape is their inputs' broadcast
        (``None`` against k is k, against 1 or None stays unknown); the shape check then need not run the
        rule again on such inputs."""
        return OPS[self.op].rule in _SIZED_BY_SHAPE if self.op in OPS else False

    @property
    def refs(self) -> tuple[str, ...]:
        """The node or input names among the arguments (the tensors), in order."""
        out: list[str] = []
        for a in self.args:
            if isinstance(a, str):
                out.append(a)
        return tuple(out)

    def bind(self, values: list[Any]) -> dict[str, Any]:
        """Every argument by parameter name, with ``values`` (one per ref, in order) in place of the refs."""
        spec = op_def(self.op)
        it = iter(values)
        args: list[Any] = []
        for a in self.args:
            args.append(next(it) if isinstance(a, str) else a)
        out: dict[str, Any] = {}
        if spec.operands:
            out["operands"] = args
        elif spec.list_input:
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
        tensors: list[TensorArg] = []
        for s in input_shape if isinstance(input_shape, list) else (input_shape,):
            tensors.append(TensorArg(tuple(s)))
        try:
            out = op_def(self.op).rule(self.bind(tensors))
        except ShapeError as err:
            raise type(err)(f"op {self.op}: {err}") from None  # (a LimitError stays one)
        except (TypeError, ValueError, IndexError, KeyError, ArithmeticError) as err:
            raise ShapeError(f"op {self.op}: arguments do not fit ({err})") from None
        for shape in out if isinstance(out, list) else (out,):
            for size in shape:
                if isinstance(size, int) and size < 0:  # (a rule's own check names the argument; this is the net)
                    raise ShapeError(
                        f"op {self.op}: its arguments give a result of shape {shape_str(shape)}, with a negative "
                        "size; Keras fails to build the model"
                    )
        return out

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
            raise ShapeError(
                f"'{self.source}' has one output, so '{self.source}.{self.index}' names nothing; write '{self.source}'"
            )
        if self.index >= len(input_shape):
            names = ", ".join(f"{self.source}.{i}" for i in range(len(input_shape)))
            raise ShapeError(
                f"'{self.source}' has {len(input_shape)} outputs ({names}); "
                f"'{self.source}.{self.index}' is not one of them"
            )
        return input_shape[self.index]

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        self.output_shape(input_shape)
        return 0, 0
