"""The generic form of a Keras built-in layer that has no schema of its own.

``from_keras`` writes such a layer as ``{type: KerasLayer, class_name: …,
config: {…}}`` so that it is never dropped. Only Keras's own layer classes
resolve; nothing is imported by path.
"""

from __future__ import annotations

import re
from collections import deque
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .._access import (
    UNBUILDABLE_LAYERS,
    activation_function_problem,
    file_argument_problems,
    function_problem,
    unknown_activation,
    unresolved_function,
)
from ...errors import did_you_mean
from .._keras_arg_checks import argument_problem, construction_problem
from .._keras_layer_args import KERAS_LAYER_ARGS
from .._layer_base import (
    LAYER_DTYPES,
    LayerSpec,
    LimitError,
    NoStaticRule,
    ShapeError,
    get_layer_spec,
    layer_dtype,
    lora_quantized_problem,
    quantized_call_problem,
    register_layer_spec,
)
from .._layer_dict import fields_of, is_quantized_policy, keras_defaults, schema_layer_from_config
from .._types import Shape, identifier_problem
from ._util import (  # (keras_shapes is defined there: a model file's reader sets it without these schemas)
    _KERAS_SHAPES,
    blur_problem,
    distributed_steps_problem,
    elastic_channels_problem,
    spectrogram_frames_problem,
    stacked_cells,
    traced_copies,
    unroll_problem,
    unrolls,
)
from ._util import keras_shapes as keras_shapes

#: the largest integer a layer setting may hold, as in every schema (Keras and TensorFlow take int32 sizes)
_MAX_INT = 2**31 - 1
#: Keras's other names for layer classes netform has a schema for (``keras.layers.Convolution2D is Conv2D``)
KERAS_ALIASES = {
    **{f"Convolution{n}D": f"Conv{n}D" for n in (1, 2, 3)},
    **{f"Convolution{n}DTranspose": f"Conv{n}DTranspose" for n in (1, 2, 3)},
    **{f"SeparableConvolution{n}D": f"SeparableConv{n}D" for n in (1, 2)},
    **{f"AvgPool{n}D": f"AveragePooling{n}D" for n in (1, 2, 3)},
    **{f"MaxPool{n}D": f"MaxPooling{n}D" for n in (1, 2, 3)},
    **{f"GlobalAvgPool{n}D": f"GlobalAveragePooling{n}D" for n in (1, 2, 3)},
    **{f"GlobalMaxPool{n}D": f"GlobalMaxPooling{n}D" for n in (1, 2, 3)},
}
#: what a Keras layer class name looks like
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
#: spec types that are not Keras layer classes: a KerasLayer naming them has no schema form
_NOT_KERAS = frozenset({"KerasLayer", "Op", "Pick"})
#: Keras's lookup layers, which need a vocabulary unless adapted: what it holds, and an example
_LOOKUPS = {
    "IntegerLookup": ("whole numbers", "[1, 2, 3]"),
    "StringLookup": ("strings", "[red, green, blue]"),
    "TextVectorization": ("strings", "[the, a, cat]"),
}


@register_layer_spec
class KerasLayer(LayerSpec):
    """Any Keras built-in layer, by class name and its ``get_config()``; shapes are inferred at build time."""

    type: Literal["KerasLayer"] = "KerasLayer"
    class_name: str = Field(description="The class name of a layer in keras.layers, e.g. 'Lambda' is not allowed.")
    config: dict[str, Any] = Field(default_factory=dict, description="The layer's get_config(), passed to from_config.")
    family = "core"

    @field_validator("class_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _CLASS_NAME.fullmatch(value):
            raise ValueError(f"class_name must be a Keras layer class name such as 'Dense'; received {value!r}")
        if value in ("Lambda", "TFSMLayer"):
            raise ValueError(f"{value} layers run code from their configuration and are not allowed in specs")
        if value in UNBUILDABLE_LAYERS:
            raise ValueError(f"{value} cannot be built from a spec: it {UNBUILDABLE_LAYERS[value]}")
        if value not in KERAS_LAYER_ARGS:  # the build takes keras.layers' classes only: say so at validate
            raise ValueError(
                f"{value!r} is not a layer class of keras.layers{did_you_mean(value, KERAS_LAYER_ARGS)}; a "
                "KerasLayer names one of Keras's built-in layer classes (custom layers are registered with "
                "@netform.register_layer and written as their own type)"
            )
        return value

    @model_validator(mode="after")
    def _no_nested_code(self) -> KerasLayer:
        # A wrapper (TimeDistributed, Bidirectional, Pipeline, a nested Sequential) holds other layers' configs:
        # a Lambda or TFSMLayer among them runs code or reads a file as a top-level one does (build refuses it
        # under Keras's safe mode; validate says so first, where it is written).
        found = _code_layer(self.config, ("config",))
        if found is not None:
            path, name = found
            if " " in name:  # a whole message: bytecode, a function, a file
                raise ValueError(f"{'.'.join(path)}: {name}; a spec may not run code or read files")
            raise ValueError(
                f"{'.'.join(path)}: a {name} layer inside {self.class_name}; {name} layers run code from their "
                "configuration and are not allowed in specs"
            )
        return self

    @model_validator(mode="after")
    def _functions(self) -> KerasLayer:
        # A function Keras's deserializer cannot find fails the build; validate names it and the module to write.
        found = _unresolved_function(self.config, ("config",))
        if found is not None:
            path, problem = found
            raise ValueError(f"{'.'.join(path)}: {problem}")
        return self

    @model_validator(mode="after")
    def _keras_values(self) -> KerasLayer:
        # Values Keras refuses when the layer is made (an activation name it has none for, a string for
        # idf_weights): validate names them where they are written.
        found = _keras_value(self.config, self.class_name, ("config",))
        if found is not None:
            path, problem = found
            raise ValueError(f"{'.'.join(path)}: {problem}")
        return self

    @model_validator(mode="after")
    def _sizes(self) -> KerasLayer:
        # Sizes are checked before TensorFlow sees them, as every schema does for its own fields.
        where = _large_int(self.config, ("config",))
        if where is not None:
            path, value = where
            if path[-1] == "seed":
                raise ValueError(
                    f"{'.'.join(path)}: {value:,} is not a seed Keras takes (a signed 64-bit integer, from "
                    f"{-(2**63):,} to {2**63 - 1:,})"
                )
            raise ValueError(
                f"{'.'.join(path)}: {value:,} is larger than {_MAX_INT:,}, the largest size a layer setting may hold"
            )
        return self

    @model_validator(mode="after")
    def _keras_arguments(self) -> KerasLayer:
        # Arguments Keras's constructor refuses (units: -5, kernel_size: 0, rate: .nan), in this layer's config
        # and in the layers it wraps: validate names them where they are written.
        found = _argument_problem(self.class_name, self.config, ("config",))
        if found is not None:
            path, problem = found
            raise ValueError(f"{'.'.join(path)}: {problem}")
        return self

    @model_validator(mode="after")
    def _discretization(self) -> KerasLayer:
        # Keras builds a Discretization without bin_boundaries, then fails when it is called unless adapt() ran,
        # and netform adapts only schemas with `adapt: true`; TensorFlow's Bucketize takes ascending boundaries.
        if self.class_name != "Discretization":
            return self
        bounds = self.config.get("bin_boundaries")
        if bounds is None:
            raise ValueError(
                "config.bin_boundaries: a Discretization needs its bin boundaries, e.g. bin_boundaries: [0.0, 1.0] "
                "(without them Keras learns them with adapt(), which netform does not run for a KerasLayer)"
            )
        if not isinstance(bounds, (list, tuple)) or not all(
            isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds
        ):
            raise ValueError(f"config.bin_boundaries: a list of numbers such as [0.0, 1.0]; received {bounds!r:.60}")
        if any(b > c for b, c in zip(bounds, bounds[1:])):
            raise ValueError(
                f"config.bin_boundaries: {list(bounds)!r:.60} is not in ascending order; TensorFlow buckets values "
                "only with sorted boundaries: sort them"
            )
        return self

    @model_validator(mode="after")
    def _vocabulary(self) -> KerasLayer:
        # Keras builds a lookup layer without a vocabulary, then fails when it is called (its table is not
        # initialized) unless adapt() ran, which netform does not run for a KerasLayer; an empty list fails
        # at build. A string is a file path, which the file check below refuses.
        kinds = _LOOKUPS.get(self.class_name)
        if kinds is None:
            return self
        words, example = kinds
        vocabulary = self.config.get("vocabulary")
        if isinstance(vocabulary, str) or file_argument_problems(self.class_name, self.config, ("config",)):
            return self  # a file the layer would read: the file check below says so first
        fix = f"give it as a list, e.g. vocabulary: {example}"
        if vocabulary is None:
            raise ValueError(
                f"config.vocabulary: {self.class_name} needs its vocabulary; {fix} (without it Keras learns it "
                "with adapt(), which netform does not run for a KerasLayer, and the layer fails when it is called)"
            )
        item = str if words == "strings" else int
        if not isinstance(vocabulary, (list, tuple)) or not all(
            isinstance(v, item) and not isinstance(v, bool) for v in vocabulary
        ):
            raise ValueError(
                f"config.vocabulary: {self.class_name}'s vocabulary is a list of {words}; received "
                f"{vocabulary!r:.60}; {fix}"
            )
        if not vocabulary:
            raise ValueError(f"config.vocabulary: the vocabulary is empty, and Keras refuses an empty one; {fix}")
        return self

    @model_validator(mode="after")
    def _settings_once(self) -> KerasLayer:
        # `trainable` and `dtype` may be written beside the config (as for every layer) and in it (as Keras's
        # get_config writes them): the layer is frozen where either says so, and one dtype is given once
        frozen = self.config.get("trainable", True)
        if not isinstance(frozen, bool):
            raise ValueError(f"config.trainable: true or false; received {frozen!r:.60}")
        inner = self.config.get("dtype")
        if self.dtype is not None and inner is not None:
            policy = inner.get("config") if isinstance(inner, dict) else None
            name = policy.get("name") if isinstance(policy, dict) else inner
            if name != self.dtype:
                raise ValueError(
                    f"dtype: {self.dtype!r} beside the config, and {name!r:.60} in it: give the layer's dtype once"
                )
        return self

    @model_validator(mode="after")
    def _dtype_computes(self) -> KerasLayer:
        # The dtype the layer computes in, beside its config or in it, is held to the rules of netform's own
        # layer types: a policy Keras computes with, and one its random initializers can fill the class's
        # weights in. A generic Dense in `string`, `bool`, `uint8` or `float8_e4m3fn` passed validate and the
        # build refused it.
        inner = self.config.get("dtype")
        wrapped = self.config.get("layer")
        if (
            self.class_name == "SpectralNormalization"
            and isinstance(wrapped, dict)
            and isinstance(wrapped.get("config"), dict)
            and is_quantized_policy(wrapped["config"].get("dtype"))
        ):  # Keras normalizes the kernel as floats: a quantized layer's int8 kernel fails the build
            raise ValueError(
                "config.layer.config.dtype: SpectralNormalization cannot wrap a layer in a quantized dtype policy "
                "(Keras rescales its kernel as floats); quantize the model after training instead"
            )
        mapping = _policy_mapping_problem(inner) if isinstance(inner, dict) else None
        if mapping is not None:
            raise ValueError(f"config.dtype: {mapping}")
        if isinstance(inner, dict) and inner.get("class_name") in _FLOAT_POLICY_CLASSES:
            name = _policy_name(inner)
            if is_quantized_policy(name):  # Keras's DTypePolicy("int8_from_float32") refuses it at build
                raise ValueError(
                    f"config.dtype: Keras's {inner['class_name']} computes in a float policy and cannot take the "
                    f"quantized {name!r}; write `dtype: {name}` (Keras makes its quantized policy from the name)"
                )
        problem = quantized_call_problem(self.keras_class(), inner) or lora_quantized_problem(
            inner if inner is not None else self.dtype, self.config.get("lora_rank")
        )
        if problem is not None:
            raise ValueError(f"config.dtype: {problem}")
        if self.class_name in _NOT_KERAS or is_quantized_policy(inner) or is_quantized_policy(self.dtype):
            return self
        if self.dtype is None and inner is not None:  # (beside the config it is checked as every layer's is)
            name = _policy_name(inner)
            if not isinstance(name, str) or not layer_dtype(name):
                raise ValueError(
                    f"config.dtype: {name if isinstance(name, str) else inner!r:.60} is not a dtype policy a layer "
                    f"computes with; use one of {', '.join(LAYER_DTYPES)}, or a quantized policy such as "
                    "int8_from_float32 (text and object dtypes hold no numbers)"
                )
        dtype = self.dtype if self.dtype is not None else _policy_name(inner)
        if isinstance(dtype, str) and dtype not in _FILLED_BY_ALL:
            self._weights_fit(dtype)
        return self

    def _weights_fit(self, dtype: str) -> None:
        """Refuse ``dtype`` where netform's schema of the class refuses it for the weights' initializers."""
        without = KerasLayer.model_construct(
            type="KerasLayer",
            class_name=self.class_name,
            config={k: v for k, v in self.config.items() if k != "dtype"},
            trainable=self.trainable,
        )
        form = without._form
        if form is not None:  # the schema takes the config without its dtype: check the dtype as it checks one
            form.check_dtype(dtype)

    def keras_class(self) -> str:
        """The Keras layer class this layer is made as: its ``class_name``, under the name netform's schema
        gives it where Keras has two (``Convolution2D`` is ``Conv2D``)."""
        return KERAS_ALIASES.get(self.class_name, self.class_name)

    @property
    def frozen(self) -> bool:
        """Whether the layer's weights are frozen: ``trainable: false`` beside its config or in it."""
        return not self.trainable or self.config.get("trainable") is False

    @model_validator(mode="after")
    def _no_files(self) -> KerasLayer:
        # A spec is untrusted: a layer config may not make Keras read a local file.
        problems = file_argument_problems(self.class_name, self.config, ("config",))
        if problems:
            where, message = problems[0]
            raise ValueError(f"{'.'.join(str(p) for p in where)}: {message}")
        return self

    def schema_form(self) -> LayerSpec | None:
        """This layer in the form of netform's own schema for its class, when there is one and the config fits it.

        A generic ``{type: KerasLayer, class_name: Dense, config: {units: 2000000000}}`` then has the static
        shape and parameter count of ``Dense``, so its size is bounded at validate like the schema's (rather
        than by asking TensorFlow for the memory at build). Keras's ``from_config`` takes the same config, so
        the two layers are the same; keys the schema does not have are left out of the form (they do not
        change sizes), and a value the schema refuses leaves the shapes to build time.
        """
        return self._form

    @cached_property
    def _form(self) -> LayerSpec | None:
        # made once (the spec is frozen): shapes and counts both ask for it. A cached property, not a private
        # attribute: pydantic sets up private attributes for every layer validated, and a spec may hold 10,000
        return self._make_schema_form()

    def _make_schema_form(self) -> LayerSpec | None:
        if self.class_name in _NOT_KERAS:
            return None
        name = KERAS_ALIASES.get(self.class_name, self.class_name)
        if is_quantized_policy(self.config.get("dtype")) or is_quantized_policy(self.dtype):
            return None  # a quantized layer holds other weights (int8 kernels, scales): counted at build time
        try:
            schema = get_layer_spec(name)
            fields, aliases = fields_of(schema)
            config = {}
            for key, value in self.config.items():
                if key in fields or key in aliases:
                    config[key] = value
                elif key not in _SIZE_NEUTRAL and not _keras_default(self.class_name, key, value):
                    # a key the schema lacks may change the weights (LayerNormalization's rms_scaling drops
                    # beta, a quantization_config adds scales): unless it holds Keras's default, the shapes and
                    # counts come at build time
                    return None
            return schema_layer_from_config(name, config, keras_defaults(), trainable=not self.frozen, plain=True)
        except Exception:  # no schema, or a config it does not take: shapes come at build time
            return None

    def traced_steps(self, input_shape: Any) -> int:
        """As the schema form counts them; else a ``TimeDistributed``'s or an unrolled layer's, from the config."""
        form = self.schema_form()
        if form is not None:
            return form.traced_steps(input_shape)
        if not isinstance(input_shape, tuple) or not (self.class_name == "TimeDistributed" or unrolls(self.config)):
            return 0
        steps = input_shape[1] if len(input_shape) > 1 else None
        return traced_copies(self.class_name, self.config, input_shape) if isinstance(steps, int) else 0

    def output_shape(self, input_shape: Any) -> Shape | list[Shape]:
        form = self.schema_form()
        if form is None and isinstance(input_shape, tuple):
            cells = stacked_cells(self.config)
            problem = unroll_problem(self.class_name, input_shape, cells) if unrolls(self.config) else None
            if self.class_name == "TimeDistributed":
                copies = traced_copies(self.class_name, self.config, input_shape)
                problem = problem or distributed_steps_problem(self.class_name, input_shape, copies)
            if self.class_name == "RandomElasticTransform":
                problem = problem or elastic_channels_problem(self.class_name, self.config, input_shape)
            if self.class_name == "MelSpectrogram":
                problem = problem or spectrogram_frames_problem(self.class_name, self.config, input_shape)
            if self.class_name == "RandomGaussianBlur":
                problem = problem or blur_problem(self.class_name, self.config, input_shape)
            if problem is not None:
                raise LimitError(problem)
        if form is None:
            oracle = _KERAS_SHAPES.get()
            shape = oracle(self.keras_class(), self.config, input_shape) if oracle is not None else None
            if shape is None:
                raise NoStaticRule(self.type)
            return shape
        if form.arity != "one" and isinstance(input_shape, tuple):
            # Keras's layer takes several tensors (MultiHeadAttention, Add, Dot), a generic KerasLayer one
            raise ShapeError(several_inputs_message(form.type))
        return form.output_shape(input_shape)

    def param_counts(self, input_shape: Any) -> tuple[int, int]:
        form = self.schema_form()
        if form is None:
            raise NoStaticRule(self.type)
        return form.counts(input_shape)  # the form is frozen where the layer is (its config's trainable too)


#: Keras arguments netform's schemas do not hold that change no shape nor weight count (a schema form leaves
#: them out); any other key a schema lacks leaves the layer's shapes to build time unless it holds Keras's default
_SIZE_NEUTRAL = frozenset(
    {
        "activity_regularizer",
        "autocast",
        "input_dim",
        "input_shape",
        "input_length",
        "batch_input_shape",
        "batch_size",
        "lora_alpha",
        "implementation",
        "pool_dimensions",
        "pool_mode",
        "rank",
    }
)


def several_inputs_message(class_name: str) -> str:
    """What to write instead of a generic KerasLayer of a class that takes several inputs."""
    return (
        f"a generic KerasLayer is called on one tensor, and {class_name} takes several: write it with netform's "
        f"own type, {{type: {class_name}, ...}} with the same arguments, whose `in` lists them"
    )


#: the dtypes every initializer fills (the others are checked against the class's weights, as netform's types are)
_FILLED_BY_ALL = frozenset({"float16", "float32", "float64", "mixed_float16", "mixed_bfloat16"})


#: Keras's dtype policy classes a layer config may name, by the arguments each one's constructor takes (Keras
#: makes one with ``cls(**config)``: another key, or a class it does not have, fails the build)
_POLICY_ARGUMENTS: dict[str, frozenset[str]] = {
    "DTypePolicy": frozenset({"name"}),
    "FloatDTypePolicy": frozenset({"name"}),
    "QuantizedDTypePolicy": frozenset({"mode", "source_name"}),
    "Int4DTypePolicy": frozenset({"mode", "source_name"}),
    "QuantizedFloat8DTypePolicy": frozenset({"mode", "source_name", "amax_history_length"}),
    "GPTQDTypePolicy": frozenset({"mode", "source_name"}),
    "AWQDTypePolicy": frozenset({"mode", "source_name"}),
}


def _policy_mapping_problem(dtype: dict[str, Any]) -> str | None:
    """What Keras refuses in a serialized dtype policy (None where it makes one): a class of another package or
    none of Keras's, a key its constructor does not take, a quantized class without its ``mode``, a float8
    history length that is no positive whole number."""
    name, module, config = dtype.get("class_name"), dtype.get("module"), dtype.get("config")
    if name not in _POLICY_ARGUMENTS or module not in (None, "keras", "keras.dtype_policies"):
        return (
            f"{_short_value(name)} is not a dtype policy class of Keras (one of {', '.join(_POLICY_ARGUMENTS)}, "
            "module `keras`); or write the policy's name, e.g. `dtype: mixed_float16`"
        )
    if not isinstance(config, dict):
        return f"the config of a {name} is a mapping of its arguments; received {_short_value(config)}"
    extra = sorted(str(k) for k in config if k not in _POLICY_ARGUMENTS[name])
    if extra:
        return f"{name} takes {', '.join(sorted(_POLICY_ARGUMENTS[name]))}; remove {', '.join(extra)}"
    if "mode" in _POLICY_ARGUMENTS[name] and not isinstance(config.get("mode"), str):
        return f"{name} needs its `mode` (as Keras writes it, e.g. `mode: int8, source_name: float32`)"
    length = config.get("amax_history_length", 1)
    if not (isinstance(length, int) and not isinstance(length, bool) and length > 0):
        return f"amax_history_length is a positive whole number; received {_short_value(length)}"
    return None


def _short_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: Keras's dtype policy classes of float computation (a quantized name in one is refused by Keras)
_FLOAT_POLICY_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})


def _policy_name(dtype: Any) -> Any:
    """The policy name of a layer config's ``dtype``: as written, or a ``DTypePolicy`` mapping's ``config.name``."""
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        return inner.get("name") if isinstance(inner, dict) else None
    return dtype


def _keras_default(class_name: str, key: str, value: Any) -> bool:
    """Whether ``value`` is what a default instance of Keras's ``class_name`` writes for ``key``."""
    from .._keras_layer_defaults import KERAS_LAYER_DEFAULTS  # read only for a key a schema lacks
    from .._layer_dict import same_saved_value

    table = KERAS_LAYER_DEFAULTS.get(class_name) or {}
    return key in table and same_saved_value(value, table[key])


#: layer classes whose config runs code or reads a file, refused wherever a spec holds them
_CODE_LAYERS = ("Lambda", "TFSMLayer")


def _code_layer(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The first serialized Lambda or TFSMLayer in ``value`` (nested mappings and lists), with its path; or the
    first object that runs code or reads a file otherwise (bytecode, a non-modelling function, a lookup
    layer's vocabulary file), as ``(path, message)`` with a message of more than one word."""
    if isinstance(value, dict):
        for key in ("class_name", "registered_name"):
            name = value.get(key)
            if isinstance(name, str) and name.rpartition(">")[2] in _CODE_LAYERS:
                return path, name.rpartition(">")[2]
        problem = function_problem(value)
        if problem is not None:
            return path, problem
        name = value.get("class_name")
        if isinstance(name, str) and isinstance(value.get("config"), dict):
            # this level only: the walk below reaches the layers this config holds
            files = file_argument_problems(name, value["config"], (*path, "config"), nested=False)
            if files:
                where, message = files[0]
                return tuple(str(p) for p in where), message
        for key, item in value.items():
            found = _code_layer(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _code_layer(item, (*path, str(i)))
            if found is not None:
                return found
    return None


def _unresolved_function(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The first function in ``value`` (nested mappings and lists) that Keras's deserializer cannot resolve, with
    its path and why (:func:`~netform.spec._access.unresolved_function`)."""
    if isinstance(value, dict):
        module, name = value.get("module"), value.get("config")
        if value.get("class_name") == "function" and isinstance(module, str) and isinstance(name, str):
            problem = unresolved_function(module, name)
            if problem is not None:
                return path, problem
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _unresolved_function(item, (*path, str(key)))
        if found is not None:
            return found
    return None


#: Config keys Keras reads with ``keras.activations.get`` in every layer that has them.
_ACTIVATION_KEYS = ("activation", "recurrent_activation")


def _identifier_kind(key: Any) -> str | None:
    """The kind of Keras object a layer config key holds when its constructor reads it with that kind's ``get``
    (``kernel_initializer``, ``bias_regularizer``, ``activity_regularizer``, ``gamma_constraint``, …)."""
    if not isinstance(key, str):
        return None
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith(f"_{kind}"):
            return kind
    return None


def _keras_value(value: Any, class_name: str, path: tuple[str, ...]) -> tuple[tuple[str, ...], str] | None:
    """The first value in a layer config ``value`` of ``class_name`` (nested layers' configs included) that Keras
    would refuse at build: an activation name it has no activation for, or a string where a lookup layer takes
    a list of numbers (``idf_weights``); with its path and why."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, str(key))
            if key in _ACTIVATION_KEYS and isinstance(item, str):
                problem = unknown_activation(item)
                if problem is not None:
                    return here, problem
            if key in _ACTIVATION_KEYS and isinstance(item, dict):
                problem = activation_function_problem(item)
                if problem is not None:
                    return here, problem
            kind = _identifier_kind(key)
            if kind is not None:
                problem = identifier_problem(kind, item)
                if problem is not None:
                    return here, problem
            inner = item.get("class_name") if isinstance(item, dict) else None
            if isinstance(inner, str) and isinstance(item.get("config"), dict):
                found = _keras_value(item["config"], inner, (*here, "config"))
            else:
                found = _keras_value(item, class_name, here)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            inner = item.get("class_name") if isinstance(item, dict) else None
            if isinstance(inner, str) and isinstance(item.get("config"), dict):
                found = _keras_value(item["config"], inner, (*path, str(i), "config"))
            else:
                found = _keras_value(item, class_name, (*path, str(i)))
            if found is not None:
                return found
    return None


def _argument_problem(
    class_name: str, config: dict[str, Any], path: tuple[str, ...]
) -> tuple[tuple[str, ...], str] | None:
    """The first argument Keras's constructor refuses in the config of a ``class_name`` layer, or of a layer it
    holds (a wrapper's ``layer``, a ``Sequential``'s ``layers``), with its path and why."""
    canonical = KERAS_ALIASES.get(class_name, class_name)
    found = argument_problem(canonical, config)
    if found is not None:  # named as written (AvgPool1D, not AveragePooling1D)
        return (*path, found[0]), found[1].replace(canonical, class_name)
    built = construction_problem(canonical, config)
    if built is not None:  # a size netform bounds, here or in a layer this one holds
        key, why = built
        return (*path, key), f"{config.get(key)!r:.40}: {why}"
    # (value, its path, whether it is where a wrapper holds a layer: `layer`, `cell`, an item of `layers`, …)
    stack = deque(
        (v, (*path, str(k)), k in _NESTED_LAYER_KEYS) for k, v in config.items() if isinstance(v, (dict, list, tuple))
    )
    while stack:
        item, where, holds_layer = stack.popleft()
        if isinstance(item, dict):
            inner, module, registered = item.get("class_name"), item.get("module"), item.get("registered_name")
            if isinstance(inner, str) and isinstance(item.get("config"), dict) and registered in (None, inner):
                if holds_layer and module is None:
                    return where, (
                        f"the {inner} layer that {class_name} holds needs `module: keras.layers` (Keras finds a "
                        "nested layer by its module and fails without it; netform export-spec writes it)"
                    )
                if holds_layer and module == "keras.layers" and inner not in KERAS_LAYER_ARGS:
                    return (*where, "class_name"), (
                        f"{inner!r:.80} is not a layer class of keras.layers{did_you_mean(inner, KERAS_LAYER_ARGS)}"
                        f"; the layer that {class_name} holds is one of Keras's built-in layer classes"
                    )
                if holds_layer and module == "keras.layers":
                    nested_dtype = item["config"].get("dtype")
                    problem = quantized_call_problem(inner, nested_dtype) or lora_quantized_problem(
                        nested_dtype, item["config"].get("lora_rank")
                    )
                    if problem is not None:
                        return (*where, "config", "dtype"), problem
                if module is None or (isinstance(module, str) and module.startswith("keras")):
                    nested = _argument_problem(inner, item["config"], (*where, "config"))
                    if nested is not None:
                        return nested
                    continue
            stack.extend(
                (v, (*where, str(k)), k in _NESTED_LAYER_KEYS)
                for k, v in item.items()
                if isinstance(v, (dict, list, tuple))
            )
        elif isinstance(item, (list, tuple)):
            stack.extend(
                (v, (*where, str(i)), holds_layer) for i, v in enumerate(item) if isinstance(v, (dict, list, tuple))
            )
    return None


#: Config keys under which Keras's wrappers hold layers (TimeDistributed, Bidirectional, RNN, StackedRNNCells,
#: Pipeline): Keras deserializes those by their module.
_NESTED_LAYER_KEYS = frozenset({"layer", "backward_layer", "cell", "cells", "layers"})


def _large_int(value: Any, path: tuple[str, ...]) -> tuple[tuple[str, ...], int] | None:
    """The first integer in ``value`` (nested mappings and lists) beyond ±2**31 - 1, with its path; seeds aside."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "seed":  # Keras takes 64-bit seeds
                if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item <= 2**63 - 1:
                    return (*path, str(key)), item
                continue
            found = _large_int(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _large_int(item, (*path, str(i)))
            if found is not None:
                return found
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
        return path, value
    return None
