"""The base class of every layer schema, and the layer registry.

A layer schema is a frozen Pydantic model whose fields are the Keras layer's
constructor arguments (with Keras's defaults), plus a ``type`` field holding
the Keras class name. Dumping a schema and validating the dump again is the
identity. Each schema also knows, in pure Python, the layer's output shape and
parameter counts for given input shapes (its *static rule*).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from ..errors import RegistryError, did_you_mean
from ._types import Shape, StrictScalars

#: What a layer's (and a node's, a model's) name may be: a Keras layer name that every file format and
#: reader takes back (the same rule as node names).
LAYER_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: The most characters of a layer's name: netform's reader refuses a saved model with a longer one.
MAX_LAYER_NAME = 1024

__all__ = [
    "LayerSpec",
    "ShapeError",
    "NoStaticRule",
    "register_layer_spec",
    "get_layer_spec",
    "layer_specs",
    "FAMILIES",
]

FAMILIES: tuple[str, ...] = (
    "core",
    "conv",
    "pooling",
    "normalization",
    "recurrent",
    "attention",
    "merge",
    "activation",
    "reshaping",
    "regularization",
    "preprocessing",
    "custom",
    "model",
)


class ShapeError(ValueError):
    """Raised by a static rule when the input shapes do not fit the layer.

    The message says what was received and what was expected; the graph layer
    adds the file, line and node before showing it as a :class:`SpecError`.
    """


class LimitError(ShapeError):
    """Raised by a static rule when the input fits the layer but a tensor Keras makes inside it at every call
    (attention scores, a sample padded for a dilated convolution) is past the per-sample limit: model files are
    refused on it too, where the shapes they record let the rule run."""


class NoStaticRule(Exception):
    """Raised by a schema that has no pure-Python shape rule (shapes come at build time)."""


#: dtypes Keras's random initializers cannot draw
_COMPLEX = frozenset({"complex64", "complex128"})
#: the built-in activations Keras computes on complex numbers (a test runs each)
_COMPLEX_ACTIVATIONS = frozenset(
    {"linear", "silu", "swish", "sigmoid", "tanh", "exponential", "glu", "squareplus", "tanh_shrink", "hard_shrink"}
)
#: the initializers (by every name a spec may give them) that draw random numbers
_RANDOM_INITIALIZERS = frozenset(
    {
        "GlorotNormal",
        "GlorotUniform",
        "HeNormal",
        "HeUniform",
        "LecunNormal",
        "LecunUniform",
        "Orthogonal",
        "RandomNormal",
        "RandomUniform",
        "TruncatedNormal",
        "VarianceScaling",
        "glorot_normal",
        "glorot_uniform",
        "he_normal",
        "he_uniform",
        "lecun_normal",
        "lecun_uniform",
        "orthogonal",
        "random_normal",
        "random_uniform",
        "truncated_normal",
        "variance_scaling",
        "uniform",
        "normal",
    }
)
#: the random initializers (by class) that draw from a normal distribution: only float dtypes take them
_NORMAL_DRAWS = frozenset(
    {"GlorotNormal", "HeNormal", "LecunNormal", "Orthogonal", "RandomNormal", "TruncatedNormal", "VarianceScaling"}
)
#: integer dtypes Keras draws uniform weights in (the others, bool included, take no random initializer)
_UNIFORM_INTS = frozenset({"int32", "int64"})
_NON_FLOAT = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"})


#: the dtype policies a layer may name: Keras's numeric dtypes and its mixed policies ("string" and "object"
#: resolve in Keras but every layer fails on them when it runs)
LAYER_DTYPES = (
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "mixed_float16",
    "mixed_bfloat16",
    # (not "int8": Keras reads it as a quantization mode, never as a dtype; int8_from_float32 is the policy)
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex64",
    "complex128",
)
_QUANTIZED = re.compile(r"(int8|int4|float8)_from_(float16|float32|float64|bfloat16|mixed_float16|mixed_bfloat16)")


#: the Keras layer classes with a call of their own in each quantization mode: any other layer in a quantized
#: dtype policy fails the first time it runs ("Layer Conv1D does not have a `_int8_call` method"), so a spec
#: giving it one is refused at validate (a test keeps the table in step with keras.layers)
QUANTIZED_CALLS: dict[str, frozenset[str]] = {
    "int8": frozenset({"Dense", "EinsumDense", "Embedding", "ReversibleEmbedding"}),
    "int4": frozenset({"Dense", "EinsumDense", "Embedding", "ReversibleEmbedding"}),
    "float8": frozenset({"Dense", "EinsumDense"}),
    "gptq": frozenset({"Dense", "EinsumDense"}),
    "awq": frozenset({"Dense", "EinsumDense"}),
}


#: the quantization modes Keras makes only with calibration data (``model.quantize(mode, config=...)``)
_CALIBRATED = frozenset({"gptq", "awq"})


def lora_quantized_problem(dtype: Any, lora_rank: Any) -> str | None:
    """Why a layer with LoRA (``lora_rank``) cannot run in ``dtype``: Keras's float8 call has no LoRA."""
    if lora_rank and quantization_mode(dtype) == "float8":
        return (
            "Keras's float8 call does not support LoRA (\"`_float8_call` doesn't support LoRA\"): the layer fails "
            "the first time it runs; drop lora_rank, or quantize in int8 or int4 (int8_from_float32)"
        )
    return None


def quantization_mode(dtype: Any) -> str | None:
    """The quantization mode of a dtype policy as a spec or a saved config gives it (``int8_from_float32``, or
    Keras's ``{class_name: QuantizedDTypePolicy, config: {mode: int8, ...}}``), else None."""
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        if not isinstance(inner, dict):
            return None
        mode = inner.get("mode")  # (with its settings after a '/': int4/128 is int4 in blocks of 128)
        return mode.split("/", 1)[0] if isinstance(mode, str) else quantization_mode(inner.get("name"))
    if isinstance(dtype, str) and "_from_" in dtype:
        return dtype.split("_from_", 1)[0].split("/", 1)[0]
    return None


def _quantized_source(dtype: Any) -> Any:
    """The dtype policy a quantized policy computes in (``float16`` of ``int8_from_float16``), else None."""
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        if not isinstance(inner, dict):
            return None
        return inner.get("source_name") if "source_name" in inner else _quantized_source(inner.get("name"))
    if isinstance(dtype, str) and "_from_" in dtype:
        return dtype.split("_from_", 1)[1]
    return None


def quantized_call_problem(class_name: str, dtype: Any) -> str | None:
    """Why a ``class_name`` layer cannot run in ``dtype``, when that is a quantized policy Keras has no call of
    that class for; else None (also for a registered class, ``package>Name``, which may define one)."""
    mode = quantization_mode(dtype)
    if mode is None or ">" in class_name:
        return None
    if mode in _CALIBRATED:
        return (
            f"Keras builds no layer in a {mode} dtype policy from a config: {mode} quantization is made by "
            f"model.quantize('{mode}', config=...) with calibration data, and a layer made in the policy lacks its "
            "variables (the saved file cannot be loaded); build the float model, then quantize it"
        )
    takers = QUANTIZED_CALLS.get(mode)
    if takers is None:
        return (
            f"{mode!r:.40} is not a quantization mode of Keras; the modes are {', '.join(QUANTIZED_CALLS)}, "
            "as in int8_from_float32"
        )
    if mode == "int8" and _quantized_source(dtype) in ("float16", "mixed_float16"):
        return (
            "Keras refuses int8 quantization with a float16 compute dtype (int8_from_float16, "
            "int8_from_mixed_float16: \"doesn't work well with compute_dtype='float16'\"); compute in bfloat16 or "
            "float32 (int8_from_mixed_bfloat16, int8_from_float32)"
        )
    if class_name in takers:
        return None
    return (
        f"Keras has no {mode} call for a {class_name} layer, so it fails the first time it runs; only "
        f"{', '.join(sorted(takers))} layers compute in {mode} dtype policies: give this layer a float dtype "
        "(e.g. float32), or leave dtype out"
    )


def layer_dtype(dtype: str) -> bool:
    """Whether ``dtype`` names a dtype policy Keras resolves and computes with."""
    return dtype in LAYER_DTYPES or _QUANTIZED.fullmatch(dtype) is not None


def _class_name(name: str) -> str:
    """An initializer's class name from any name a spec may give it (``he_normal`` → ``HeNormal``)."""
    if name == "uniform":
        return "RandomUniform"
    if name == "normal":
        return "RandomNormal"
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) if name.islower() else name


def _draw_problem(dtype: str, name: str, arguments: dict[str, Any]) -> str | None:
    """Why Keras's random initializer ``name`` cannot make weights of ``dtype`` (None: it can).

    Measured against Keras (tests/spec/test_keras_agrees_*): complex and bool dtypes and the integer
    dtypes other than int32/int64 take no random initializer; int32/int64 take the uniform ones only,
    and RandomUniform only where its bounds, cut to integers, differ; bfloat16 has no Orthogonal (no QR).
    """
    cls = _class_name(name)
    if dtype in _COMPLEX:
        return "Keras's random initializers draw only real numbers"
    if dtype == "bfloat16" and cls == "Orthogonal":
        return "Keras's Orthogonal takes a QR decomposition, which TensorFlow has no bfloat16 kernel for"
    if dtype not in _NON_FLOAT:
        return None
    if dtype not in _UNIFORM_INTS:
        return f"Keras's random initializers cannot draw {dtype} numbers"
    if cls == "VarianceScaling":
        if arguments.get("distribution", "truncated_normal") == "uniform":
            return None
    elif cls not in _NORMAL_DRAWS:
        if cls != "RandomUniform":
            return None
        low, high = arguments.get("minval", -0.05), arguments.get("maxval", 0.05)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            return None  # the argument check refuses it
        if int(low) < int(high):
            return None
        return (
            f"Keras's RandomUniform draws {dtype} numbers between its bounds cut to integers, and "
            f"minval {low} and maxval {high} both cut to {int(low)}"
        )
    return f"Keras draws {dtype} numbers only from a uniform distribution, and {cls} draws from a normal one"


#: an initializer field's first word → the flag without which Keras makes no such weight
_WEIGHT_FLAGS = {"bias": "use_bias", "beta": "center", "gamma": "scale"}


class LayerSpec(StrictScalars):
    """Base of every layer schema.

    Subclasses declare ``type: Literal["Dense"] = "Dense"`` and the Keras
    constructor arguments as typed fields, each with a description.

    Class attributes:
        family: The layer family, used for diagram colours.
        arity: ``"one"`` when the layer takes one tensor, ``"many"`` when it
            takes a list (merge layers, attention).
        min_inputs / max_inputs: Bounds on the number of inputs for ``"many"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    type: str = Field(description="The Keras layer class name.")
    name: str | None = Field(
        None,
        pattern=LAYER_NAME_PATTERN,
        max_length=MAX_LAYER_NAME,
        description="Layer name (letters, digits and _, not starting with a digit, at most 1,024 characters); "
        "in a graph the node name is used.",
    )
    trainable: bool = Field(True, description="Whether the layer's weights are updated in training.")
    dtype: str | None = Field(
        None, description="Dtype policy, e.g. 'float32' or 'mixed_float16'; null for the global policy."
    )

    @model_validator(mode="after")
    def _weights_in_dtype(self) -> LayerSpec:
        if self.dtype is not None:
            self.check_dtype(self.dtype)
            problem = quantized_call_problem(self.keras_class(), self.dtype) or lora_quantized_problem(
                self.dtype, getattr(self, "lora_rank", None)
            )
            if problem is not None:
                raise ValueError(problem)
        return self

    def keras_class(self) -> str:
        """The name of the Keras layer class this layer is made as (its ``type``; a generic layer's
        ``class_name``)."""
        return self.type

    def check_dtype(self, dtype: str) -> None:
        """Refuse ``dtype`` where this layer's random initializers cannot draw it (complex, bool, most integers;
        see :func:`_draw_problem`), or where it is complex and an activation takes real numbers only: building
        such a layer fails in Keras.

        Raises:
            ValueError: Saying which argument cannot take the dtype, and what to give instead.
        """
        if dtype not in _COMPLEX and dtype not in _NON_FLOAT and dtype != "bfloat16":
            return
        for field in ("activation", "recurrent_activation") if dtype in _COMPLEX else ():
            value = getattr(self, field, None)
            if isinstance(value, str) and value not in _COMPLEX_ACTIVATIONS:
                raise ValueError(
                    f"dtype {dtype} cannot be used with {field} {value}: Keras's {value} takes real numbers "
                    f"only, so the layer fails when it is called; give the layer a float dtype, or one of the "
                    f"activations that take complex numbers: {', '.join(sorted(_COMPLEX_ACTIVATIONS))}"
                )
        for field in type(self).model_fields:
            if not field.endswith("_initializer"):
                continue
            flag = _WEIGHT_FLAGS.get(field.split("_")[0])
            if flag is not None and getattr(self, flag, True) is False:
                continue  # a weight the layer does not make
            value = getattr(self, field)
            name = value if isinstance(value, str) else getattr(value, "type", None)
            if name not in _RANDOM_INITIALIZERS:
                continue
            arguments = getattr(value, "arguments", None) or {}
            problem = _draw_problem(dtype, name, arguments)
            if problem is not None:
                raise ValueError(
                    f"dtype {dtype} cannot be used with {field} {name}: {problem}, so the layer cannot "
                    "make its weights; give the layer float16, float32 or float64, or a non-random initializer (zeros, "
                    "ones, "
                    "{type: Constant, value: …})"
                )

    family: ClassVar[str] = "core"
    arity: ClassVar[Literal["one", "many"]] = "one"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    #: whether the shape rule may raise :class:`LimitError` for a tensor made inside the layer (model files are
    #: refused on it where their ``build_config`` records the shapes)
    limits_inside: ClassVar[bool] = False

    def output_shape(self, input_shape: Any) -> Shape | list[Shape]:
        """The output shape for ``input_shape`` (a shape, or a list for ``arity="many"``).

        Raises:
            ShapeError: The input shape does not fit the layer.
            NoStaticRule: The layer has no static rule.
        """
        raise NoStaticRule(self.type)

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        """``(trainable, non_trainable)`` parameter counts for ``input_shape``.

        Weights of a layer with ``trainable: false`` count as non-trainable.

        Raises:
            ShapeError: The input shape does not fit the layer.
            NoStaticRule: The layer has no static rule.
        """
        raise NoStaticRule(self.type)

    def traced_steps(self, input_shape: Any) -> int:
        """Copies of a step this layer writes into the graph of every call, past its own (an unrolled recurrent
        layer's time steps, a ``TimeDistributed``'s fixed steps): a model's are added up and bounded. 0 here."""
        return 0

    def counts(self, input_shape: Any) -> tuple[int, int]:
        """Parameter counts with ``trainable: false`` applied.

        Raises:
            NoStaticRule: The layer has no count rule, or its dtype is a quantized policy (``int8_from_float32``:
                Keras makes an int8 kernel that is not trained, and scales; int4 packs two numbers a byte; float8
                keeps histories): counted at build time.
        """
        if self.dtype is not None and _QUANTIZED.fullmatch(self.dtype) is not None:
            raise NoStaticRule(self.type)
        trainable, frozen = self.param_counts(input_shape)
        if not self.trainable:
            return 0, trainable + frozen
        return trainable, frozen

    def arguments(self) -> dict[str, Any]:
        """The non-default constructor arguments, as plain Python (no ``type``)."""
        data = self.model_dump(mode="python", exclude_unset=False, exclude_defaults=True, by_alias=False)
        data.pop("type", None)
        return data

    def to_dict(self) -> dict[str, Any]:
        """The schema as written in YAML: ``type`` first, then non-default fields."""
        data = self.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        data.pop("type", None)
        return {"type": self.type, **data}


_REGISTRY: dict[str, type[LayerSpec]] = {}


def register_layer_spec(cls: type[LayerSpec]) -> type[LayerSpec]:
    """Add a layer schema to the registry under its ``type`` default.

    Raises:
        RegistryError: The class is not a :class:`LayerSpec` with a ``type``
            default, or the name is taken by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, LayerSpec)):
        raise RegistryError(f"cannot register {cls!r}: layer schemas must subclass netform.spec.LayerSpec")
    field = cls.model_fields.get("type")
    name = field.default if field is not None else None
    if not isinstance(name, str) or not name:
        raise RegistryError(f"cannot register {cls.__name__}: it needs a field `type: Literal['Name'] = 'Name'`")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise RegistryError(
            f"layer type '{name}' is already registered by {existing.__module__}.{existing.__qualname__}; "
            "choose another name"
        )
    _REGISTRY[name] = cls
    return cls


def get_layer_spec(name: str) -> type[LayerSpec]:
    """Look up a layer schema by its ``type`` name.

    Raises:
        RegistryError: The name is unknown (with close matches and how to register).
    """
    if not isinstance(name, str):  # e.g. `type: [LSTM]` in a nested layer; unhashable values would crash the lookup
        raise RegistryError(f"a layer `type` is a class name such as 'Dense'; received {name!r:.60}")
    if name not in _REGISTRY:
        from . import layers

        if ">" in name:  # "package>Name": a plain Keras class the program registered with Keras
            from ._custom import keras_registered_layer_spec

            return keras_registered_layer_spec(name)
        if not layers.load_for(name):
            _ensure_catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        if _generic_form_takes(name):  # one of Keras's layers without a schema of netform's own
            raise RegistryError(
                f"'{name}' is one of Keras's layers that netform writes in the generic form: "
                f"{{type: KerasLayer, class_name: {name}, config: {{...}}}} (its arguments go in config)"
            ) from None
        raise RegistryError(
            f"unknown layer type '{name}'{did_you_mean(name, _REGISTRY)}; "
            "use a Keras layer class name, or register your own layer with @netform.register_layer"
        ) from None


def _generic_form_takes(name: str) -> bool:
    """Whether ``{type: KerasLayer, class_name: <name>}`` names a layer of Keras that a spec may hold."""
    from ._keras_layer_args import KERAS_LAYER_ARGS

    generic = _REGISTRY.get("KerasLayer")
    if name not in KERAS_LAYER_ARGS or generic is None:
        return False
    try:
        generic.model_validate({"type": "KerasLayer", "class_name": name})
    except ValueError:  # (pydantic's ValidationError is one) Lambda, TFSMLayer, a layer wrapping a live module
        return False
    return True


def layer_specs() -> dict[str, type[LayerSpec]]:
    """All registered layer schemas, by type name (a copy)."""
    _ensure_catalog()
    return dict(_REGISTRY)


def _ensure_catalog() -> None:
    from . import layers

    layers.load_all()
