"""A saved model's config (``config.json``, ``netform_model_config``) as a :class:`~netform.ModelSpec`, without Keras.

:func:`netform.from_keras` walks a live Keras model; this module walks the
same graph as Keras serialized it (a Functional config's ``layers`` with
their ``inbound_nodes``, ``input_layers`` and ``output_layers``; a
Sequential's layer list), in the same order Keras's ``map_graph`` gives a
loaded model (depth, then the config's layer order, then call index), and
writes what it meets with the writers ``from_keras`` uses
(:mod:`netform.spec._layer_dict` for layers, :mod:`netform.spec._export`
for names, shared layers and blocks). So ``netform export-spec model.keras``
writes the same YAML as loading the model would, in a fraction of the time.

Where the config holds what only a live model answers for certain, the walk
stops with :class:`NeedsKeras` and the caller loads the model with Keras:
``keras.ops`` calls (their arguments are bound by Keras's signatures),
layer calls with keyword arguments (masks, states, training flags), layers
with more than one output or state, classes that are not Keras's own layers
(custom, registered or Lambda layers), and models that are not
Functional or Sequential.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterator

from netform._compat._keras_graph import Step
from netform.errors import FormatError, NetformError, SpecError

from ._config_bounds import config_memo, layer_dict, memoized

from netform.spec._export import GraphWriter, SpecWriter
from netform.spec._layer_dict import KerasDefaults, clean_name, keras_defaults
from netform.spec._training_export import load_exported, training_section

__all__ = [
    "NeedsKeras",
    "spec_from_config",
    "spec_from_file",
    "ConfigGraph",
    "model_graph",
    "is_model",
    "unshared",
    "static_layer",
    "check_vouched",
]

_MODEL_CLASSES = ("Functional", "Sequential")
#: Layers whose call takes two positional tensors (query, value), as netform's builder calls them.
_POSITIONAL_CALL = frozenset({"MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention"})
#: Config keys that give a layer more than one output.
_MULTI_OUTPUT_KEYS = ("return_state", "return_attention_scores")


class NeedsKeras(NetformError):
    """The config holds something only a live Keras model answers for certain; load the model instead."""


# --- the graph of a Functional config ------------------------------------------------------------

NodeKey = tuple[str, int]


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _tensors(value: Any) -> Iterator[dict[str, Any]]:
    """The ``__keras_tensor__`` entries of a call's arguments, in Keras's ``tree.flatten`` order."""
    if _is_tensor(value):
        yield value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _tensors(value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _history(tensor: dict[str, Any]) -> tuple[str, int, int]:
    history = (tensor.get("config") or {}).get("keras_history")
    if not (
        isinstance(history, list)
        and len(history) == 3
        and isinstance(history[0], str)
        and all(isinstance(i, int) for i in history[1:])
    ):
        raise NeedsKeras("a tensor without a readable keras_history")
    return history[0], history[1], history[2]


def _triples(value: Any) -> list[tuple[str, int, int]]:
    """``input_layers`` / ``output_layers``: one ``[name, node, tensor]`` or a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list):
        raise NeedsKeras("inputs or outputs Keras nests in a structure")
    out = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
            raise NeedsKeras("inputs or outputs Keras nests in a structure")
        out.append((item[0], int(item[1]), int(item[2])))
    return out


def is_model(layer: dict[str, Any]) -> bool:
    return layer.get("class_name") in _MODEL_CLASSES and isinstance((layer.get("config") or {}).get("layers"), list)


class ConfigGraph:
    """A Functional config's nodes, ordered as a loaded model's ``_nodes_by_depth`` walk orders them."""

    def __init__(self, model: dict[str, Any]) -> None:
        config = model["config"]
        self.layers: dict[str, dict[str, Any]] = {}
        for layer in config["layers"]:
            name = layer.get("name") or (layer.get("config") or {}).get("name")
            if not isinstance(name, str) or name in self.layers:
                raise NeedsKeras("layers without unique names")
            self.layers[name] = layer
        self.order = {name: i for i, name in enumerate(self.layers)}
        self.inputs = [self._model_tensor(t) for t in _triples(config.get("input_layers"))]
        self.outputs = [self._model_tensor(t) for t in _triples(config.get("output_layers"))]
        self.out_count: dict[NodeKey, int] = {}
        for tensor in self.outputs:
            self._count(*tensor)
        self.shapes: dict[tuple[str, int, int], tuple[int | None, ...]] = {}
        for name in self.layers:
            for call in self.calls(name):
                for t in _tensors([call["args"], call["kwargs"]]):
                    self._count(*_history(t))
                    shape = (t.get("config") or {}).get("shape")
                    if isinstance(shape, list):
                        self.shapes[_history(t)] = tuple(shape)
        for name, layer in self.layers.items():
            if is_model(layer) and layer.get("class_name") == "Functional":  # its outputs, used or not
                n_out = len(_triples(layer["config"].get("output_layers")))
                for i in range(len(self.calls(name))):
                    self.out_count[(name, i)] = max(self.out_count.get((name, i), 1), n_out)
        self.depths: dict[NodeKey, int] = {}
        self.ordered = self._ordered()
        self._steps: list[Step] | None = None

    def _model_tensor(self, tensor: tuple[str, int, int]) -> tuple[str, int, int]:
        """An ``input_layers``/``output_layers`` entry as a call index (Keras's ``get_tensor``).

        Keras numbers a nested Functional's calls there after the node it
        makes when it is created, so it subtracts one when it loads, the
        result indexing the loaded model's calls as Python does (-1: the last).
        """
        producer, node, index = tensor
        layer = self.layers.get(producer)
        if layer is not None and layer.get("class_name") == "Functional":
            node -= 1
            if node < 0:
                node += len(self.calls(producer))
        return producer, node, index

    def _count(self, producer: str, node: int, index: int) -> None:
        key = (producer, node)
        self.out_count[key] = max(self.out_count.get(key, 1), index + 1)

    def calls(self, name: str) -> list[dict[str, Any]]:
        """A layer's serialized calls (``inbound_nodes``), each ``{"args": [...], "kwargs": {...}}``."""
        layer = self.layers.get(name)
        if layer is None:
            raise NeedsKeras(f"a tensor of layer '{name}', which the config does not hold")
        nodes = layer.get("inbound_nodes") or []
        out = []
        for node in nodes:
            if not (
                isinstance(node, dict)
                and isinstance(node.get("args", []), list)
                and isinstance(node.get("kwargs", {}), dict)
            ):
                raise NeedsKeras("a Keras 2 node layout")
            out.append({"args": node.get("args", []), "kwargs": node.get("kwargs", {})})
        return out

    def is_input(self, key: NodeKey) -> bool:
        return self.layers[key[0]].get("class_name") == "InputLayer"

    def parents(self, key: NodeKey) -> list[NodeKey]:
        if self.is_input(key):
            return []
        calls = self.calls(key[0])
        if key[1] >= len(calls):
            raise NeedsKeras(f"call {key[1]} of layer '{key[0]}', which the config does not hold")
        call = calls[key[1]]
        return [_history(t)[:2] for t in _tensors([call["args"], call["kwargs"]])]

    def _ordered(self) -> list[NodeKey]:
        """Keras's ``map_graph``: depth from the outputs, then layer order, then call index."""
        finished: set[NodeKey] = set()
        in_progress: set[NodeKey] = set()
        decreasing: list[NodeKey] = []

        def visit(start: NodeKey) -> None:
            # Keras's depth-first walk without recursion (a 1,000-layer chain is within Python's limit
            # only barely): each stack entry is a node and the parents still to visit.
            if start in finished:
                return
            in_progress.add(start)
            stack: list[tuple[NodeKey, Iterator[NodeKey]]] = [(start, iter(self.parents(start)))]
            while stack:
                key, pending = stack[-1]
                for parent in pending:
                    if parent in finished:
                        continue
                    if parent in in_progress:
                        raise NeedsKeras("a cycle")
                    in_progress.add(parent)
                    stack.append((parent, iter(self.parents(parent))))
                    break
                else:
                    stack.pop()
                    finished.add(key)
                    in_progress.discard(key)
                    decreasing.append(key)

        for producer, node, _ in self.outputs:
            visit((producer, node))
        in_graph = set(decreasing)
        depths: dict[NodeKey, int] = {}
        op_depths: dict[str, int] = {}
        for key in reversed(decreasing):
            depth = max(depths.setdefault(key, 0), op_depths.get(key[0], 0))
            op_depths[key[0]] = depth
            depths[key] = depth
            for parent in self.parents(key):
                if parent in in_graph:
                    depths[parent] = max(depth + 1, depths.get(parent, 0))
        for producer, node, _ in self.inputs:
            if producer not in op_depths and self.is_input((producer, node)):
                depths[(producer, node)] = 0
        self.depths = depths  # in the order Keras fills its nodes_by_depth
        return sorted(depths, key=lambda k: (-depths[k], self.order.get(k[0], 0), k[1]))

    @property
    def steps(self) -> list[Step]:
        """Every call as a :class:`~netform._compat._keras_graph.Step`, in the order :class:`~netform._compat._keras_graph.LiveWalk` walks
        the loaded model: deepest first, then the config's layer order (the model's ``operations``), then call
        order."""
        if self._steps is None:
            self._steps = [self._step(key) for key in self.ordered]
        return self._steps

    def _step(self, key: NodeKey) -> Step:
        layer = self.layers[key[0]]
        outputs = tuple((key[0], key[1], k) for k in range(self.out_count.get(key, 1)))
        if self.is_input(key):
            return Step(key[0], key, layer, None, (), outputs, True, False)
        call = self.calls(key[0])[key[1]]
        return Step(key[0], key, layer, call, tuple(self.arguments(key)), outputs, False, is_model(layer))

    def name(self, tensor: tuple[str, int, int]) -> str:
        """The name of the layer that made ``tensor``."""
        return tensor[0]

    def shape(self, tensor: tuple[str, int, int]) -> tuple[int | None, ...] | None:
        """The shape Keras recorded for ``tensor`` where a call takes it; None for a tensor nothing takes."""
        return self.shapes.get(tensor)

    @staticmethod
    def nested(step: Step) -> ConfigGraph:
        """The graph of the model a step calls (``step.nested``)."""
        return model_graph(step.operation)

    def arguments(self, key: NodeKey) -> list[tuple[str, int, int]]:
        """The tensors a call takes, in Keras's ``node.arguments.keras_tensors`` order."""
        call = self.calls(key[0])[key[1]]
        return [_history(t) for t in _tensors([call["args"], call["kwargs"]])]


# --- the exporter --------------------------------------------------------------------------------


def _layer_entry(layer: dict[str, Any], defaults: KerasDefaults | None = None) -> dict[str, Any]:
    """``from_keras``'s ``layer_to_dict`` for a serialized layer: only Keras's own layers are written here."""
    cls_name = layer.get("class_name")
    config = layer.get("config")
    if (
        layer.get("module") != "keras.layers"
        or not isinstance(cls_name, str)
        or not isinstance(config, dict)
        or cls_name == "Lambda"
    ):
        raise NeedsKeras("a layer class that is not one of Keras's own layers")
    if any(config.get(key) for key in _MULTI_OUTPUT_KEYS):
        raise NeedsKeras("a layer with several outputs")
    if cls_name in ("IntegerLookup", "StringLookup", "TextVectorization") and config.get("vocabulary") is None:
        raise NeedsKeras("a lookup layer whose vocabulary adapt() learned (kept with the weights, not the config)")
    return layer_dict(cls_name, config, defaults=defaults)


def unshared(value: Any) -> Any:
    """A config without the ``shared_object_id`` marks Keras's saving adds (a live ``get_config()`` has none)."""
    if isinstance(value, dict):
        return {k: unshared(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [unshared(v) for v in value]
    return value


class _Exporter(SpecWriter):
    def __init__(self, defaults: KerasDefaults) -> None:
        super().__init__()
        self.defaults = defaults

    def layer_entry(self, layer: dict[str, Any]) -> dict[str, Any]:
        return _layer_entry(layer, self.defaults)

    def graph(
        self, model: dict[str, Any], used: set[str], scope: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(inputs, nodes, outputs) of a Functional config (``scope``: a nested model's name)."""
        g = ConfigGraph(model)
        names: dict[NodeKey, str] = {}
        writer = GraphWriter(used, (step.name for step in g.steps), scope=scope)

        def ref(tensor: tuple[str, int, int]) -> str:
            base = names[tensor[:2]]
            return f"{base}.{tensor[2]}" if g.out_count.get(tensor[:2], 1) > 1 else base

        for step in g.steps:
            layer, key = step.operation, step.key
            if step.is_input:
                config = layer.get("config") or {}
                shape = config.get("batch_shape")
                if not isinstance(shape, list) or not shape:
                    raise NeedsKeras("an input without a batch shape")
                dtype = config.get("dtype")
                dtype = (dtype.get("config") or {}).get("name") if isinstance(dtype, dict) else dtype
                names[key] = writer.add_input(key[0], list(shape[1:]), str(dtype), bool(config.get("sparse")))
                continue
            if step.nested:
                refs = [ref(t) for t in step.inputs]
                block = self.block(layer)
                names[key], _ = writer.add(key[0], key[0], refs, lambda: {"block": block})
            else:
                refs = self._layer_refs(layer, step.call, ref)
                names[key], _ = writer.add(key[0], key[0], refs, lambda: self.layer_entry(layer))
        for producer, node, _ in g.inputs:
            if (producer, node) not in names:
                raise NeedsKeras("an input the graph does not reach")
        order = [names[(producer, node)] for producer, node, _ in g.inputs]
        return writer.result(order, [ref(t) for t in g.outputs])

    @staticmethod
    def _layer_refs(layer: dict[str, Any], call: dict[str, Any], ref: Any) -> list[str]:
        """The inputs of one call of a layer: positional tensors only (anything else needs Keras)."""
        n_in = 2 if layer.get("class_name") in _POSITIONAL_CALL else 1
        args = call["args"]
        kwargs = {k: v for k, v in call["kwargs"].items() if not (v is None or (k == "training" and v is False))}
        if kwargs or len(args) != n_in:
            raise NeedsKeras("a layer called with keyword arguments")
        refs = []
        for value in args:
            for v in value if isinstance(value, list) else [value]:
                if not _is_tensor(v):
                    raise NeedsKeras("a layer called on a constant")
                refs.append(ref(_history(v)))
        return refs

    def block(self, model: dict[str, Any]) -> str:
        model_name = (model.get("config") or {}).get("name")
        if not isinstance(model_name, str):
            raise NeedsKeras("a nested model without a name")
        known = self.known_block(model_name)
        if known is not None:
            return known
        name = self.block_name(model_name, model_name)
        if model.get("class_name") == "Sequential":
            items = _sequential_layers(model)
            layers = []
            for node, layer in zip(self.linear_names(model_name, (_layer_name(layer) for layer in items)), items):
                if is_model(layer):
                    layers.append({"block": self.block(layer), "name": node})
                else:
                    layers.append({**self.layer_entry(layer), "name": node})
            return self.linear_block(model_name, name, layers)
        inputs, nodes, outputs = self.graph(model, set(), scope=model_name)
        return self.graph_block(model_name, name, inputs, nodes, outputs)


def _layer_name(layer: dict[str, Any]) -> str:
    name = (layer.get("config") or {}).get("name")
    if not isinstance(name, str):
        raise NeedsKeras("a layer without a name")
    return name


def _sequential_layers(model: dict[str, Any]) -> list[dict[str, Any]]:
    """What a Sequential's ``layers`` lists: its config's layers without the leading InputLayer."""
    layers = [layer for layer in model["config"]["layers"] if isinstance(layer, dict)]
    if layers and layers[0].get("class_name") == "InputLayer":
        layers = layers[1:]
    if any(layer.get("class_name") == "InputLayer" for layer in layers):
        raise NeedsKeras("an InputLayer inside a Sequential")
    return layers


def model_graph(model: dict[str, Any]) -> ConfigGraph:
    """The graph of a Functional config, or of a built Sequential's functional form."""
    if model.get("class_name") == "Sequential":
        return ConfigGraph(_sequential_as_functional(model))
    return ConfigGraph(model)


def static_layer(layer: dict[str, Any]) -> Any:
    """The spec layer (its static shape and parameter rules) of one of Keras's own serialized layers.

    Raises:
        NeedsKeras: Not one of Keras's layers, or one netform writes in the generic form (no static rules).
    """
    config = layer.get("config")
    return memoized(
        "static_layer", config, (layer.get("module"), layer.get("class_name")), lambda: _static_layer(layer)
    )


def _static_layer(layer: dict[str, Any]) -> Any:
    from netform.spec import get_layer_spec

    entry = _layer_entry(layer)
    if entry["type"] == "KerasLayer":
        raise NeedsKeras("a layer without static shape rules")
    try:
        return get_layer_spec(entry["type"]).model_validate(entry)
    except ValueError as err:
        raise NeedsKeras("a layer config netform's schema does not take") from err


def _sequential_as_functional(model: dict[str, Any]) -> dict[str, Any]:
    """A built Sequential's config as the Functional config of its graph (``Sequential._functional``)."""
    layers = [layer for layer in model["config"]["layers"] if isinstance(layer, dict)]
    if not layers or layers[0].get("class_name") != "InputLayer":
        raise NeedsKeras("a Sequential without an Input")
    first = dict(layers[0])
    first_name = _layer_name(first)
    out = [{**first, "name": first_name, "inbound_nodes": []}]
    previous = (first_name, 0, 0)
    for layer in _sequential_layers(model):
        name = _layer_name(layer)
        recorded: dict[str, Any] = {"keras_history": list(previous)}
        built = (layer.get("build_config") or {}).get("input_shape")
        if isinstance(built, list) and all(d is None or isinstance(d, int) for d in built):
            recorded["shape"] = built  # the shape the layer was built for: its input's
        tensor = {"class_name": "__keras_tensor__", "config": recorded}
        out.append({**layer, "name": name, "inbound_nodes": [{"args": [tensor], "kwargs": {}}]})
        previous = (name, 0, 0)
    return {
        "class_name": "Functional",
        "config": {
            "name": model["config"].get("name"),
            "layers": out,
            "input_layers": [[first_name, 0, 0]],
            "output_layers": [list(previous)],
        },
    }


#: The most layers a model file may hold for netform to have Keras build it only to describe it (``inspect``,
#: ``summary``, ``render``, ``export-spec``), where the file holds something only Keras judges: Keras takes
#: 2-6 ms a layer (a 45 KB ``.keras`` of 5,000 ReLU layers made ``inspect`` run 12 s at 700 MB, 19,000 Dense
#: layers 111 s at 2.6 GB)
MAX_KERAS_DESCRIBED_LAYERS = 2_000


def keras_describes(config: dict[str, Any], why: str) -> None:
    """Let Keras build ``config`` to describe it (return), or refuse a config of more layers than
    :data:`MAX_KERAS_DESCRIBED_LAYERS` with a :class:`FormatError` saying why only Keras could describe it.

    ``load`` builds any config within its limits (the user asked for the model); a reader that only
    describes the file builds a large one no more.
    """
    from ._config_bounds import _model_configs

    layers = 0
    for _, _, model_config, _ in _model_configs(config):
        found = model_config.get("layers")
        layers += len(found) if isinstance(found, list) else 0
    if layers > MAX_KERAS_DESCRIBED_LAYERS:
        raise FormatError(
            f"the model config holds {why}, which only Keras can describe, and {layers:,} layers: building them "
            f"with Keras to describe the file would take it minutes (netform builds at most "
            f"{MAX_KERAS_DESCRIBED_LAYERS:,} layers only to describe a file). Load it with netform.load if you "
            "trust it, or re-save it with Keras"
        )


def check_vouched(config: dict[str, Any]) -> None:
    """Raise :class:`NeedsKeras` where the readers that describe a file without Keras cannot vouch that Keras
    builds and compiles its config as they describe it, so that they load the model and give ``load``'s answer.

    The config has passed the loading path's checks, which refuse what Keras is known to refuse. What is left
    is a value only Keras judges for certain: a layer netform has a schema for whose config that schema does
    not take as it is (``units: "3"`` or ``3.0``, ``trainable: null``, an initializer argument netform does not
    know), a ``build_config`` whose shapes are not lists of whole numbers, or a ``compile_config`` netform's
    training schema does not take (an optimizer it does not know, a learning rate that is a string). A file
    Keras writes holds none of these (every ``keras.applications`` model is described without Keras); one that
    does is loaded, and described, or refused, as ``load`` has it. Layers of classes netform has no schema
    for have their argument names checked by the loading path's checks; their values are Keras's to judge.
    """
    from netform.spec.layers import MODULE_OF

    from ._config_bounds import _inner_layers, _keras_layer, _model_configs

    for _, _, model_config, _ in _model_configs(config):
        names: set[Any] = set()
        for layer in model_config["layers"]:
            if not isinstance(layer, dict):
                continue
            name = (layer.get("config") or {}).get("name") if isinstance(layer.get("config"), dict) else None
            if not isinstance(name, str) or name in names:
                raise NeedsKeras("a layer without a name of its own in its model (Keras names it, or refuses it)")
            names.add(name)
            called_on = _called_on(layer)
            if called_on is not None and called_on > 1 and _one_input_layer(layer):
                called_on = None  # a one-input layer called on a list: the spec's check refuses it, as Keras does
            if "build_config" in layer and not _plain_build_config(layer["build_config"], called_on):
                raise NeedsKeras("a build_config whose shapes are not the whole-number shapes the layer is built on")
            if not _plain_objects(layer.get("config")):
                raise NeedsKeras("an initializer, regularizer or constraint argument of an unexpected kind")
            registered, module = layer.get("registered_name"), layer.get("module")
            if registered not in (None, layer.get("class_name")) and not str(module).startswith("netform"):
                raise NeedsKeras("a layer Keras looks up by another registered name than its class")
            dtype = (layer.get("config") or {}).get("dtype") if isinstance(layer.get("config"), dict) else None
            if isinstance(dtype, dict) and dtype.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy"):
                raise NeedsKeras("a quantized or other dtype policy, which Keras checks against the weights")
            if layer.get("class_name") != "InputLayer" and not _float_policy(dtype):
                raise NeedsKeras("a dtype other than a floating-point policy as Keras writes it")
            class_name = _keras_layer(layer)
            if class_name is None or class_name not in MODULE_OF:
                continue
            if layer_dict(class_name, layer["config"])["type"] == "KerasLayer" and all(
                inner in MODULE_OF for _, inner, _ in _inner_layers(layer["config"], "")
            ):  # (a wrapper of a layer netform has no schema for is written in the generic form)
                raise NeedsKeras(f"a {class_name} config netform's schema does not take")
    compile_config = config.get("compile_config")
    if compile_config:
        from netform.spec._training import TrainingSpec

        if not _plain_objects(compile_config):
            raise NeedsKeras("an optimizer, loss or metric argument of another kind than Keras's default")

        try:
            training = training_section(compile_config, _registered_defaults)
            if training is not None:
                TrainingSpec.model_validate(training)
        except (LookupError, ValueError, TypeError) as err:
            raise NeedsKeras("a compile config netform's training schema does not take") from err


#: Modules of the objects whose config arguments are compared with those of a default instance.
_DEFAULTS_KIND = {"keras.optimizers": "optimizer", "keras.losses": "loss", "keras.metrics": "metric"}
#: Modules of the objects whose config arguments must be plain numbers, strings, booleans or nulls.
_SCALAR_MODULES = frozenset({"keras.initializers", "keras.regularizers", "keras.constraints"})
#: The dtype policies of a layer's weights that Keras builds as described (floating point, plain or mixed).
_FLOAT_POLICIES = frozenset({"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"})
#: What Keras's ``standardize_reduction`` takes as a loss's ``reduction``.
_REDUCTIONS = frozenset({"sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight", None})


def _number(value: Any) -> bool:
    """An int or a finite float, not a boolean: what Keras's constructors compute with."""
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _whole(least: int) -> Any:
    return lambda value: type(value) is int and value >= least


def _optional(check: Any) -> Any:
    return lambda value: value is None or check(value)


def _seed(value: Any) -> bool:
    """Keras's ``SeedGenerator`` makes a tensor of the seed: an int64 (2**70 fails when the layer is built)."""
    return value is None or (type(value) is int and -(2**63) < value < 2**63)


def _axis(value: Any) -> bool:
    return type(value) is int or (isinstance(value, list) and bool(value) and all(type(v) is int for v in value))


#: The arguments of Keras's initializers, regularizers and constraints whose values Keras takes as described:
#: checked where an object of these modules has them (the loading path's checks refuse an argument the class
#: does not take). A value outside them (a ``scale`` of -1, which ``VarianceScaling`` refuses, a ``gain`` of
#: "x", a ``Constant`` list that may not broadcast, a seed past int64) is Keras's to judge.
_OBJECT_ARGS: dict[str, Any] = {
    "seed": _seed,
    "input_axes": lambda value: value is None,
    "output_axes": lambda value: value is None,
    "value": _number,
    "gain": _number,
    "mean": _number,
    "stddev": _number,
    "minval": _number,
    "maxval": _number,
    "max_value": _number,
    "min_value": _number,
    "rate": _number,
    "axis": _axis,
}
#: Per class where the same argument name means another thing, or Keras checks a range.
_CLASS_ARGS: dict[tuple[str, str], Any] = {
    ("VarianceScaling", "scale"): lambda value: _number(value) and value > 0,
    ("VarianceScaling", "mode"): lambda value: value in ("fan_in", "fan_out", "fan_avg"),
    ("VarianceScaling", "distribution"): lambda value: (
        value in ("normal", "uniform", "truncated_normal", "untruncated_normal")
    ),
    ("L1", "l1"): lambda value: _number(value) and value >= 0,
    ("L2", "l2"): lambda value: _number(value) and value >= 0,
    ("L1L2", "l1"): lambda value: _number(value) and value >= 0,
    ("L1L2", "l2"): lambda value: _number(value) and value >= 0,
    ("OrthogonalRegularizer", "factor"): lambda value: _number(value) and value >= 0,
    ("OrthogonalRegularizer", "mode"): lambda value: value in ("rows", "columns"),
}
#: Optimizer arguments whose default is null, with what Keras takes there as described.
_OPTIMIZER_ARGS: dict[str, Any] = {
    "weight_decay": _optional(_number),
    "clipnorm": _optional(_number),
    "clipvalue": _optional(_number),
    "global_clipnorm": _optional(_number),
    "loss_scale_factor": _optional(_number),
    "ema_overwrite_frequency": _optional(_whole(1)),
    "gradient_accumulation_steps": _optional(_whole(2)),  # Keras refuses 1 and "2"
}
#: The learning-rate schedules Keras has, with their arguments as Keras writes them (``decay_steps`` > 0, which
#: Keras checks; a string there fails the load).
_SCHEDULES: dict[str, dict[str, Any]] = {
    "ExponentialDecay": {"decay_steps": _whole(1), "decay_rate": _number, "staircase": None},
    "InverseTimeDecay": {"decay_steps": _whole(1), "decay_rate": _number, "staircase": None},
    "PolynomialDecay": {"decay_steps": _whole(1), "end_learning_rate": _number, "power": _number, "cycle": None},
    "CosineDecay": {
        "decay_steps": _whole(1),
        "alpha": _number,
        "warmup_target": _optional(_number),
        "warmup_steps": _whole(0),
    },
    "CosineDecayRestarts": {"first_decay_steps": _whole(1), "t_mul": _number, "m_mul": _number, "alpha": _number},
    "PiecewiseConstantDecay": {
        "boundaries": lambda value: isinstance(value, list) and all(_number(v) for v in value),
        "values": lambda value: isinstance(value, list) and bool(value) and all(_number(v) for v in value),
    },
}


def _float_policy(dtype: Any) -> bool:
    """Whether a layer's ``dtype`` is none, or a floating-point policy named as Keras writes it (``"float32"``,
    or ``{"class_name": "DTypePolicy", "config": {"name": "float32"}}``): ``int8`` fails to initialize a
    kernel, a policy config with another key fails to deserialize."""
    if dtype is None:
        return True
    if isinstance(dtype, dict):
        config = dtype.get("config")
        return isinstance(config, dict) and set(config) == {"name"} and config["name"] in _FLOAT_POLICIES
    return dtype in _FLOAT_POLICIES


def _object_args(class_name: str, config: dict[str, Any]) -> bool:
    """Whether an initializer's, regularizer's or constraint's arguments are plain values, each of the kind and
    range Keras's constructor reads as described (see :data:`_OBJECT_ARGS`)."""
    for key, value in config.items():
        check = _CLASS_ARGS.get((class_name, key)) or _OBJECT_ARGS.get(key)
        if check is not None:
            if not check(value):
                return False
        elif not isinstance(value, (int, float, str, type(None))):
            return False
    return True


def _schedule(item: dict[str, Any]) -> bool:
    """Whether a learning rate's schedule is one of Keras's with arguments of the kinds Keras writes."""
    config, args = item.get("config"), _SCHEDULES.get(item.get("class_name"))  # type: ignore[arg-type]
    if item.get("module") != "keras.optimizers.schedules" or args is None or not isinstance(config, dict):
        return False
    for key, value in config.items():
        if key == "name":
            ok = isinstance(value, str)
        elif key in ("staircase", "cycle"):
            ok = key in args and isinstance(value, bool)
        elif key == "initial_learning_rate":
            ok = _number(value)
        else:
            ok = key in args and args[key](value)
        if not ok:
            return False
    return True


def _plain_objects(value: Any) -> bool:
    """Whether every serialized Keras optimizer, loss, metric, initializer, regularizer and constraint in
    ``value`` has arguments of the kinds Keras writes: an optimizer's, loss's or metric's of the kind of
    the default instance's (a number where it has a number, a boolean where a boolean, a string name, a
    learning-rate schedule of Keras's, a loss's ``reduction`` Keras has), an initializer's, regularizer's or
    constraint's plain values of the kind and range its constructor takes (:func:`_object_args`)."""
    from netform.spec._keras_defaults import KERAS_DEFAULTS

    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        config, module = item.get("config"), item.get("module")
        if isinstance(config, dict) and isinstance(item.get("class_name"), str):
            if module in _DEFAULTS_KIND:
                kind = _DEFAULTS_KIND[module]
                defaults = KERAS_DEFAULTS[kind].get(item["class_name"])
                if defaults is not None and not all(_like_default(kind, k, v, defaults) for k, v in config.items()):
                    return False
            elif module in _SCALAR_MODULES and not _object_args(item["class_name"], config):
                return False
        stack.extend(item.values())
    return True


def _like_default(kind: str, key: str, value: Any, defaults: dict[str, Any]) -> bool:
    """Whether an optimizer's, loss's or metric's argument is of the kind of its default (see _plain_objects)."""
    if key == "name":
        return isinstance(value, str)
    if key not in defaults:
        return False
    if kind == "loss" and key == "reduction":
        return value in _REDUCTIONS
    if kind == "optimizer" and key in _OPTIMIZER_ARGS:
        return bool(_OPTIMIZER_ARGS[key](value))
    default = defaults[key]
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        if isinstance(value, dict) and "class_name" in value:  # a learning-rate schedule
            return key == "learning_rate" and _schedule(value)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return value is None or isinstance(value, str)
    if isinstance(default, list):
        return value is None or isinstance(value, list)
    return True  # a null default: what Keras takes there varies


def _called_on(layer: dict[str, Any]) -> int | None:
    """How many tensors a layer's first call passes it as a list (``Concatenate()([a, b])``), 0 where it passes
    one tensor, -1 for a nested model (Keras writes its ``input_shape`` as null), None where the config does not
    tell (a call of another form)."""
    if is_model(layer):
        return -1
    nodes = layer.get("inbound_nodes")
    if nodes is None:
        return 0  # a Sequential's layer: called on the previous layer's one output
    if not isinstance(nodes, list) or not nodes or not isinstance(nodes[0], dict):
        return None
    args = nodes[0].get("args")
    if not isinstance(args, list) or not args:
        return None
    return len(args[0]) if isinstance(args[0], list) else 0


def _shape(value: Any) -> bool:
    """A tensor's shape as Keras writes it: a non-empty list of whole numbers and nulls."""
    return isinstance(value, list) and bool(value) and all(d is None or (type(d) is int and d >= 0) for d in value)


def _one_input_layer(layer: dict[str, Any]) -> bool:
    """Whether ``layer`` is a Keras layer whose netform schema takes one tensor (Dense; not a merge layer)."""
    if layer.get("module") != "keras.layers" or not isinstance(layer.get("class_name"), str):
        return False
    from netform.spec._layer_base import get_layer_spec

    try:
        return get_layer_spec(layer["class_name"]).arity == "one"
    except Exception:  # no schema for the class: Keras judges it
        return False


def _plain_build_config(value: Any, called_on: int | None = None) -> bool:
    """Whether a layer's ``build_config`` is none, or a mapping whose shapes are (nested lists or mappings of)
    whole numbers and nulls, as Keras writes them; its ``input_shape``, which Keras builds the layer on, one
    shape for a layer called on one tensor, a list of as many shapes as a layer called on a list has tensors
    (``called_on``, None where the config does not tell, -1 for a nested model, whose own inputs build it)."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    if "input_shape" in value:
        shape = value["input_shape"]
        if called_on == 0 and not _shape(shape):
            return False
        if (
            called_on
            and called_on > 0
            and not (isinstance(shape, list) and len(shape) == called_on and all(map(_shape, shape)))
        ):
            return False
        if called_on is None and shape is None:
            return False
    stack: list[Any] = list(value.values())
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif item is not None and (type(item) is not int or item < 0):
            return False
    return True


def _registered_defaults(kind: str, name: str) -> dict[str, Any] | None:
    """A class registered with Keras has defaults only Keras tells: the model is loaded instead."""
    raise LookupError(repr(name))


def spec_from_config(model: dict[str, Any], *, name: str | None = None) -> Any:
    """The :class:`~netform.ModelSpec` that ``from_keras`` makes of the model this config builds.

    Args:
        model: A saved model's config (``{"class_name": "Functional" | "Sequential", "config": {...}}``,
            with the ``compile_config`` of a compiled model beside them, as ``config.json`` holds it),
            already through the loading path's safety checks.
        name: The spec's name; defaults to the model's.

    Returns:
        The spec (the same one :func:`netform.from_keras` makes of the loaded model), with the
        ``training:`` section of a compiled model.

    Raises:
        NeedsKeras: The config holds something only a live model answers (see the module's docstring).
        FormatError: The exported spec does not validate (no model Keras builds has this config).
    """

    if not is_model(model):
        raise NeedsKeras("a subclassed model or no layer list")
    check_vouched(model)
    model_name = (model.get("config") or {}).get("name")
    if not isinstance(model_name, str):
        raise NeedsKeras("a model without a name")
    exporter = _Exporter(keras_defaults())
    spec_name = clean_name(name or model_name, set())
    sequential = model.get("class_name") == "Sequential"
    inputs, nodes, outputs = exporter.graph(_sequential_as_functional(model) if sequential else model, set())
    data = exporter.spec_data(spec_name, inputs, nodes, outputs, sequential=sequential)
    try:
        training = training_section(model.get("compile_config"), _registered_defaults)
    except LookupError as err:
        raise NeedsKeras(f"the compile config names {err}, a class registered with Keras") from err
    try:
        return load_exported(data, training, f"<from_keras {model_name}>")
    except SpecError as err:
        # The config was read from a file: a model Keras builds always exports a valid spec, so one that does
        # not (a Dense called on 1,000 tensors) is an edited or corrupt file, refused as load refuses it.
        if err.diagnostics and all(d.limit for d in err.diagnostics):  # Keras builds it; netform's limits refuse it
            raise FormatError(
                f"the config of model '{model_name}' is past netform's limits for a model ({err}); the file is "
                "refused, as a spec past them would be"
            ) from err
        raise FormatError(
            f"the config of model '{model_name}' does not make a model Keras can build ({err}); the file is "
            "corrupt or was edited. If Keras loads this file, please report this."
        ) from err


def spec_from_file(path: str | os.PathLike[str], *, safe_mode: bool = True) -> Any:
    """The spec of a saved ``.keras`` / ``.h5`` model, read from its config without TensorFlow.

    Returns:
        The :class:`~netform.ModelSpec` :func:`netform.from_keras` makes of
        ``netform.load(path)``, or None where the model must be
        loaded with Keras to tell (another format, or what
        :class:`NeedsKeras` names).

    Raises:
        FormatError: The file is corrupt.
        UnsafeFileError: The file is hostile (refused as ``load`` refuses it).
    """
    from ._detect import detect_format
    from ._static_reader import read_config

    path = os.fspath(path)
    fmt = detect_format(path)
    if fmt not in ("keras", "h5", "savedmodel"):
        return None
    with config_memo():  # the checks and the walk convert each layer once
        config = read_config(path, fmt, safe_mode=safe_mode, compile=True)
        if config is None:
            return None
        try:
            return spec_from_config(config)
        except NeedsKeras as why:
            try:
                keras_describes(config, str(why))
            except FormatError as err:
                raise FormatError(f"{path}: {err}") from None
            return None
        except FormatError as err:
            raise FormatError(f"{path}: {err}") from err
