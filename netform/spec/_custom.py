"""User layers and models: ``@netform.register_layer`` and ``@netform.register_model``.

A user's Keras layer whose configuration is a Pydantic model is registered
once; it is then usable from YAML by its type name, appears in the JSON Schema,
and gets ``get_config``/``from_config`` from that model. Nothing here imports
TensorFlow: the user's module already imported Keras to define the class.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from ..errors import RegistryError, did_you_mean
from ._layer_base import LayerSpec, register_layer_spec

__all__ = [
    "register_layer", "register_model", "register_model_config", "resolve_model_class",
    "custom_keras_class", "get_model_class", "model_classes",
]

T = TypeVar("T", bound=type)

_KERAS_CLASSES: dict[str, type] = {}
_MODEL_CLASSES: dict[str, tuple[type, type[BaseModel]]] = {}


def _config_model(cls: type, config: type[BaseModel] | None, what: str) -> type[BaseModel]:
    config = config if config is not None else getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise RegistryError(
            f"cannot register {what} {cls.__name__}: its configuration must be a Pydantic model, "
            f"given as register_{what}(config=MyConfig) or a nested class `Config(BaseModel)`"
        )
    return config


def _install_config_methods(cls: type, config: type[BaseModel], base_keys: tuple[str, ...]) -> None:
    """Give ``cls`` a ``get_config``/``from_config`` pair driven by ``config``."""
    original_get_config = cls.get_config

    def get_config(self: Any) -> dict[str, Any]:
        base = original_get_config(self) if base_keys else {}
        base = {k: v for k, v in base.items() if k in base_keys}
        own = self.netform_config.model_dump(mode="json")
        return {**base, **own}

    @classmethod  # type: ignore[misc]
    def from_config(klass: type, data: dict[str, Any]) -> Any:
        data = dict(data)
        kwargs = {k: data.pop(k) for k in base_keys if k in data}
        return klass(config.model_validate(data), **kwargs)

    cls.get_config = get_config  # type: ignore[attr-defined]
    cls.from_config = from_config  # type: ignore[attr-defined]


def register_layer(
    cls: T | None = None, *, config: type[BaseModel] | None = None, name: str | None = None, family: str = "custom"
) -> T | Callable[[T], T]:
    """Register a Keras layer class whose configuration is a Pydantic model.

    The layer's ``__init__`` takes the config object first
    (``def __init__(self, config: MyConfig, **kwargs)``) and must store it as
    ``self.netform_config``.

    Example::

        class ScaleConfig(BaseModel):
            factor: float = Field(2.0, description="Multiplier.")

        @netform.register_layer(config=ScaleConfig)
        class Scale(keras.layers.Layer):
            def __init__(self, config, **kwargs):
                super().__init__(**kwargs)
                self.netform_config = config
            def call(self, x):
                return x * self.netform_config.factor

    Args:
        cls: The Keras layer class (when used without parentheses).
        config: The Pydantic config model; defaults to a nested ``Config`` class.
        name: The YAML type name; defaults to the class name.
        family: The layer family used in diagrams.

    Returns:
        The class, unchanged apart from its ``get_config``/``from_config``.

    Raises:
        RegistryError: The config is not a Pydantic model or the name is taken.
    """

    def wrap(klass: T) -> T:
        model = _config_model(klass, config, "layer")
        type_name = name or klass.__name__
        fields: dict[str, Any] = {}
        for field_name, info in model.model_fields.items():
            if field_name in LayerSpec.model_fields:
                raise RegistryError(
                    f"cannot register layer {type_name}: its config field '{field_name}' clashes with "
                    f"a field every layer has ({', '.join(LayerSpec.model_fields)}); rename it"
                )
            fields[field_name] = (info.annotation, info)
        spec_cls = create_model(  # type: ignore[call-overload]
            f"{type_name}Spec",
            __base__=LayerSpec,
            __doc__=(model.__doc__ or klass.__doc__ or f"The user layer {type_name}."),
            type=(Literal[type_name], type_name),
            **fields,
        )
        spec_cls.family = family
        spec_cls.config_model = model  # type: ignore[attr-defined]

        def keras_arguments(self: LayerSpec, args: dict[str, Any]) -> dict[str, Any]:
            base = {k: args.pop(k) for k in list(args) if k in LayerSpec.model_fields}
            own = model.model_validate(self.model_dump(include=set(model.model_fields)))
            return {"config": own, **base}

        spec_cls.keras_arguments = keras_arguments  # type: ignore[attr-defined]
        register_layer_spec(spec_cls)
        _install_config_methods(klass, model, ("name", "trainable", "dtype"))
        _KERAS_CLASSES[type_name] = klass
        _register_serializable(klass, type_name)
        return klass

    return wrap(cls) if cls is not None else wrap


def _register_serializable(klass: type, type_name: str) -> None:
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.saving.register_keras_serializable(package="netform", name=type_name)(klass)


def register_model(
    cls: T | None = None, *, config: type[BaseModel] | None = None, name: str | None = None
) -> T | Callable[[T], T]:
    """Register a subclassed model class whose configuration is a Pydantic model.

    A spec with ``kind: subclass`` names the class in ``model.type`` and gives
    the config's fields beside it. The class's ``__init__`` takes the config
    object first and must store it as ``self.netform_config``.

    Raises:
        RegistryError: The config is not a Pydantic model or the name is taken.
    """

    def wrap(klass: T) -> T:
        model = _config_model(klass, config, "model")
        type_name = name or klass.__name__
        existing = _MODEL_CLASSES.get(type_name)
        if existing is not None and existing[0].__qualname__ != klass.__qualname__:
            raise RegistryError(f"model type '{type_name}' is already registered; choose another name")
        _install_config_methods(klass, model, ("name", "trainable"))
        _MODEL_CLASSES[type_name] = (klass, model)
        _register_serializable(klass, type_name)
        return klass

    return wrap(cls) if cls is not None else wrap


def register_model_config(name: str, config: type[BaseModel]) -> None:
    """Declare a model type by its configuration, before its class is registered.

    netform's own model classes are Keras classes (TensorFlow); each registers
    itself with :func:`register_model` where it is defined, when the builder
    is imported. Declaring the configuration here lets specs naming the type
    validate, and the JSON Schema describe it, without TensorFlow; the spec
    layer never imports the class.
    """
    if name not in _MODEL_CLASSES:
        _DECLARED_MODELS[name] = config


_DECLARED_MODELS: dict[str, type[BaseModel]] = {}


def resolve_model_class(type_name: str) -> tuple[type, type[BaseModel]]:
    """The registered model class and its config, for a build.

    Raises:
        RegistryError: No class is registered under ``type_name`` (a declared
            type's class registers itself when ``netform.builder`` is imported).
    """
    if type_name in _DECLARED_MODELS and type_name not in _MODEL_CLASSES:
        raise RegistryError(
            f"model type '{type_name}' is declared but its class is not registered yet; netform's own model "
            "classes register themselves when netform.builder is imported (netform.build does so)"
        )
    return get_model_class(type_name)


def custom_keras_class(type_name: str) -> type | None:
    """The Keras class registered for a custom layer type, or ``None``."""
    return _KERAS_CLASSES.get(type_name)


def get_model_class(type_name: str) -> tuple[type, type[BaseModel]]:
    """The registered model class and its config model.

    Raises:
        RegistryError: No model class of that name is registered.
    """
    if type_name in _DECLARED_MODELS and type_name not in _MODEL_CLASSES:
        return (type(None), _DECLARED_MODELS[type_name])
    try:
        return _MODEL_CLASSES[type_name]
    except KeyError:
        raise RegistryError(
            f"unknown model type '{type_name}'{did_you_mean(type_name, [*_MODEL_CLASSES, *_DECLARED_MODELS])}; "
            "register the class with @netform.register_model before loading the spec"
        ) from None


def model_classes() -> dict[str, tuple[type, type[BaseModel]]]:
    """All registered model types, by name: (class, config); declared ones not yet registered show ``NoneType``."""
    out: dict[str, tuple[type, type[BaseModel]]] = {k: (type(None), v) for k, v in _DECLARED_MODELS.items()}
    out.update(_MODEL_CLASSES)
    return out


# ---------------------------------------------------------------- netform's own model types
# Their configurations are declared here, without TensorFlow; each class lives
# in netform/builder/_zoo_models.py and registers itself there with this config.


class ResidualMLPConfig(BaseModel):
    """A stack of residual Dense blocks for tabular data, ending in a softmax."""

    model_config = {"extra": "forbid", "frozen": True}

    hidden: int = Field(64, gt=0, description="Width of every hidden layer.")
    depth: int = Field(2, gt=0, le=64, description="Number of residual blocks.")
    num_classes: int = Field(2, gt=1, description="Number of output classes.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate inside each block.")


register_model_config("ResidualMLP", ResidualMLPConfig)
