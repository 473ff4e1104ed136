"""Shared field types for layer schemas: shapes, activations, initializers, …

Keras accepts an activation, initializer, regularizer or constraint either by
name (``"relu"``, ``"glorot_uniform"``) or as an object with arguments. In a
spec both are written the same way: a name, or ``{type: Name, arg: value}``.
Only Keras's built-in names are accepted here; nothing is imported by path.
"""

from __future__ import annotations

import math

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    NonNegativeInt,
    PositiveInt,
    ValidationInfo,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from ..errors import did_you_mean

__all__ = [
    "Shape",
    "Dim",
    "format_shape",
    "TypedObject",
    "ActivationRef",
    "InitializerRef",
    "RegularizerRef",
    "ConstraintRef",
    "IntOrTuple",
    "ACTIVATIONS",
    "INITIALIZERS",
    "REGULARIZERS",
    "CONSTRAINTS",
    "identifier_problem",
    "Padding",
    "DataFormat",
    "PositiveInt",
    "NonNegativeInt",
    "StrictScalars",
    "strict_scalars",
]

Dim = int | None
"""One dimension of a shape: a size, or ``None`` when unknown (batch, time)."""

Shape = tuple[Dim, ...]
"""A full tensor shape, batch dimension first (``(None, 28, 28, 1)``)."""


#: the most values one layer's weights, or one sample of one tensor, may hold (2**31 - 1: 8 GB as float32); also
#: the bound on tensors Keras makes inside a layer (attention scores, framed or padded samples, blur windows)
MAX_ELEMENTS = 2**31 - 1
#: the most multiply-adds a product without weights (matmul, einsum, Dot, dot attention) may take a sample: its
#: output's values times the length it sums over grow much faster than its inputs (two 16,384 x 16,384 matrices
#: made from 64 KB cost 98 s of CPU a sample); 2**36 is a 4,096-step attention's products of 4,096 features,
#: about 1.5 s on one CPU core
MAX_PRODUCTS = 2**36


def format_shape(shape: Any) -> str:
    """Write a shape as Keras does, ``(None, 28, 28, 1)``; ``?`` when unknown."""
    if shape is None:
        return "? (inferred at build time)"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


ACTIVATIONS: tuple[str, ...] = (
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "sigmoid",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "exponential",
    "mish",
    "celu",
    "glu",
    "sparse_plus",
    "squareplus",
    "tanh_shrink",
    "hard_tanh",
    "soft_shrink",
    "hard_shrink",
    "log_sigmoid",
    "sparsemax",
    "threshold",
)
INITIALIZERS: tuple[str, ...] = (
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "STFT",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "uniform",
    "normal",
)
REGULARIZERS: tuple[str, ...] = (
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "l1",
    "l2",
    "l1_l2",
    "orthogonal_regularizer",
)
CONSTRAINTS: tuple[str, ...] = (
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "unit_norm",
)


_NUMBER_TYPES = {"int": "integer", "float": "number"}


def _not_text_or_bool(kind: str) -> Any:
    """A check run before a number field's own: no strings, no booleans (JSON Schema's number types)."""

    def check(value: Any) -> Any:
        if isinstance(value, (str, bytes, bool)):
            raise PydanticCustomError(f"{kind}_type", f"Input should be a valid {_NUMBER_TYPES[kind]}")
        return value

    return check


def strict_scalars(schema: CoreSchema) -> CoreSchema:
    """Make every int, float and bool of a Pydantic core schema read as JSON Schema does, in place.

    A spec then gets the answer of its JSON Schema (``netform schema``):
    ``units: "64"`` and ``units: true`` are refused instead of being read as
    ``64`` and ``1``, ``use_bias: 1`` is refused instead of read as ``true``;
    an int field still takes ``64.0`` (JSON Schema's ``integer`` is any
    whole number) and a float field takes an int (``rate: 1``). Lists stay
    lists: a tuple field still reads a YAML sequence (Pydantic's model-wide
    strict mode would refuse it).

    Args:
        schema: The core schema of a model, as Pydantic generated it.

    Returns:
        The same schema.
    """
    seen: set[int] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "bool":
                node.setdefault("strict", True)
            elif isinstance(kind, str) and kind in _NUMBER_TYPES:
                # Replaced in place (other schemas hold this very dict): the check, then the number's own rules.
                inner = dict(node)
                node.clear()
                node.update(core_schema.no_info_before_validator_function(_not_text_or_bool(kind), inner))
                seen.add(id(inner))
                continue
            stack.extend(
                v for k, v in node.items() if k not in ("metadata", "serialization") and isinstance(v, (dict, list))
            )
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return schema


class StrictScalars(BaseModel):
    """A schema whose int, float and bool fields read values as its JSON Schema does (see :func:`strict_scalars`)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return strict_scalars(handler(source))


class TypedObject(BaseModel):
    """A Keras object written as ``{type: Name, arg: value, …}``.

    The arguments are passed to the Keras class's constructor by the builder.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="The Keras class or function name, e.g. 'HeNormal' or 'L2'.")

    @property
    def arguments(self) -> dict[str, Any]:
        """The constructor arguments (everything but ``type``)."""
        return dict(self.model_extra or {})


def check_arguments(kind: str, value: Any) -> None:
    """Refuse unknown constructor arguments of a ``{type: …}`` Keras object.

    The table of arguments is generated from Keras (``scripts/gen_keras_args.py``),
    so this needs no TensorFlow.

    Raises:
        ValueError: An argument the Keras class does not take.
    """
    if not isinstance(value, TypedObject):
        return
    problem = _typed_problem(kind, value.type, value.arguments)
    if problem is not None:
        raise ValueError(problem)


def _typed_problem(kind: str, name: str, arguments: dict[str, Any]) -> str | None:
    """Why Keras's ``name`` (a built-in of ``kind``) cannot be made from ``arguments``, or ``None``."""
    from ._keras_args import KERAS_ARGS

    allowed = KERAS_ARGS.get(kind, {}).get(name)
    if allowed is None:
        return None
    names = [a for a in allowed if a != "kwargs"]
    for arg in arguments:
        if arg not in names:
            return (
                f"{name} takes no argument '{arg:.60}'{did_you_mean(str(arg), names)}; "
                f"its arguments: {', '.join(names) or '(none)'}"
            )
    problems = _argument_problems(kind, name, arguments)
    if problems:
        return "; ".join(f"{name}'s {arg} {problem}" for arg, problem in problems)
    if kind == "regularizer":  # Keras's validate_float_arg, checked where it is written rather than at build
        for arg in ("l1", "l2", "factor"):
            factor = arguments.get(arg)
            if arg in arguments and (
                isinstance(factor, bool)
                or not isinstance(factor, (int, float))
                or not math.isfinite(factor)
                or factor < 0
            ):
                return f"{name}'s {arg} must be a finite number ≥ 0, such as 0.01; received {factor!r:.60}"
    return None


#: The names Keras's ``keras.initializers.get`` / ``regularizers.get`` / ``constraints.get`` take in a layer's
#: config (its ``ALL_OBJECTS_DICT``), with the class each names (None: a base class, which makes nothing). A spec's
#: own ``type`` lists (INITIALIZERS, …) leave out Keras's second aliases and take ``l1_l2``, which the builder
#: maps; a generic ``KerasLayer``'s config goes to Keras as it is written. ``tests/spec/test_generic_identifiers.py``
#: compares these with Keras's tables.
_KERAS_ALIASES: dict[str, dict[str, str | None]] = {
    "initializer": {
        "IdentityInitializer": "Identity",
        "OrthogonalInitializer": "Orthogonal",
        "STFTInitializer": "STFT",
        "one": "Ones",
        "zero": "Zeros",
        "stft": "STFT",
        "Initializer": None,
        "initializer": None,
    },
    "regularizer": {"l1l2": "L1L2", "Regularizer": None, "regularizer": None},
    "constraint": {"Constraint": None, "constraint": None},
}


def _keras_names(kind: str) -> dict[str, str | None]:
    """Every name Keras's ``get`` of ``kind`` takes, with the class (a spec name) each makes."""
    own = {"initializer": INITIALIZERS, "regularizer": REGULARIZERS, "constraint": CONSTRAINTS}[kind]
    names: dict[str, str | None] = {name: name for name in own if not (kind == "regularizer" and name == "l1_l2")}
    names.update(_KERAS_ALIASES[kind])
    return names


def identifier_problem(kind: str, value: Any) -> str | None:
    """Why Keras cannot make the ``kind`` (initializer, regularizer, constraint) a generic layer config holds.

    Keras's layer constructors read ``kernel_initializer`` and the like with ``keras.initializers.get`` (and
    ``regularizers.get``, ``constraints.get``): ``None``, a name it has, or a ``{class_name, config}`` mapping
    whose class it has (the module is not consulted for a built-in) and whose constructor takes the config;
    anything else fails the layer's construction, so validate refuses it where it is written. A
    ``"package>Name"`` registered with Keras in this program is taken as Keras takes it.

    Returns:
        Why it cannot (a sentence), or ``None`` when Keras makes it.
    """
    if value is None:
        return None
    names = _keras_names(kind)
    arguments: Any = {}
    if isinstance(value, str):
        name: Any = value
    elif isinstance(value, dict):
        name, arguments = value.get("class_name"), value.get("config")
        arguments = {} if arguments is None else arguments
        if not isinstance(name, str):
            return f"{'an' if kind == 'initializer' else 'a'} {kind} written as a mapping names its class: {{class_name: …, config: {{…}}}}"
        if not isinstance(arguments, dict):
            return f"the {kind} {name!r:.60}'s config is a mapping of its arguments; received {arguments!r:.60}"
    else:
        return (
            f"Keras cannot interpret {value!r:.60} as {'an' if kind == 'initializer' else 'a'} {kind}: write a "
            f"{kind}'s name or "
            f"{{class_name: …, config: {{…}}}}"
        )
    if name in names:
        made = names[name]
        if made is None and kind == "initializer":
            return f"{name} is the base class of Keras's initializers and makes no values; name an initializer"
        return None if made is None else _typed_problem(kind, made, arguments)
    registered = value.get("registered_name") if isinstance(value, dict) else None
    for candidate in (registered, name):
        if isinstance(candidate, str) and ">" in candidate:
            from ._custom import keras_registered_object

            try:
                if keras_registered_object(kind, candidate, arguments) is not None:
                    return None
            except ValueError as err:
                return str(err)
    return (
        f"Keras has no {kind} named {name!r:.60}{did_you_mean(name, list(names))}; a layer's {kind} is one of "
        f"Keras's built-in {kind}s (e.g. {', '.join(list(names)[:4])}) or a class registered with Keras in this program"
    )


#: initializers whose ``seed`` Keras takes as an int (or null); a seed object cannot be written in a spec
_SEEDED = frozenset(
    name
    for pair in (
        ("GlorotNormal", "glorot_normal"),
        ("GlorotUniform", "glorot_uniform"),
        ("HeNormal", "he_normal"),
        ("HeUniform", "he_uniform"),
        ("LecunNormal", "lecun_normal"),
        ("LecunUniform", "lecun_uniform"),
        ("Orthogonal", "orthogonal"),
        ("RandomNormal", "random_normal"),
        ("RandomUniform", "random_uniform"),
        ("TruncatedNormal", "truncated_normal"),
        ("VarianceScaling", "variance_scaling"),
    )
    for name in pair
)
#: the choices Keras's constructors check, by (kind, class) and argument (each a set Keras compares with ``in``)
_CHOICES: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("initializer", "VarianceScaling"): {"mode": ("fan_in", "fan_out", "fan_avg")},
    ("initializer", "variance_scaling"): {"mode": ("fan_in", "fan_out", "fan_avg")},
    ("initializer", "STFT"): {"side": ("real", "imag")},
    ("regularizer", "OrthogonalRegularizer"): {"mode": ("rows", "columns")},
    ("regularizer", "orthogonal_regularizer"): {"mode": ("rows", "columns")},
}
#: VarianceScaling's distributions, as Keras reads them (lower-cased; "normal" is "truncated_normal")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")


def _argument_problems(kind: str, name: str, args: dict[str, Any]) -> list[tuple[str, str]]:
    """The arguments of a ``{type: …}`` initializer or regularizer that Keras's constructor refuses, and why."""
    out: list[tuple[str, str]] = []
    for arg, choices in _CHOICES.get((kind, name), {}).items():
        if arg in args and (not isinstance(args[arg], str) or args[arg] not in choices):
            out.append((arg, f"is one of {', '.join(choices)}; received {args[arg]!r:.60}"))
    if kind != "initializer":
        return out
    if name in _SEEDED and "seed" in args:
        seed = args["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            out.append(("seed", f"is a whole number (or null for a new seed each time); received {seed!r:.60}"))
    if name in ("VarianceScaling", "variance_scaling"):
        scale = args.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            out.append(("scale", f"is a number above 0, such as 1.0 or 2.0; received {scale!r:.60}"))
        distribution = args.get("distribution", "truncated_normal")
        if not isinstance(distribution, str) or distribution.lower() not in _DISTRIBUTIONS:
            out.append(("distribution", f"is one of {', '.join(_DISTRIBUTIONS)}; received {distribution!r:.60}"))
    if name in ("Constant", "constant") and "value" in args and _constant_problem(args["value"]) is not None:
        out.append(("value", f"{_constant_problem(args['value'])}; received {args['value']!r:.60}"))
    if name == "STFT" and "scaling" in args and args["scaling"] not in (None, "density", "spectrum"):
        out.append(("scaling", f"is density, spectrum or null; received {args['scaling']!r:.60}"))
    return out


#: numpy's names of the dtypes Keras casts a Constant's value to a weight's dtype from
_NUMERIC_DTYPES = frozenset(
    ("bool", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
)


def _numbers(value: Any, depth: int = 0) -> tuple[int, ...] | None:
    """The shape of ``value`` when it is a number or a rectangular nested list of numbers, else ``None``."""
    if isinstance(value, (bool, int, float)):
        return ()
    if not isinstance(value, list) or depth > 32:
        return None
    inner: set[tuple[int, ...]] = set()
    for item in value:
        shape = _numbers(item, depth + 1)
        if shape is None:
            return None
        inner.add(shape)
        if len(inner) > 1:
            return None
    return (len(value), *(inner.pop() if inner else ()))


def _constant_problem(value: Any) -> str | None:
    """Why Keras's ``Constant`` cannot cast ``value`` to a weight's dtype (it multiplies the cast value with ones):
    a number, a rectangular list of numbers, or an array as Keras serializes one (``__numpy__``/``__tensor__``
    with a numeric dtype) casts; text, null or anything else fails the build."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        config = value.get("config")
        if isinstance(config, dict) and _numbers(config.get("value")) is not None:
            dtype = config.get("dtype")
            if dtype is None or (isinstance(dtype, str) and dtype in _NUMERIC_DTYPES):
                return None
        return "is an array of numbers with a numeric dtype"
    return None if _numbers(value) is not None else "is a number or a list of numbers (a weight's values)"


def _activation_problem(value: str | TypedObject) -> str | None:
    """Why Keras cannot use a built-in activation as a spec writes it (``None``: it can).

    Keras looks a layer's activation up by name only: a mapping (``{type: softmax, axis: 1}``) is read as a
    class to deserialize, and no built-in activation is one; ``threshold`` has two arguments without a
    default, which a layer never passes.
    """
    if isinstance(value, TypedObject):
        example = {"softmax": "Softmax (axis)", "leaky_relu": "LeakyReLU (negative_slope)", "elu": "ELU (alpha)"}
        layer = example.get(value.type, "ReLU, LeakyReLU, ELU, PReLU or Softmax")
        return (
            f"a layer takes a built-in activation by its name only (activation: {value.type}); Keras cannot "
            f"make {{type: {value.type}, …}}; for its arguments, follow the layer with an activation layer: "
            f"{layer}"
        )
    if value == "threshold":
        return (
            "threshold needs its threshold and default_value, which Keras never passes to a layer's "
            "activation; apply the op after the layer: {op: threshold, in: …, threshold: …, default_value: …}"
        )
    return None


def _named(kind: str, known: tuple[str, ...]):
    def check(value: str | TypedObject | None, info: ValidationInfo) -> str | TypedObject | None:
        if value is None:
            return value
        name = value if isinstance(value, str) else value.type
        if ">" in name:  # "package>Name": a class the program registered with Keras (never imported from here)
            from ._custom import keras_registered_object

            arguments = value.arguments if isinstance(value, TypedObject) else {}
            if keras_registered_object(kind, name, arguments) is not None:
                return value
            raise ValueError(
                f"unknown {kind} '{name}': no Keras {kind} class is registered under that name in this "
                "program; define it in your code (or a --plugin module) with "
                "@keras.saving.register_keras_serializable"
            )
        if name not in known:
            # past the first errors of a spec (context "brief"), skip the suggestion: it is never shown
            brief = isinstance(info.context, dict) and info.context.get("brief")
            raise ValueError(
                f"unknown {kind} '{name}'{'' if brief else did_you_mean(name, known)}; "
                f"expected one of Keras's built-in {kind}s, e.g. {', '.join(known[:6])}"
            )
        if kind == "activation":
            problem = _activation_problem(value)
            if problem is not None:
                raise ValueError(problem)
        check_arguments(kind, value)
        return value

    return AfterValidator(check)


ActivationRef = Annotated[
    Union[str, TypedObject, None],
    _named("activation", ACTIVATIONS),
    Field(
        description="An activation by name ('relu'); {type: 'package>Name', …} only for a class registered "
        "with Keras; null for linear."
    ),
]
InitializerRef = Annotated[
    Union[str, TypedObject],
    _named("initializer", INITIALIZERS),
    Field(description="An initializer by name ('glorot_uniform') or as {type: HeNormal, seed: 1}."),
]
RegularizerRef = Annotated[
    Union[str, TypedObject, None],
    _named("regularizer", REGULARIZERS),
    Field(description="A regularizer by name ('l2') or as {type: L2, l2: 0.01}; null for none."),
]
ConstraintRef = Annotated[
    Union[str, TypedObject, None],
    _named("constraint", CONSTRAINTS),
    Field(description="A constraint by name ('max_norm') or as {type: MaxNorm, max_value: 2}; null for none."),
]


IntOrTuple = Union[PositiveInt, tuple[PositiveInt, ...]]
"""An int applied to every spatial axis, or one int per axis."""

Padding = Literal["valid", "same"]
DataFormat = Literal["channels_last", "channels_first"] | None
