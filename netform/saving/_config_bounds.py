"""What a saved config declares against what its weights file holds, before Keras builds anything.

Keras creates every variable a config declares (a ``Dense`` with
``units: 300000000`` allocates 1.2 GB for its kernel) before it matches the
weights file, so a 12 KB ``.keras`` whose config was edited can make a load
use gigabytes and many seconds before failing. :func:`check_declared_weights`
counts the weight values the config implies, from the config alone (no
TensorFlow), and compares them with the element count of the weight datasets
in the HDF5 file (their shapes only; no data is read):

- a layer netform has static rules for counts exactly, with the input shape
  Keras recorded for it (``build_config``); without one, with the smallest
  input of each rank the layer takes (every unknown dimension 1), a lower
  bound;
- any other layer (custom, registered, Lambda, or a rule that does not apply)
  counts as the largest size-like integer among its arguments (``units``,
  ``filters``, ``*_dim``, ``*_size``, …), also a lower bound for the layers
  that take such arguments.

A file whose config declares more than the file holds plus
:data:`DECLARED_SLACK` values (state a layer may keep outside the weights
file), or more than :data:`MAX_DECLARED_WEIGHTS`, is refused with a
:class:`~netform.errors.FormatError` naming the layer with the largest
declared weights.

A config whose layers the file's weights cannot be (it declares, in layers
whose input shape Keras recorded, more than :data:`DECLARED_RATIO` times what
the file holds plus :data:`EXACT_SLACK` values) is refused the same way: a
7 KB file listing 1,000 extra ``Dense(3)`` layers over 23 stored values is not
this file's model, and Keras would spend minutes building it before noticing.

:func:`check_graph_bounds` (run first) refuses a config with more layers or
layer calls than a spec may have (:data:`MAX_CONFIG_LAYERS`), models nested
deeper than a spec's blocks may be (:data:`MAX_MODEL_NESTING`), more input and
output references than :data:`MAX_MODEL_REFERENCES`, a layer call passing
more tensors than :data:`MAX_CALL_TENSORS` or all calls more than
:data:`CALL_TENSORS_PER_LAYER` a layer (plus :data:`MAX_CALL_TENSORS`), a
reference to a layer or call
the model does not hold, an input shape no tensor can have, or a chain of
layers deeper than Keras can build under Python's recursion limit
(:func:`max_config_depth`), counting iteratively. Every reader (``load``,
``inspect``, ``summary``, ``export-spec``, ``render``) runs it first, so they
refuse the same files with the same :class:`~netform.errors.FormatError`.

:func:`check_layer_objects` refuses a model or layer Keras cannot deserialize as
an object (a ``config`` that is a string, a string in place of a layer, an
input layer with no shape), naming it; ``load`` runs it after the safety check
and every other reader through :func:`check_layer_configs`.

:func:`check_layer_configs` refuses what Keras refuses when it builds one of
its own layers from a config: an argument the layer's ``from_config`` does
not take (a ``Dense`` with ``"junk": 1``, also inside a wrapper), or a call
with more positional arguments than the layer's ``call`` takes (a ``Dense``
called on 1,000 tensors), from tables generated from Keras
(:mod:`netform.spec._keras_layer_args`). The readers that do not load the
model (``inspect``, ``summary``, ``export-spec``, ``render``) run it, so they
refuse these files as ``load`` does, without TensorFlow.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import sys
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Mapping, TypeVar

from netform._keras_names import KERAS_EXPORT_OF_CLASS
from netform.errors import FormatError, IncompatibleFileError, NetformError, SpecError

__all__ = [
    "DECLARED_RATIO",
    "DECLARED_SLACK",
    "EXACT_SLACK",
    "CALL_TENSORS_PER_LAYER",
    "CONTAINERS_PER_LAYER",
    "CONTAINER_SLACK",
    "MAX_CALL_TENSORS",
    "MAX_CONFIG_LAYERS",
    "MAX_DECLARED_WEIGHTS",
    "MAX_CONFIG_NESTING",
    "MAX_JSON_CONTAINERS",
    "MAX_MODEL_NESTING",
    "MAX_MODEL_REFERENCES",
    "check_compile_config",
    "check_declared_weights",
    "check_graph_bounds",
    "check_json_containers",
    "check_layer_configs",
    "check_layer_objects",
    "check_text",
    "declared_weights",
    "max_config_depth",
    "stored_weights",
]

#: Values a config may declare beyond the file's datasets (state kept outside the weights file).
DECLARED_SLACK = 1 << 20
#: No config may declare more weight values than this (16 GiB of float32), whatever the file holds.
MAX_DECLARED_WEIGHTS = 1 << 32
#: Weight values of layers with recorded input shapes (counted exactly) may exceed the file's by this factor...
DECLARED_RATIO = 2
#: ... plus this many values; past that the config describes another model.
EXACT_SLACK = 1 << 12
#: Layers (nested models' included) and layer calls a config may list: the spec's own limit.
MAX_CONFIG_LAYERS = 20_000
#: Models used as layers of models, one inside the other: the spec's limit on nested blocks (the export's).
MAX_MODEL_NESTING = 16
#: Input and output references (``input_layers``, ``output_layers``) of all the config's models together.
MAX_MODEL_REFERENCES = MAX_CONFIG_LAYERS
#: Tensors one layer call may take: the spec's limit for a layer's inputs (``Concatenate`` takes 2 to 1,024).
MAX_CALL_TENSORS = 1024
#: Tensors passed to layer calls (``keras_history`` references), all models together, for each layer the config
#: lists (plus :data:`MAX_CALL_TENSORS`): models pass about 1.5 (ResNet, DenseNet, EfficientNet).
CALL_TENSORS_PER_LAYER = 4
#: Levels of lists and objects in a config: Keras's are under 70 (16 nested models, each 3 levels, and a
#: layer's own config); the readers and Keras walk a config recursively, a few frames a level.
MAX_CONFIG_NESTING = 128
#: The most characters of a layer's name in a model config (ONNX names have the same bound).
MAX_LAYER_NAME = 1024
#: The most characters of any string (or key) in a model config: Keras's configs hold names and class
#: paths; a string this long only makes every reader copy it.
MAX_CONFIG_STRING = 1 << 20
#: Lists and objects a config may hold for each layer it lists (Keras's hold about 19), plus CONTAINER_SLACK:
#: every reader walks them all, some at 20 microseconds each.
CONTAINERS_PER_LAYER = 64
CONTAINER_SLACK = 10_000
#: Lists and objects one JSON text (a config, metadata) may hold, counted before it is parsed: Keras's
#: configs hold about 19 a layer (EfficientNetB7: 14,944 for 816 layers), 25 a layer is room for any model.
MAX_JSON_CONTAINERS = 25 * MAX_CONFIG_LAYERS
#: The most values one sample of an input may hold, and the most dimensions (TensorFlow's), as for a spec.
_MAX_INPUT_ELEMENTS = 2**31 - 1
_MAX_INPUT_RANK = 254
#: Stack frames kept free below Python's recursion limit for the loader's own calls.
_STACK_MARGIN = 150
#: Top-level groups of optimizer state (``.keras``: ``optimizer``; netform's ``.h5``: ``optimizer_weights``).
_OPTIMIZER_GROUPS = ("optimizer/", "optimizer_weights/")
_SIZE_KEY = re.compile(
    r"(^|_)(units|filters|dim|tokens|heads|classes|features|channels|hidden|rank|oov_indices)$"
    r"|^(kernel|vocab|embed|embedding|hidden|input|output|intermediate|state|key|value)_size$"
)
#: ``build_config`` ``shapes_dict`` keys of layers called on several tensors, in netform's input order.
_CALL_SHAPES = ("query_shape", "value_shape", "key_shape")
_MAX_RANK = 8
#: A lone UTF-16 surrogate: JSON's ``"\\ud800"`` escape parses to one, and no text encoding can write it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def stored_weights(shapes: Iterator[tuple[str, tuple[int, ...] | None]]) -> int:
    """The element count of a weights file's datasets, optimizer state excluded, from ``(name, shape)`` pairs."""
    total = 0
    for name, shape in shapes:
        if name.lstrip("/").startswith(_OPTIMIZER_GROUPS):
            continue
        total += math.prod(shape or ())
    return total


def check_json_containers(text: str | bytes | bytearray, where: str, field: str) -> None:
    """Refuse JSON text holding more lists and objects than :data:`MAX_JSON_CONTAINERS`, before parsing it.

    Parsing is most of the cost of a small file that inflates to megabytes of
    ``["d2", 0, 0]`` (a 29 KB ``.keras`` listing its output 1,000,000 times
    took 1.2 s and 200 MB to parse); brackets are counted in C, strings'
    included, so the count is an upper bound.

    Raises:
        FormatError: More than :data:`MAX_JSON_CONTAINERS` ``[`` and ``{``.
    """
    brackets = (b"[", b"{") if isinstance(text, (bytes, bytearray)) else ("[", "{")
    count = text.count(brackets[0])  # type: ignore[arg-type]
    if count <= MAX_JSON_CONTAINERS:
        count += text.count(brackets[1])  # type: ignore[arg-type]
    if count > MAX_JSON_CONTAINERS:
        raise FormatError(
            f"{where}: {field} holds more than {MAX_JSON_CONTAINERS:,} JSON lists and objects; netform's limit is "
            f"{MAX_JSON_CONTAINERS:,} (25 for each of the {MAX_CONFIG_LAYERS:,} layers a model may have), so the "
            "file is refused as corrupt or hostile"
        )


def _layers(model: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every layer dict of a model config, nested models' layers included, with a dotted name."""
    config = model.get("config")
    if not (isinstance(config, dict) and isinstance(config.get("layers"), list)):
        # A subclassed model: its own arguments are all the config says.
        name = config.get("name") if isinstance(config, dict) else None
        yield (name if isinstance(name, str) else "?"), dict(model)
        return
    stack: list[tuple[str, Any]] = [("", model)]
    while stack:
        prefix, node = stack.pop()
        config = node.get("config") if isinstance(node, dict) else None
        layers = config.get("layers") if isinstance(config, dict) else None
        if not isinstance(layers, list):
            continue
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            cfg = layer.get("config")
            name = layer.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
            name = f"{prefix}{name if isinstance(name, str) else '?'}"
            inner = cfg.get("layers") if isinstance(cfg, dict) else None
            if isinstance(inner, list):
                stack.append((f"{name}.", layer))
            else:
                yield name, layer


def _shape(value: Any) -> Any:
    """A ``build_config`` input shape as netform's shapes (tuples; lists of them for several inputs)."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [_shape(v) for v in value]
    if isinstance(value, dict) and "query_shape" in value:  # attention layers: query, value, key
        shapes = [_shape(value[key]) for key in _CALL_SHAPES if value.get(key) is not None]
        return None if any(s is None for s in shapes) else shapes
    if isinstance(value, dict) and len(value) == 1:  # one named input
        return _shape(next(iter(value.values())))
    if isinstance(value, (list, tuple)) and all(v is None or (isinstance(v, int) and v >= 0) for v in value):
        return tuple(value)
    return None


def _static_count(layer: dict[str, Any]) -> tuple[int, bool] | None:
    """The layer's weight count from netform's static rules, and whether it is exact (Keras recorded the
    layer's input shape); None where the rules do not apply."""
    if layer.get("class_name") == "InputLayer":
        return None  # no schema (and no weights): looking one up would import every layer family's schemas
    from netform.spec._layer_base import NoStaticRule

    from ._config_walk import static_layer

    try:
        spec = static_layer(layer)
    except (NetformError, ValueError, TypeError, KeyError):
        return None
    build = layer.get("build_config")
    shape = None
    if isinstance(build, dict):
        shape = _shape(build["input_shape"] if "input_shape" in build else build.get("shapes_dict"))
    if shape is not None:
        candidates: list[Any] = [shape]
    elif getattr(spec, "arity", "one") == "one":
        # Unknown input: the smallest input of each rank, so the count is a lower bound.
        candidates = [(None,) + (1,) * (rank - 1) for rank in range(1, _MAX_RANK + 1)]
    else:
        return None
    for candidate in candidates:
        try:
            trainable, frozen = spec.counts(candidate)
        except (NoStaticRule, ValueError, TypeError, KeyError, IndexError, ArithmeticError):
            continue
        return int(trainable) + int(frozen), shape is not None
    return None


#: Keras layers that hold no variables, whatever their size arguments (``CategoryEncoding(num_tokens=1_500_000)``
#: encodes into 1.5 million columns and stores nothing; a lookup layer's vocabulary is kept apart from weights).
_NO_VARIABLES = frozenset({"CategoryEncoding", "StringLookup", "IntegerLookup", "TextVectorization"})


def _scanned_count(value: Any, depth: int = 0) -> int:
    """The largest size-like integer argument of a layer config (a lower bound on its weights)."""
    best = 0
    if depth > 32:
        return best
    if isinstance(value, dict):
        best = _product_count(value)
        rank = value.get("lora_rank")
        if isinstance(rank, int) and not isinstance(rank, bool) and rank > 0:
            # a LoRA factor is rank x the layer's size (Dense's lora_kernel_b: rank x units): with `lora_alpha`
            # beside it (as Keras writes it) Dense's config was counted by this scan, as its rank alone
            sizes = [
                item
                for key, item in value.items()
                if key != "lora_rank"
                and isinstance(key, str)
                and _SIZE_KEY.search(key)
                and isinstance(item, int)
                and not isinstance(item, bool)
                and item > 0
            ]
            best = max(best, rank * max(sizes, default=1))
        for key, item in value.items():
            if isinstance(key, str) and _SIZE_KEY.search(key):
                if isinstance(item, int) and not isinstance(item, bool):
                    best = max(best, item)
                elif (
                    isinstance(item, (list, tuple))
                    and item
                    and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in item)
                ):
                    best = max(best, math.prod(item))
            if isinstance(item, (dict, list)):
                best = max(best, _scanned_count(item, depth + 1))
    elif isinstance(value, list):
        for item in value:
            best = max(best, _scanned_count(item, depth + 1))
    return best


#: The recurrent cells Keras has, by the number of gates their recurrent kernel (units x gates*units) holds
_CELL_GATES = {"LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1, "LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _product_count(value: dict[str, Any]) -> int:
    """A lower bound on the weights of one config mapping whose sizes multiply, where the largest size alone
    undercounts them: a table of ``input_dim`` x ``output_dim`` (``ReversibleEmbedding``), a recurrent cell's
    recurrent kernel (``{class_name: LSTMCell, config: {units: ...}}``: gates x units²).

    An edited 14 KB ``ReversibleEmbedding`` of 40,000 x 40,000 and an ``RNN`` of an ``LSTMCell`` of 40,000
    units made Keras allocate 7 GB and 25.6 GB: they were counted as 40,000 values.
    """
    best = 0
    if _is_size(value.get("input_dim")) and _is_size(value.get("output_dim")):
        best = value["input_dim"] * value["output_dim"]
    name = value.get("class_name")
    gates = _CELL_GATES.get(name) if isinstance(name, str) else None
    inner = value.get("config")
    if gates is not None and isinstance(inner, dict) and _is_size(inner.get("units")):
        best = max(best, gates * inner["units"] ** 2)
    return best


def _class_count(layer: dict[str, Any]) -> int:
    """A lower bound on the weights of a Keras layer no static rule counts, from what its class makes of its
    config: an ``STFTSpectrogram``'s two kernels (``frame_length`` x (``fft_length`` // 2 + 1) each), the
    layer a wrapper holds counted on the wrapper's recorded input (``SpectralNormalization(Dense)``)."""
    config = layer.get("config")
    if not isinstance(config, dict):
        return 0
    if layer.get("class_name") == "STFTSpectrogram":
        frame, fft = config.get("frame_length"), config.get("fft_length")
        if isinstance(frame, int) and _is_size(frame):
            bins = (fft if isinstance(fft, int) and _is_size(fft) else frame) // 2 + 1
            return 2 * frame * bins
    if layer.get("class_name") == "RMSNormalization":  # a scale over the input's axes (-1 by default)
        shape, axes = _built_shape(layer), _axes(config.get("axis", -1))
        if isinstance(shape, tuple) and shape and axes:
            return _axes_size(shape, axes)
    inner = config.get("layer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict) and "build_config" in layer:
        counted = _static_count({**inner, "build_config": layer["build_config"]})
        if counted is not None:
            return counted[0]
    return 0


def _constant_values(class_name: Any, config: Any, shape: Any) -> int:
    """The values a layer makes from constants in its config when Keras builds it on ``shape``, beside its
    weights: a ``Normalization`` given its ``mean`` and ``variance`` broadcasts both to the input's kept axes; a
    lookup layer padding its tf-idf weights to ``max_tokens`` makes three values a token (float64, then float32).

    A 15 KB ``.keras`` whose input was edited to 20,000 x 20,000 made ``nf.load`` allocate 3.8 GB for one such
    layer (8.7 GB for four): none of it is a weight, and the layer was counted as holding none.
    """
    if not isinstance(config, dict):
        return 0
    if class_name in ("StringLookup", "IntegerLookup", "TextVectorization"):
        # tf-idf weights padded to max_tokens when Keras makes the layer (float64, then a float32 variable):
        # max_tokens 400,000,000 in a 13 KB file cost 10 GB before the weights were read
        tokens = config.get("max_tokens")
        padded = config.get("pad_to_max_tokens") and config.get("idf_weights") is not None
        return 3 * tokens if padded and isinstance(tokens, int) and _is_size(tokens) else 0
    if class_name != "Normalization" or config.get("mean") is None:
        return 0
    if not (isinstance(shape, tuple) and shape):
        return 0
    return 2 * _axes_size(shape, _axes(config.get("axis", -1)))


def _axes(axis: Any) -> tuple[Any, ...]:
    """A config's ``axis`` (one, or a list) as a tuple (empty where it is neither)."""
    return (axis,) if isinstance(axis, int) else tuple(axis) if isinstance(axis, (list, tuple)) else ()


def _axes_size(shape: tuple[Any, ...], axes: tuple[Any, ...]) -> int:
    """The product of ``shape``'s known dimensions at ``axes`` (axes out of range, or dimensions unknown, count
    1): the size of a per-axis scale or constant Keras makes on that input."""
    size = 1
    for a in axes:
        if isinstance(a, int) and not isinstance(a, bool) and -len(shape) <= a < len(shape):
            dim = shape[a]
            size *= dim if isinstance(dim, int) and dim > 0 else 1
    return size


#: Values a model's constants may make beyond its weights before they count against the file (a per-pixel
#: Normalization of a 1,000 x 1,000 image makes 2,000,000; the edited files made 800,000,000)
CONSTANT_SLACK = 1 << 24


def _constant_excess(values: int) -> int:
    """What of ``values`` made from constants counts toward the declared weights: the part past
    :data:`CONSTANT_SLACK`."""
    return max(0, values - CONSTANT_SLACK)


def _built_shape(layer: dict[str, Any]) -> Any:
    """The input shape a layer's ``build_config`` records (None where it records none)."""
    build = layer.get("build_config")
    return _shape(build.get("input_shape")) if isinstance(build, dict) else None


def _declared(config: Mapping[str, Any]) -> tuple[int, int, str | None, int]:
    """``(total, exact, layer, count)``: :func:`declared_weights` and the part counted exactly."""
    total, exact, top, top_count, constants = 0, 0, None, 0, 0
    for name, layer in _layers(dict(config)):
        own = _netform_model_count(layer)
        static = (own, False) if own is not None else _static_count(layer)
        if static is None and layer.get("module") == "keras.layers" and layer.get("class_name") in _NO_VARIABLES:
            count = 0  # a size argument (num_tokens, max_tokens) that allocates no weights
        elif static is None:
            count = max(_scanned_count(layer.get("config")), _class_count(layer))
        else:
            count, is_exact = static
            if is_exact:
                exact += count
        count += _policy_values(layer.get("config"))
        made = _constant_values(layer.get("class_name"), layer.get("config"), _built_shape(layer))
        constants += made
        total += count
        count += _constant_excess(made)  # (the layer's figure as the total counts it: past the slack)
        if count > top_count:
            top, top_count = name, count
    return total + _constant_excess(constants), exact, top, top_count


def _policy_values(config: Any) -> int:
    """The values a layer's dtype policy makes beside its weights: a float8 policy's amax histories (an input's,
    the kernel's and the output gradient's), each ``amax_history_length`` long.

    A 10 KB ``.keras`` of float8 ``Dense`` layers whose ``amax_history_length`` was edited to 200,000,000 made
    Keras allocate 7 GB before a weight was read: the dtype's config was counted as nothing.
    """
    dtype = config.get("dtype") if isinstance(config, dict) else None
    policy = dtype.get("config") if isinstance(dtype, dict) else None
    length = policy.get("amax_history_length") if isinstance(policy, dict) else None
    if isinstance(length, int) and not isinstance(length, bool) and length > 0:
        return 3 * length
    return 0


def _netform_model_count(model: dict[str, Any]) -> int | None:
    """The weight values of one of netform's own subclassed models, from its config (its layers are not written
    in it): a ``SpecModel``'s spec counted by the static rules (the layers they count; a lower bound), a
    ``ResidualMLP`` from its sizes. None for any other config, or one its class refuses (the load says why).

    A 1.6 KB ``.keras`` whose ``SpecModel`` spec was edited to two ``Dense(20000)`` made Keras allocate 8.7 GB
    for 38 s before the weights were found not to fit; its largest size argument (20,000) was all it counted.
    """
    name = model.get("registered_name") or model.get("class_name")
    config = model.get("config")
    if not isinstance(config, dict) or name not in ("netform>SpecModel", "netform>ResidualMLP"):
        return None
    from pydantic import ValidationError

    if name == "netform>ResidualMLP":
        from netform.spec._custom import ResidualMLPConfig

        build = model.get("build_config")
        shape = _shape(build.get("input_shape")) if isinstance(build, dict) else None
        features = shape[-1] if isinstance(shape, tuple) and shape and isinstance(shape[-1], int) else 1
        try:
            sizes = ResidualMLPConfig.model_validate(
                {k: config[k] for k in config if k in ResidualMLPConfig.model_fields}
            )
        except ValidationError:
            return None
        return sizes.weight_count(features)
    spec = config.get("spec")
    if not isinstance(spec, dict):
        return None
    from netform.spec import load_spec, spec_access, summary
    from netform.spec.layers._util import keras_shapes

    try:
        # as the load makes it: no callback is made; a generic layer no static rule knows takes the shape
        # Keras's class computes, so the layers after it are counted
        with spec_access(allow_paths=True, allow_network=True), keras_shapes(keras_output_shape):
            rows = summary(load_spec(spec)).rows
    except NetformError as err:  # Keras's load would raise it from inside the model's from_config
        raise _EmbeddedSpecError(str(err).replace("<dict>: ", "config.spec.")) from None
    except (ValidationError, ValueError, TypeError):
        return None
    return sum(row.params or 0 for row in rows)


def keras_output_shape(class_name: str, config: dict[str, Any], input_shape: Any) -> tuple[int | None, ...] | None:
    """The output shape Keras's ``keras.layers`` class ``class_name`` made from ``config`` computes for one input of
    ``input_shape``, without building it (no weight is made); None where the class cannot say (it computes no
    shape without building, takes several inputs, or refuses the config: the load then says why).

    A 14 KB ``.keras`` whose ``CategoryEncoding`` was edited to 100,000,000 tokens, followed by a ``Dense``
    without its ``build_config`` (or a ``SpecModel`` carrying the same layers), made Keras allocate 10.3 GB: the
    Dense after a layer without a static rule was not counted.
    """
    if not isinstance(input_shape, tuple):
        return None
    import keras

    cls = getattr(keras.layers, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        return None
    try:
        layer = keras.saving.deserialize_keras_object(
            # (a copy: Keras's from_config takes nested configs apart, a StackedRNNCells's `cells`)
            {
                "module": "keras.layers",
                "class_name": class_name,
                "config": copy.deepcopy(config),
                "registered_name": None,
            },
            safe_mode=True,
        )
        shape = layer.compute_output_shape(input_shape)
    except Exception:  # any refusal leaves the shape unknown; the load reports it
        return None
    if isinstance(shape, list):
        shape = tuple(shape)
    if not isinstance(shape, tuple) or len(shape) > _MAX_RANK:
        return None
    dims = tuple(None if d is None else d for d in shape)
    if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in dims):
        return None
    return dims


#: The most dimensions a tensor may have (TensorFlow's limit).
_MAX_RANK = 254


class _EmbeddedSpecError(Exception):
    """The spec a ``SpecModel`` config carries is refused by netform's spec checks (the message says where)."""


def declared_weights(config: Mapping[str, Any]) -> tuple[int, str | None, int]:
    """The weight values a model config implies, without Keras.

    Returns:
        ``(total, layer, count)``: the total (exact for layers with static rules
        and recorded input shapes, a lower bound otherwise), and the layer
        declaring the most weights with its count (None and 0 for none).
    """
    try:
        total, _, top, top_count = _declared(config)
    except _EmbeddedSpecError as err:
        raise FormatError(f"the spec this netform model carries (its config's `spec`) is not valid: {err}") from None
    return total, top, top_count


def max_config_depth() -> int:
    """The longest chain of layers a loaded config may hold: Keras maps a graph recursively, one frame a layer."""
    return max(0, sys.getrecursionlimit() - _STACK_MARGIN)


def _model_configs(model: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], int]]:
    """``(dotted name, class name, config, nesting)`` of the model and of every nested model config
    (``nesting`` 0 for the model itself, 1 for a model used as one of its layers, ...)."""
    stack: list[tuple[str, Any, int]] = [("", model, 0)]
    while stack:
        prefix, node, nesting = stack.pop()
        config = node.get("config") if isinstance(node, Mapping) else None
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            continue
        layers = config["layers"]
        name = config.get("name")
        label = f"{prefix}{name[:80] if isinstance(name, str) else '?'}"
        yield label, str(node.get("class_name")), config, nesting
        for layer in layers:
            cfg = layer.get("config") if isinstance(layer, dict) else None
            if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
                stack.append((f"{label}.", layer, nesting + 1))


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layer_name(layer: dict[str, Any]) -> Any:
    config = layer.get("config")
    return layer.get("name") or (config.get("name") if isinstance(config, dict) else None)


def _short(value: Any) -> str:
    """A value of the config as a message shows it (cut: a hostile config's values can be megabytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _References:
    """Counts the references a config's models make (all models together) and checks each one."""

    def __init__(self, where: str, layers: int) -> None:
        self.where = where
        self.layers = layers
        self.model_refs = 0
        self.call_refs = 0
        self.call_limit = CALL_TENSORS_PER_LAYER * layers + MAX_CALL_TENSORS

    def _refuse(self, label: str, what: str, why: str) -> FormatError:
        return FormatError(
            f"{self.where}: model '{label}' in the config has {what} {why}; the file is refused as corrupt or hostile"
        )

    def check(self, ref: Any, calls: dict[str, int], label: str, what: str) -> tuple[str, int]:
        """``(layer, call)`` of one ``[layer name, call index, tensor index]`` reference, checked against the
        model's layers (``calls``: each layer's name and how many calls its config lists)."""
        if not (
            isinstance(ref, (list, tuple))
            and len(ref) == 3
            and isinstance(ref[0], str)
            and _is_index(ref[1])
            and _is_index(ref[2])
        ):
            raise self._refuse(label, what, f"{_short(ref)}, not [layer name, call index, tensor index]")
        name, call, tensor = ref
        if name not in calls:
            raise self._refuse(label, what, f"{_short(ref)} naming layer {_short(name)}, which the model does not hold")
        # Keras numbers an InputLayer's own node, and the node a nested model starts with, before the calls.
        if not 0 <= call <= calls[name] or not 0 <= tensor < MAX_CONFIG_LAYERS:
            raise self._refuse(
                label,
                what,
                f"{_short(ref)}: layer {_short(name)} has {calls[name]:,} calls in the config (call indexes "
                f"0 to {calls[name]:,}) and a tensor index lies in 0 to {MAX_CONFIG_LAYERS - 1:,}",
            )
        return name, call

    def model_io(self, value: Any, calls: dict[str, int], label: str, key: str) -> Iterator[tuple[str, int]]:
        """``(layer, call)`` of every reference in a model's ``input_layers``/``output_layers`` (one reference, or
        lists and dicts of them, as Keras's ``map_tensors`` reads them), counted before anything else is done."""
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str):  # Keras's leaf test
                self.model_refs += 1
                if self.model_refs > MAX_MODEL_REFERENCES:
                    raise FormatError(
                        f"{self.where}: the model config lists more than {MAX_MODEL_REFERENCES:,} input and output "
                        f"references (model '{label}', {key}); netform's limit is {MAX_MODEL_REFERENCES:,}, as many "
                        "as layers, so the file is refused as corrupt or hostile"
                    )
                yield self.check(item, calls, label, f"a reference in {key}")
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(reversed(item))
            else:
                raise self._refuse(label, f"{key} holding {_short(item)}", "where a layer reference belongs")

    def history(self, value: Any, calls: dict[str, int], label: str, layer: str) -> Iterator[tuple[str, int]]:
        """``(layer, call)`` of every ``keras_history`` in a serialized call's arguments, in Keras's
        ``tree.flatten`` order (lists in order, dicts by sorted key), without recursion."""
        stack = [value]
        tensors = 0
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                config = item.get("config") if item.get("class_name") == "__keras_tensor__" else None
                history = config.get("keras_history") if isinstance(config, dict) else None
                if history is None:
                    stack.extend(item[key] for key in sorted(item, key=str, reverse=True))
                    continue
                tensors += 1
                self.call_refs += 1
                if tensors > MAX_CALL_TENSORS:
                    raise FormatError(
                        f"{self.where}: layer {_short(layer)} of model '{label}' in the config is called on more "
                        f"than {MAX_CALL_TENSORS:,} tensors; netform's limit is {MAX_CALL_TENSORS:,}, as for a "
                        "layer's inputs in a spec, so the file is refused as corrupt or hostile"
                    )
                if self.call_refs > self.call_limit:
                    raise FormatError(
                        f"{self.where}: the model config passes more than {self.call_limit:,} tensors to layer "
                        f"calls (model '{label}', layer {_short(layer)}); netform's limit is "
                        f"{CALL_TENSORS_PER_LAYER} for each of its {self.layers:,} layers plus "
                        f"{MAX_CALL_TENSORS:,}, so the file is refused as corrupt or hostile"
                    )
                yield self.check(history, calls, label, f"a tensor passed to layer {_short(layer)}")
            elif isinstance(item, (list, tuple)):
                stack.extend(reversed(item))


def _functional_depth(config: dict[str, Any], label: str, refs: _References) -> tuple[int, int]:
    """``(calls, depth)``: a Functional config's layer calls, and the deepest stack Keras's recursive
    ``map_graph`` reaches on it (its walk from the outputs, each call's tensors in order, each call once).

    Every reference (inputs, outputs, each call's tensors) is checked to name a layer and call of this model.
    """
    calls: dict[str, int] = {}
    for layer in config.get("layers") or []:
        name = _layer_name(layer) if isinstance(layer, dict) else None
        if isinstance(name, str):
            nodes = layer.get("inbound_nodes")
            calls[name] = len(nodes) if isinstance(nodes, list) else 0
    starts: list[tuple[str, int]] = []
    for io_key in ("input_layers", "output_layers"):
        if io_key in config:  # first: bounded before the calls are walked
            found = list(refs.model_io(config[io_key], calls, label, io_key))
            if io_key == "output_layers":
                starts = found
    parents: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for layer in config.get("layers") or []:
        if not isinstance(layer, dict):
            continue
        name = _layer_name(layer)
        nodes = layer.get("inbound_nodes")
        if not isinstance(name, str) or not isinstance(nodes, list):
            continue
        for index, node in enumerate(nodes):
            parents[(name, index)] = list(refs.history(node, calls, label, name))
    finished: set[tuple[str, int]] = set()
    deepest = 0
    for start in starts:
        if start in finished:
            continue
        on_path = {start}
        stack = [(start, iter(parents.get(start, ())))]
        while stack:
            deepest = max(deepest, len(stack))
            key, pending = stack[-1]
            for parent in pending:
                if parent not in finished and parent not in on_path:  # on the path: a cycle Keras refuses
                    on_path.add(parent)
                    stack.append((parent, iter(parents.get(parent, ()))))
                    break
            else:
                stack.pop()
                on_path.discard(key)
                finished.add(key)
    return len(parents), deepest


#: The arguments that give Keras's ``InputLayer`` its shape; it refuses to build one given none of them.
_INPUT_SHAPE_KEYS = ("batch_shape", "shape", "batch_input_shape", "input_shape", "input_tensor")


def _check_input_shapes(config: dict[str, Any], label: str, where: str) -> None:
    """Refuse an ``InputLayer`` whose shape no tensor can have (Keras fails on it, or the spec cannot hold it)."""
    for layer in config["layers"]:
        if not isinstance(layer, dict) or layer.get("class_name") != "InputLayer":
            continue
        cfg = layer.get("config")
        if not isinstance(cfg, dict):
            continue
        for key in ("batch_shape", "batch_input_shape"):
            shape = cfg.get(key)
            if shape is None:
                continue
            ok = isinstance(shape, (list, tuple)) and len(shape) <= _MAX_INPUT_RANK
            ok = ok and all(d is None or (_is_index(d) and d >= 1) for d in shape)  # as a spec's shapes
            size = math.prod(d for d in shape[1:] if d is not None) if ok else 0
            if not ok or size > _MAX_INPUT_ELEMENTS:
                raise FormatError(
                    f"{where}: input layer {_short(_layer_name(layer))} of model '{label}' in the config has "
                    f"{key} {_short(shape)}; a shape holds at most {_MAX_INPUT_RANK} dimensions, each None or a "
                    f"whole number 1 or more, and at most {_MAX_INPUT_ELEMENTS:,} values a sample, so the file is "
                    "refused as corrupt or hostile"
                )


def _check_nesting(config: Mapping[str, Any], layers: int, where: str) -> None:
    """Refuse a config nested deeper than :data:`MAX_CONFIG_NESTING` levels, or holding more lists and objects
    than :data:`CONTAINERS_PER_LAYER` for each of its ``layers`` (plus :data:`CONTAINER_SLACK`), walking it
    without recursion and no further than the limit."""
    limit = CONTAINERS_PER_LAYER * layers + CONTAINER_SLACK
    # (value, level, link): link is (key, parent's link), the way down, spelled out only for the message.
    stack: list[tuple[Any, int, Any]] = [(config, 1, None)]
    push, pop = stack.append, stack.pop
    count = 0
    while stack:
        value, level, link = pop()
        count += 1
        if count > limit:
            raise FormatError(
                f"{where}: the model config holds more than {limit:,} JSON lists and objects; netform's limit is "
                f"{CONTAINERS_PER_LAYER} for each of its {layers:,} layers plus {CONTAINER_SLACK:,} (Keras's "
                "configs hold about 19 a layer), so the file is refused as corrupt or hostile"
            )
        if level > MAX_CONFIG_NESTING:
            path = _link_path(link)
            raise FormatError(
                f"{where}: the model config is nested more than {MAX_CONFIG_NESTING} levels deep (at "
                f"'{path[:120]}…'); netform's limit is {MAX_CONFIG_NESTING} (Keras's configs are far shallower, "
                "and reading them recurses a few frames a level), so the file is refused as corrupt or hostile"
            )
        if isinstance(value, dict):
            _check_keras_class(value, link, where)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, (dict, list)):
                push((item, level + 1, (key, link)))
            elif isinstance(item, str):
                if len(item) > MAX_CONFIG_STRING:
                    _refuse_long(len(item), "value", (key, link), where)
                if not item.isascii() and _SURROGATE.search(item):
                    _refuse_text(item, "value", (key, link), where)
            if isinstance(key, str):
                if len(key) > MAX_CONFIG_STRING:
                    _refuse_long(len(key), "key", (key, link), where)
                if not key.isascii() and _SURROGATE.search(key):
                    _refuse_text(key, "key", (key, link), where)


#: The Keras release :data:`_KERAS_PUBLIC_NAMES` lists.
_KERAS_PUBLIC_NAMES_VERSION = "3.15.1"

#: What Keras resolves a serialized object of each public module by (``{"module": "keras.activations",
#: "class_name": "function", "config": "relu"}``): the names Keras exports there first (its canonical API
#: names, which ``deserialize_keras_object`` looks up), and the serializable classes the module holds under
#: other names (found by importing it). A function exported under a second name (``keras.activations.swish``)
#: is not among them: Keras resolves it only by its first. Keras :data:`_KERAS_PUBLIC_NAMES_VERSION`; the
#: tests check the table against the installed Keras.
_KERAS_PUBLIC_NAMES_TEXT = """
keras: DTypePolicy FloatDTypePolicy Function Initializer InputSpec KerasTensor Layer Loss Metric Model Operation
Optimizer Quantizer Regularizer RematScope Sequential StatelessScope SymbolicScope Variable device name_scope remat
version
keras.activations: celu deserialize elu exponential gelu get glu hard_shrink hard_sigmoid hard_silu hard_tanh
leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu serialize sigmoid silu soft_shrink softmax softplus
softsign sparse_plus sparse_sigmoid sparsemax squareplus tanh tanh_shrink threshold
keras.applications: MobileNetV3Large MobileNetV3Small ResNet101V2 ResNet152V2 ResNet50V2
keras.applications.convnext: ConvNeXtBase ConvNeXtLarge ConvNeXtSmall ConvNeXtTiny ConvNeXtXLarge decode_predictions
preprocess_input
keras.applications.densenet: DenseNet121 DenseNet169 DenseNet201 decode_predictions preprocess_input
keras.applications.efficientnet: EfficientNetB0 EfficientNetB1 EfficientNetB2 EfficientNetB3 EfficientNetB4
EfficientNetB5 EfficientNetB6 EfficientNetB7 decode_predictions preprocess_input
keras.applications.efficientnet_v2: EfficientNetV2B0 EfficientNetV2B1 EfficientNetV2B2 EfficientNetV2B3
EfficientNetV2L EfficientNetV2M EfficientNetV2S decode_predictions preprocess_input
keras.applications.imagenet_utils: decode_predictions preprocess_input
keras.applications.inception_resnet_v2: InceptionResNetV2 decode_predictions preprocess_input
keras.applications.inception_v3: InceptionV3 decode_predictions preprocess_input
keras.applications.mobilenet: MobileNet decode_predictions preprocess_input
keras.applications.mobilenet_v2: MobileNetV2 decode_predictions preprocess_input
keras.applications.mobilenet_v3: decode_predictions preprocess_input
keras.applications.nasnet: NASNetLarge NASNetMobile decode_predictions preprocess_input
keras.applications.resnet: ResNet101 ResNet152
keras.applications.resnet50: ResNet50 decode_predictions preprocess_input
keras.applications.resnet_v2: decode_predictions preprocess_input
keras.applications.vgg16: VGG16 decode_predictions preprocess_input
keras.applications.vgg19: VGG19 decode_predictions preprocess_input
keras.applications.xception: Xception decode_predictions preprocess_input
keras.backend: get_uid is_float_dtype is_int_dtype result_type
keras.callbacks: BackupAndRestore CSVLogger Callback CallbackList EarlyStopping History LambdaCallback
LearningRateScheduler ModelCheckpoint OrbaxCheckpoint ProgbarLogger ReduceLROnPlateau RemoteMonitor SwapEMAWeights
TensorBoard TerminateOnNaN
keras.config: backend disable_flash_attention disable_interactive_logging disable_traceback_filtering dtype_policy
enable_flash_attention enable_interactive_logging enable_traceback_filtering enable_unsafe_deserialization epsilon
floatx image_data_format is_flash_attention_enabled is_interactive_logging_enabled is_nnx_enabled
is_traceback_filtering_enabled max_epochs max_steps_per_epoch set_backend set_dtype_policy set_epsilon set_floatx
set_image_data_format set_max_epochs set_max_steps_per_epoch
keras.constraints: Constraint MaxNorm MinMaxNorm NonNeg UnitNorm deserialize get serialize
keras.datasets.boston_housing: load_data
keras.datasets.california_housing: load_data
keras.datasets.cifar10: load_data
keras.datasets.cifar100: load_data
keras.datasets.fashion_mnist: load_data
keras.datasets.imdb: get_word_index load_data
keras.datasets.mnist: load_data
keras.datasets.reuters: get_label_names get_word_index load_data
keras.distillation: DistillationLoss Distiller FeatureDistillation LogitsDistillation
keras.distribution: DataParallel DeviceMesh LayoutMap ModelParallel TensorLayout distribute_tensor distribution
get_device_count initialize list_devices set_distribution
keras.dtype_policies: AWQDTypePolicy DTypePolicyMap GPTQDTypePolicy Int4DTypePolicy QuantizedDTypePolicy
QuantizedFloat8DTypePolicy deserialize get serialize
keras.export: ExportArchive
keras.initializers: Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity LecunNormal LecunUniform Ones
Orthogonal RandomNormal RandomUniform STFT TruncatedNormal VarianceScaling Zeros deserialize get serialize
keras.layers: Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add AdditiveAttention
AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D AveragePooling2D AveragePooling3D AvgPool1D
AvgPool2D AvgPool3D BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate
ContrastLimitedAdaptiveHistogramEqualization Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose
ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose Convolution2D Convolution2DTranspose
Convolution3D Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix Dense DepthwiseConv1D DepthwiseConv2D
Discretization Dot Dropout ELU EinsumDense Embedding Equalization Flatten FlaxLayer GRU GRUCell GaussianDropout
GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D
GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D GlobalMaxPooling2D
GlobalMaxPooling3D GroupNormalization GroupQueryAttention HashedCrossing Hashing Identity Input InputLayer
IntegerLookup JaxLayer LSTM LSTMCell Lambda Layer LayerNormalization LeakyReLU Masking MaxNumBoundingBoxes MaxPool1D
MaxPool2D MaxPool3D MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp MultiHeadAttention
Multiply Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment RandomBrightness
RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop RandomElasticTransform RandomErasing RandomFlip
RandomGaussianBlur RandomGrayscale RandomHue RandomInvert RandomPerspective RandomPosterization RandomRotation
RandomSaturation RandomSharpness RandomShear RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape
Resizing ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SeparableConvolution1D
SeparableConvolution2D SimpleRNN SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D
SpatialDropout3D SpectralNormalization StackedRNNCells StringLookup Subtract TFSMLayer TextVectorization
TimeDistributed TorchModuleWrapper UnitNormalization UpSampling1D UpSampling2D UpSampling3D Wrapper ZeroPadding1D
ZeroPadding2D ZeroPadding3D add average concatenate deserialize dot maximum minimum multiply serialize subtract
keras.legacy.saving: deserialize_keras_object serialize_keras_object
keras.losses: BinaryCrossentropy BinaryFocalCrossentropy CTC CategoricalCrossentropy CategoricalFocalCrossentropy
CategoricalGeneralizedCrossEntropy CategoricalHinge Circle CosineSimilarity Dice Hinge Huber KLDivergence LogCosh
Loss MeanAbsoluteError MeanAbsolutePercentageError MeanSquaredError MeanSquaredLogarithmicError Poisson
SparseCategoricalCrossentropy SquaredHinge Tversky categorical_generalized_cross_entropy circle cosine_similarity
ctc deserialize dice get huber log_cosh serialize tversky
keras.metrics: AUC Accuracy BinaryAccuracy BinaryCrossentropy BinaryIoU CategoricalAccuracy CategoricalCrossentropy
CategoricalHinge ConcordanceCorrelation CosineSimilarity F1Score FBetaScore FalseNegatives FalsePositives Hinge IoU
KLDivergence LogCoshError Mean MeanAbsoluteError MeanAbsolutePercentageError MeanIoU MeanMetricWrapper
MeanSquaredError MeanSquaredLogarithmicError Metric OneHotIoU OneHotMeanIoU PearsonCorrelation Poisson Precision
PrecisionAtRecall R2Score Recall RecallAtPrecision RootMeanSquaredError SensitivityAtSpecificity
SparseCategoricalAccuracy SparseCategoricalCrossentropy SparseTopKCategoricalAccuracy SpecificityAtSensitivity
SquaredHinge Sum TopKCategoricalAccuracy TrueNegatives TruePositives binary_accuracy binary_crossentropy
binary_focal_crossentropy categorical_accuracy categorical_crossentropy categorical_focal_crossentropy
categorical_hinge concordance_correlation deserialize get hinge kl_divergence mean_absolute_error
mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error pearson_correlation poisson
serialize sparse_categorical_accuracy sparse_categorical_crossentropy sparse_top_k_categorical_accuracy
squared_hinge top_k_categorical_accuracy
keras.mixed_precision: LossScaleOptimizer
keras.models: Model Sequential clone_model model_from_json
keras.ops: abs absolute adaptive_average_pool adaptive_max_pool add all allclose amax amin angle any append arange
arccos arccosh arcsin arcsinh arctan arctan2 arctanh argmax argmin argpartition argsort array array_split
associative_scan average average_pool bartlett batch_normalization binary_crossentropy bincount bitwise_and
bitwise_invert bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor blackman broadcast_to cast
categorical_crossentropy cbrt cdist ceil celu cholesky cholesky_inverse clip concatenate cond conj conjugate conv
conv_transpose convert_to_numpy convert_to_tensor copy corrcoef correlate cos cosh count_nonzero cross ctc_decode
ctc_loss cumprod cumsum custom_gradient deg2rad depth_to_space depthwise_conv det diag diagflat diagonal diff
digitize divide divide_no_nan dot dot_product_attention dsplit dstack dtype eig eigh einsum elu empty empty_like
equal erf erfc erfinv exp exp2 expand_dims expm1 extract_sequences eye fabs fft fft2 flip fliplr flipud floor
floor_divide fmax fmin fmod fold fori_loop full full_like gcd gelu geomspace get_item glu greater greater_equal
hamming hanning hard_shrink hard_sigmoid hard_silu hard_tanh heaviside histogram hsplit hstack hypot i0 identity
ifft2 imag in_top_k inner inv irfft is_tensor isclose isfinite isin isinf isnan isneginf isposinf isreal istft jvp
kaiser kron layer_normalization lcm ldexp leaky_relu left_shift less less_equal linspace log log10 log1p log2
log_sigmoid log_softmax logaddexp logaddexp2 logdet logical_and logical_not logical_or logical_xor logspace
logsumexp lstsq lu_factor map matmul matrix_rank max max_pool maximum mean median meshgrid min minimum mod moments
moveaxis multi_hot multiply nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
nanpercentile nanprod nanquantile nanstd nansum nanvar ndim negative nextafter nonzero norm normalize not_equal
one_hot ones ones_like outer pad percentile pinv polar power prod psnr ptp qr quantile rad2deg ravel real rearrange
reciprocal relu relu6 repeat reshape rfft right_shift rms_normalization roll rot90 round rsqrt saturate_cast scan
scatter scatter_update searchsorted segment_max segment_min segment_prod segment_sum select selu separable_conv
shape sigmoid sign signbit silu sin sinc sinh size slice slice_update slogdet soft_shrink softmax softplus softsign
solve solve_triangular sort space_to_depth sparse_categorical_crossentropy sparse_plus sparse_sigmoid sparsemax
split sqrt square squareplus squeeze stack std stft stop_gradient subtract sum svd swapaxes switch take
take_along_axis tan tanh tanh_shrink tensordot threshold tile top_k trace transpose trapezoid tri tril triu
true_divide trunc unfold unique unravel_index unstack vander var vdot vectorize vectorized_map view view_as_complex
view_as_real vsplit vstack where while_loop zeros zeros_like
keras.ops.image: affine_transform crop_images elastic_transform extract_patches extract_patches_3d gaussian_blur
hsv_to_rgb map_coordinates pad_images perspective_transform resize rgb_to_grayscale rgb_to_hsv scale_and_translate
sobel_edges ssim
keras.optimizers: Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lamb Lion LossScaleOptimizer MultiOptimizer Muon
Nadam Optimizer OptimizerMap RMSprop SGD ScheduleFreeAdamW deserialize get serialize
keras.optimizers.legacy: Adagrad
keras.optimizers.schedules: CosineDecay CosineDecayRestarts ExponentialDecay InverseTimeDecay LearningRateSchedule
PiecewiseConstantDecay PolynomialDecay deserialize serialize
keras.preprocessing.image: smart_resize
keras.quantizers: AWQConfig AbsMaxQuantizer Float8QuantizationConfig GPTQConfig Int4QuantizationConfig
Int8QuantizationConfig QuantizationConfig abs_max_quantize abs_max_quantize_grouped_with_zero_point
compute_float8_amax_history compute_float8_scale deserialize fake_quant_with_min_max_vars get pack_int4
quantize_and_dequantize serialize unpack_int4
keras.random: SeedGenerator beta binomial categorical dropout gamma normal randint shuffle truncated_normal uniform
keras.regularizers: L1 L1L2 L2 OrthogonalRegularizer deserialize get serialize
keras.saving: CustomObjectScope KerasFileEditor deserialize_keras_object get_custom_objects get_registered_name
get_registered_object load_model load_weights register_keras_serializable save_model save_weights
serialize_keras_object
keras.tree: MAP_TO_NONE assert_same_paths assert_same_structure flatten flatten_with_path is_nested lists_to_tuples
map_shape_structure map_structure map_structure_up_to pack_sequence_as traverse
keras.utils: Config FeatureSpace Progbar PyDataset array_to_img audio_dataset_from_directory clear_session get_file
get_source_inputs image_dataset_from_directory img_to_array is_keras_tensor load_img model_to_dot normalize
pack_x_y_sample_weight pad_sequences plot_model save_img set_random_seed split_dataset standardize_dtype
text_dataset_from_directory timeseries_dataset_from_array to_categorical unpack_x_y_sample_weight
keras.utils.bounding_boxes: affine_transform clip_to_image_size compute_ciou compute_iou convert_format crop
decode_deltas_to_boxes encode_box_to_deltas pad
keras.visualization: draw_bounding_boxes draw_segmentation_masks plot_bounding_box_gallery plot_image_gallery
plot_segmentation_mask_gallery
keras.wrappers: SKLearnClassifier SKLearnRegressor SKLearnTransformer
"""


def _keras_public_names() -> dict[str, frozenset[str]]:
    """:data:`_KERAS_PUBLIC_NAMES_TEXT` as ``{module: names}`` (read once)."""
    global _KERAS_PUBLIC_NAMES
    if _KERAS_PUBLIC_NAMES is None:
        table: dict[str, set[str]] = {}
        names: set[str] = set()
        for word in _KERAS_PUBLIC_NAMES_TEXT.split():
            if word.endswith(":"):
                names = table.setdefault(word[:-1], set())
            else:
                names.add(word)
        _KERAS_PUBLIC_NAMES = {module: frozenset(found) for module, found in table.items()}
    return _KERAS_PUBLIC_NAMES


_KERAS_PUBLIC_NAMES: dict[str, frozenset[str]] | None = None
_KERAS_CURRENT: list[bool] = []


def _keras_table_current() -> bool:
    """Whether the installed Keras is the one :data:`_KERAS_PUBLIC_NAMES_TEXT` lists (its package metadata, no
    import)."""
    if not _KERAS_CURRENT:
        from importlib import metadata

        try:
            _KERAS_CURRENT.append(metadata.version("keras") == _KERAS_PUBLIC_NAMES_VERSION)
        except metadata.PackageNotFoundError:
            _KERAS_CURRENT.append(False)
    return _KERAS_CURRENT[0]


def _unresolved_keras_function(value: dict[str, Any]) -> str | None:
    """The ``module.name`` of a function object Keras cannot resolve in its own public API, or None.

    Keras reads ``{"module": "keras.X", "class_name": "function", "config": NAME}`` as the object it exports
    as ``keras.X.NAME`` (or a serializable class module ``keras.X`` holds), after the registered objects and
    those passed to ``custom_objects`` (a registered name: ``package>name``); any other name fails the load
    ("Could not locate function"). Left to the safety check: private modules and names (``keras.src``,
    ``_name``), and an object whose ``registered_name`` names something else. Checked only against the Keras
    the table lists (another Keras may export other names).
    """
    module, name, registered = value.get("module"), value.get("config"), value.get("registered_name")
    if value.get("class_name") != "function" or not isinstance(module, str) or not isinstance(name, str):
        return None
    if module != "keras" and not module.startswith("keras."):
        return None
    if any(part.startswith("_") or part == "src" for part in module.split(".")[1:]) or name.startswith("_"):
        return None  # refused by the safety check, as Keras's safe mode refuses them
    if ">" in name or registered not in (None, name, "function") or not _keras_table_current():
        return None
    if name in _keras_public_names().get(module, ()):
        return None
    keras = sys.modules.get("keras")
    saving = getattr(keras, "saving", None) if keras is not None else None
    if saving is not None and saving.get_registered_object(name) is not None:
        return None  # registered under its bare name (a custom object scope), which Keras looks up first
    return f"{module}.{name}"


def _root_key(link: Any) -> Any:
    """The key of the config's top level a link leads down from (``compile_config``, ``config``)."""
    key = None
    while link is not None:
        key, link = link
    return key


def _unresolved_function_error(missing: str, at: str, where: str) -> IncompatibleFileError:
    return IncompatibleFileError(
        f"{where}: the model config at '{at[:120]}' names the function {missing[:200]!r}, which Keras does not "
        "have (its public functions are named by the module they are exported from, e.g. "
        "'keras.activations.relu'), so Keras cannot rebuild the object and loading refuses the file as corrupt "
        "or incompatible; save the model again with the Keras that wrote it, or fix the function's name in the "
        "config"
    )


def _check_keras_class(value: dict[str, Any], link: Any, where: str) -> None:
    """Refuse a Keras object that names a function as its class (``keras.utils`` / ``get_file``), or a
    function Keras does not have (``keras.activations.no_such_fn``).

    Keras writes a function as ``class_name: function``; a lower-case class of
    a Keras module names a function Keras cannot rebuild from a config, so
    loading refuses the file, as it refuses a function object naming no function of Keras's public API
    (:func:`_unresolved_keras_function`).
    """
    missing = _unresolved_keras_function(value)
    if missing is not None and _root_key(link) != "compile_config":  # that one only where the load compiles
        raise _unresolved_function_error(missing, _link_path(link), where)
    module, class_name = value.get("module"), value.get("class_name")
    if not (isinstance(module, str) and isinstance(class_name, str)):
        return
    if module.split(".", 1)[0] != "keras" or not class_name[:1].islower() or class_name == "function":
        return
    raise IncompatibleFileError(
        f"{where}: the model config at '{_link_path(link)[:120]}' names {f'{module}.{class_name}'[:200]!r} as a "
        "class; Keras writes a function as class_name 'function' and cannot rebuild this object, so loading "
        "refuses the file as corrupt or incompatible"
    )


def _refuse_long(size: int, what: str, link: Any, where: str) -> None:
    path = _link_path(link)
    raise FormatError(
        f"{where}: the model config's {what} at '{path[:120]}' is {size:,} characters long; netform's limit is "
        f"{MAX_CONFIG_STRING:,} characters for any string of a model config (Keras writes names and class paths), "
        "so the file is refused as corrupt or hostile"
    )


def _link_path(link: Any) -> str:
    """The way down to a value of the config (``(key, parent's link)`` links) as ``.config.layers[1].name``."""
    keys = []
    while link is not None:
        keys.append(link[0])
        link = link[1]
    return "".join(f"[{k}]" if isinstance(k, int) else f".{_printable(str(k))}" for k in reversed(keys))


def _printable(text: str) -> str:
    """``text`` with its lone surrogates written as escapes (``\\ud800``), so a message can be printed."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _refuse_text(text: str, what: str, link: Any, where: str) -> None:
    found = _SURROGATE.search(text)
    code = ord(found.group()) if found else 0
    raise FormatError(
        f"{where}: the model config's {what} at '{_link_path(link).lstrip('.')[:120]}' holds \\u{code:04x}, half of a UTF-16 "
        "surrogate pair on its own, which is not text (no UTF-8 file, terminal or diagram can hold it); Keras "
        "cannot load such a config either, so the file is refused as corrupt or edited"
    )


def check_text(value: Any, where: str, field: str) -> None:
    """Refuse metadata (``netform.json``, ``metadata.json``, an HDF5 attribute) holding a string that is not text.

    JSON's ``"\\ud800"`` escape parses to half of a UTF-16 surrogate pair on its
    own, which no UTF-8 file or terminal can hold: it is refused here, naming
    the place, as :func:`check_graph_bounds` refuses it in a model config, so
    no later print or write fails on it. The walk needs no recursion; the
    caller bounds the number of containers (:func:`check_json_containers`).

    Args:
        value: The decoded JSON value (or a string read from the file).
        where: The file, for messages.
        field: The entry or attribute inside ``where`` (``netform.json``).

    Raises:
        FormatError: A key or string value holds a lone surrogate.
    """
    stack: list[tuple[Any, Any]] = [(value, None)]
    while stack:
        item, link = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                _refuse_metadata(item, "value", link, where, field)
            continue
        if not isinstance(item, (dict, list)):
            continue
        for key, inner in item.items() if isinstance(item, dict) else enumerate(item):
            if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                _refuse_metadata(key, "key", (key, link), where, field)
            stack.append((inner, (key, link)))


def _refuse_metadata(text: str, what: str, link: Any, where: str, field: str) -> None:
    found = _SURROGATE.search(text)
    code = ord(found.group()) if found else 0
    place = _link_path(link).lstrip(".")[:120]
    at = f" at '{place}'" if place else ""
    raise FormatError(
        f"{where}: {field}'s {what}{at} holds \\u{code:04x}, half of a UTF-16 "
        "surrogate pair on its own, which is not text (no UTF-8 file or terminal can hold it); netform and Keras "
        "write only text there, so the file is refused as corrupt or edited"
    )


def _check_names(model: dict[str, Any], layers: list[Any], label: str, where: str) -> None:
    """Refuse a layer or model name Keras refuses when it builds the layer (one holding ``/``, or no string)."""
    named = [(model.get("name"), f"model '{label}'")]
    for index, layer in enumerate(layers):
        cfg = layer.get("config") if isinstance(layer, dict) else None
        named.append((cfg.get("name") if isinstance(cfg, dict) else None, f"layer number {index} of model '{label}'"))
    for name, subject in named:
        if name is not None and not isinstance(name, str):
            raise FormatError(
                f"{where}: {subject} in the config is named {_short(name)}, not a string; "
                "Keras refuses such a name when it builds the model, so the file is refused as corrupt or edited"
            )
    for layer in layers:
        name = _layer_name(layer) if isinstance(layer, dict) else None
        if isinstance(name, str) and len(name) > MAX_LAYER_NAME:
            raise FormatError(
                f"{where}: layer {_short(name)} of model '{label}' in the config has a name of {len(name):,} "
                f"characters; netform's limit is {MAX_LAYER_NAME:,} characters, so the file is refused as corrupt "
                "or hostile"
            )
        if isinstance(name, str) and "/" in name:
            raise FormatError(
                f"{where}: layer {_short(name)} of model '{label}' in the config holds a '/', which Keras "
                "refuses in a layer name when it builds the model; the file is corrupt or was edited. "
                "Restore it from a good copy."
            )


def _object_config(class_name: Any, inner: Any, native: bool) -> bool:
    """Whether Keras can read ``inner`` as the ``config`` of a serialized object of ``class_name``: a mapping or
    null, or, in a Keras 2 config (not ``native``), a list of layers for a Sequential (how Keras 2.2 and
    earlier wrote one, which Keras's legacy HDF5 loader still reads)."""
    if inner is None or isinstance(inner, dict):
        return True
    return not native and class_name == "Sequential" and isinstance(inner, list)


def _check_model_object(config: Mapping[str, Any], where: str, native: bool) -> None:
    """Refuse a saved model whose own ``config`` is no mapping (Keras: "Expected 'config' to be a dict")."""
    inner = config.get("config")
    if "class_name" in config and not _object_config(config.get("class_name"), inner, native):
        raise IncompatibleFileError(
            f"{where}: the model ({_short(config.get('class_name'))}) in the config has a config of type "
            f"{type(inner).__name__} ({_short(inner)}), not a mapping; Keras cannot build it, so the file is "
            "refused as corrupt or edited"
        )


def _check_objects(layers: list[Any], label: str, where: str, native: bool, names: bool = False) -> int:
    """Refuse a model's layer that is no serialized object, or whose ``config`` is no mapping.

    Keras deserializes each entry of a model's ``layers`` as an object (``class_name`` and ``config``), and
    refuses one whose ``config`` is neither a mapping nor null ("Expected 'config' to be a dict"); a string
    in place of a layer fails too. Refused here, naming the layer, every reader refuses such a file as
    ``load`` does, rather than skip the layer (a Sequential's input layer) or stop on it unnamed. Returns the
    copies of a step its built-in layers write into the graph of a call (:func:`_check_built_shape_costs`).
    """
    traced = 0
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise FormatError(
                f"{where}: model '{label}' in the config lists {_short(layer)} as its layer {index}, where a "
                "layer's class_name and config belong; Keras cannot build it, so the file is refused as corrupt "
                "or edited"
            )
        class_name, inner = layer.get("class_name"), layer.get("config")
        if not isinstance(class_name, str) or not _object_config(class_name, inner, native):
            name = _layer_name(layer)
            named = _short(name) if isinstance(name, str) else f"number {index}"
            what = (
                f"no class_name string ({_short(class_name)})"
                if not isinstance(class_name, str)
                else f"a config of type {type(inner).__name__} ({_short(inner)}), not a mapping"
            )
            raise IncompatibleFileError(
                f"{where}: layer {named} ({_short(class_name)}) of model '{label}' in the config has {what}; "
                "Keras cannot build the layer, so the file is refused as corrupt or edited"
            )
        if native and _keras_layer(layer) is not None:
            named = _short(_layer_name(layer)) if isinstance(_layer_name(layer), str) else f"number {index}"
            # (a wrapper's count holds its inner layers', which are checked on their own shapes)
            traced += _check_arguments_objects(layer, named, class_name, label, where, names)
            for inner_name, inner_class, inner_layer in _inner_layers(layer["config"], str(_layer_name(layer))):
                _check_arguments_objects(inner_layer, _short(inner_name), inner_class, label, where, names)
        elif not native and _keras_layer(layer, legacy=True) is not None:
            # a legacy HDF5 config's arguments are Keras 2's (not checked as objects), its counts are Keras's
            named = _short(_layer_name(layer)) if isinstance(_layer_name(layer), str) else f"number {index}"
            _check_construction_sizes(layer["config"], named, class_name, label, where)
            for inner_name, inner_class, inner_layer in _inner_layers(layer["config"], str(_layer_name(layer)), True):
                _check_construction_sizes(inner_layer["config"], _short(inner_name), inner_class, label, where)
        dtype = inner.get("dtype") if isinstance(inner, dict) else None
        if isinstance(dtype, dict) and not ("class_name" in dtype and "config" in dtype):
            # Keras reads a mapping without both as a plain dict, no dtype policy ("Unknown `config` as a
            # `dict`"); a bare shared_object_id is no reference to an earlier object, which Keras writes whole
            raise IncompatibleFileError(
                f"{where}: layer {_short(_layer_name(layer))} ({_short(class_name)}) of model '{label}' in the "
                f"config has the dtype {_short(dtype)}, which names no dtype policy (a class_name and config); "
                "Keras cannot build the layer, so the file is refused as corrupt or edited"
            )
    return traced


#: The names Keras's ``activations.get``, ``initializers.get``, ``regularizers.get`` and ``constraints.get``
#: resolve a string argument by (each module's ``ALL_OBJECTS_DICT``), Keras :data:`_KERAS_PUBLIC_NAMES_VERSION`;
#: a test checks them against the installed Keras.
_KERAS_ARGUMENT_NAMES_TEXT = """
activation: celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh leaky_relu linear
log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink softmax softplus softsign sparse_plus
sparse_sigmoid sparsemax squareplus swish tanh tanh_shrink threshold
initializer: Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity IdentityInitializer Initializer
LecunNormal LecunUniform Ones Orthogonal OrthogonalInitializer RandomNormal RandomUniform STFT STFTInitializer
TruncatedNormal VarianceScaling Zeros constant glorot_normal glorot_uniform he_normal he_uniform identity initializer
lecun_normal lecun_uniform normal one ones orthogonal random_normal random_uniform stft truncated_normal uniform
variance_scaling zero zeros
regularizer: L1 L1L2 L2 OrthogonalRegularizer Regularizer l1 l1l2 l2 orthogonal_regularizer regularizer
constraint: Constraint MaxNorm MinMaxNorm NonNeg UnitNorm constraint max_norm min_max_norm non_neg unit_norm
"""
_KERAS_ARGUMENT_NAMES: dict[str, frozenset[str]] = {}


def keras_argument_names() -> dict[str, frozenset[str]]:
    """:data:`_KERAS_ARGUMENT_NAMES_TEXT` as ``{kind: names}`` (read once)."""
    if not _KERAS_ARGUMENT_NAMES:
        table: dict[str, set[str]] = {}
        names: set[str] = set()
        for word in _KERAS_ARGUMENT_NAMES_TEXT.split():
            if word.endswith(":"):
                names = table.setdefault(word[:-1], set())
            else:
                names.add(word)
        _KERAS_ARGUMENT_NAMES.update({kind: frozenset(found) for kind, found in table.items()})
    return _KERAS_ARGUMENT_NAMES


def _argument_kind(key: str) -> str | None:
    """Which of Keras's ``get`` functions a built-in layer passes its argument ``key`` to, or None."""
    if key == "activation" or key.endswith("_activation"):
        return "activation"
    for kind in ("initializer", "regularizer", "constraint"):
        if key.endswith(f"_{kind}"):
            return kind
    return None


def _registered_anywhere(name: str) -> bool:
    """Whether a string argument may name an object Keras finds by registration (not checked without Keras)."""
    if ">" in name:
        return True
    keras = sys.modules.get("keras")
    saving = getattr(keras, "saving", None) if keras is not None else None
    return saving is not None and saving.get_registered_object(name) is not None


#: The dtype policy names Keras's ``dtype_policies.get`` takes that are no quantized policy's (Keras's
#: ``ALLOWED_DTYPES``, ``int``, and the two mixed policies); a test checks them against the installed Keras.
KERAS_POLICY_NAMES = frozenset(
    "bfloat16 bool complex128 complex64 float16 float32 float64 float8_e4m3fn float8_e5m2 int int16 int32 int64 "
    "int8 string uint16 uint32 uint64 uint8 mixed_float16 mixed_bfloat16".split()
)
#: The dtype policy classes Keras writes (module ``keras``).
KERAS_POLICY_CLASSES = frozenset(
    "DTypePolicy FloatDTypePolicy QuantizedDTypePolicy QuantizedFloat8DTypePolicy GPTQDTypePolicy "
    "AWQDTypePolicy Int4DTypePolicy DTypePolicyMap".split()
)
#: What a quantized policy's name starts with (Keras's ``QUANTIZATION_MODES``): left to Keras, which reads more
#: forms of them (``gptq/4/128_from_float32``) than a table lists.
_QUANTIZED_POLICIES = ("int8", "float8", "int4", "gptq", "awq")


def _keras_policy_name(name: str) -> bool:
    """Whether Keras may take ``name`` as a layer's dtype policy (False only where it certainly does not)."""
    return name in KERAS_POLICY_NAMES or name.startswith(_QUANTIZED_POLICIES) or not _keras_table_current()


def _nested_object_problem(inner: Any) -> str | None:
    """What Keras cannot rebuild among the objects an object argument's config holds (an initializer's
    ``seed`` given as an object whose class_name is a mapping), or None."""
    stack = [inner]
    seen = 0
    while stack and seen < MAX_JSON_CONTAINERS:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                class_name, config = node["class_name"], node["config"]
                if not isinstance(class_name, str):
                    return f"an object holding an object whose class_name is {_short(class_name)}, not a string"
                if (
                    config is not None
                    and not isinstance(config, dict)
                    and not (class_name == "function" and isinstance(config, str))
                ):
                    return f"an object holding an object whose config is {_short(config)}, not a mapping"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def _argument_problem(key: str, value: Any, names: bool) -> str | None:
    """What Keras refuses in a built-in layer's object argument (a dtype, activation, initializer, regularizer
    or constraint) when it builds the layer, or None. ``names``: also the names and classes Keras looks up,
    which ``custom_objects`` may add to (left to Keras where ``load`` has them)."""
    kind = "dtype" if key == "dtype" else _argument_kind(key)
    if kind is None or value is None:
        return None
    if isinstance(value, dict):
        if kind == "dtype" and "class_name" not in value:
            return None  # refused with its own message by _check_objects
        class_name, inner = value.get("class_name"), value.get("config")
        if not isinstance(class_name, str):
            return f"an object whose class_name is {_short(class_name)}, not a string"
        for field in ("module", "registered_name"):
            if value.get(field) is not None and not isinstance(value[field], str):
                return f"an object whose {field} is {_short(value[field])}, not a string"
        if class_name == "function" and isinstance(inner, str):
            return None
        if inner is not None and not isinstance(inner, dict):
            return f"an object whose config is {_short(inner)}, not a mapping"
        # DTypePolicy names itself; a quantized policy (QuantizedDTypePolicy, Int4DTypePolicy, ...) names the
        # policy it quantizes as source_name; a DTypePolicyMap holds policies by layer path
        field = "name" if class_name in ("DTypePolicy", "FloatDTypePolicy") else "source_name"
        if kind == "dtype" and isinstance(inner, dict) and (field == "name" or field in inner):
            if not isinstance(inner.get(field), str):
                return f"a dtype policy whose {field} is {_short(inner.get(field))}, not a string"
            if not _keras_policy_name(inner[field]):
                return f"a dtype policy whose {field} is {_short(inner[field])}, which Keras has no policy for"
        nested = _nested_object_problem(inner)
        if nested is not None:
            return nested
        module = value.get("module")
        if not names:
            return None
        if (
            (module is None or (isinstance(module, str) and module != "keras" and not module.startswith("keras.")))
            and value.get("registered_name") in (None, class_name)
            and _keras_table_current()
            and class_name in (KERAS_POLICY_CLASSES if kind == "dtype" else keras_argument_names()[kind])
            and not _registered_anywhere(class_name)
        ):
            # Keras 3 finds its own classes by their module, and imports no other module for them
            return f"Keras's class {_short(class_name)} under the module {_short(module)}, which does not hold it"
        if (
            kind != "dtype"
            and module == f"keras.{kind}s"
            and value.get("registered_name") in (None, class_name)
            and _keras_table_current()
            and class_name not in keras_argument_names()[kind]
        ):
            return f"the class {_short(class_name)}, which {module} does not have"
        return None
    if kind == "dtype":
        if not isinstance(value, str):
            return f"{_short(value)}, not a dtype name or policy"
        if _keras_policy_name(value):  # no custom object names a policy
            return None
        return f"{_short(value)}, which names no Keras dtype policy"
    if isinstance(value, str):
        if (
            not names
            or value in keras_argument_names()[kind]
            or not _keras_table_current()
            or _registered_anywhere(value)
        ):
            return None
        return f"{_short(value)}, which names no Keras {kind}"
    return f"{_short(value)}, where Keras reads the name or the serialized object of a Keras {kind}"


def _check_construction_sizes(config: dict[str, Any], named: str, class_name: str, label: str, where: str) -> None:
    """Refuse a size Keras makes a list or range of when it makes the layer, before any weight: a lookup layer's
    ``num_oov_indices`` past :data:`~netform.spec._keras_arg_checks.MAX_OOV_INDICES`, a ``TextVectorization``'s
    ``ngrams`` past :data:`~netform.spec._keras_arg_checks.MAX_NGRAMS` (and its ``output_sequence_length``
    past :data:`~netform.spec._keras_arg_checks.MAX_SEQUENCE_LENGTH`, a size Keras makes at every call).

    Keras lists that many tokens when it makes the layer: 900,000,000 in a 22 KB file cost 7.5 GB (a string
    lookup's table 24 GB) before any weight was read, and no weight holds them to count.
    """
    from ..spec._keras_arg_checks import construction_problem

    found = construction_problem(str(class_name), config)
    if found is not None:
        key, why = found
        raise FormatError(
            f"{where}: layer {named} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config has {key} "
            f"{_short(config.get(key))}; {why}, so the file is refused as corrupt or hostile"
        )


def _check_built_shape_costs(
    layer: dict[str, Any], config: dict[str, Any], named: str, class_name: str, label: str, where: str
) -> int:
    """Refuse a layer whose cost at every call grows with the input shape its ``build_config`` records: a recurrent
    layer with ``unroll: true``, or a ``TimeDistributed`` (Keras loops over fixed time steps in Python), over more
    time steps than :data:`~netform.spec.layers._util.MAX_UNROLL_STEPS` (Keras writes each step into the graph of
    every call: 100,000 in a small file would keep ``predict`` tracing for half an hour), and the channels,
    framed samples or blur windows a ``RandomElasticTransform``, ``MelSpectrogram`` or ``RandomGaussianBlur`` makes
    whatever the data, and any tensor a layer's static rule finds past the per-sample limit inside the layer
    (attention scores, a sample padded for a dilated convolution). Returns the copies of a step the layer writes
    into the graph of a call past its own (0 where it repeats none), for the model's total."""
    from ..spec.layers._util import (
        MAX_UNROLL_STEPS,
        blur_problem,
        elastic_channels_problem,
        spectrogram_frames_problem,
        traced_copies,
        unrolls,
    )

    shape = _built_shape(layer)
    shaped = {
        "RandomElasticTransform": elastic_channels_problem,
        "MelSpectrogram": spectrogram_frames_problem,
        "RandomGaussianBlur": blur_problem,
    }
    if class_name in shaped and isinstance(shape, (list, tuple)):
        dims = tuple(d if isinstance(d, int) and not isinstance(d, bool) else None for d in shape)
        problem = shaped[class_name](class_name, config, dims)
        if problem is not None:
            raise FormatError(
                f"{where}: layer {named} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config: "
                f"{problem}, so the file is refused as corrupt or hostile"
            )
    _check_inner_tensors(layer, named, class_name, label, where)
    distributed = class_name == "TimeDistributed"
    if not (distributed or unrolls(config)) or not isinstance(shape, (list, tuple)):
        return 0
    dims = tuple(d if isinstance(d, int) and not isinstance(d, bool) else None for d in shape)
    steps = traced_copies(class_name, config, dims)
    if steps > MAX_UNROLL_STEPS:
        what = "runs its layer over" if distributed else "unrolls"
        raise FormatError(
            f"{where}: layer {named} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config {what} "
            f"{steps:,} fixed time steps (nested ones multiplied); netform takes at most {MAX_UNROLL_STEPS:,} (Keras "
            "writes each step into "
            "the graph of every call), so the file is refused as corrupt or hostile"
        )
    if steps <= 1:
        return 0
    return 2 * steps if class_name == "Bidirectional" else steps  # (both directions unroll)


def _recorded_inputs(layer: dict[str, Any]) -> Any:
    """The input shapes a layer's ``build_config`` records, as its static rule takes them: one shape, a list of
    them, or an attention layer's ``query_shape``, ``value_shape`` and ``key_shape`` in that order (None: none)."""
    build = layer.get("build_config")
    if not isinstance(build, dict):
        return None
    if "input_shape" in build:
        return _shape(build["input_shape"])
    shapes = build.get("shapes_dict")
    if not isinstance(shapes, dict) or "query_shape" not in shapes:
        return None
    keys = ("query_shape", "value_shape", "key_shape")
    return [_shape(shapes[key]) for key in keys if shapes.get(key) is not None]


def _check_inner_tensors(layer: dict[str, Any], named: str, class_name: str, label: str, where: str) -> None:
    """Refuse a layer whose static rule, on the input shapes its ``build_config`` records, finds a tensor Keras
    makes inside the layer at every call past the per-sample limit (:class:`~netform.spec._layer_base.LimitError`:
    a ``MultiHeadAttention`` of 3,000 heads over 1,000 steps in a 256 KB ``.keras`` asked ``predict`` for 12 GB).
    Only layers whose schema says its rule may (``limits_inside``); those without a static rule, or whose
    recorded shapes it does not take, are left to Keras."""
    shapes = _recorded_inputs(layer)
    if shapes is None:
        return
    from netform.spec._layer_base import LimitError, get_layer_spec

    from ._config_walk import static_layer

    try:
        if not get_layer_spec(KERAS_EXPORT_OF_CLASS.get(class_name, class_name)).limits_inside:
            return
        spec = static_layer(layer)
        spec.output_shape(shapes)
    except LimitError as err:
        raise FormatError(
            f"{where}: layer {named} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config: {err}, so "
            "the file is refused as corrupt or hostile"
        ) from None
    except (NetformError, ValueError, TypeError, KeyError, IndexError, ArithmeticError):
        return  # no static rule for this config or shape: Keras's own checks apply


def _check_arguments_objects(
    layer: dict[str, Any], named: str, class_name: str, label: str, where: str, names: bool
) -> int:
    """Refuse a built-in layer's object argument Keras cannot rebuild (``bias_initializer`` with a class_name
    that is a mapping, a dtype policy whose config is a string, ``kernel_regularizer: "float64"``), and costs
    that grow with its recorded input shape (:func:`_check_built_shape_costs`, whose step count it returns)."""
    inner = layer.get("config")
    if not isinstance(inner, dict):
        return 0
    _check_construction_sizes(inner, named, class_name, label, where)
    steps = _check_built_shape_costs(layer, inner, named, class_name, label, where)
    for key, value in inner.items():
        problem = _argument_problem(key, value, names) if isinstance(key, str) else None
        if problem is not None:
            raise IncompatibleFileError(
                f"{where}: layer {named} ({_short(class_name)}) of model '{label}' in the config has {key}: "
                f"{problem}; Keras cannot build the layer, so the file is refused as corrupt or edited (save the "
                "model again, or fix the argument in the config)"
            )
    return steps


def check_compile_config(config: Mapping[str, Any], where: str) -> None:
    """Refuse a Keras or netform model config whose ``compile_config`` is set but no mapping, as loading with
    ``compile=True`` refuses it (Keras's ``compile_from_config`` fails on it with a ``TypeError``).

    Keras compiles from any ``compile_config`` that is not empty; a model class whose ``compile`` is its own
    skips it, so only Keras's and netform's ``Functional`` and ``Sequential`` are held to it. A function of
    the ``compile_config`` (a loss, a metric) must be one Keras has, as in the model's layers.

    Raises:
        IncompatibleFileError: The model's ``compile_config`` is a string, a list or a number, or names a
            function Keras does not have (``keras.losses.no_such_loss``).
    """
    compile_config = config.get("compile_config")
    if isinstance(compile_config, dict):
        _check_compile_functions(compile_config, where)
        _check_steps_per_execution(config, compile_config, where)
        _check_traced_loops(compile_config.get("optimizer"), where)
    if not compile_config or isinstance(compile_config, dict) or not _is_model_class(config):
        return
    raise IncompatibleFileError(
        f"{where}: the model's compile_config in the config is {_short(compile_config)}, not a mapping; Keras "
        "cannot compile the model from it, so the file is refused as corrupt or edited (load it with "
        "compile=False to leave the compile configuration out)"
    )


def _check_traced_loops(optimizer: Any, where: str) -> None:
    """Refuse counts of the compile config's optimizer (anywhere in it: a ``LossScaleOptimizer``'s inner one, a
    ``MultiOptimizer``'s, a learning-rate schedule) that Keras loops over in every training step's graph: a
    ``Muon``'s ``ns_steps`` past :data:`~netform.spec._training_checks.MAX_NS_STEPS` (10**9 in a 2 KB file kept
    ``fit`` tracing without end), a ``PiecewiseConstantDecay``'s boundaries past
    :data:`~netform.spec._training_checks.MAX_SCHEDULE_BOUNDARIES`. The walk is bounded by
    :func:`check_graph_bounds`, run first."""
    from ..spec._training_checks import MAX_NS_STEPS, MAX_SCHEDULE_BOUNDARIES

    stack: list[tuple[Any, str]] = [(optimizer, "compile_config.optimizer")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            inner, kind = value.get("config"), value.get("class_name")
            if kind == "Muon" and isinstance(inner, dict) and "ns_steps" in inner:
                steps = inner["ns_steps"]
                if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= MAX_NS_STEPS:
                    raise FormatError(
                        f"{where}: the Muon optimizer at {path} in the config has ns_steps {_short(steps)}; netform "
                        f"takes a whole number from 0 to {MAX_NS_STEPS} (Keras writes each Newton-Schulz step into "
                        "the graph of every training step), so the file is refused as corrupt or hostile"
                    )
            if kind == "PiecewiseConstantDecay" and isinstance(inner, dict):
                boundaries = inner.get("boundaries")
                if isinstance(boundaries, list) and len(boundaries) > MAX_SCHEDULE_BOUNDARIES:
                    raise FormatError(
                        f"{where}: the PiecewiseConstantDecay at {path} in the config has {len(boundaries):,} "
                        f"boundaries; netform takes at most {MAX_SCHEDULE_BOUNDARIES} (Keras compares the step with "
                        "each in the graph of every training step), so the file is refused as corrupt or hostile"
                    )
            stack += [(item, f"{path}.{key}") for key, item in value.items() if isinstance(item, (dict, list))]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{i}]") for i, item in enumerate(value) if isinstance(item, (dict, list))]


#: The values a file's compile-time metrics may hold beyond :data:`DECLARED_RATIO` times the weight values the file
#: holds: 2**24, an IoU confusion matrix of 4,096 classes (Keras saves no metric state, so nothing in the file
#: stands for it).
METRIC_SLACK = 1 << 24


def _metric_values(config: Mapping[str, Any]) -> int:
    """The values a metric's config makes it hold (a lower bound): an IoU's confusion matrix (``num_classes``
    squared), times four counts of ``num_thresholds`` x ``num_labels`` (AUC and the …AtRecall family); 0
    without them."""
    values, sized = 1, False
    # (thresholds: four variables of that length, true and false positives and negatives)
    for key, power, times in (("num_classes", 2, 1), ("num_thresholds", 1, 4), ("num_labels", 1, 1)):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            values, sized = values * times * value**power, True
    return values if sized else 0


def check_metric_sizes(compile_config: Any, stored: int, where: str, field: str = "compile_config") -> None:
    """Refuse a compile configuration whose metrics would hold more values than :data:`DECLARED_RATIO` times the
    file's weights plus :data:`METRIC_SLACK`: compiling allocates them before anything runs.

    A 1.9 KB ``.keras`` whose ``MeanIoU`` was edited to 30,000 classes made ``nf.load`` allocate a 30,000² confusion
    matrix (7.8 GB); ``evaluate`` ran 30 s. The walk is bounded by :func:`check_graph_bounds`, run first.

    Raises:
        FormatError: Naming the metric, where it is written, and how many values it declares.
    """
    total, top, top_values = 0, "", 0
    stack: list[tuple[Any, str]] = [(compile_config, field)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            inner = value.get("config")
            if isinstance(value.get("class_name"), str) and isinstance(inner, dict):
                values = _metric_values(inner)
                total += values
                if values > top_values:
                    top, top_values = f"{value['class_name']} at {path}", values
            stack += [(item, f"{path}.{key}") for key, item in value.items() if isinstance(item, (dict, list))]
        elif isinstance(value, list):
            stack += [(item, f"{path}[{i}]") for i, item in enumerate(value) if isinstance(item, (dict, list))]
    if total > DECLARED_RATIO * stored + METRIC_SLACK:
        raise FormatError(
            f"{where}: the model's compile configuration declares metrics holding {total:,} values, more than "
            f"{DECLARED_RATIO} times the {stored:,} weight values the file holds plus {METRIC_SLACK:,}; "
            f"{_printable(top if len(top) <= 120 else top[:117] + '...')} alone holds {top_values:,}. Compiling would allocate them before anything "
            "runs, so the file is refused as corrupt or hostile (load it with compile=False to leave the compile "
            "configuration out)."
        )


def _check_steps_per_execution(config: Mapping[str, Any], compile_config: dict[str, Any], where: str) -> None:
    """Refuse a ``steps_per_execution`` the model's ``compile`` refuses (a positive int or ``"auto"``, as
    :meth:`netform.engine.Trainer.compile` checks it): Keras's and netform's ``Functional`` and ``Sequential``
    load as netform's, whose ``compile_from_config`` raised an engine error that did not name the file."""
    if "steps_per_execution" not in compile_config or not _is_model_class(config):
        return
    value = compile_config["steps_per_execution"]
    if value == "auto" or (type(value) is int and value >= 1):
        return
    raise IncompatibleFileError(
        f"{where}: the model's compile_config in the config has steps_per_execution {_short(value)}, not a "
        'positive int or "auto"; the model cannot be compiled from it, so the file is refused as corrupt or '
        "edited (load it with compile=False to leave the compile configuration out)"
    )


def _check_compile_functions(compile_config: dict[str, Any], where: str) -> None:
    """Refuse a loss, metric or optimizer of the model's ``compile_config`` naming a function Keras does not
    have (:func:`_unresolved_keras_function`): Keras's ``compile_from_config`` fails on it. The walk is bounded
    by :func:`check_graph_bounds`, run first."""
    stack: list[tuple[Any, Any]] = [(compile_config, ("compile_config", None))]
    while stack:
        value, link = stack.pop()
        if isinstance(value, dict):
            missing = _unresolved_keras_function(value)
            if missing is not None:
                raise _unresolved_function_error(missing, _link_path(link), where)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack += [(item, (key, link)) for key, item in items if isinstance(item, (dict, list))]


def _is_model_class(layer: Mapping[str, Any]) -> bool:
    """Whether a serialized object is Keras's or netform's ``Functional`` or ``Sequential``."""
    module, class_name = layer.get("module"), layer.get("class_name")
    return (
        isinstance(module, str)
        and module.split(".", 1)[0] in ("keras", "netform")
        and isinstance(class_name, str)
        and class_name.rsplit(">", 1)[-1] in ("Functional", "Sequential")
    )


def _check_nested_compile(layers: list[Any], label: str, where: str) -> None:
    """Refuse a layer's ``compile_config`` Keras fails on: Keras compiles a model used as a layer from any
    ``compile_config`` that is not empty (whether or not the file is loaded with ``compile``), and a layer of
    ``keras.layers`` has no ``compile_from_config`` to call."""
    for index, layer in enumerate(layers):
        compile_config = layer.get("compile_config") if isinstance(layer, dict) else None
        if not compile_config or not isinstance(layer, dict):
            continue
        if _is_model_class(layer) and isinstance(compile_config, dict):
            continue
        if not _is_model_class(layer) and layer.get("module") != _KERAS_LAYERS:
            continue  # another class may compile from its own config
        name = _layer_name(layer)
        named = _short(name) if isinstance(name, str) else f"number {index}"
        raise IncompatibleFileError(
            f"{where}: layer {named} ({_short(layer.get('class_name'))}) of model '{label}' in the config has "
            f"compile_config {_short(compile_config)}, which Keras cannot compile the layer from, so the file is "
            "refused as corrupt or edited"
        )


def _check_input_layers(layers: list[Any], label: str, where: str) -> None:
    """Refuse an ``InputLayer`` given no shape: Keras's says "You must pass a `shape` argument" (a null config
    builds it with none)."""
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("class_name") != "InputLayer":
            continue
        cfg = layer.get("config")
        if isinstance(cfg, dict) and any(cfg.get(key) is not None for key in _INPUT_SHAPE_KEYS):
            continue
        name = _layer_name(layer)
        named = _short(name) if isinstance(name, str) else f"number {index}"
        raise IncompatibleFileError(
            f"{where}: input layer {named} of model '{label}' in the config has no shape "
            f"({', '.join(_INPUT_SHAPE_KEYS)}); Keras cannot build an input without one, so the file is "
            "refused as corrupt or edited"
        )


def check_layer_objects(config: Mapping[str, Any], where: str, *, native: bool = True, names: bool = False) -> None:
    """Refuse a model, or a layer of one, that Keras cannot deserialize as an object, naming it.

    A ``config`` that is neither a mapping nor null (a Sequential's may be a list, as Keras 2.2 wrote it), a
    string in place of a layer, a layer without a ``class_name`` string, or an ``InputLayer`` given no shape.
    Run after :func:`check_graph_bounds` and the safety check (a class that would run code is refused as
    that), by ``load`` (through :func:`check_declared_weights`) and by every reader that describes a file
    without building it (through :func:`check_layer_configs`), so all refuse such a file alike, before
    anything walks its layers. A ``native`` config (Keras 3's, as in a ``.keras`` file) is also refused a
    layer's ``compile_config`` Keras cannot compile it from; ``native=False`` allows what Keras's legacy
    HDF5 loader reads of a Keras 2 config. A built-in layer's object arguments (dtype, activation,
    initializers, regularizers, constraints) are refused where Keras cannot rebuild them; ``names`` (the
    readers that describe a file, which take no ``custom_objects``) also refuses a name or class Keras has
    no such object for (``kernel_regularizer: "float64"``), which ``load`` leaves to Keras and its
    ``custom_objects``.

    Raises:
        FormatError: A string, list or number where a model's layer belongs.
        IncompatibleFileError: A model's or layer's ``config`` that is no mapping, a layer's ``class_name``
            that is no string, or an input layer with no shape.
    """
    from netform.spec.layers._util import MAX_TRACED_STEPS

    _check_model_object(config, where, native)
    _check_op_loops(config, where)
    traced = 0
    for label, _, model_config, _ in _model_configs(config):
        layers = model_config["layers"]
        traced += _check_objects(layers, label, where, native, names)
        if traced > MAX_TRACED_STEPS:
            raise FormatError(
                f"{where}: the layers of the config, up to model '{label}', unroll or run over fixed time steps "
                f"{traced:,} copies of a step in the graph of every call (added up); netform takes at most "
                f"{MAX_TRACED_STEPS:,} in a model (Keras traces each one: ten unrolled LSTMs over 255 steps kept "
                "a call tracing past 200 s), so the file is refused as corrupt or hostile"
            )
        _check_input_layers(layers, label, where)
        if native:
            _check_nested_compile(layers, label, where)


#: The most kernel positions a Fold op (one scatter each in the graph) or a GaussianBlur op (a window area, each
#: a copy of every pixel) may have in a model file, where no shape bounds them further
_MAX_OP_KERNEL = {"Fold": 256, "GaussianBlur": 4_096}
#: The most paths a CTCDecode op may return (Keras handles each in a Python loop: 20,000 in a 1.3 KB file kept
#: ``predict`` tracing past 120 s) and the widest beam it may search (Keras's default is 100)
_MAX_CTC_PATHS, _MAX_CTC_BEAM = 100, 10_000


def _check_op_loops(config: Mapping[str, Any], where: str) -> None:
    """Refuse an op node of a model config whose count Keras loops over in Python at every trace: ``Diff``'s
    ``n`` past :data:`~netform.spec.layers._op_rules.MAX_DIFF_ORDER` (as a spec; 100,000 in a 14 KB ``.keras``
    kept ``predict`` tracing past 90 s), a ``Fold``'s or ``GaussianBlur``'s kernel past :data:`_MAX_OP_KERNEL`, a
    ``CTCDecode``'s paths or beam past :data:`_MAX_CTC_PATHS` / :data:`_MAX_CTC_BEAM`,
    and any ``ElasticTransform`` op, whose loop runs over the channels and samples of a tensor the config gives
    no shape for (1,000 channels in a 22 KB file: minutes; the ``RandomElasticTransform`` layer is bounded)."""
    from ..spec.layers._op_rules import MAX_DIFF_ORDER

    for name, layer in _layers(config):
        module, kind, inner = layer.get("module"), layer.get("class_name"), layer.get("config")
        if not (isinstance(module, str) and module.startswith("keras.src.ops") and isinstance(inner, dict)):
            continue
        why = None
        if kind == "Diff":
            n = inner.get("n", 1)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_DIFF_ORDER:
                why = f"n {_short(n)}; netform takes 0 to {MAX_DIFF_ORDER} (Keras takes each difference in turn)"
        elif kind in _MAX_OP_KERNEL:
            size = inner.get("kernel_size", 3)
            sizes = [size, size] if isinstance(size, int) else size if isinstance(size, list) else None
            area = math.prod(sizes) if sizes and all(isinstance(v, int) for v in sizes) else None
            if area is not None and area > _MAX_OP_KERNEL[kind]:
                why = (
                    f"kernel_size {_short(size)} ({area:,} positions); netform takes at most "
                    f"{_MAX_OP_KERNEL[kind]:,} (Keras handles each position, or copies each pixel's window)"
                )
        elif kind == "CTCDecode":
            paths, beam = inner.get("top_paths", 1), inner.get("beam_width", 100)
            if not (isinstance(paths, int) and 0 < paths <= _MAX_CTC_PATHS):
                why = (
                    f"top_paths {_short(paths)}; netform takes 1 to {_MAX_CTC_PATHS} (Keras decodes each path in turn)"
                )
            elif not (isinstance(beam, int) and 0 < beam <= _MAX_CTC_BEAM):
                why = f"beam_width {_short(beam)}; netform takes 1 to {_MAX_CTC_BEAM:,}"
        elif kind == "ElasticTransform":
            why = (
                "Keras resamples each channel and each sample of its input in a Python loop, and the config gives "
                "no shape to bound them; netform bounds the RandomElasticTransform layer instead"
            )
        if why is not None:
            raise FormatError(
                f"{where}: the {kind} op {_short(name)} in the config has {why}, so the file is refused as "
                "corrupt or hostile"
                if kind != "ElasticTransform"
                else f"{where}: the ElasticTransform op {_short(name)} in the config: {why}; the file is refused"
            )


def check_graph_bounds(config: Mapping[str, Any], where: str) -> None:
    """Refuse a config whose graph is not a graph Keras can build, or larger than a spec may be.

    Inside :func:`config_memo` a config that passed is not walked again (loading's checks and the weights'
    check both ask).

    Raises:
        FormatError: Lists and objects nested more than :data:`MAX_CONFIG_NESTING`
            levels, or more than :data:`CONTAINERS_PER_LAYER` a layer (plus
            :data:`CONTAINER_SLACK`); more than :data:`MAX_CONFIG_LAYERS` layers or layer calls;
            models nested more than :data:`MAX_MODEL_NESTING` deep; more than
            :data:`MAX_MODEL_REFERENCES` input and output references, a call
            on more than :data:`MAX_CALL_TENSORS` tensors or more than
            :data:`CALL_TENSORS_PER_LAYER` tensors a layer passed to calls
            (plus :data:`MAX_CALL_TENSORS`); a reference
            to a layer or call the model does not hold; an input shape with a
            negative or non-integer dimension, or larger than a spec's; or a
            chain of layers longer than :func:`max_config_depth`.
    """
    memoized("graph_bounds", config, (), lambda: _check_graph_bounds(config, where))


def _check_graph_bounds(config: Mapping[str, Any], where: str) -> None:
    total_layers = 0
    limit = max_config_depth()
    models: list[tuple[str, str, dict[str, Any]]] = []
    for label, class_name, model_config, nesting in _model_configs(config):
        layers = model_config["layers"]
        total_layers += len(layers)
        if total_layers > MAX_CONFIG_LAYERS:
            raise FormatError(
                f"{where}: the model config lists more than {MAX_CONFIG_LAYERS:,} layers (model '{label}' alone "
                f"lists {len(layers):,}); netform's limit is {MAX_CONFIG_LAYERS:,}, as for a spec, so the file is "
                "refused as corrupt or hostile"
            )
        if nesting > MAX_MODEL_NESTING:
            raise FormatError(
                f"{where}: model '{label}' in the config is nested {nesting:,} models deep; netform's limit is "
                f"{MAX_MODEL_NESTING}, as for blocks in a spec, so the file is refused as corrupt or hostile"
            )
        models.append((label, class_name, model_config))
    _check_nesting(config, total_layers, where)
    refs = _References(where, total_layers)
    for label, class_name, model_config in models:
        layers = model_config["layers"]
        _check_names(model_config, layers, label, where)
        _check_input_shapes(model_config, label, where)
        if class_name == "Sequential":
            calls, depth = len(layers), len(layers)
        else:
            calls, depth = _functional_depth(model_config, label, refs)
        if calls > MAX_CONFIG_LAYERS:
            raise FormatError(
                f"{where}: model '{label}' in the config calls its layers {calls:,} times; netform's limit is "
                f"{MAX_CONFIG_LAYERS:,}, as for a spec, so the file is refused as corrupt or hostile"
            )
        if depth > limit:
            raise FormatError(
                f"{where}: model '{label}' in the config chains {depth:,} layers deep; the limit is {limit:,} "
                f"(Python's recursion limit {sys.getrecursionlimit():,} less {_STACK_MARGIN}: Keras maps a graph "
                "recursively, one call a layer). Raise the limit with sys.setrecursionlimit in your program "
                "before loading a model this deep; otherwise the file is refused as corrupt or hostile"
            )


def _unbuilt(config: Mapping[str, Any]) -> bool:
    """Whether a config holds a layer without a ``build_config`` that Keras builds on the shape reaching it (the
    model's input), which the layer-by-layer count does not know: in a Keras 3 config, or anywhere in a legacy
    ``.h5`` model's (Keras's legacy ``model_config`` writes no ``build_config``)."""
    legacy = _legacy_model(config)
    for _, layer in _layers(dict(config)):
        if ("module" in layer or legacy) and layer.get("class_name") != "InputLayer" and not layer.get("build_config"):
            # (Keras writes no build_config for a layer without weights, a Dropout or an Add: not counted)
            counted = _static_count(layer)
            if (counted is not None and counted[0] > 0) or _scanned_count(layer.get("config")) > 0:
                return True
            if _constant_values(layer.get("class_name"), layer.get("config"), (None, 1)) > 0:
                return True  # (a Normalization of constants: they take the input's size)
    return False


def _legacy_model(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` is a Sequential or Functional model as Keras's legacy HDF5 ``model_config`` writes it:
    its layers name no ``module`` and hold no ``build_config``, so Keras builds each on the tensor its model's
    input gives it (a Functional's inbound nodes record shapes, but Keras does not build on them)."""
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    return (
        config.get("class_name") in _LEGACY_MODELS
        and isinstance(layers, list)
        and all(isinstance(layer, dict) and "module" not in layer for layer in layers)
    )


#: The model classes a legacy HDF5 ``model_config`` names at its top.
_LEGACY_MODELS = frozenset({"Sequential", "Functional", "Model"})


def _graph_count(config: Mapping[str, Any], *, limits_only: bool = False) -> int | None:
    """The weight values of the model a config builds, counted by the static rules on the shapes its inputs give
    each layer (a Sequential without an ``InputLayer`` on its ``build_input_shape``); None where the rules
    cannot follow it. A problem of a spec's limits (:attr:`~netform.errors.Diagnostic.limit`: a tensor Keras
    would make past the per-sample limit, unrolled steps past the model's total) refuses any config, a legacy
    HDF5 one too; ``limits_only`` (a built config, whose layers Keras builds on their recorded shapes) refuses
    nothing else.

    A 12 KB ``.keras`` whose ``Input`` was edited to 300,000,000 features and whose ``Dense`` lost its
    ``build_config`` made Keras allocate 6.6 GB before a weight was read: the Dense was counted on the smallest
    input, as 2 values.

    Raises:
        FormatError: The config makes no model Keras can build (as :func:`._config_walk.spec_from_config`), or
            one past a spec's limits.
    """
    from netform.spec import summary

    from ._config_walk import NeedsKeras, spec_from_config

    model = dict(config)
    inner = model.get("config")
    legacy = _legacy_model(config)
    if legacy and isinstance(inner, dict):  # as a Keras 3 config names its layers' module
        # (a legacy config names a layer by its class, GroupedQueryAttention, where Keras 3 writes the export's)
        modular = [
            {"module": "keras.layers", **layer, "class_name": KERAS_EXPORT_OF_CLASS.get(name, name)}
            if isinstance(layer, dict) and isinstance(name := layer.get("class_name"), str)
            else layer
            for layer in inner["layers"]
        ]
        model = {"module": "keras", **model, "config": {**inner, "layers": modular}}
        inner = model["config"]
    if model.get("class_name") == "Sequential" and isinstance(inner, dict):
        layers, shape = inner.get("layers"), inner.get("build_input_shape")
        if isinstance(layers, list) and layers and isinstance(layers[0], dict) and isinstance(shape, list):
            if layers[0].get("class_name") != "InputLayer":
                first = {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "registered_name": None,
                    "config": {"batch_shape": shape, "dtype": "float32", "name": "input"},
                }
                model = {**model, "config": {**inner, "layers": [first, *layers]}}
    from netform.spec.layers._util import keras_shapes

    try:
        with keras_shapes(keras_output_shape):
            rows = summary(spec_from_config(model)).rows
    except NeedsKeras:
        return None
    except FormatError as err:
        cause = err.__cause__
        over = [d for d in cause.diagnostics if d.limit] if isinstance(cause, SpecError) else []
        if over:
            path = ".".join(str(part) for part in over[0].path[1:2])  # the node, as the config names its layer
            raise FormatError(
                f"the model config's layer '{path}', on the shapes the config gives it: {over[0].message}; so the "
                "file is refused as corrupt or hostile"
            ) from None
        if legacy or limits_only:
            return None  # a legacy config read as a Keras 3 one: its count may help, its refusal is not ours
        raise
    except (NetformError, ValueError, TypeError, KeyError, IndexError, RecursionError):
        return None
    constants = {
        str(layer.get("config", {}).get("name")): layer.get("config")
        for _, layer in _layers(model)
        if layer.get("class_name") == "Normalization" and isinstance(layer.get("config"), dict)
    }
    made = sum(
        _constant_values("Normalization", constants[row.name], row.output_shape)
        for row in rows
        if row.name in constants and isinstance(row.output_shape, tuple)
    )
    return sum(row.params or 0 for row in rows) + _constant_excess(made)


def check_saved_costs(model: Any, path: str) -> None:
    """Refuse to save a model whose file netform's own loaders would refuse for a spec's cost limits.

    A loader refuses a model file past the limits a spec is held to (attention scores past the per-sample
    limit, a model's unrolled and fixed ``TimeDistributed`` steps past 1,024 in all): five
    ``TimeDistributed(Dense)`` layers over 250 fixed steps were saved, and the file was then refused as
    corrupt or hostile. Checked on the config the save writes, before anything is written; a model whose
    config Keras cannot serialize is left to the writer.

    Raises:
        SaveError: The model is past a limit; nothing was written.
    """
    import keras

    from netform.errors import SaveError

    from netform._compat._keras_saving import json_default

    try:
        # as the file holds it: Keras's serializer leaves a Sequential's shapes as tuples, which JSON makes lists
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model), default=json_default))
    except Exception:  # a model Keras cannot serialize: the writer says so
        return
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        return
    from netform.builder._build import heavy_product

    heavy = heavy_product(model) if isinstance(model, keras.Model) else None
    if heavy is not None:
        raise SaveError(
            f"{path}: the model is past netform's limits for a model file, which its loaders would refuse: "
            f"{heavy}. Nothing was written; save it in a form netform's limits allow, or with Keras's own "
            "model.save."
        )
    try:
        check_layer_objects(config, path)
        _graph_count(config, limits_only=True)
    except IncompatibleFileError:
        return  # (an argument object Keras cannot rebuild: not a cost, and the writer's to report)
    except FormatError as err:
        reason = str(err).removeprefix(f"{path}: ").replace(", so the file is refused as corrupt or hostile", "")
        reason = reason.replace("; so the file is refused as corrupt or hostile", "")
        raise SaveError(
            f"{path}: the model is past netform's limits for a model file, which its loaders would refuse: "
            f"{reason}. Nothing was written; save it in a form netform's limits allow (fewer unrolled or fixed "
            "time steps, smaller attention), or with Keras's own model.save."
        ) from None


def check_declared_weights(
    config: Mapping[str, Any],
    shapes: Iterator[tuple[str, tuple[int, ...] | None]],
    where: str,
    *,
    loading: bool = False,
) -> None:
    """Refuse a config that declares more weights than its file holds, before Keras allocates them.

    Runs :func:`check_graph_bounds` first.

    Args:
        config: The model config Keras would deserialize.
        shapes: ``(dataset name, shape)`` of every dataset in the weights file.
        where: The file, for messages.
        loading: A loader is about to build the model (Keras is loaded anyway): a built config is also run
            through the static rules on its inputs' shapes for a spec's cost limits (:func:`_graph_count`),
            which the readers that only describe a file (without TensorFlow) leave to its per-layer checks.

    Raises:
        FormatError: The config's graph is too large or deep (:func:`check_graph_bounds`);
            it is past a spec's cost limits; it declares more weight values than the file holds (plus
            :data:`DECLARED_SLACK`), or more than :data:`MAX_DECLARED_WEIGHTS`;
            or its layers with recorded input shapes alone declare more than
            :data:`DECLARED_RATIO` times the file's values plus :data:`EXACT_SLACK`.
    """
    check_graph_bounds(config, where)
    check_layer_objects(config, where, native=False)  # any format's: the readers of Keras 3 configs ask more
    try:
        declared, exact, layer, count = _declared(config)
    except _EmbeddedSpecError as err:
        raise FormatError(
            f"{where}: the spec this netform model carries (its config's `spec`) is not valid, so the file is "
            f"refused as corrupt or hostile: {err}"
        ) from None
    stored = stored_weights(shapes)
    unbuilt = _unbuilt(config)
    if declared <= MAX_DECLARED_WEIGHTS and declared <= stored + DECLARED_SLACK and (unbuilt or loading):
        try:
            counted = _graph_count(config, limits_only=not unbuilt)
        except FormatError as err:
            raise FormatError(f"{where}: {err}") from None
        if unbuilt and counted is not None and counted > declared:
            declared, layer, count = counted, "(the model, on its input shapes)", counted
    if declared > MAX_DECLARED_WEIGHTS or declared > stored + DECLARED_SLACK:
        limit = (
            f"netform's limit of {MAX_DECLARED_WEIGHTS:,}"
            if declared > MAX_DECLARED_WEIGHTS
            else f"the {stored:,} weight values the file holds"
        )
        raise FormatError(
            f"{where}: the model config declares {declared:,} weight values, more than {limit}; layer "
            f"'{layer}' alone declares {count:,}. Building it would allocate all of them before the weights "
            "are read, so the file is refused as corrupt or hostile (its config does not match its weights)."
        )
    if exact > DECLARED_RATIO * stored + EXACT_SLACK:
        raise FormatError(
            f"{where}: the model config's built layers declare {exact:,} weight values, more than "
            f"{DECLARED_RATIO} times the {stored:,} the file holds plus {EXACT_SLACK:,}; the config describes "
            "another model than the file's weights, so the file is refused as corrupt or hostile."
        )


#: The module a saved config names for Keras's own layers.
_KERAS_LAYERS = "keras.layers"


def _keras_layer(value: Any, legacy: bool = False) -> str | None:
    """The ``keras.layers`` class a serialized object names, where Keras builds it as that class (None otherwise:
    another module, a class Keras does not export, or a registered name that picks another class). ``legacy``: a
    legacy HDF5 config, whose layers name no module (Keras looks their class up among its layers)."""
    from ..spec._keras_layer_args import KERAS_LAYER_ARGS

    if not isinstance(value, dict) or not isinstance(value.get("config"), dict):
        return None
    if value.get("module") != _KERAS_LAYERS and not (legacy and "module" not in value):
        return None
    class_name = value.get("class_name")
    if not isinstance(class_name, str) or class_name not in KERAS_LAYER_ARGS:
        return None
    if value.get("registered_name", None) not in (None, class_name):
        return None  # Keras looks the registered name up first
    return class_name


def _inner_layers(config: dict[str, Any], name: str, legacy: bool = False) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(dotted name, class, serialized layer)`` of the layers a layer's config holds (a wrapper's ``layer``, an
    RNN's ``cell``, ``cells``), and of theirs, without recursion (``legacy``: as :func:`_keras_layer`)."""
    stack: list[tuple[str, Any]] = [(f"{name}.{key}", value) for key, value in reversed(list(config.items()))]
    while stack:
        label, value = stack.pop()
        class_name = _keras_layer(value, legacy)
        if class_name is not None:
            yield label, class_name, value
            stack.extend((f"{label}.{key}", item) for key, item in reversed(list(value["config"].items())))
        elif isinstance(value, list):
            stack.extend((f"{label}[{i}]", item) for i, item in reversed(list(enumerate(value))))


def _check_arguments(layer: dict[str, Any], class_name: str, name: str, label: str, where: str) -> None:
    from ..spec._keras_layer_args import KERAS_LAYER_ARGS

    takes = KERAS_LAYER_ARGS[class_name]
    if "kwargs" in takes:
        return
    unknown = [key for key in layer["config"] if key not in takes]
    if unknown:
        raise FormatError(
            f"{where}: layer {_short(name)} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config has "
            f"argument {_short(unknown[0])}, which {class_name} does not take (it takes {', '.join(takes)}); Keras "
            "refuses to build this layer, so the file is refused as corrupt or edited (remove the argument, or "
            "save the model again)"
        )


def _check_calls(layer: dict[str, Any], class_name: str, name: str, label: str, where: str) -> None:
    from ..spec._keras_layer_args import KERAS_LAYER_CALLS

    most = KERAS_LAYER_CALLS.get(class_name)
    nodes = layer.get("inbound_nodes")
    if most is None or not isinstance(nodes, list):
        return
    for index, node in enumerate(nodes):
        args = node.get("args") if isinstance(node, dict) else None
        if isinstance(args, list) and len(args) > most:
            raise FormatError(
                f"{where}: layer {_short(name)} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config is "
                f"called with {len(args):,} positional arguments; its call takes at most {most} (call {index}), so "
                "Keras refuses to build it and the file is refused as corrupt or edited"
            )


def _check_values(layer: dict[str, Any], class_name: str, name: str, label: str, where: str) -> None:
    """Refuse a number netform's schema for the layer refuses (``units: -3``), as Keras refuses it when it builds
    the layer, rather than describe the layer in the generic form."""
    from netform.spec._layer_dict import RefusedValue
    from netform.spec.layers import MODULE_OF

    if class_name not in MODULE_OF:
        return  # no netform schema for it (InputLayer, …): looking one up would build every family's
    try:
        layer_dict(class_name, layer["config"], strict=True)
    except RefusedValue as err:
        if _flag(class_name, err.key):
            return  # Keras reads a flag by its truth (use_bias: 1 builds a bias): the value is Keras's to judge
        raise FormatError(
            f"{where}: layer {_short(name)} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config has "
            f"{err.key} {_short(err.value)}, which {class_name} does not take ({err.reason}); Keras refuses to "
            "build this layer, so the file is refused as corrupt or edited (save the model again)"
        ) from None
    except IncompatibleFileError as err:  # an object's config that is no mapping
        raise IncompatibleFileError(
            f"{where}: layer {_short(name)} ({_KERAS_LAYERS}.{class_name}) of model '{label}' in the config: {err}"
        ) from None


def _flag(class_name: str, key: str) -> bool:
    """Whether netform's schema for a Keras layer takes ``key`` as a boolean (``use_bias``)."""
    from netform.spec import get_layer_spec

    fields = get_layer_spec(class_name).model_fields
    field = fields.get(key) or next((f for f in fields.values() if f.alias == key), None)
    return field is not None and field.annotation in (bool, bool | None)


def check_layer_configs(config: Mapping[str, Any], where: str, *, values: bool = True) -> None:
    """Refuse a config that gives one of Keras's own layers what Keras refuses when it builds it.

    Checks every layer the config's models list (nested models' included) and
    every layer inside a layer's config (a wrapper's ``layer``, an RNN's
    ``cell``) whose config names a ``keras.layers`` class as Keras resolves it.
    Run after :func:`check_graph_bounds`, which bounds the walk; netform's and
    custom classes, and Keras 2 configs (no ``module``), are left alone.
    ``values=False`` leaves out the numbers, which only netform's layer schemas
    tell (``inspect`` describes a file without building them).

    Raises:
        FormatError: A layer's config holds an argument its ``from_config`` does
            not take, a number netform's schema for the layer refuses (``units``
            -3, 3.5, NaN or true: Keras refuses these too), or a call passes more
            positional arguments than the layer's ``call`` takes.
    """
    check_layer_objects(config, where, names=True)
    for label, _, model_config, _ in _model_configs(config):
        for layer in model_config["layers"]:
            class_name = _keras_layer(layer)
            if class_name is None:
                continue
            name = _layer_name(layer)
            name = name if isinstance(name, str) else "?"
            _check_arguments(layer, class_name, name, label, where)
            _check_calls(layer, class_name, name, label, where)
            inner_layers = list(_inner_layers(layer["config"], name))
            for inner_name, inner_class, inner in inner_layers:
                _check_arguments(inner, inner_class, inner_name, label, where)
            if values:
                for inner_name, inner_class, inner in inner_layers:
                    _check_values(inner, inner_class, inner_name, label, where)
                _check_values(layer, class_name, name, label, where)


# --- one answer a config object while a file is read ----------------------------------------------

_T = TypeVar("_T")

#: While :func:`config_memo` is open: (what, id of a config object, arguments) → (the object, the answer).
_MEMO: ContextVar[dict[tuple[Any, ...], tuple[Any, Any]] | None] = ContextVar("netform_config_memo", default=None)


@contextlib.contextmanager
def config_memo() -> Iterator[None]:
    """Inside it, what is worked out from one config object is worked out once: its graph's bounds, a layer's
    spec mapping and its static layer.

    Reading a saved file checks its config as loading does (the bounds twice, every layer's values, the
    weights every layer declares), then walks it for the spec or the diagram: each converted every layer
    again, three times a layer for ``export-spec``. The config must not change inside (it is the one the
    file's reader parsed); each answer holds its object, so no other object takes its id meanwhile.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memoized(what: str, obj: object, args: tuple[Any, ...], compute: Callable[[], _T]) -> _T:
    """``compute()``, or inside :func:`config_memo` what it gave for this ``obj`` (the same object) and ``args``
    before; an error is not kept (the file is refused, or the caller goes on another way)."""
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (what, id(obj), args)
    hit = memo.get(key)
    if hit is not None and hit[0] is obj:
        return hit[1]
    value = compute()
    memo[key] = (obj, value)
    return value


def layer_dict(
    cls_name: str, config: dict[str, Any], *, defaults: tuple[str, str] | None = None, strict: bool = False
) -> dict[str, Any]:
    """:func:`~netform.spec._layer_dict.layer_to_dict_from_config` of a saved layer's config, without the
    ``shared_object_id`` marks Keras's saving adds; once a config inside :func:`config_memo`.

    A strict answer (no number refused) is also the plain one; a plain answer is not a strict one.
    """
    from netform.spec._layer_dict import keras_defaults, layer_to_dict_from_config

    from ._config_walk import unshared

    defaults = keras_defaults() if defaults is None else defaults
    memo = _MEMO.get()
    if memo is not None and not strict:
        hit = memo.get(("layer_dict", id(config), (cls_name, defaults, True)))
        if hit is not None and hit[0] is config:
            return dict(hit[1])
    value = memoized(
        "layer_dict",
        config,
        (cls_name, defaults, strict),
        lambda: layer_to_dict_from_config(cls_name, unshared(config), defaults=defaults, strict=strict),
    )
    return dict(value)
