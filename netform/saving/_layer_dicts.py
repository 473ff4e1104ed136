"""A layer's Keras config as a spec layer mapping: the tables ``from_keras`` writes layers with, without Keras.

Shared by :mod:`._config_walk` (a saved file's config) and, in the same
form, by :func:`netform.builder.from_keras` (a live layer's ``get_config()``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

__all__ = ["layer_to_dict_from_config", "keras_defaults", "clean_name"]

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
}
_SKIP_IF_EMPTY = ("quantization_config", "build_config", "compile_config")


def keras_defaults() -> tuple[str, str]:
    """Keras's ``floatx`` and ``image_data_format``, as Keras would read them, without importing Keras.

    Keras reads them from ``$KERAS_HOME/keras.json`` (default ``~/.keras``)
    when it is imported; where Keras is imported already its live settings
    are the answer.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return str(keras.config.floatx()), str(keras.config.image_data_format())
    floatx, data_format = "float32", "channels_last"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as fh:
            saved = json.load(fh)
    except (OSError, ValueError):
        return floatx, data_format
    if isinstance(saved, dict):
        floatx = (
            saved.get("floatx", floatx)
            if saved.get("floatx") in ("float16", "float32", "float64", "bfloat16")
            else floatx
        )
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


def _convert_value(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        cls_name = value["class_name"]
        config = value.get("config") or {}
        module = str(value.get("module") or "")
        if (
            module.startswith("keras.layers")
            or module.startswith("keras.src.layers")
            or ("layers" in module and isinstance(config, dict) and "name" in config)
        ):
            return layer_to_dict_from_config(cls_name, config)
        if cls_name == "DTypePolicy":
            return config.get("name")
        args = {k: _convert_value(v) for k, v in config.items() if v is not None}
        if not args and cls_name in _SNAKE:
            return _SNAKE[cls_name]
        return {"type": cls_name, **args}
    if isinstance(value, dict):
        return {k: _convert_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert_value(v) for v in value]
    return value


def _dtype(value: Any) -> str | None:
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value in (None, keras_defaults()[0]):
        return None
    return str(value)


def layer_to_dict_from_config(cls_name: str, config: dict[str, Any], *, keep_name: bool = False) -> dict[str, Any]:
    """A layer's ``get_config()`` as a spec layer mapping (schema form, or the generic ``KerasLayer`` form).

    Args:
        cls_name: The Keras class name (``"Dense"``).
        config: Its config, from a live layer or from a saved file.
        keep_name: Keep the layer's ``name`` in the mapping.

    Returns:
        ``{"type": cls_name, ...}`` with the fields of netform's schema for
        that layer where every key fits it, else ``{"type": "KerasLayer",
        "class_name": ..., "config": ...}``.
    """
    from netform.errors import NetformError as _Error  # noqa: PLC0415
    from netform.spec._layer_base import get_layer_spec  # noqa: PLC0415

    try:
        schema = get_layer_spec(cls_name)
    except _Error:
        schema = None
    if schema is not None and cls_name != "KerasLayer":
        out: dict[str, Any] = {"type": cls_name}
        fits = True
        for key, value in config.items():
            if key == "name":
                if keep_name:
                    out["name"] = value
                continue
            if key == "dtype":
                dt = _dtype(value)
                if dt is not None:
                    out["dtype"] = dt
                continue
            if key not in schema.model_fields:
                if value in (None, {}, [], False) or key in _SKIP_IF_EMPTY and not value:
                    continue
                fits = False
                break
            converted = _convert_value(value)
            field = schema.model_fields[key]
            if converted == "linear" and field.default is None:
                continue
            if key == "data_format" and field.default is None and converted == keras_defaults()[1]:
                continue
            out[key] = converted
        if fits:
            try:
                schema.model_validate(out)
                return out
            except ValueError:
                pass
    generic_config = {k: v for k, v in config.items() if k != "name" or keep_name}
    return {"type": "KerasLayer", "class_name": cls_name, "config": generic_config}
