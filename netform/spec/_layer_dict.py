"""A Keras layer's config as a spec layer mapping, without Keras: the one table both exports write layers with.

:func:`netform.from_keras` (a live layer's ``get_config()``) and ``netform
export-spec`` (:mod:`netform.saving._config_walk`, a saved file's config)
write every layer here, so the two give the same YAML. A value equal to the
layer's Keras default is left out, as a person writing the spec would leave
it out: Keras writes every argument into a config (``strides: [1, 1]``,
``recurrent_initializer: {Orthogonal, gain: 1.0}``, a Bidirectional's
mirrored ``backward_layer``), and building the spec without them makes the
same layer.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import IncompatibleFileError, NetformError
from ._layer_base import LayerSpec, get_layer_spec

__all__ = [
    "KerasDefaults",
    "RefusedValue",
    "clean_name",
    "config_dtype",
    "is_quantized_policy",
    "convert_value",
    "keras_defaults",
    "layer_to_dict_from_config",
]

#: Keras's ``floatx`` and ``image_data_format``
KerasDefaults = tuple[str, str]

#: initializer classes whose default-constructed form a spec writes by its snake-case name
_SNAKE = {
    "GlorotUniform": "glorot_uniform",
    "GlorotNormal": "glorot_normal",
    "HeNormal": "he_normal",
    "HeUniform": "he_uniform",
    "LecunNormal": "lecun_normal",
    "LecunUniform": "lecun_uniform",
    "Zeros": "zeros",
    "Ones": "ones",
    "Orthogonal": "orthogonal",
    "RandomNormal": "random_normal",
    "RandomUniform": "random_uniform",
    "TruncatedNormal": "truncated_normal",
    "Identity": "identity",
    "VarianceScaling": "variance_scaling",
}
#: the arguments Keras writes for a default-constructed initializer (besides ``seed: None``); a test checks them
INITIALIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Orthogonal": {"gain": 1.0},
    "RandomNormal": {"mean": 0.0, "stddev": 0.05},
    "RandomUniform": {"minval": -0.05, "maxval": 0.05},
    "TruncatedNormal": {"mean": 0.0, "stddev": 0.05},
    "VarianceScaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
}
#: Keras's other names for the same initializer (``Embedding(embeddings_initializer="uniform")``)
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}
_SKIP_IF_EMPTY = ("quantization_config", "build_config", "compile_config")
#: pooling layers: ``strides`` defaults to ``pool_size``
_POOL_PREFIXES = ("MaxPooling", "AveragePooling")


def keras_defaults() -> KerasDefaults:
    """Keras's ``floatx`` and ``image_data_format``, as Keras would read them, without importing Keras.

    Keras reads them from ``$KERAS_HOME/keras.json`` (default ``~/.keras``)
    when it is imported; where Keras is imported already its live settings
    are the answer.
    """
    fixed = _FIXED_DEFAULTS.get()
    if fixed is not None:
        return fixed
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return str(keras.config.floatx()), str(keras.config.image_data_format())
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return "float32", "channels_last"
    # Asked once per layer of an exported model: the file is read again only when it changes.
    key = (path, info.st_mtime_ns, info.st_size, info.st_ino)
    if _SETTINGS_READ.get(path, (None, None))[0] != key:
        _SETTINGS_READ[path] = (key, _read_settings(path))
    return _SETTINGS_READ[path][1]


#: Keras's settings as read once for the spec being checked (:func:`keras_defaults_read_once`), else None
_FIXED_DEFAULTS: ContextVar[KerasDefaults | None] = ContextVar("netform_keras_defaults", default=None)


@contextmanager
def keras_defaults_read_once() -> Iterator[KerasDefaults]:
    """Within the block, :func:`keras_defaults` answers what it read on entering, without reading again.

    A spec is checked against one set of Keras settings: a spec of 10,000 generic layers would otherwise look
    at ``keras.json`` 10,000 times (a ``stat`` each). Nested blocks keep the outer reading.
    """
    fixed = _FIXED_DEFAULTS.get()
    if fixed is not None:
        yield fixed
        return
    token = _FIXED_DEFAULTS.set(keras_defaults())
    try:
        yield _FIXED_DEFAULTS.get() or keras_defaults()
    finally:
        _FIXED_DEFAULTS.reset(token)


#: keras.json path → ((path, mtime, size, inode) when read, the settings it held)
_SETTINGS_READ: dict[str, tuple[tuple[str, int, int, int], KerasDefaults]] = {}


def _read_settings(path: str) -> KerasDefaults:
    """The ``floatx`` and ``image_data_format`` a ``keras.json`` file sets (Keras's defaults where it sets none)."""
    floatx, data_format = "float32", "channels_last"
    try:
        with open(path, encoding="utf-8") as fh:
            saved = json.load(fh)
    except (OSError, ValueError):
        return floatx, data_format
    if isinstance(saved, dict):
        if saved.get("floatx") in ("float16", "float32", "float64", "bfloat16"):
            floatx = saved["floatx"]
        if saved.get("image_data_format") in ("channels_last", "channels_first"):
            data_format = saved["image_data_format"]
    return floatx, data_format


def clean_name(name: str, used: set[str]) -> str:
    """``name`` as a spec node name (letters, digits, ``_``), made unique against ``used`` (and added to it)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "node"
    if base[0].isdigit():
        base = "n_" + base
    out, i = base, 1
    while out in used:
        out = f"{base}_{i}"
        i += 1
    used.add(out)
    return out


def convert_value(value: Any, defaults: KerasDefaults | None = None, *, specs: bool = False) -> Any:
    """A value of a Keras config as a spec writes it: nested layers as layer mappings, objects as ``{type: …}``.

    With ``specs``, a nested layer netform has a schema for comes as that schema, validated (a wrapper's schema
    then takes it as it is: validated again as a mapping at every level, a wrapper nested 20 deep was checked
    210 times over).
    """
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        cls_name = value["class_name"]
        config = value.get("config") or {}
        if not isinstance(cls_name, str):
            raise IncompatibleFileError(
                f"an object's class_name is {str(cls_name)[:100]!r}, a {type(cls_name).__name__}, where Keras "
                "requires a class's name; the file was edited or is corrupt"
            )
        module = str(value.get("module") or "")
        if cls_name == "function" and isinstance(config, str):
            # a function Keras serialized as an object (its module, and the name it is known by: a
            # built-in's own name or a registered "package>name"): a spec names it as Keras looks it up
            return config
        if not isinstance(config, dict):
            raise IncompatibleFileError(
                f"the config of a {str(cls_name)[:100]!r} object is a {type(config).__name__}, where Keras "
                "requires a mapping (only a function's config is its name); the file was edited or is corrupt"
            )
        if (
            module.startswith("keras.layers")
            or module.startswith("keras.src.layers")
            or ("layers" in module and isinstance(config, dict) and "name" in config)
        ):
            if specs:
                defaults = keras_defaults() if defaults is None else defaults
                layer = schema_layer_from_config(cls_name, config, defaults)
                if layer is not None:
                    return layer
            return layer_to_dict_from_config(cls_name, config, defaults=defaults)
        if cls_name == "DTypePolicy":
            return config.get("name")
        if cls_name == "__numpy__" and isinstance(config, dict):  # an array argument, e.g. Constant(np.eye(3))
            return config.get("value")
        registered = value.get("registered_name")
        if isinstance(registered, str) and ">" in registered:  # a class registered with Keras: its registered name
            cls_name = registered
        args = {k: convert_value(v, defaults, specs=specs) for k, v in config.items() if v is not None}
        if cls_name in _SNAKE and args == INITIALIZER_DEFAULTS.get(cls_name, {}):
            return _SNAKE[cls_name]
        return {"type": cls_name, **args}
    if isinstance(value, dict):
        return {k: convert_value(v, defaults, specs=specs) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [convert_value(v, defaults, specs=specs) for v in value]
    return value


def config_dtype(value: Any, floatx: str) -> str | None:
    """A config's ``dtype`` (a name or a serialized DTypePolicy) as a spec writes it: None for ``floatx``.

    A quantized policy (``QuantizedDTypePolicy``, which Keras writes after ``model.quantize`` with its ``mode``
    and ``source_name`` and no ``name``) is written by the name Keras resolves to it, ``int8_from_float32``.
    """
    if isinstance(value, dict):
        inner = value.get("config") or {}
        if not isinstance(inner, dict):
            raise IncompatibleFileError(
                f"the config of a dtype policy is a {type(inner).__name__}, where Keras requires a mapping; the "
                "file was edited or is corrupt"
            )
        if "name" not in inner and isinstance(inner.get("mode"), str) and isinstance(inner.get("source_name"), str):
            return f"{inner['mode']}_from_{inner['source_name']}"
        value = inner.get("name")
    if value in (None, floatx):
        return None
    return str(value)


def is_quantized_policy(dtype: Any) -> bool:
    """Whether a layer's dtype is a quantized policy: ``int8_from_float32``, or a mapping Keras writes after
    ``model.quantize`` (``QuantizedDTypePolicy``, ``Int4DTypePolicy``, ``GPTQDTypePolicy``, … with a ``mode``)."""
    if isinstance(dtype, dict):
        name = dtype.get("class_name")
        inner = dtype.get("config")
        if isinstance(name, str) and name.endswith("DTypePolicy") and name not in _FLOAT_POLICIES:
            return True
        return isinstance(inner, dict) and ("mode" in inner or is_quantized_policy(inner.get("name")))
    return isinstance(dtype, str) and "_from_" in dtype


#: the dtype policy classes of float computation (every other ``…DTypePolicy`` of Keras quantizes)
_FLOAT_POLICIES = frozenset({"DTypePolicy", "FloatDTypePolicy"})


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        value = _SNAKE.get(value, value)
        return _ALIASES.get(value, value)
    return value


def is_default(value: Any, default: Any) -> bool:
    """Whether a spec value means the same as a schema default, as Keras reads both.

    Keras widens an int to a tuple (``strides=1`` is written ``[1, 1]``) and
    names an initializer by class or alias (``Zeros``, ``zeros``;
    ``uniform``, ``random_uniform``).
    """
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if value == default or _canonical(value) == _canonical(default):
        return True
    if isinstance(value, (list, tuple)) and isinstance(default, (int, float, list, tuple)):
        # an argument Keras widens to one value per axis (and per side): all equal means the one value
        got, want = _leaves(value), _leaves(default)
        return bool(got) and len(set(want)) == 1 and all(not isinstance(g, bool) and g == want[0] for g in got)
    return False


def _drop_implied(cls_name: str, out: dict[str, Any], schema: Any) -> None:
    """Values Keras works out from others when left unset: written only where they differ."""
    if cls_name.startswith(_POOL_PREFIXES) and "strides" in out:
        strides = _leaves(out["strides"])
        pool = _leaves(out.get("pool_size", schema.model_fields["pool_size"].default))
        if strides == (pool * len(strides) if len(pool) == 1 else pool):
            del out["strides"]
    if cls_name == "MultiHeadAttention" and out.get("value_dim") is not None and out["value_dim"] == out.get("key_dim"):
        del out["value_dim"]
    if cls_name == "Bidirectional" and out.get("backward_layer") is not None and out.get("layer") is not None:
        forward, backward = _mapping(out["layer"]), _mapping(out["backward_layer"])
    else:
        forward = backward = None
    if isinstance(forward, dict) and isinstance(backward, dict):
        if {k: v for k, v in backward.items() if k != "go_backwards"} == {
            k: v for k, v in forward.items() if k != "go_backwards"
        } and bool(backward.get("go_backwards", False)) != bool(forward.get("go_backwards", False)):
            del out["backward_layer"]  # what Keras makes by itself: the layer, run the other way


def _mapping(value: Any) -> Any:
    """A nested layer as a spec writes it (a validated schema as its mapping)."""
    return value.to_dict() if isinstance(value, LayerSpec) else value


class RefusedValue(ValueError):
    """A value netform's schema for one of Keras's layers refuses (``layer_to_dict_from_config(strict=True)``).

    Attributes:
        key: The config key (``"units"``).
        value: Its value in the config.
        reason: What the schema says of it.
    """

    def __init__(self, key: str, value: Any, reason: str) -> None:
        super().__init__(f"{key} {value!r}: {reason}")
        self.key, self.value, self.reason = key, value, reason


def _is_number(value: Any) -> bool:
    """A number or bool, or a (nested) list of them: what a config holds for a count, size, rate or axis."""
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_number(v) for v in value)
    return isinstance(value, (bool, int, float))


#: A schema's bounds on a number: where they are stricter than Keras's (netform's Dropout rate is under 1,
#: Keras's at most 1), a value past them may be one Keras takes, so only a negative number below a lower bound
#: of zero or more is refused on a bound; a number of the wrong kind (NaN, 3.5 for a count, true) always is.
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _keras_refuses(detail: dict[str, Any]) -> bool:
    """Whether a schema error on a number (one of pydantic's error details) is one Keras refuses too."""
    kind = str(detail.get("type", ""))
    if kind not in _BOUNDS:
        return kind != "missing"
    value = detail.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        return True  # NaN passes no bound: Keras's checks (0 <= rate <= 1) fail on it too
    limit = (detail.get("ctx") or {}).get("gt", (detail.get("ctx") or {}).get("ge"))
    return (
        isinstance(limit, (int, float))
        and limit >= 0
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value < 0
    )


#: Numbers Keras takes with any sign where netform's schema takes only some: ``PReLU(shared_axes=[-1])`` builds
#: (Keras indexes the slopes' shape with ``axis - 1``, so it shares the axis before the last); such a file is read
#: in the generic form, as Keras reads it, rather than refused as one Keras would not build.
_KERAS_TAKES_ANY_SIGN = frozenset({("PReLU", "shared_axes")})


def _refused_value(
    err: ValueError, config: dict[str, Any], aliases: dict[str, str], cls_name: str = ""
) -> RefusedValue | None:
    """The first number the schema refuses in ``err`` (a ValidationError) as Keras would, as a :class:`RefusedValue`."""
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return None
    keys = {field: key for key, field in aliases.items()}
    for detail in errors():
        loc = detail.get("loc") or ()
        if not loc or not isinstance(loc[0], str):
            continue
        key = loc[0] if loc[0] in config else keys.get(loc[0], loc[0])
        if (cls_name, key) in _KERAS_TAKES_ANY_SIGN:
            continue
        if key in config and _is_number(config[key]) and _keras_refuses(detail):
            return RefusedValue(key, config[key], str(detail.get("msg", "refused")))
    return None


def _float_made_int(given: Any, validated: Any) -> bool:
    """Whether the schema turned a float of a config (``3.0``, or one inside a list) into an int."""
    if isinstance(given, float):
        return type(validated) is int
    if isinstance(given, (list, tuple)) and isinstance(validated, (list, tuple)) and len(given) == len(validated):
        return any(_float_made_int(g, v) for g, v in zip(given, validated))
    return False


def layer_to_dict_from_config(
    cls_name: str,
    config: dict[str, Any],
    *,
    keep_name: bool = False,
    defaults: KerasDefaults | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """A layer's ``get_config()`` as a spec layer mapping (schema form, or the generic ``KerasLayer`` form).

    Args:
        cls_name: The Keras class name (``"Dense"``).
        config: Its config, from a live layer or from a saved file.
        keep_name: Keep the layer's ``name`` in the mapping.
        defaults: Keras's ``floatx`` and ``image_data_format`` (read with :func:`keras_defaults` when not given).
        strict: Raise :class:`RefusedValue` where every key fits netform's schema for the class but the schema
            refuses a number as Keras does (``units`` -3, 3.5, NaN or true: the wrong kind of number, or a negative
            one below a bound of zero or more), instead of writing the generic form: for a saved file's config.
            Other values the schema does not take (a name or object netform does not know, a number past a bound
            of netform's that Keras may not have) still give the generic form.

    Returns:
        ``{"type": cls_name, ...}`` with the fields of netform's schema for
        that layer, values equal to Keras's defaults left out, where every
        key fits the schema; else ``{"type": "KerasLayer", "class_name": ...,
        "config": ...}``.
    """
    defaults = keras_defaults() if defaults is None else defaults
    validated = schema_layer_from_config(cls_name, config, defaults, keep_name=keep_name, strict=strict)
    if validated is not None:
        return validated.to_dict()
    generic_config = _without_class_defaults(cls_name, config, defaults)
    if not keep_name:
        generic_config.pop("name", None)
    return {"type": "KerasLayer", "class_name": cls_name, "config": generic_config}


def schema_layer_from_config(
    cls_name: str,
    config: dict[str, Any],
    defaults: KerasDefaults,
    *,
    keep_name: bool = False,
    strict: bool = False,
    trainable: bool | None = None,
    plain: bool = False,
) -> LayerSpec | None:
    """netform's schema for ``cls_name`` made from a layer's ``get_config()``, or ``None`` where it does not fit.

    The schema form of :func:`layer_to_dict_from_config`, as the validated layer: ``None`` where the class has
    no schema, a key does not fit it, the schema refuses a value, or a whole float stands where the schema
    counts (``units: 3.0``, which Keras's own layers refuse). ``trainable`` is given to the layer as written.
    With ``plain``, for the layer's shapes and sizes only, a config of whole numbers and names under the schema's
    keys is taken as it is, without the conversion to the form a spec writes (the values Keras's defaults hold
    are kept, so ``to_dict`` of the result may differ from :func:`layer_to_dict_from_config`'s).

    Raises:
        RefusedValue: With ``strict``, as :func:`layer_to_dict_from_config` says.
    """
    floatx, data_format = defaults
    try:
        schema = get_layer_spec(cls_name)
    except NetformError:
        return None
    if cls_name == "KerasLayer" or is_quantized_policy(config.get("dtype")):
        # a quantized layer (after `model.quantize`) keeps its policy as Keras wrote it, in the generic form:
        # the policy's settings are Keras's (a float8 history length), and its weights are counted at build time
        return None
    model_fields, aliases = fields_of(schema)
    if plain and not strict and not keep_name and _plain_config(config, model_fields):
        # whole numbers, names and lists of them under the schema's own keys, as a spec writes them: the schema
        # takes them as they are (a refusal may still be a default written as Keras writes it: see below)
        try:
            return schema.model_validate(
                {"type": cls_name, **config}
                if trainable is None
                else {"type": cls_name, **config, "trainable": trainable}
            )
        except ValueError:
            pass
    out: dict[str, Any] = {"type": cls_name}
    for key, value in config.items():
        if key == "name":
            if keep_name:
                out["name"] = value
            continue
        if key == "dtype":
            dt = config_dtype(value, floatx)
            if dt is not None:
                out["dtype"] = dt
            continue
        if key not in model_fields and key not in aliases:
            if value in (None, {}, [], False) or key in _SKIP_IF_EMPTY and not value:
                continue
            return None
        converted = convert_value(value, defaults, specs=True)
        field = model_fields[aliases.get(key, key)]
        if converted == "linear" and field.default is None:
            continue
        if key == "data_format" and field.default is None and converted == data_format:
            continue
        out[key] = converted
    _drop_implied(cls_name, out, schema)
    for key in [k for k in out if k not in ("type", "name", "dtype")]:
        if is_default(out[key], model_fields[aliases.get(key, key)].default):
            del out[key]
    for key in getattr(schema, "tuple_fields", ()):
        value = out.get(key)
        if isinstance(value, list) and value and all(type(v) is int and v == value[0] for v in value):
            out[key] = value[0]  # kernel_size: 3, as a person writes it (Keras widens it to every axis)
    try:
        validated = schema.model_validate(out if trainable is None else {**out, "trainable": trainable})
    except ValueError as err:
        refused = _refused_value(err, config, aliases, cls_name) if strict else None
        if refused is not None:
            raise refused from err
        return None
    if cls_name == "Bidirectional" and any(
        getattr(getattr(validated, key, None), "type", None) == "KerasLayer" for key in ("layer", "backward_layer")
    ):
        # a layer netform has no schema for inside (an RNN of a GRUCell): the generic form of the whole wrapper
        # keeps the names Keras gave and leaves out the backward layer Keras makes by itself
        return None
    fields = {key: aliases.get(key, key) for key in out if key not in ("type", "name", "dtype")}
    if any(_float_made_int(out[key], getattr(validated, field)) for key, field in fields.items()):
        # a whole float where the schema counts (units: 3.0): a spec may write it, but Keras's own
        # layers take no float there (Dense refuses it), so the layer is kept as Keras has it
        return None
    return validated


#: keys whose values the spec form writes apart from Keras's config (dtype policies, the default data format,
#: a linear activation): a config holding them takes the conversion
_CONVERTED_KEYS = frozenset({"name", "dtype", "data_format", "activation"})


def _plain_config(config: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Whether every key of ``config`` is a schema field, none is converted, and every value is None, a bool, a
    whole number, a string or a list of whole numbers (no float: ``units: 3.0`` is for the full conversion)."""
    for key, value in config.items():
        if key not in fields or key in _CONVERTED_KEYS:
            return False
        if value is None or isinstance(value, (int, str)):  # bool is an int
            continue
        if isinstance(value, (list, tuple)) and all(type(v) is int for v in value):
            continue
        return False
    return True


#: schema class → (its fields, Keras key → field name for fields named apart from their Keras key)
_FIELDS_OF: dict[type, tuple[dict[str, Any], dict[str, str]]] = {}


def fields_of(schema: type[LayerSpec]) -> tuple[dict[str, Any], dict[str, str]]:
    """A schema's fields and its aliases (EinsumDense's ``output_shape``), read once per class: a spec of
    thousands of generic layers asks for them once per layer."""
    found = _FIELDS_OF.get(schema)
    if found is None:
        fields = dict(schema.model_fields)
        found = _FIELDS_OF[schema] = (fields, {f.alias: n for n, f in fields.items() if f.alias})
    return found


def _without_class_defaults(cls_name: str, config: dict[str, Any], defaults: KerasDefaults) -> dict[str, Any]:
    """A config for the generic form: the values a default instance of the class writes left out.

    The table (:mod:`netform.spec._keras_layer_defaults`, generated from Keras) holds them as a saved file
    does, under Keras's own settings: ``dtype`` and ``data_format`` are left out where they are the
    ``floatx`` and ``image_data_format`` in force (what Keras fills in when they are not given).
    """
    from ._keras_layer_defaults import KERAS_LAYER_DEFAULTS  # read only for the generic form

    table = KERAS_LAYER_DEFAULTS.get(cls_name)
    if not table:
        return dict(config)
    floatx, data_format = defaults
    out = {}
    for key, value in config.items():
        if key in table:
            default = table[key]
            if key == "dtype":
                if is_quantized_policy(value):
                    pass  # kept as Keras wrote it
                elif config_dtype(value, floatx) is None and config_dtype(default, "float32") is None:
                    continue
            elif key == "data_format":
                if value == data_format and default == "channels_last":
                    continue
            elif same_saved_value(value, default):
                continue
        out[key] = _nested_without_defaults(value, defaults)
    forward: Any = out.get("layer")
    if cls_name == "Bidirectional" and _implied_backward(forward, out.get("backward_layer")):
        # what Keras makes by itself from the layer (run the other way, named backward_<name>); Keras names
        # the forward copy forward_<name> again, so the layer keeps the name it had before
        del out["backward_layer"]
        name = forward["config"]["name"].removeprefix("forward_")
        out["layer"] = {**forward, "config": {**forward["config"], "name": name}}
    return out


def _implied_backward(forward: Any, backward: Any) -> bool:
    """Whether a serialized Bidirectional ``backward_layer`` is the one Keras makes from ``layer`` when none
    is given: the same object but for ``go_backwards`` (true; the forward layer's false) and its name
    (``backward_`` + the forward layer's name less its ``forward_``)."""
    if not (isinstance(forward, dict) and isinstance(backward, dict)):
        return False
    f_config, b_config = forward.get("config"), backward.get("config")
    if not (isinstance(f_config, dict) and isinstance(b_config, dict)):
        return False
    if {k: v for k, v in forward.items() if k != "config"} != {k: v for k, v in backward.items() if k != "config"}:
        return False
    rest = ("name", "go_backwards")
    if {k: v for k, v in f_config.items() if k not in rest} != {k: v for k, v in b_config.items() if k not in rest}:
        return False
    name = f_config.get("name")
    if not isinstance(name, str) or b_config.get("name") != "backward_" + name.removeprefix("forward_"):
        return False
    return b_config.get("go_backwards") is True and not f_config.get("go_backwards", False)


def _nested_without_defaults(value: Any, defaults: KerasDefaults) -> Any:
    """A serialized Keras layer inside a generic config (a wrapper's layer, an RNN's cell) without its defaults;
    its ``name`` is kept, as Keras's own serialization writes it."""
    if isinstance(value, list):
        return [_nested_without_defaults(v, defaults) for v in value]
    if isinstance(value, tuple):
        return tuple(_nested_without_defaults(v, defaults) for v in value)
    if (
        isinstance(value, dict)
        and value.get("module") == "keras.layers"
        and isinstance(value.get("class_name"), str)
        and isinstance(value.get("config"), dict)
    ):
        return {**value, "config": _without_class_defaults(value["class_name"], value["config"], defaults)}
    return value


def same_saved_value(value: Any, saved: Any) -> bool:
    """Whether a config value is ``saved`` (a JSON value) as a saved file writes it: tuples as lists, a bool
    neither 0 nor 1, an int not a float."""
    if isinstance(saved, dict):
        return (
            isinstance(value, dict)
            and value.keys() == saved.keys()
            and all(same_saved_value(value[k], saved[k]) for k in saved)
        )
    if isinstance(saved, list):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(saved)
            and all(same_saved_value(v, s) for v, s in zip(value, saved, strict=True))
        )
    if not isinstance(value, (str, bool, int, float, type(None))) and getattr(value, "shape", None) == ():
        value = value.item()  # a NumPy scalar of a live config: a saved file holds the number
    return type(value) is type(saved) and value == saved
