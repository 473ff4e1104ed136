"""``from_keras(model)``: any Sequential or Functional Keras model → ModelSpec.

Layers in netform's catalog are written with their schema, values equal to
Keras's defaults left out; other Keras built-in layers in the generic
``KerasLayer`` form (never dropped); nested models become nested blocks, and
later calls of a layer or nested model become ``shares:`` nodes. What is
written, and how nodes are named, is decided by the TensorFlow-free writers
:mod:`netform.spec._layer_dict` and :mod:`netform.spec._export`, shared with
``netform export-spec``'s walk of a saved file.
"""

from __future__ import annotations

from typing import Any

import re
import keras

from .._compat._applications import application_layer_classes
from .._compat._graph_nodes import (
    call_arguments,
    history,
    is_keras_tensor,
    op_function_name,
    output_count,
    propagated_mask,
    same_computation,
)
from .._compat._keras_graph import LiveWalk, graph_of, is_graph
from ..errors import BuildError, NetformError, SpecError
from ..spec import ModelSpec
from ..spec._custom import custom_keras_class, keras_registered_class
from ..spec._export import GraphWriter, SpecWriter
from ..spec._layer_base import get_layer_spec
from ..spec._layer_dict import clean_name, config_dtype, layer_to_dict_from_config
from ..spec._training_export import load_exported, training_section

__all__ = ["from_keras", "layer_to_dict"]


def layer_to_dict(layer: keras.layers.Layer, *, keep_name: bool = False) -> dict[str, Any]:
    """One Keras layer as a spec layer mapping.

    Raises:
        BuildError: The layer is neither a Keras built-in nor registered with netform.
    """
    from .._keras_names import KERAS_EXPORT_OF_CLASS

    cls = type(layer)
    cls_name = KERAS_EXPORT_OF_CLASS.get(cls.__name__, cls.__name__)  # the name keras.layers exports it under
    custom = custom_keras_class(cls_name)
    builtin = getattr(keras.layers, cls_name, None) is cls or application_layer_classes().get(cls_name) is cls
    if custom is not cls and not builtin:
        registered = keras.saving.get_registered_name(cls)
        if keras_registered_class(registered) is cls:
            return _without_defaults(_keras_registered_layer(layer, registered))
        raise BuildError(
            f"layer '{layer.name}' is a {cls.__module__}.{cls_name}, which is neither a Keras built-in layer nor "
            "registered with @netform.register_layer; register it (its config as a Pydantic model) to export it, or "
            "with @keras.saving.register_keras_serializable(package=...) if its get_config() returns its "
            "constructor's arguments"
        )
    if cls_name == "Lambda":
        raise BuildError(
            f"layer '{layer.name}' is a Lambda layer: its Python code cannot be written in a spec; "
            "replace it with a registered custom layer"
        )
    if custom is cls:
        config = layer.get_config()
        out = {"type": cls_name, **{k: v for k, v in config.items() if k not in ("name", "dtype", "trainable")}}
        if not config.get("trainable", True):
            out["trainable"] = False
        return _without_defaults(out)
    config = layer.get_config()
    _quantization_kept(layer, config)
    if cls_name in _LOOKUPS and config.get("vocabulary") is None:
        # An adapted lookup layer's get_config() has no vocabulary (Keras keeps it with the weights), and a
        # spec builds its layers without adapting them: write the vocabulary it learned.
        learned = [v.item() if hasattr(v, "item") else v for v in layer.get_vocabulary(include_special_tokens=False)]
        if learned:
            config = {**config, "vocabulary": learned}
    return layer_to_dict_from_config(cls_name, config, keep_name=keep_name, defaults=_written_defaults())


def _written_defaults() -> tuple[str, str]:
    """Keras's ``floatx`` and ``image_data_format`` as a spec leaves them out: a layer's dtype equal to ``floatx``
    is left out only while Keras's global dtype policy is ``floatx`` too. Under ``mixed_bfloat16`` a layer left
    without a dtype computes in the global policy, so a Dense made with ``dtype="float32"`` (a model's usual
    float32 output) must say so: it was left out, and the rebuilt model's outputs differed by up to 7e-3."""
    floatx = keras.config.floatx()
    written = floatx if keras.config.dtype_policy().name == floatx else ""
    return written, keras.config.image_data_format()


def _quantization_kept(layer: keras.layers.Layer, config: dict[str, Any]) -> None:
    """Refuse a layer holding quantized layers that its config does not record.

    ``model.quantize`` quantizes the projections a ``MultiHeadAttention`` made in ``build``, but the
    attention layer's config (float) says nothing of them: the spec rebuilt it in float32, with other variables
    (168 trainable where the model has 24 trainable and 144 frozen), and Keras's own load of the saved file
    fails. A wrapper's config holds its layer's, policy included, and is exported as it is.
    """
    from .._compat._keras_engine import sublayers

    quantized = [inner for inner in sublayers(layer) if getattr(inner, "quantization_mode", None) is not None]
    if not quantized or _holds_quantized_policy(config):
        return
    inner = quantized[0]
    raise BuildError(
        f"layer '{layer.name}' ({type(layer).__name__}) holds quantized layers ('{inner.name}' in "
        f"{inner.dtype_policy.name}) that its config does not record, so no spec (nor Keras's own load of a saved "
        "file) can rebuild it as it is; export the model before quantizing it, and quantize the built model "
        "again (model.quantize)"
    )


def _holds_quantized_policy(value: Any) -> bool:
    """Whether a config holds a quantized dtype policy anywhere (a wrapped layer's included)."""
    from ..spec._layer_dict import is_quantized_policy

    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_quantized_policy(item.get("dtype")):
                return True
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return False


#: Keras's lookup layers: adapt() leaves their vocabulary out of get_config()
_LOOKUPS = frozenset({"IntegerLookup", "StringLookup", "TextVectorization"})


def _without_defaults(out: dict[str, Any]) -> dict[str, Any]:
    """A custom layer's mapping as its schema writes it: arguments equal to their defaults left out."""
    try:
        return get_layer_spec(out["type"]).model_validate(out).to_dict()
    except (ValueError, NetformError):  # written as it is: the spec's own check reports what does not fit
        return out


def _keras_registered_layer(layer: keras.layers.Layer, type_name: str) -> dict[str, Any]:
    """A plain Keras layer registered with Keras as ``{type: "package>Name", **its get_config()}``."""
    from ..spec._custom import keras_registered_layer_spec

    config = layer.get_config()
    out: dict[str, Any] = {"type": type_name}
    for key, value in config.items():
        dtype = config_dtype(value, _written_defaults()[0]) if key == "dtype" else None
        if key in ("name", "trainable") or key == "dtype" and dtype is None:
            continue
        out[key] = dtype if key == "dtype" else value
    if not config.get("trainable", True):
        out["trainable"] = False
    schema = keras_registered_layer_spec(type_name)
    unknown = [k for k in out if k not in schema.model_fields]
    if unknown:
        raise BuildError(
            f"layer '{layer.name}' ({type_name}): its get_config() writes {', '.join(map(repr, unknown))}, "
            f"which {type(layer).__qualname__}.__init__ does not take; a spec can only write constructor "
            "arguments, so make get_config() return exactly those"
        )
    return out


#: the most values a constant argument of an op may hold in a spec (a weight belongs in a layer)
_MAX_CONSTANT = 4096


def _constant(value: Any, where: str) -> Any:
    """A constant argument as plain YAML data (numbers, lists of numbers, text)."""
    import numpy as np

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_constant(v, where) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    try:
        array = np.asarray(value)
    except Exception as err:  # anything numpy cannot read is no constant of a spec
        raise BuildError(f"{where}: the argument {type(value).__name__} cannot be written in a spec") from err
    if array.dtype == object or array.size > _MAX_CONSTANT:
        raise BuildError(
            f"{where}: a constant of {array.size:,} values cannot be written in a spec (at most "
            f"{_MAX_CONSTANT:,}); make it a layer's weight instead"
        )
    return array.tolist()


def _op_node(op: Any, function: str, node: Any, ref: Any) -> dict[str, Any]:
    """An op node for a call of ``keras.ops.<function>`` in the graph."""
    from ..spec.layers.ops import OPS, format_index, op_problems

    where = f"operation '{op.name}' (keras.ops.{function})"
    args, kwargs = call_arguments(node)
    items: list[Any] = []
    for a in args:
        if is_keras_tensor(a):
            items.append(ref(a))
        elif isinstance(a, (list, tuple)) and any(is_keras_tensor(v) for v in a):
            items += [ref(v) if is_keras_tensor(v) else _constant(v, where) for v in a]
        elif function == "getitem" and len(items) == 1:
            try:
                kwargs["index"] = format_index(a)
            except ValueError as err:
                raise BuildError(f"{where}: {err}; index with integers and slices only") from err
        else:
            items.append(_constant(a, where))
    try:
        config = {k: v for k, v in op.get_config().items() if k != "name"}
    except (NotImplementedError, TypeError, AttributeError):
        config = {}
    defaults = dict(OPS[function].params) if function in OPS else {}
    settings = {}
    for key, value in {**config, **kwargs}.items():
        if is_keras_tensor(value):
            raise BuildError(f"{where}: its argument '{key}' is a tensor; an op node takes tensors only in `in`")
        value = _constant(value, where)
        if key not in defaults or defaults[key] != value:
            settings[key] = value
    problems = op_problems(function, tuple(items), settings)
    if problems:
        raise BuildError(f"{where} cannot be written as an op node: {problems[0][1]}")
    return {"op": function, "in": items[0] if len(items) == 1 else items, **settings}


def _layer_call(layer: keras.layers.Layer, node: Any, ref: Any) -> tuple[list[str], dict[str, Any]]:
    """The inputs (``in``) and the named call arguments (``call``) of one call of ``layer`` in the graph."""
    import inspect

    from ._build import POSITIONAL_CALL

    args, kwargs = call_arguments(node)
    try:
        bound = list(inspect.signature(layer.call).bind_partial(*args, **kwargs).arguments.items())
    except TypeError:
        return [ref(t) for t in node.input_tensors], {}
    n_in = 2 if type(layer).__name__ in POSITIONAL_CALL else 1
    refs: list[str] = []
    for _, value in bound[:n_in]:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if not is_keras_tensor(v):
                raise BuildError(
                    f"layer '{layer.name}' was called on {type(v).__name__} {v!r:.40}, not a tensor of "
                    "the graph; a spec passes only node outputs to a layer's input"
                )
            refs.append(ref(v))
    call: dict[str, Any] = {}
    params = inspect.signature(layer.call).parameters
    first = bound[0][1] if bound else None
    auto_mask = propagated_mask(first) if is_keras_tensor(first) else None
    for key, value in bound[n_in:]:
        items = value.items() if params[key].kind is inspect.Parameter.VAR_KEYWORD else [(key, value)]
        for name, v in items:
            if v is None or (name == "training" and v is False):  # what Keras records when nothing was passed
                continue
            default = params[name].default if name in params else inspect.Parameter.empty
            if name == "training" and v is default:
                continue  # the call's own default (True for the preprocessing layers), which Keras recorded
            if name == "mask" and auto_mask is not None and same_computation(v, auto_mask):
                # the mask Keras propagates by itself (and will again when the spec is built); a model Keras
                # loaded from a file passes it as explicit op nodes computing the same
                continue
            if is_keras_tensor(v):
                call[name] = ref(v)
            elif isinstance(v, (list, tuple)) and v and all(is_keras_tensor(t) for t in v):
                call[name] = [ref(t) for t in v]
            elif isinstance(v, (bool, int, float, str)):
                call[name] = v
            else:
                raise BuildError(
                    f"layer '{layer.name}' was called with {name}={type(v).__name__}, which a spec "
                    "cannot write (call arguments are node outputs or constants)"
                )
    return refs, call


class _Exporter(SpecWriter):
    def __init__(self) -> None:
        super().__init__()
        # per nested model: (its node name → Keras layer name, its node name → the nested model it uses)
        self.block_maps: dict[int, tuple[dict[str, str], dict[str, int]]] = {}

    def keras_names(self, names: dict[str, str], uses: dict[str, int], prefix: str = "") -> dict[str, str]:
        """Spec graph node name (dotted inside nested blocks) → Keras layer name."""
        out = {prefix + n: k for n, k in names.items()}
        for node, model in uses.items():
            out.update(self.keras_names(*self.block_maps[model], prefix=f"{prefix}{node}."))
        return out

    def graph(
        self,
        model: keras.Model,
        used: set[str],
        names_out: dict[str, str] | None = None,
        uses_out: dict[str, int] | None = None,
        scope: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(inputs, nodes, outputs) of a Functional model (or of a Sequential's functional form).

        ``scope``: a nested model's name (its layers' names may start with ``scope.``, as netform names them).
        """
        names_out = {} if names_out is None else names_out
        uses_out = {} if uses_out is None else uses_out
        if isinstance(model, keras.Sequential) and graph_of(model) is not None:
            model = graph_of(model)
        if not is_graph(model):
            raise BuildError(f"model '{model.name}' has no graph to export")
        walk = LiveWalk(model)
        names: dict[tuple[Any, int], str] = {}
        writer = GraphWriter(used, (step.name for step in walk.steps), scope=scope)

        def ref(t: Any) -> str:
            """The spec's name for a tensor: its node, or ``node.K`` for output K of a node with several."""
            producer, node_index, tensor_index = history(t)
            base = names[(id(producer), node_index)]
            return f"{base}.{tensor_index}" if output_count(producer, node_index) > 1 else base

        for step in walk.steps:
            op, node = step.operation, step.call
            if step.is_input:
                shape = list(op.batch_shape[1:])
                names[step.key] = writer.add_input(op.name, shape, str(op.dtype), bool(getattr(op, "sparse", False)))
                continue
            function = op_function_name(op) if not isinstance(op, keras.layers.Layer) else None
            if function is not None:
                names[step.key] = writer.add_op(op.name, _op_node(op, function, node, ref))
                continue
            if isinstance(op, keras.Model):
                refs = [ref(walk.tensor(t)) for t in step.inputs]
                call: dict[str, Any] = {}
                block = self.block(op)
                name, first = writer.add(id(op), op.name, refs, lambda: {"block": block})
                if first:
                    uses_out[name] = id(op)
            else:
                refs, call = _layer_call(op, node, ref)
                name, _ = writer.add(id(op), op.name, refs, lambda: layer_to_dict(op), call)
            names[step.key] = name
        order = [names.get(t[:2]) for t in walk.inputs]
        outs = [ref(walk.tensor(t)) for t in walk.outputs]
        inputs, nodes, outputs = writer.result([n for n in order if n is not None], outs)
        names_out.update(writer.layer_names)
        return inputs, nodes, outputs

    def block(self, model: keras.Model) -> str:
        known = self.known_block(id(model))
        if known is not None:
            return known
        name = self.block_name(id(model), model.name)
        names: dict[str, str] = {}
        uses: dict[str, int] = {}
        self.block_maps[id(model)] = (names, uses)
        if isinstance(model, keras.Sequential):
            layers = []
            for node, layer in zip(self.linear_names(model.name, (layer.name for layer in model.layers)), model.layers):
                names[node] = layer.name
                if isinstance(layer, keras.Model):
                    uses[node] = id(layer)
                    layers.append({"block": self.block(layer), "name": node})
                else:
                    layers.append({**layer_to_dict(layer), "name": node})
            return self.linear_block(id(model), name, layers)
        inputs, nodes, outputs = self.graph(model, set(), names, uses, scope=model.name)
        return self.graph_block(id(model), name, inputs, nodes, outputs)


def _registered_defaults(kind: str, name: str) -> dict[str, Any] | None:
    """The config of a default instance of a loss or metric class registered with Keras as ``name``."""
    cls = keras.saving.get_registered_object(name)
    if not isinstance(cls, type):
        return None  # a function: written by its registered name
    try:
        return dict(cls().get_config())
    except (TypeError, ValueError):  # a class without defaults for every argument: keep them all
        return None


def _training(model: keras.Model) -> dict[str, Any] | None:
    """The optimizer, loss and metrics a compiled model was compiled with, as a spec's ``training:`` section."""
    if not getattr(model, "compiled", False):
        return None
    try:
        config = model.get_compile_config() or {}
    except (NotImplementedError, TypeError, ValueError):
        return None
    return training_section(config, _registered_defaults)


#: what validate says of a size past netform's limits (values per sample, weights, dimensions)
_OVER_LIMIT = re.compile(r"; the limit is [\d,]+|is larger than [\d,]+, the largest")
#: what validate says of a layer in a quantized dtype policy Keras has no call of its class for
_CANNOT_RUN = re.compile(
    r"Keras has no \w+ call for a \w+ layer|Keras builds no layer in a \w+ dtype policy|float8 call does not support LoRA"
)


def from_keras(model: keras.Model, *, name: str | None = None) -> ModelSpec:
    """Describe a Keras model as a :class:`ModelSpec`.

    Args:
        model: A Sequential or Functional model (nested models, shared layers,
            several inputs and outputs included), or a model netform built.
        name: The spec's name; defaults to the model's.

    Returns:
        The spec; ``build(from_keras(m))`` has the same layers, connections
        and parameter count as ``m``.

    Raises:
        BuildError: A subclassed model with no graph, a layer that is
            neither built-in nor registered, or no Keras model (an inference-only
            model loaded from another tool's SavedModel).
    """
    existing = getattr(model, "_netform_spec", None)
    if isinstance(existing, ModelSpec):
        return existing
    if not isinstance(model, keras.Model):
        if type(model).__name__ == "InferenceModel":  # netform.load of a SavedModel another tool wrote
            raise BuildError(
                f"{model!r} is an inference-only model, loaded from a SavedModel another tool wrote: it holds a "
                "TensorFlow graph and its signatures, not Keras layers, so it has no spec (`netform inspect` lists "
                "its signatures)"
            )
        raise BuildError(f"from_keras takes a keras.Model; received {type(model).__name__}")
    exporter = _Exporter()
    names: dict[str, str] = {}
    uses: dict[str, int] = {}
    spec_name = clean_name(name or model.name, set())
    if isinstance(model, keras.Sequential):
        if graph_of(model) is None:  # its `inputs` property raises when unbuilt
            raise BuildError(
                f"Sequential model '{model.name}' is not built, so its input shape is unknown; "
                "call model.build(input_shape) or give it a keras.Input first"
            )
    elif not (is_graph(model) and getattr(model, "inputs", None)):
        raise BuildError(
            f"model '{model.name}' ({type(model).__name__}) is a subclassed model: its computation is Python code "
            "in call(), not a graph, so it has no spec. Rebuild it with the Functional API, or register the class "
            "with @netform.register_model and write a `kind: subclass` spec"
        )
    inputs, nodes, outputs = exporter.graph(model, set(), names, uses)
    data = exporter.spec_data(spec_name, inputs, nodes, outputs, sequential=isinstance(model, keras.Sequential))
    source = f"<from_keras {model.name}>"
    try:
        spec = load_exported(data, _training(model), source)
    except SpecError as err:
        if all(_CANNOT_RUN.search(d.message) for d in err.diagnostics):
            # a model Keras saves and loads but cannot run (a Conv1D in int8_from_float32): no fault of the export
            raise BuildError(f"model '{model.name}' cannot run in Keras, so it has no spec: {err}") from err
        if all(_OVER_LIMIT.search(d.message) for d in err.diagnostics):
            # a model past netform's spec limits (a Resizing to 100,000 x 100,000): no fault of the export
            raise BuildError(
                f"model '{model.name}' is past netform's limits for a spec, so it has no spec: {err}"
            ) from err
        raise BuildError(
            f"the spec exported from model '{model.name}' does not validate (please report this): {err}"
        ) from err
    spec._keras_names = exporter.keras_names(names, uses)
    return spec
