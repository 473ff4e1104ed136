"""A compiled model's compile config written as a spec's ``training:`` section.

:func:`netform.from_keras` (a live model's ``get_compile_config()``) and
``netform export-spec`` (the ``compile_config`` a saved file holds, read
without Keras) both write it here, so the two give the same section: the
optimizer, loss(es), metrics, weighted metrics and loss weights, each
built-in object as ``{type: Name, …}`` with only the arguments that differ
from a default instance (:data:`~._keras_defaults.KERAS_DEFAULTS`, generated
from the installed Keras), a name Keras gives by itself left out, and float32
values as their shortest text (0.009999999776482582 → 0.01).
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable

from ._keras_defaults import KERAS_DEFAULTS

__all__ = ["training_section", "load_exported", "RegisteredDefaults", "short_float"]

#: ``(kind, "package>Name")`` → the config of a default instance of that registered class, or None
#: when it has no defaults for every argument; raises LookupError where it cannot be told without Keras.
RegisteredDefaults = Callable[[str, str], "dict[str, Any] | None"]

_KINDS = (("loss", "loss"), ("metrics", "metric"), ("weighted_metrics", "metric"))


def short_float(value: Any) -> Any:
    """A float that holds a float32 value exactly (Keras stores a learning rate as a float32
    variable), as the shortest text that reads back as that float32; any other value as it is."""
    if not isinstance(value, float) or value != value or value in (float("inf"), float("-inf")):
        return value
    try:
        single = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond float32: not a float32 value
        return value
    if single != value:
        return value  # a float64 Keras kept as given (beta_2=0.99999999 is not 1.0)
    for digits in range(1, 10):
        text = float(f"{single:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", text))[0] == single:
            return text
    return single


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return short_float(value)


def _object(kind: str, value: Any, registered: RegisteredDefaults) -> Any:
    """A serialized Keras optimizer, loss or metric as ``{type: Name, …}`` with only its non-default arguments.

    A string (a Keras name such as ``"mse"``) stays as it is; a function registered with Keras is its
    registered name ``"package>name"``.
    """
    if not (isinstance(value, dict) and "class_name" in value):
        return value
    config = value.get("config")
    if value["class_name"] == "function" and isinstance(config, str):
        return config  # a function: Keras writes its name (a registered one as "package>name")
    registered_name = value.get("registered_name")
    type_name = (
        registered_name if isinstance(registered_name, str) and ">" in registered_name else str(value["class_name"])
    )
    config = {k: v for k, v in (config if isinstance(config, dict) else {}).items()}
    if kind == "optimizer":
        config.pop("name", None)
    default = registered(kind, type_name) if ">" in type_name else KERAS_DEFAULTS.get(kind, {}).get(type_name)
    default = default or {}
    name, default_name = config.get("name"), default.get("name")
    if isinstance(name, str) and isinstance(default_name, str):
        # Keras numbers the names of a process's instances of a class (auc, auc_1, scaled_mse_4, …)
        if re.sub(r"_\d+$", "", name) == re.sub(r"_\d+$", "", default_name):
            config.pop("name")
    args = {k: _value(v) for k, v in config.items() if k not in default or default[k] != v}
    return {"type": type_name, **args}


def _objects(kind: str, value: Any, registered: RegisteredDefaults) -> Any:
    if isinstance(value, (list, tuple)):
        return [_object(kind, v, registered) for v in value]
    return _object(kind, value, registered)


def training_section(compile_config: Any, registered: RegisteredDefaults) -> dict[str, Any] | None:
    """The ``training:`` section a compile config says (None where it says nothing).

    Args:
        compile_config: ``model.get_compile_config()``, or the ``compile_config`` a saved file holds.
        registered: The defaults of a class registered with Keras (``"package>Name"``).

    Raises:
        LookupError: ``registered`` cannot tell a registered class's defaults (without Keras).
    """
    if not isinstance(compile_config, dict):
        return None
    out: dict[str, Any] = {}
    if compile_config.get("optimizer") is not None:
        out["optimizer"] = _object("optimizer", compile_config["optimizer"], registered)
    for key, kind in _KINDS:
        value = compile_config.get(key)
        if value is None:
            continue
        if isinstance(value, dict) and "class_name" not in value:  # one per output name
            out[key] = {k: _objects(kind, v, registered) for k, v in value.items()}
        else:
            out[key] = _objects(kind, value, registered)
    if compile_config.get("loss_weights") is not None:
        out["loss_weights"] = _value(compile_config["loss_weights"])
    return out or None


def load_exported(data: dict[str, Any], training: dict[str, Any] | None, source: str) -> Any:
    """The :class:`~netform.ModelSpec` of exported spec ``data``, with its ``training`` section where the
    spec's training schema can say it (a custom object Keras serializes may not be), else without.

    Raises:
        SpecError: ``data`` itself does not validate.
    """
    from ..errors import SpecError
    from ._load import load_spec

    if training is not None:
        try:
            return load_spec({**data, "training": training}, source=source)
        except SpecError:
            pass
    return load_spec(data, source=source)
