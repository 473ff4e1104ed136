"""Turn one layer schema into a Keras layer instance."""

from __future__ import annotations

import copy
from typing import Any

import keras

from .._compat._safe_mode import safe_mode_scope
from ..errors import BuildError
from ..spec._access import UNBUILDABLE_LAYERS, file_argument_problems
from ..spec._layer_base import LayerSpec
from ..spec._types import TypedObject

__all__ = ["to_keras_layer", "keras_layer_class", "keras_arguments"]


def keras_layer_class(spec: LayerSpec) -> type[keras.layers.Layer]:
    """The Keras class for a schema: a registered custom layer, a built-in one or one of keras.applications."""
    from ..spec._custom import custom_keras_class

    custom = custom_keras_class(spec.type)
    if custom is not None:
        return custom
    cls = getattr(keras.layers, spec.type, None)
    if cls is None and ">" in spec.type:
        from ..spec._custom import keras_registered_class

        cls = keras_registered_class(spec.type)
    if cls is None:
        from .._compat._applications import application_layer_classes

        cls = application_layer_classes().get(spec.type)
    if not isinstance(cls, type):
        raise BuildError(
            f"layer type '{spec.type}' has a schema but no Keras class; "
            "register its Keras class with @netform.register_layer"
        )
    return cls


def _convert(value: Any) -> Any:
    if isinstance(value, LayerSpec):
        return to_keras_layer(value)
    if isinstance(value, TypedObject):
        return {"class_name": value.type, "config": _convert(value.arguments)}
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_convert(v) for v in value)
    return value


def keras_arguments(spec: LayerSpec) -> dict[str, Any]:
    """Constructor keyword arguments for the Keras layer of ``spec``."""
    args = {k: getattr(spec, k) for k in spec.arguments()}
    hook = getattr(spec, "keras_arguments", None)
    if callable(hook):
        args = hook(args)
    return {k: _convert(v) for k, v in args.items()}


def to_keras_layer(spec: LayerSpec, name: str | None = None) -> keras.layers.Layer:
    """Make the Keras layer that ``spec`` describes.

    Args:
        spec: The layer schema.
        name: The layer name; defaults to ``spec.name`` (or Keras's automatic name).

    Raises:
        BuildError: Keras refused the arguments.
    """
    if spec.type == "KerasLayer":
        return _generic(spec, name)
    cls = keras_layer_class(spec)
    kwargs = keras_arguments(spec)
    if name is not None:
        kwargs["name"] = name
    try:
        if ">" in spec.type:  # a plain Keras class registered with Keras: made as Keras loads it, from its config
            return cls.from_config(kwargs)
        return _frozen_inside(cls(**kwargs))
    except (TypeError, ValueError) as err:
        raise BuildError(f"Keras refused the arguments of a {spec.type} layer {kwargs}: {err}") from err


#: the attributes under which Keras's wrappers hold the layers they made from their arguments
_WRAPPED = ("layer", "forward_layer", "backward_layer", "cell", "cells", "layers")


def _frozen_inside(layer: keras.layers.Layer) -> keras.layers.Layer:
    """``layer``, with the layers it wraps frozen where it is made frozen.

    Keras 3 makes a wrapper (``Bidirectional``, ``TimeDistributed``) made with ``trainable=False`` report no
    trainable weights of its own, but leaves the layers it made from its arguments trainable: a model gathers
    their weights as trainable and ``fit`` trains them, though the spec (and ``summary``) froze the layer.
    """
    if layer.trainable:
        return layer
    stack: list[Any] = [layer]
    seen = {id(layer)}
    while stack:
        item = stack.pop()
        for attr in _WRAPPED:
            inner = getattr(item, attr, None)
            for part in inner if isinstance(inner, (list, tuple)) else [inner]:
                if isinstance(part, keras.layers.Layer) and id(part) not in seen:
                    seen.add(id(part))
                    part.trainable = False
                    stack.append(part)
    return layer


def _generic(spec: LayerSpec, name: str | None) -> keras.layers.Layer:
    """Build ``{type: KerasLayer, class_name: …, config: …}`` under Keras's safe mode.

    A spec is untrusted: the config may not make Keras read a local file, and
    nested configs (the inner layer of a wrapper) may not carry Lambda bytecode,
    whatever ``keras.config.enable_unsafe_deserialization()`` said.
    """
    class_name = getattr(spec, "class_name")
    if class_name in UNBUILDABLE_LAYERS:
        raise BuildError(f"KerasLayer '{class_name}' cannot be built from a spec: it {UNBUILDABLE_LAYERS[class_name]}.")
    cls: type[keras.layers.Layer] | None = getattr(keras.layers, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        raise BuildError(
            f"'{class_name}' is not a Keras built-in layer class; custom layers must be registered "
            "with @netform.register_layer"
        )
    # a copy to its depth: Keras's from_config takes nested layers out of the config it is given (RNN pops
    # `cell`, StackedRNNCells `cells`, a wrapper `layer`), which emptied the spec's own (a second build, and a
    # subclassed model saved with the spec it carries, then failed: "the config lacks the key 'cells'")
    config = copy.deepcopy(dict(getattr(spec, "config")))
    problems = file_argument_problems(class_name, config, ("config",))
    if problems:
        where, message = problems[0]
        raise BuildError(f"KerasLayer {'.'.join(str(p) for p in where)}: {message}.")
    if name is not None:
        config["name"] = name
    if getattr(spec, "frozen", False):  # `trainable: false` beside the config freezes the layer as in it
        config["trainable"] = False
    if spec.dtype is not None and config.get("dtype") is None:  # the dtype beside the config (validate: not both)
        config["dtype"] = spec.dtype
    try:
        with safe_mode_scope(True):
            return _frozen_inside(cls.from_config(config))
    except KeyError as err:
        raise BuildError(
            f"Keras could not make a {class_name} from its config: the config lacks the key {err}. Write the layer's "
            f"full get_config() (netform export-spec writes it), or use the layer's own type if netform has one."
        ) from err
    except (ImportError, NotImplementedError) as err:
        raise BuildError(f"Keras cannot make a {class_name} here: {err}.") from err
    except Exception as err:  # any failure of Keras's from_config on an untrusted config
        raise BuildError(
            f"Keras could not make a {class_name} from its config ({type(err).__name__}: {err}). Check the config "
            f"against keras.layers.{class_name}'s arguments."
        ) from err
