"""User layers and models: ``@netform.register_layer`` and ``@netform.register_model``.

A user's Keras layer whose configuration is a Pydantic model is registered
once; it is then usable from YAML by its type name, appears in the JSON Schema,
and gets ``get_config``/``from_config`` from that model. Nothing here imports
TensorFlow: the user's module already imported Keras to define the class.
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any, Callable, ClassVar, Literal, TypeVar, overload

from pydantic import BaseModel, Field, create_model

from ..errors import RegistryError, did_you_mean
from ._layer_base import LayerSpec, NoStaticRule, register_layer_spec

__all__ = [
    "register_layer",
    "register_model",
    "register_model_config",
    "resolve_model_class",
    "custom_keras_class",
    "get_model_class",
    "model_classes",
    "keras_registered_layer_spec",
    "keras_registered_class",
    "keras_registered_object",
]

T = TypeVar("T", bound=type)

_KERAS_CLASSES: dict[str, type] = {}
_MODEL_CLASSES: dict[str, tuple[type, type[BaseModel]]] = {}


def _config_model(cls: type[Any], config: type[BaseModel] | None, what: str) -> type[BaseModel]:
    config = config if config is not None else getattr(cls, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise RegistryError(
            f"cannot register {what} {cls.__name__}: its configuration must be a Pydantic model, "
            f"given as register_{what}(config=MyConfig) or a nested class `Config(BaseModel)`"
        )
    return config


def _install_config_methods(cls: type[Any], config: type[BaseModel], base_keys: tuple[str, ...]) -> None:
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

    cls.get_config = get_config
    cls.from_config = from_config


@overload
def register_layer(
    cls: T, *, config: type[BaseModel] | None = None, name: str | None = None, family: str = "custom"
) -> T: ...
@overload
def register_layer(
    cls: None = None, *, config: type[BaseModel] | None = None, name: str | None = None, family: str = "custom"
) -> Callable[[T], T]: ...
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
        spec_cls = create_model(
            f"{type_name}Spec",
            __base__=LayerSpec,
            __doc__=(model.__doc__ or klass.__doc__ or f"The user layer {type_name}."),
            type=(Literal[type_name], type_name),  # type: ignore[arg-type]  # a Literal of a name known at run time
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


# ---------------------------------------------------------------- plain Keras classes registered with Keras
# A spec may name a layer class the program registered with
# keras.saving.register_keras_serializable(package="pkg") as {type: "pkg>Name", ...}: its fields are its
# constructor's arguments (what get_config() writes). Only Keras's registry of this process is consulted, so
# nothing is imported: the class exists only if the user's code (or a --plugin module) defined it.

_KERAS_REGISTERED: dict[str, tuple[type, type[LayerSpec]]] = {}
_REGISTERED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*>[A-Za-z_][A-Za-z0-9_]*")


def keras_registered_class(type_name: str) -> type | None:
    """The Keras layer class registered with Keras under ``"package>Name"``, or ``None``.

    Only classes registered in this process are found (``keras.saving.get_registered_object`` reads Keras's
    registry and imports nothing); netform's own registrations (package ``netform``) are used by their type.
    """
    keras = sys.modules.get("keras")
    if keras is None or not _REGISTERED_NAME.fullmatch(type_name) or type_name.startswith("netform>"):
        return None
    cls = keras.saving.get_registered_object(type_name)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        return None
    return cls


_OBJECT_BASES = {
    "regularizer": "regularizers.Regularizer",
    "initializer": "initializers.Initializer",
    "constraint": "constraints.Constraint",
    "loss": "losses.Loss",
    "metric": "metrics.Metric",
}
# Kinds a registered plain function may also be (Keras calls a loss or metric function as fn(y_true, y_pred)).
_FUNCTION_KINDS = ("loss", "metric")


def keras_registered_object(kind: str, type_name: str, arguments: dict[str, Any]) -> Any:
    """The regularizer / initializer / constraint / loss / metric registered with Keras as ``"package>Name"``.

    Like :func:`keras_registered_class`, only Keras's registry of this process is read. A loss or metric may
    also be a registered function, which takes no arguments. A class is checked against its constructor: an
    argument it does not take, or a required one missing, is refused (a loss's or metric's ``**kwargs`` are
    those of ``keras.losses.Loss`` / ``keras.metrics.Metric``: ``name``, ``reduction``, ``dtype``).

    Returns:
        The class (or function), or ``None`` when nothing of that kind is registered under ``type_name``.

    Raises:
        ValueError: It is registered but does not take one of ``arguments``, or needs one not given.
    """
    keras = sys.modules.get("keras")
    base_path = _OBJECT_BASES.get(kind)
    if keras is None or base_path is None or not _REGISTERED_NAME.fullmatch(type_name):
        return None
    module, base_name = base_path.split(".")
    base = getattr(getattr(keras, module), base_name)
    obj = keras.saving.get_registered_object(type_name)
    if kind in _FUNCTION_KINDS and inspect.isfunction(obj):
        if arguments:
            raise ValueError(
                f"{type_name} is a {kind} function, which takes no arguments (Keras calls it as "
                f"{type_name.split('>')[1]}(y_true, y_pred)); write it as the name alone, or register a "
                f"keras.{base_path} subclass to give it arguments"
            )
        return obj
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return None
    _check_constructor(obj, type_name, arguments, base if kind in _FUNCTION_KINDS else None)
    return obj


def _check_constructor(cls: type, type_name: str, arguments: dict[str, Any], base: type | None) -> None:
    """Refuse ``arguments`` that ``cls.__init__`` does not take, and its required arguments left out.

    With ``base``, a constructor's ``**kwargs`` are taken to be ``base.__init__``'s arguments (a Keras loss or
    metric passes them to its base class); without, ``**kwargs`` takes anything.
    """
    try:
        params = _init_signature(cls).parameters
    except (TypeError, ValueError):
        return
    names = [n for n in list(params)[1:] if params[n].kind not in (params[n].VAR_POSITIONAL, params[n].VAR_KEYWORD)]
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        if base is None:
            return
        try:
            base_params = list(_init_signature(base).parameters.values())[1:]
        except (TypeError, ValueError):
            return
        names += [p.name for p in base_params if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD]
        names = list(dict.fromkeys(names))
    for arg in arguments:
        if arg not in names:
            raise ValueError(
                f"{type_name} takes no argument '{arg}'{did_you_mean(arg, names)}; "
                f"its arguments: {', '.join(names) or '(none)'}"
            )
    missing = [
        n
        for n in list(params)[1:]
        if params[n].default is inspect.Parameter.empty
        and params[n].kind not in (params[n].VAR_POSITIONAL, params[n].VAR_KEYWORD)
        and n not in arguments
    ]
    if missing:
        raise ValueError(
            f"{type_name} needs the argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
            f'write {{type: "{type_name}", {missing[0]}: …}}'
        )


class KerasRegisteredLayer(LayerSpec):
    """Base of the schemas made for plain Keras layer classes registered with Keras (``"package>Name"``).

    Its fields are the class's constructor arguments. Its parameter counts come
    from the build (``summary`` says so); its output shape too, unless the class
    declares its own ``compute_output_shape``, which is then asked (see
    :meth:`output_shape`).
    """

    family = "custom"
    arity = "many"  # one tensor or a list, as the class's call takes them
    min_inputs = 1
    max_inputs = 1024
    keras_class: ClassVar[type]

    def keras_arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        return args

    def output_shape(self, input_shape: Any) -> Any:
        """The output shape the class's own ``compute_output_shape`` gives, for a class that declares one.

        The class is the user's code, registered by the program or a ``--plugin`` module (their opt-in); a
        spec only gives it arguments. A throwaway instance is made from the spec's arguments (as the build
        makes it, through ``from_config``) and asked; Keras's name counters and the global RNGs are kept as
        they were. A class that inherits Keras's ``compute_output_shape`` (which traces ``call``), arguments
        that are not plain values, or any failure leave the shape to the build.

        Raises:
            NoStaticRule: The shape is known only at build time.
        """
        shape = _declared_output_shape(self, input_shape)
        if shape is None:
            raise NoStaticRule(self.type)
        return shape


def _declares_output_shape(cls: type) -> bool:
    """Whether ``cls`` (or a base class of the user's) defines ``compute_output_shape``, not Keras's own."""
    for klass in cls.__mro__:
        if "compute_output_shape" in vars(klass):
            return not klass.__module__.startswith("keras")
    return False


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def _as_shape(value: Any) -> Any:
    """``value`` as a shape (a tuple of ints and ``None``) or a list of shapes; ``None`` if it is neither."""
    if isinstance(value, (list, tuple)) and all(d is None or (isinstance(d, int) and d >= 0) for d in value):
        return tuple(None if d is None else int(d) for d in value)
    if isinstance(value, (list, tuple)) and value:
        shapes = [_as_shape(v) for v in value]
        if all(isinstance(s, tuple) for s in shapes):
            return shapes
    return None


def _declared_output_shape(spec: KerasRegisteredLayer, input_shape: Any) -> Any:
    keras = sys.modules.get("keras")
    cls = spec.keras_class
    if keras is None or not _declares_output_shape(cls):
        return None
    config = {k: getattr(spec, k) for k in spec.arguments()}
    if not _plain(config):
        return None
    config.setdefault("name", "netform_shape_probe")  # a name of its own: Keras's counters stay as they are
    shapes = input_shape if len(input_shape) > 1 else input_shape[0]  # Keras gives one input as its shape
    from .._compat._probe_state import state_kept

    try:
        with state_kept():
            layer = cls.from_config(config)  # type: ignore[attr-defined]
            out = layer.compute_output_shape(shapes)
    except Exception:  # the user's code: whatever it raises, the build tells the shape
        return None
    return _as_shape(out)


def _init_signature(cls: type[Any]) -> inspect.Signature:
    """The signature of ``cls.__init__``, ``self`` first."""
    return inspect.signature(cls.__init__)


def _argument_fields(cls: type[Any], type_name: str) -> dict[str, Any]:
    try:
        params = list(_init_signature(cls).parameters.values())[1:]
    except (TypeError, ValueError) as err:
        raise RegistryError(
            f"layer type '{type_name}': the signature of {cls.__qualname__}.__init__ cannot be "
            f"read ({err}), so its arguments cannot be checked"
        ) from None
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in LayerSpec.model_fields or p.name == "type":
            continue
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (Any, Field(default, description=f"Argument `{p.name}` of {cls.__qualname__}."))
    return fields


def keras_registered_layer_spec(type_name: str) -> type[LayerSpec]:
    """The schema of ``"package>Name"``, a plain Keras layer class registered with Keras in this process.

    Raises:
        RegistryError: No Keras layer class is registered under that name.
    """
    cls = keras_registered_class(type_name)
    if cls is None:
        raise RegistryError(
            f"unknown layer type '{type_name}': no Keras layer class is registered under that name in this program; "
            "define the class in your code (or a module given with --plugin) with "
            f'@keras.saving.register_keras_serializable(package="{type_name.split(">")[0]}"); '
            "a spec never imports modules itself"
        )
    cached = _KERAS_REGISTERED.get(type_name)
    if cached is not None and cached[0] is cls:
        return cached[1]
    spec_cls = create_model(
        re.sub(r"\W", "_", type_name) + "Spec",
        __base__=KerasRegisteredLayer,
        __doc__=(cls.__doc__ or f"The Keras layer {type_name}.").strip().splitlines()[0],
        # A Literal of a name known at run time: Pydantic builds it, mypy cannot read it as a type.
        type=(Literal[type_name], Field(type_name, description="The name the class is registered under.")),  # type: ignore[arg-type]
        **_argument_fields(cls, type_name),
    )
    spec_cls.keras_class = cls
    _KERAS_REGISTERED[type_name] = (cls, spec_cls)
    return spec_cls


@overload
def register_model(cls: T, *, config: type[BaseModel] | None = None, name: str | None = None) -> T: ...
@overload
def register_model(
    cls: None = None, *, config: type[BaseModel] | None = None, name: str | None = None
) -> Callable[[T], T]: ...
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

    def weight_count(self, features: int) -> int:
        """The weight values of the model on inputs of ``features`` features: the projection, each block's two
        Dense layers and LayerNormalization, and the head."""
        h = self.hidden
        return features * h + h + self.depth * (2 * h * h + 4 * h) + h * self.num_classes + self.num_classes


register_model_config("ResidualMLP", ResidualMLPConfig)
