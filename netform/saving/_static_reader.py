"""What a ``.keras``, full-model ``.h5`` or netform SavedModel holds, read without TensorFlow or Keras.

:func:`netform.saving.inspect` needs the model's name, class, layers and
parameter counts, all of which are in the file: the config is JSON, and each
variable's size is the shape of an HDF5 dataset. This module reads them
directly, after the same structural and safety checks that
:func:`netform.load` runs (:func:`~._safety.check_zip`,
:func:`~._safety.check_h5`, checksums, and :func:`~._safety.check_config`),
so a file ``load`` refuses is refused here with the same error.

Trainable versus non-trainable parameters come from the config (a layer or
model saved with ``trainable: false``) and from what Keras's own layers
create: a ``BatchNormalization`` keeps its moving mean and variance, a
``Normalization`` its statistics, as non-trainable variables. Where the file
holds anything this module cannot count for certain (a layer class with
variables that it does not know, a Keras 2 config, an optimizer named by a
string), :func:`read_model` returns None and the caller
loads the model with Keras instead.

Each file is opened and checked once: the metadata ``inspect`` reports
(``netform.json``, ``metadata.json``, the HDF5 ``netform_metadata``) is read
in the same pass, so :func:`read_model`'s answer carries it as ``meta``.

A Keras 3 config's layers are also checked as Keras builds them
(:func:`~._config_bounds.check_layer_configs`): an argument a built-in
layer does not take, or a call with more positional tensors than it takes,
is refused here as Keras refuses it when ``load`` builds the model; so is a
number netform's layer schema refuses (``units: -3``) where the config is
exported or drawn (:func:`read_config`), while :func:`read_model`, which
``inspect`` reads, builds no layer schema and leaves the numbers to ``load``.

What is not checked otherwise is what only building the model checks: a config that
parses and passes the safety checks but that Keras cannot deserialize. In a
``.keras`` archive any change to the config fails the entry's CRC-32; in an
HDF5 file netform writes, the config attributes carry CRC-32s
(``netform_attr_checksums``); an HDF5 file Keras wrote has none, so a
changed bit that leaves its config valid JSON is described as it reads.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from typing import Any, Final

from netform._keras_names import store_name
from netform.errors import FormatError, NetformError, UnsafeFileError

from ._config_bounds import (
    check_compile_config,
    check_declared_weights,
    config_memo,
    check_graph_bounds,
    check_layer_configs,
    check_text,
)
from ._keras_zip import (
    NETFORM_ENTRY,
    NETFORM_MODELS_MODULE,
    WEIGHTS_ENTRY,
    check_archive_weights_layout,
    dir_file,
    read_keras_metadata,
    read_netform_entry,
    restore_netform_classes,
)
from ._atomic import settled_read
from ._meta import MAX_METADATA_BYTES, json_object, reading
from ..spec._patterns import check_patterns
from ._safety import VALUE_MARKERS, check_config, check_h5, check_zip

__all__ = [
    "read_model",
    "read_config",
    "KerasParts",
    "h5_meta",
    "same_model",
    "keras_meta",
    "text_fields",
    "savedmodel_archive",
    "savedmodel_meta",
]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME_KEYS = ("activation", "_initializer", "_regularizer", "_constraint", "initializer")

#: The classes Keras gives a loaded model, by the class name its config holds.
_MODEL_CLASSES = {
    "Sequential": "keras.src.models.sequential.Sequential",
    "Functional": "keras.src.models.functional.Functional",
}

#: Keras layers whose every variable is trainable (when the layer is).
_TRAINABLE_ONLY = frozenset(
    {
        "Dense",
        "EinsumDense",
        "Embedding",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "LSTMCell",
        "GRUCell",
        "SimpleRNNCell",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
        "MultiHeadAttention",
        "GroupQueryAttention",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
        "PReLU",
        "Attention",
        "AdditiveAttention",
    }
)
#: Keras layers whose last N variables are non-trainable statistics.
_NON_TRAINABLE_TAIL = {"BatchNormalization": 2, "Normalization": 3}
#: HDF5 (Keras 2 layout) variable names of those statistics.
_NON_TRAINABLE_NAMES = {
    "BatchNormalization": ("moving_mean", "moving_variance"),
    "Normalization": ("mean", "variance", "count"),
}


class _Unknown(NetformError):
    """The file holds something this module cannot count for certain; load it with Keras.

    A :class:`NetformError` so that :func:`._meta.reading` lets it through
    unwrapped; it never leaves :func:`read_model`.
    """


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# --- the safety check of the config -------------------------------------------------------------


def _plainly_safe(node: Any) -> bool:
    """Whether :func:`check_config` accepts ``node`` for reasons that need no Keras registry.

    True only where every class is Keras's or netform's by its module and no
    name could be code; anything else (False) goes to :func:`check_config`
    itself, which consults Keras's registry and so imports Keras.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        class_name = item.get("class_name")
        if isinstance(class_name, str) and class_name not in VALUE_MARKERS:
            if class_name in ("__lambda__", "Lambda", "TFSMLayer", "function") or not _IDENTIFIER.match(class_name):
                return False
            config = item.get("config")
            if isinstance(config, dict) and isinstance(config.get("vocabulary"), str):
                return False
            module = item.get("module")
            if not isinstance(module, str):
                return False
            if module.split(".", 1)[0] != "keras" and not module.startswith("netform."):
                return False
            registered = item.get("registered_name")
            if module.split(".", 1)[0] == "keras" and registered not in (None, "", class_name):
                return False  # Keras refuses a registered_name on its own built-ins
        for key, value in item.items():
            if isinstance(value, str) and str(key).endswith(_NAME_KEYS) and not _IDENTIFIER.match(value):
                return False
            if isinstance(value, (dict, list)):
                stack.append(value)
    return True


def _check(config: Any, where: str, safe_mode: bool) -> None:
    if isinstance(config, dict):
        check_graph_bounds(config, where)  # first: cheap, and bounds what the safety walk reads
    if safe_mode and not _plainly_safe(config):
        check_config(config, where=where, safe_mode=safe_mode)
    else:
        check_patterns(config, where)  # what check_config checks in every mode


def _check_h5(f: Any, config: Any, where: str, safe_mode: bool) -> None:
    """:func:`_check` of an HDF5 file's config; a config refused as corrupt whose attribute fails the checksum
    netform stored is named as a changed bit."""
    from ._h5 import verify_attr_checksums

    try:
        _check(config, where, safe_mode)
    except UnsafeFileError:
        raise
    except FormatError:
        verify_attr_checksums(f, where)
        raise


# --- counting parameters -------------------------------------------------------------------------


def _is_model(layer: dict[str, Any]) -> bool:
    config = layer.get("config")
    return isinstance(config, dict) and isinstance(config.get("layers"), list)


def _layers_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    """The layers Keras's ``model.layers`` lists: a Sequential's leading InputLayer is not one."""
    layers = [layer for layer in model["config"]["layers"] if isinstance(layer, dict)]
    if model.get("class_name") == "Sequential" and layers and layers[0].get("class_name") == "InputLayer":
        layers = layers[1:]
    return layers


def _name(layer: dict[str, Any]) -> str:
    config = layer.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    if not isinstance(name, str):
        raise _Unknown
    return name


def _trainable(layer: dict[str, Any]) -> bool:
    config = layer.get("config")
    return not (isinstance(config, dict) and config.get("trainable") is False)


#: Keras wrappers: their variables are the wrapped layer's.
_WRAPPERS = ("Bidirectional", "TimeDistributed")


def _kind(layer: dict[str, Any]) -> str:
    """The class that decides which of a layer's variables are trainable (a wrapper's inner layer)."""
    class_name = str(layer.get("class_name"))
    config = layer.get("config")
    if isinstance(config, dict) and _quantized(config):
        return "?"  # a quantized layer's packed kernel and scales are not trainable: Keras tells which are
    if class_name in _WRAPPERS:
        inner = config.get("layer") if isinstance(config, dict) else None
        inner_class = inner.get("class_name") if isinstance(inner, dict) else None
        inner_config = inner.get("config") if isinstance(inner, dict) else None
        if isinstance(inner_config, dict) and _quantized(inner_config):
            return "?"
        return inner_class if inner_class in _TRAINABLE_ONLY else "?"
    return class_name


def _split(class_name: str, sizes: list[int]) -> int:
    """The trainable parameters among a layer's variables (in Keras's order)."""
    if not sizes:
        return 0
    if class_name in _NON_TRAINABLE_TAIL:
        tail = _NON_TRAINABLE_TAIL[class_name]
        return sum(sizes[: max(len(sizes) - tail, 0)])
    if class_name in _TRAINABLE_ONLY:
        return sum(sizes)
    raise _Unknown


class _Store:
    """The datasets of an HDF5 file as ``{path: shape}`` (from :func:`check_h5`'s walk), grouped by path."""

    def __init__(self, file: Any, datasets: dict[str, Any]) -> None:
        self.file = file
        self.shapes = {name: tuple(int(d) for d in (oid.shape or ())) for name, oid in datasets.items()}

    def under(self, prefix: str) -> list[tuple[str, tuple[int, ...]]]:
        """``(path below prefix, shape)`` of every dataset below ``prefix`` (which ends in ``/``)."""
        return [(name[len(prefix) :], shape) for name, shape in self.shapes.items() if name.startswith(prefix)]

    def keras_layers(self, prefix: str, layers: list[Any]) -> dict[str, str]:
        """The ``.keras`` store paths of a model's layers (``layers``, its config's) below ``prefix``, by name.

        Keras loads each layer from the path :func:`_keras_paths` names, whatever name the file writes on the
        layer's ``vars`` group; a store holding a layer path no layer claims (a group renamed, or a class
        netform names otherwise than Keras) is left to Keras (:class:`_Unknown`).
        """
        out = _keras_paths(prefix, layers)
        claimed = set(out.values())
        start = len(prefix) + len("layers/")
        for name in self.shapes:
            if (
                name.startswith(prefix + "layers/")
                and f"{prefix}layers/{name[start:].split('/', 1)[0]}/" not in claimed
            ):
                raise _Unknown
        return out


def _keras_paths(prefix: str, layers: list[Any]) -> dict[str, str]:
    """``{layer name: store path}`` of a model's layers (``layers``: :func:`_layers_of`) in a ``.keras`` file.

    Keras's saving walks ``model.layers`` in order and names each layer's path after its class, snake-cased
    and numbered among the layers of that class (``layers/dense``, ``layers/dense_1``); loading reads the
    layer's variables from that path alone (an absent one gives the layer no variables).
    """
    used: dict[str, int] = {}
    out: dict[str, str] = {}
    for layer in layers:
        class_name = layer.get("class_name") if isinstance(layer, dict) else None
        if not isinstance(class_name, str):
            raise _Unknown
        key = store_name(class_name)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        name = _name(layer)
        if name in out:
            raise _Unknown
        out[name] = f"{prefix}layers/{key}/"
    return out


def _check_layers_stored(config: Any, store: _Store, where: str) -> None:
    """Refuse a ``.keras`` file that stores no variables for a Keras layer whose config builds some.

    Keras builds each layer from its config and reads its variables from the path :func:`_keras_paths`
    names; a layer built with variables that finds none there fails the load ("expected 2 variables, but
    received 0"). A layer group deleted, renamed, or moved by a changed byte of ``layers`` is refused here
    as loading refuses it, instead of being described with no parameters. Only Keras's own layers whose
    config records their input shape, and that netform's rules count variables of, are checked.
    """
    from ._config_bounds import _static_count

    if not (isinstance(config, dict) and _is_model(config)):
        return
    pending: list[tuple[dict[str, Any], str]] = [(config, "")]
    while pending:
        model, prefix = pending.pop()
        try:
            paths = _keras_paths(prefix, _layers_of(model))
        except _Unknown:
            continue
        for layer in _layers_of(model):
            at = paths[_name(layer)]
            if _is_model(layer):
                pending.append((layer, at))
                continue
            build = layer.get("build_config")
            if (
                layer.get("module") != "keras.layers"
                or not isinstance(build, dict)
                or not ("input_shape" in build or "shapes_dict" in build)
                or store.under(at)
            ):
                continue
            counted = _static_count(layer)
            if counted is None or not counted[1] or counted[0] <= 0:
                continue
            raise FormatError(
                f"{where}: layer {_name(layer)[:200]!r} ({layer['class_name'][:200]}) builds {counted[0]:,} weight "
                f"values, but the weights file stores none at {at.rstrip('/')!r}, where Keras reads them, and "
                "loading refuses the file. The weights file was changed (a layer's group deleted or renamed) or is "
                "corrupt: restore it from a good copy."
            )


def _check_dense_shapes(config: Any, store: _Store, where: str) -> None:
    """Refuse a ``.keras`` file whose stored Dense kernel or bias has another shape than its config builds.

    Keras builds each layer from its config (``units``, ``build_config``) and
    then fails to load or call it; an edited ``units`` or input shape is
    refused here as loading refuses it. Every Dense is checked: one of the
    model, of a model nested in it (a Sequential or Functional layer, at any
    depth) and one a wrapper holds (``TimeDistributed``'s layer). A Keras layer the file stores variables
    of must have a ``build_config`` that builds them (:func:`_check_built`).
    """
    if not (isinstance(config, dict) and _is_model(config)):
        return
    pending: list[tuple[dict[str, Any], str]] = [(config, "")]
    while pending:
        model, prefix = pending.pop()
        try:
            found = store.keras_layers(prefix, _layers_of(model))
        except _Unknown:
            continue  # an older layout: layers cannot be matched to their weights for certain
        for layer in model["config"]["layers"]:
            inner = layer.get("config") if isinstance(layer, dict) else None
            name = inner.get("name") if isinstance(inner, dict) else None
            at = found.get(name) if isinstance(name, str) else None
            if at is not None and isinstance(layer, dict):
                _check_built(layer, str(name), where)
            # a wrapper's layer is stored below the wrapper, as ``layer/``
            while at is not None and isinstance(layer, dict) and isinstance(inner, dict):
                if _is_model(layer):
                    pending.append((layer, at))
                    break
                if layer.get("class_name") == "Dense" and layer.get("module") == "keras.layers":
                    _check_dense(layer, dict(store.under(at)), where)
                    break
                wrapped = inner.get("layer")
                if layer.get("class_name") not in _LAYER_WRAPPERS or not isinstance(wrapped, dict):
                    break
                layer, inner, at = wrapped, wrapped.get("config"), f"{at}layer/"


#: Keras layers with their own ``build_from_config`` (the others build from ``input_shape`` or ``shapes_dict``).
_OWN_BUILD = frozenset({"Normalization", "StringLookup", "IntegerLookup", "FeatureSpace"})


def _check_built(layer: dict[str, Any], name: str, where: str) -> None:
    """Refuse a Keras layer with stored variables whose ``build_config`` builds none, as loading refuses it.

    Keras builds a layer from a ``build_config`` that is not empty, from its ``input_shape`` or
    ``shapes_dict``, and then marks it built: given neither, the layer is marked built with no variables, so
    its stored variables cannot be loaded.
    """
    build = layer.get("build_config")
    class_name = layer.get("class_name")
    if not build or layer.get("module") != "keras.layers" or class_name in _OWN_BUILD or _is_model(layer):
        return
    if isinstance(build, dict) and ("input_shape" in build or "shapes_dict" in build):
        return
    raise FormatError(
        f"{where}: layer {name[:200]!r} ({str(class_name)[:200]}) has build_config {str(build)[:80]!r}, with "
        "neither an input_shape nor a shapes_dict: Keras marks the layer built without creating its variables, "
        "so the variables the file stores for it cannot be loaded, and loading refuses the file. The config was "
        "edited or the file is corrupt: restore it from a good copy."
    )


#: Keras wrappers that store the one layer they wrap as ``layer/`` (Bidirectional wraps only recurrent layers).
_LAYER_WRAPPERS = ("TimeDistributed",)


def _check_dense(layer: dict[str, Any], stored: dict[str, tuple[int, ...]], where: str) -> None:
    """Refuse a Dense layer config whose kernel or bias (``stored``: its variables' shapes) is not what it builds."""
    inner, build = layer.get("config"), layer.get("build_config")
    shape = build.get("input_shape") if isinstance(build, dict) else None
    if not (isinstance(inner, dict) and isinstance(shape, list) and shape) or _quantized(inner):
        return
    units, last, name = inner.get("units"), shape[-1], inner.get("name")
    if type(units) is not int or type(last) is not int:
        return
    expected: dict[str, tuple[int, ...]] = {"vars/0": (last, units)}
    if inner.get("use_bias", True) is True:
        expected["vars/1"] = (units,)
    for var, want in expected.items():
        have = stored.get(var)
        if have is not None and have != want:
            raise FormatError(
                f"{where}: layer {str(name)[:200]!r} (Dense, units {units}, input size {last}) builds a "
                f"{'kernel' if var == 'vars/0' else 'bias'} of shape {want}, but the file stores {have}; "
                "the config was edited or the file is corrupt, and loading refuses it. Restore it from a good copy."
            )


def _check_dense_shapes_h5(model: dict[str, Any], f: Any, store: _Store, root: str, where: str) -> None:
    """Refuse a full-model HDF5 file whose stored Dense kernel or bias has another shape than its config builds.

    The HDF5 twin of :func:`_check_dense_shapes`: a model layer's group lists its variables in its
    ``weight_names`` attribute (``d/kernel``, ``d/bias``; trainable ones first, so a LoRA-enabled Dense lists
    its frozen kernel last) and Keras's loader gives them to the built layer, refusing a shape it did not
    build; the kernel and the bias are found by name. A model nested in the model is left to Keras.
    """
    for layer in model["config"]["layers"]:
        if not (
            isinstance(layer, dict) and layer.get("class_name") == "Dense" and layer.get("module") == "keras.layers"
        ):
            continue
        inner = layer.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
        group = f.get(f"{root}{name}") if isinstance(name, str) and "/" not in name else None
        names = group.attrs.get("weight_names") if group is not None and hasattr(group, "attrs") else None
        if names is None:
            continue
        stored: dict[str, tuple[int, ...]] = {}
        for weight in list(names)[:8]:
            text = weight.decode("utf-8", "replace") if isinstance(weight, bytes) else str(weight)
            var = {"kernel": "vars/0", "bias": "vars/1"}.get(text.rsplit("/", 1)[-1].split(":", 1)[0])
            shape = store.shapes.get(f"{root}{name}/{text}")
            if var is not None and shape is not None and var not in stored:
                stored[var] = shape
        _check_dense(layer, stored, where)


def _quantized(config: dict[str, Any]) -> bool:
    """Whether a layer config is quantized (Keras stores its kernel packed, in another shape than the float one).

    Keras writes a quantized layer's ``quantization_config`` and a dtype policy of another class than the
    float ones (``QuantizedDTypePolicy``, ``Int4DTypePolicy``...), or names the mode in the policy's name.
    """
    if config.get("quantization_config") is not None:
        return True
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        return dtype.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy")
    return isinstance(dtype, str) and dtype.startswith(("int4", "int8", "float8", "gptq", "awq"))


def _count_keras(layer: dict[str, Any], prefix: str | None, trainable: bool, store: _Store) -> tuple[int, int]:
    """``(parameters, trainable parameters)`` of one layer from its ``.keras`` store path."""
    trainable = trainable and _trainable(layer)
    if prefix is None:
        return 0, 0
    if _is_model(layer):
        found = store.keras_layers(prefix, _layers_of(layer))
        total = train = 0
        for inner in _layers_of(layer):
            t, tr = _count_keras(inner, found.get(_name(inner)), trainable, store)
            total, train = total + t, train + tr
        if any(not n.startswith("layers/") for n, _ in store.under(prefix)):
            raise _Unknown  # variables no layer of the config owns
        return total, train
    sizes = [_numel(shape) for _, shape in sorted(store.under(prefix), key=lambda ns: _var_order(ns[0]))]
    return sum(sizes), (_split(_kind(layer), sizes) if trainable else 0)


def _var_order(name: str) -> tuple[Any, ...]:
    """Sort ``a/vars/10`` after ``a/vars/9``: Keras numbers a layer's variables in creation order."""
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in name.split("/"))


def _subtree(layer: dict[str, Any], trainable: bool) -> dict[str, tuple[str, bool]]:
    """``{layer name: (class, trainable)}`` of a layer and every layer inside it."""
    trainable = trainable and _trainable(layer)
    out = {_name(layer): (_kind(layer), trainable)}
    if _is_model(layer):
        for inner in layer["config"]["layers"]:
            if isinstance(inner, dict):
                out.update(_subtree(inner, trainable))
    return out


def _count_h5(layer: dict[str, Any], prefix: str | None, trainable: bool, store: _Store) -> tuple[int, int]:
    """``(parameters, trainable parameters)`` of one layer from its group in an HDF5 model file."""
    if prefix is None:
        return 0, 0
    owners = _subtree(layer, trainable)
    total = train = 0
    for name, shape in store.under(prefix):
        size = _numel(shape)
        parts = name.split("/")
        owner = next((owners[p] for p in reversed(parts[:-1]) if p in owners), None)
        if owner is None:
            raise _Unknown
        class_name, owner_trainable = owner
        total += size
        if not owner_trainable:
            continue
        if class_name in _NON_TRAINABLE_NAMES:
            stat = parts[-1].split(":", 1)[0]
            train += 0 if stat in _NON_TRAINABLE_NAMES[class_name] else size
        elif class_name in _TRAINABLE_ONLY:
            train += size
        else:
            raise _Unknown
    return total, train


# --- the two formats -----------------------------------------------------------------------------


def _model_config(config: Any) -> dict[str, Any]:
    if not (isinstance(config, dict) and _is_model(config) and isinstance(config.get("class_name"), str)):
        raise _Unknown  # a subclassed model, or no layer list: only Keras can tell
    return config


def _model_class(config: dict[str, Any]) -> str:
    module, class_name = config.get("module"), config["class_name"]
    if isinstance(module, str) and module.startswith("netform."):
        return f"{NETFORM_MODELS_MODULE}.{class_name}" if module == NETFORM_MODELS_MODULE else _unknown()
    if class_name in _MODEL_CLASSES:
        return _MODEL_CLASSES[class_name]
    return _unknown()


def _unknown() -> str:
    raise _Unknown


def _optimizer(compile_config: Any) -> str | None:
    if not isinstance(compile_config, dict):
        return None
    optimizer = compile_config.get("optimizer")
    if optimizer is None:
        return None
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("class_name"), str):
        raise _Unknown  # named by a string: Keras resolves the class
    return optimizer["class_name"]


def _iteration(dataset: Any) -> int:
    if dataset is None or dataset.shape != () or dataset.dtype.kind not in "iu":
        raise _Unknown
    return int(dataset[()])


def _histories(node: Any) -> list[tuple[str, int]]:
    """The ``(layer, call)`` of every tensor a Functional layer call's ``inbound_nodes`` entry takes."""
    found: list[tuple[str, int]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            history = item.get("keras_history")
            if isinstance(history, list) and len(history) == 3 and isinstance(history[0], str):
                if not isinstance(history[1], int):
                    raise _Unknown
                found.append((history[0], history[1]))
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _reached(model: dict[str, Any]) -> set[str] | None:
    """The layers a Functional config's outputs reach (all Keras builds), or None for another model.

    A layer the outputs do not reach is not one of the loaded model's layers,
    whatever the config's ``layers`` lists.
    """
    config = model["config"]
    outputs = config.get("output_layers")
    if model.get("class_name") == "Sequential" or outputs is None:
        return None
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], str):
        outputs = [outputs]  # a single output, written as one reference
    if not isinstance(outputs, list):
        raise _Unknown
    nodes: dict[str, Any] = {}
    for layer in config["layers"]:
        if isinstance(layer, dict):
            nodes[_name(layer)] = layer.get("inbound_nodes") or []
    pending: list[tuple[str, int]] = []
    for ref in outputs:
        if not (isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str) and isinstance(ref[1], int)):
            raise _Unknown
        pending.append((ref[0], ref[1]))
    seen: set[tuple[str, int]] = set()
    while pending:
        key = pending.pop()
        if key in seen:
            continue
        seen.add(key)
        calls = nodes.get(key[0])
        if not isinstance(calls, list):
            raise _Unknown  # a reference to no layer: loading says why
        if calls:
            if not 0 <= key[1] < len(calls):
                raise _Unknown
            pending.extend(_histories(calls[key[1]]))
    return {name for name, _ in seen}


def _describe(config: dict[str, Any], count: Any, groups: dict[str, str], store: _Store) -> dict[str, Any]:
    trainable = _trainable(config)
    layers, total, train = [], 0, 0
    seen: set[str] = set()
    reached = _reached(config)
    for layer in _layers_of(config):
        name = _name(layer)
        if reached is not None and name not in reached:
            continue  # not in the graph from the outputs: the loaded model does not hold it
        if name in seen:
            raise _Unknown
        seen.add(name)
        params, train_params = count(layer, groups.get(name), trainable, store)
        layers.append({"name": name, "class": str(layer.get("class_name")), "params": params})
        total, train = total + params, train + train_params
    return {
        "model_name": _name(config),
        "model_class": _model_class(config),
        "layers": layers,
        "parameters": total,
        "trainable_parameters": train,
    }


_TEXT_FIELDS = ("keras_version", "netform_version", "saved_at", "model_class", "model_name")


def text_fields(meta: dict[str, Any], where: str, field: str) -> dict[str, Any]:
    """Keep the metadata fields ``inspect`` reports, refusing values of the wrong type."""
    for key in _TEXT_FIELDS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise FormatError(
                f"{where}: {field} field '{key}' holds {type(value).__name__} {str(value)[:60]!r}, "
                "expected a string; the file is corrupt or was not written by netform or Keras."
            )
    return meta


def h5_meta(f: Any, path: str, config: Any = None) -> dict[str, Any]:
    """netform's metadata attribute of an open HDF5 file, with its Keras version.

    Args:
        f: The open file.
        path: The file, for messages.
        config: The model config the file loads as (read from ``f`` when not
            given): the metadata's model class and name must be its own.

    Raises:
        FormatError: The metadata is not a JSON object of text, or names
            another model than the config.
    """
    import numpy as np

    raw = f.attrs.get("netform_metadata")
    field = "attribute 'netform_metadata'"
    if isinstance(raw, np.void):
        raw = raw.tobytes()
    meta = text_fields(json_object(raw, path, field, text=True), path, field) if raw is not None else {}
    kv = f.attrs.get("keras_version")
    if kv is not None:
        # h5py reads bytes that are not UTF-8 into a str with surrogate escapes: not text, refused.
        kv = kv.decode("utf-8", "surrogateescape") if isinstance(kv, bytes) else str(kv)
        check_text(kv, path, "HDF5 attribute 'keras_version'")
        meta.setdefault("keras_version", kv)
    if raw is not None:
        if config is None:
            config = _h5_config(f)
        same_model(meta, config, path, f"the {field}", "the model config")
    return meta


def _attr_names(group: Any, key: str) -> list[str]:
    """A list attribute as Keras's HDF5 reader reads it (``key``, or its chunks ``key0``, ``key1``...)."""
    if key in group.attrs:
        raw = list(group.attrs[key])
    else:
        raw, chunk = [], 0
        while f"{key}{chunk}" in group.attrs:
            raw.extend(group.attrs[f"{key}{chunk}"])
            chunk += 1
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in raw]


def check_h5_layer_names(f: Any, where: str) -> None:
    """Refuse a ``layer_names`` entry Keras's HDF5 reader refuses: every part of its path must be a member.

    Raises:
        FormatError: An entry with an empty part (``/``, ``a//b``) or naming no group of the file.
    """
    from ._h5 import model_weights_group

    group = model_weights_group(f)
    for name in _attr_names(group, "layer_names"):
        current = group
        for part in name.split("/"):
            if not part or part not in current:
                raise FormatError(
                    f"{where}: the weights' attribute 'layer_names' lists {name[:200]!r}, which names no layer "
                    "group of the file (Keras refuses it when it loads the weights); the file is corrupt or was "
                    "edited. Restore it from a good copy."
                )
            current = current[part]


def _h5_config(f: Any) -> Any:
    """The model config an HDF5 file loads as (:func:`._h5.model_config`), read as loading reads it."""
    from ._h5 import model_config

    return model_config(f)[0]


def same_model(meta: dict[str, Any], config: Any, where: str, field: str, place: str) -> None:
    """Refuse metadata naming another model class or name than the config the file loads as.

    ``inspect`` reports the metadata's ``model_class`` (the Python class
    netform saved, which the config names by its class name); a file whose
    metadata names another class or model than its config would describe one
    model and load another.

    Raises:
        FormatError: ``model_class`` ends in another class name than the
            config's ``class_name``, or ``model_name`` is not the config's name.
    """
    if not isinstance(config, dict):
        return
    class_name = config.get("class_name")
    inner = config.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    shown = meta.get("model_class")
    if isinstance(shown, str) and isinstance(class_name, str):
        if shown.rsplit(".", 1)[-1] != class_name.rsplit(">", 1)[-1]:
            raise FormatError(
                f"{where}: {field} names the model class {shown[:200]!r}, but {place} (the model netform loads) "
                f"holds a {class_name[:200]!r}; netform writes both from one model, so the file was edited or is "
                "corrupt and is refused. Restore it from a good copy."
            )
        written = _written_model_classes(config.get("module"), class_name.rsplit(">", 1)[-1])
        if shown not in written and not _nested_class_of(shown, config.get("module")):
            raise FormatError(
                f"{where}: {field} names the model class {shown[:200]!r}, which netform never writes for "
                f"{place}'s model (it writes {' or '.join(sorted(written))}); the file was edited or is corrupt "
                "and is refused. Restore it from a good copy."
            )
    stated = meta.get("model_name")
    if isinstance(stated, str) and isinstance(name, str) and stated != name:
        raise FormatError(
            f"{where}: {field} names the model {stated[:200]!r}, but {place} (the model netform loads) is named "
            f"{name[:200]!r}; netform writes both from one model, so the file was edited or is corrupt and is "
            "refused. Restore it from a good copy."
        )


#: The module netform records for Keras's own model classes, which a config names by the module ``keras``.
_KERAS_MODEL_CLASSES: Final[dict[str, str]] = {
    "Sequential": "keras.src.models.sequential.Sequential",
    "Functional": "keras.src.models.functional.Functional",
    "Model": "keras.src.models.model.Model",
}
#: netform's own model classes, for configs that name no module (HDF5 files).
_NETFORM_MODEL_CLASSES: Final[tuple[str, ...]] = (
    "netform.engine._models.Sequential",
    "netform.engine._models.Functional",
    "netform.engine._models.Model",
    "netform.builder._subclass.SpecModel",
)


_QUALNAME: Final = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*|<locals>)(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|<locals>))*")


def _nested_class_of(shown: str, module: Any) -> bool:
    """Whether ``shown`` is ``module.<qualified name>`` of a class defined inside another or in a function
    (``tests.test_x.TestCase.test_y.<locals>.MyModel``), as netform writes it for such a class of the
    config's own module (never one of Keras's: those are the names :func:`_written_model_classes` gives)."""
    if not isinstance(module, str) or not module or module == "keras" or module.startswith("keras."):
        return False
    return shown.startswith(module + ".") and _QUALNAME.fullmatch(shown[len(module) + 1 :]) is not None


def _written_model_classes(module: Any, class_name: str) -> set[str]:
    """The ``model_class`` values netform writes (``module.Class`` of the saved model) for a config's class.

    A config names its class's module (``keras`` for Keras's public ones), so the saved model's class is that
    module's class; a config naming no module (HDF5) is Keras's or netform's own class of that name.
    """
    keras_class = {_KERAS_MODEL_CLASSES[class_name]} if class_name in _KERAS_MODEL_CLASSES else set()
    if isinstance(module, str) and module:
        if module == "keras" or module.startswith("keras."):
            return keras_class | {f"{module}.{class_name}"}
        return {f"{module}.{class_name}"}
    return keras_class | {name for name in _NETFORM_MODEL_CLASSES if name.rsplit(".", 1)[-1] == class_name}


def keras_meta(netform_entry: dict[str, Any] | None, keras_entry: dict[str, Any] | None, path: str) -> dict[str, Any]:
    """What ``inspect`` reports from an archive's ``netform.json`` and Keras's ``metadata.json``."""
    meta = text_fields(dict(netform_entry or {}), path, NETFORM_ENTRY)
    for key, theirs in (("keras_version", "keras_version"), ("saved_at", "date_saved")):
        value = (keras_entry or {}).get(theirs)
        if value is not None and not isinstance(value, str):
            raise FormatError(
                f"{path}: metadata.json field '{theirs}' holds {type(value).__name__}, "
                "expected a string; the file is corrupt."
            )
        meta.setdefault(key, value)
    return meta


def savedmodel_archive(path: str, *, safe_mode: bool = True) -> str | None:
    """netform's ``.keras`` copy inside a SavedModel directory, after the loading path's checks.

    Like :func:`~._savedmodel.load_savedmodel`, every entry of the directory
    must be a regular file or folder inside it before any file is read, and
    in safe mode the directory's own graph (which TensorFlow Serving and
    ``tf.saved_model.load`` run, whatever netform's copy says) must hold only
    operations the allow-list of :mod:`._graph_ops` knows; with
    ``safe_mode=False`` it is not checked, as loading does not check it.

    Raises:
        UnsafeFileError: A FIFO, device or socket, a link out of the
            directory, or too many entries; in safe mode, a graph operation
            the allow-list lacks.
    """
    from ._meta import check_tree
    from ._savedmodel import embedded_archive

    check_tree(path, "SavedModel")
    return embedded_archive(path, check=safe_mode)


def refuse_graph_only(path: str, why: str) -> None:
    """Refuse a SavedModel that holds a graph and its signatures but no Keras model (another tool wrote it).

    Loaded, such a folder is an inference-only model, with no layers to draw or export: the commands that
    need them refuse it from the folder alone (checked as loading checks it), before TensorFlow is imported.

    Args:
        path: A SavedModel directory.
        why: What the command cannot do without a Keras model (``"it has no layers to draw"``).

    Raises:
        FormatError: The SavedModel carries no Keras model.
        UnsafeFileError: The folder or its graph is one loading refuses.
    """
    if savedmodel_archive(path) is None:
        raise FormatError(
            f"{path}: a SavedModel without a Keras architecture (written by another tool, or without netform's "
            f"copy of the model), so {why}; `netform inspect {path}` lists its signatures."
        )


def savedmodel_meta(path: str) -> dict[str, Any]:
    """What ``inspect`` reports from netform's ``assets.extra/netform.json`` of a SavedModel ({} when absent).

    In another tool's SavedModel (no copy of the model beside it), a ``netform.json`` that is no record of
    netform's (:func:`~._savedmodel.netform_record`: not JSON, or a user's keys) is a user's file, reported as
    nothing, as loading ignores it.
    """
    from ._meta import read_bounded
    from ._savedmodel import ARCHIVE, EXTRA_DIR, META, netform_record

    meta_path = os.path.join(path, EXTRA_DIR, META)
    if not os.path.lexists(meta_path):
        return {}
    if not os.path.lexists(os.path.join(path, EXTRA_DIR, ARCHIVE)) and netform_record(path) is None:
        return {}
    raw = read_bounded(meta_path, MAX_METADATA_BYTES, "netform's metadata", error=FormatError)
    return text_fields(json_object(raw, meta_path, META, text=True), meta_path, META)


class KerasParts:
    """The parts of a ``.keras`` model (archive or unzipped folder), read once after the loading path's checks.

    Attributes:
        config: ``config.json``, netform's model classes restored from ``netform.json``.
        meta: What ``inspect`` reports from ``netform.json`` and ``metadata.json``.
        weights: ``model.weights.h5`` in memory (its CRC-32 verified), or None when the model has none.
    """

    def __init__(self, path: str, *, where: str | None = None) -> None:
        self.path = where or path  # how messages name the file (a SavedModel names its directory)
        if os.path.isdir(path):
            self._read_dir(path)
        else:
            self._read_zip(path)
        if self.netform is not None:
            restore_netform_classes(self.config, self.netform.get("keras_classes"), self.path)
        self.meta = keras_meta(self.netform, self.keras, self.path)
        if self.netform is not None:
            same_model(self.netform, self.config, self.path, NETFORM_ENTRY, "config.json")

    def _read_zip(self, path: str) -> None:
        where = self.path
        with reading(where, "keras"), zipfile.ZipFile(path) as zf:
            check_zip(zf, where)
            self.config = json_object(zf.read("config.json"), where, "config.json")
            self.netform = read_netform_entry(zf, where)
            self.keras = read_keras_metadata(zf, where)
            # zipfile verifies the entry's CRC-32
            self.weights = io.BytesIO(zf.read(WEIGHTS_ENTRY)) if WEIGHTS_ENTRY in zf.namelist() else None

    def _read_dir(self, path: str) -> None:
        from ._meta import check_tree
        from ._safety import MAX_DATASET_BYTES

        check_tree(path, "Keras model")
        with reading(path, "keras"):
            self.config = json_object(dir_file(path, "config.json", MAX_METADATA_BYTES), path, "config.json")
            found = {
                name: json_object(dir_file(path, name, MAX_METADATA_BYTES), path, name, text=True)
                for name in (NETFORM_ENTRY, "metadata.json")
                if os.path.lexists(os.path.join(path, name))
            }
            self.netform, self.keras = found.get(NETFORM_ENTRY), found.get("metadata.json")
            self.weights = (
                io.BytesIO(dir_file(path, WEIGHTS_ENTRY, MAX_DATASET_BYTES))
                if os.path.lexists(os.path.join(path, WEIGHTS_ENTRY))
                else None
            )


class _PlainWeights:
    """An archive's weights file read by :mod:`._h5_plain`, with the optimizer's iteration count it stores."""

    def __init__(self, weights: io.BytesIO) -> None:
        from ._h5_plain import PlainDataset, read_plain

        raw = weights.getvalue()
        self.file = read_plain(raw)
        self.datasets: dict[str, Any] = dict(self.file.datasets)
        self.iterations: int | None = 0
        if self.file.get("optimizer/vars") is not None and "optimizer/vars/0" in self.file:
            first = self.file.get("optimizer/vars/0")
            if not isinstance(first, PlainDataset) or first.shape != () or first.kind not in "iu":
                self.iterations = None  # not an iteration count: inspect reads it with Keras
            else:
                value = first.read_scalar(raw)
                if value is None:  # never written: its fill value, which h5py reads
                    raise _NotPlainHere()
                self.iterations = int(value)


class _NotPlainHere(Exception):
    """Raised where the plain reader cannot stand in for h5py."""


def _plain_weights(weights: io.BytesIO) -> _PlainWeights | None:
    """The weights read without h5py where they are plain HDF5 (see :mod:`._h5_plain`), else None."""
    from ._h5_plain import NotPlain

    try:
        return _PlainWeights(weights)
    except (NotPlain, _NotPlainHere):
        return None


def _read_keras(path: str, safe_mode: bool, where: str | None = None) -> dict[str, Any]:
    parts = KerasParts(path, where=where)
    path = parts.path
    config = parts.config
    _check(config, path, safe_mode)
    with config_memo():  # the value checks and the schema check convert each layer once
        check_layer_configs(config, path)
        check_compile_config(config, path)  # inspect reports the optimizer: as load(path), which compiles
        _vouched(config, where or path)
    if parts.weights is None:
        raise _Unknown  # e.g. Keras's npz weights: loading says why it cannot be read
    weights = parts.weights
    plain = _plain_weights(weights)
    if plain is not None:  # what check_h5 accepts, read without h5py: the same checks and description follow
        with reading(path, "keras"):
            check_archive_weights_layout(plain.file, path)
            info = _describe_keras(config, plain.file, plain.datasets, path)
            if info["optimizer"] is not None:
                if plain.iterations is None:
                    raise _Unknown
                info["iterations"] = plain.iterations
        info["meta"] = parts.meta
        return info
    import h5py

    with reading(path, "keras"), h5py.File(weights, "r") as f:
        datasets: dict[str, Any] = {}
        check_h5(f, f"{path}!{WEIGHTS_ENTRY}", file_size=len(weights.getbuffer()), datasets=datasets)
        check_archive_weights_layout(f, path)
        info = _describe_keras(config, f, datasets, path)
        if info["optimizer"] is not None:
            opt = f.get("optimizer/vars")
            info["iterations"] = _iteration(opt.get("0")) if opt is not None and "0" in opt else 0
    info["meta"] = parts.meta
    return info


def _describe_keras(config: dict[str, Any], f: Any, datasets: dict[str, Any], path: str) -> dict[str, Any]:
    """What inspect shows of a ``.keras`` model, from its config and its weights' structure (h5py's or plain)."""
    model = _model_config(config)
    store = _Store(f, datasets)
    # as the load refuses it: a config declaring more than the file holds (a LoRA rank edited to 100,000 was
    # described by the weights the file holds, 10 values, where Keras makes 600,000,010)
    check_declared_weights(config, ((name, d.shape) for name, d in datasets.items()), path)
    _check_layers_stored(config, store, path)
    _check_dense_shapes(config, store, path)
    info = _describe(model, _count_keras, store.keras_layers("", _layers_of(model)), store)
    info["optimizer"] = _optimizer(config.get("compile_config"))
    info["iterations"] = None
    return info


def _vouched(config: dict[str, Any], where: str) -> None:
    """Describe only a config Keras is known to build as described (:func:`._config_walk.check_vouched`); else
    the model is loaded with Keras, which describes it or refuses it as ``load`` does."""
    from ._config_walk import NeedsKeras, check_vouched, keras_describes

    try:
        check_vouched(config)
    except NeedsKeras as why:
        try:
            keras_describes(config, str(why))
        except FormatError as err:
            raise FormatError(f"{where}: {err}") from None
        raise _Unknown from None


def _read_h5(path: str, safe_mode: bool) -> dict[str, Any]:
    from ._h5 import attr_json, check_same_model, model_config, verify_checksums
    from ._h5_source import open_h5

    with reading(path, "h5"), open_h5(path) as opened:
        f = opened.file
        datasets: dict[str, Any] = {}
        check_h5(f, path, file_size=opened.size, datasets=datasets, raw=opened.raw)
        config, is_native = model_config(f)
        if config is None:
            raise FormatError(f"{path}: HDF5 file has no model config; load it with load_weights().")
        _check_h5(f, config, path, safe_mode)
        meta = h5_meta(f, path, config)  # before the checksums: metadata that is not JSON is named as such
        check_h5_layer_names(f, path)
        verify_checksums(f, path, datasets=datasets, source=opened.raw)
        if is_native:
            check_same_model(f, config, path)
        _same_compile(f, path)
        if not is_native:
            raise _Unknown  # a Keras 2 config: Keras's legacy loader renames classes
        native = config
        compile_config = attr_json(f, "netform_compile_config", path)
        if compile_config is None and "training_config" in f.attrs:
            raise _Unknown
        if compile_config is not None:
            _check(compile_config, path, safe_mode)
        with config_memo():
            check_layer_configs(native, path)
            _vouched({**native, "compile_config": compile_config} if compile_config else native, path)
        root = "model_weights/" if "model_weights" in f else ""
        model = _model_config(native)
        store = _Store(f, datasets)
        check_declared_weights(native, ((name, d.shape) for name, d in datasets.items()), path)
        _check_dense_shapes_h5(model, f, store, root, path)
        groups = {key: f"{root}{key}/" for key in (f[root] if root else f)}
        info = _describe(model, _count_h5, groups, store)
        info["optimizer"] = _optimizer(compile_config)
        info["iterations"] = None
        if info["optimizer"] is not None:
            info["iterations"] = _h5_iterations(f)
    info["meta"] = meta
    return info


def _same_compile(f: Any, where: str) -> None:
    """:func:`._h5.check_same_compile` without Keras: a loss named otherwise in the two configs, which only
    Keras's names can tell apart from an alias (:data:`._h5.LOSS_ALIASES` lists this Keras's), is left to
    Keras (:class:`_Unknown`), whose load refuses the file if they differ; any other difference is refused."""
    from ._h5 import refuse_compile_difference, static_losses, stored_compile_difference

    at = stored_compile_difference(f, where, static_losses)
    if at is None:
        return
    if at.startswith("loss"):
        raise _Unknown
    refuse_compile_difference(f, where, at)


def _h5_iterations(f: Any) -> int:
    if "optimizer_weights" not in f:
        return 0
    names = f["optimizer_weights"].attrs.get("weight_names")
    if names is None or len(names) == 0:
        return 0
    first = names[0].decode("utf-8") if isinstance(names[0], bytes) else str(names[0])
    if not first.split("/")[-1].startswith("iteration"):
        raise _Unknown
    return _iteration(f["optimizer_weights"].get(first))


def _check_archive_weights(config: dict[str, Any], f: Any, datasets: dict[str, Any], path: str) -> None:
    """The checks of an archive's weights against its config, on h5py's or the plain reader's view of them."""
    check_archive_weights_layout(f, path)
    check_declared_weights(config, ((name, d.shape) for name, d in datasets.items()), path)
    store = _Store(f, datasets)
    _check_layers_stored(config, store, path)
    _check_dense_shapes(config, store, path)


@settled_read("path")
def read_config(path: str, fmt: str, *, safe_mode: bool = True, compile: bool = False) -> dict[str, Any] | None:
    """A saved model's config, after the checks ``load(path, compile=compile)`` runs before building it.

    The archive's entries or the HDF5 file's structure, the config's classes
    and the weights (links, bombs, CRC-32s) are checked exactly as on the
    loading path, so a file ``load`` refuses is refused here with the same
    error, and a config returned is one ``load`` would build.

    Args:
        path: A ``.keras`` archive or folder, a full-model HDF5 file, or a
            SavedModel directory netform wrote (its embedded ``.keras`` model).
        fmt: ``"keras"``, ``"h5"`` or ``"savedmodel"``, from :func:`~._detect.detect_format`.
        safe_mode: As for :func:`netform.load`.
        compile: Also check the compile config, as loading with ``compile=True`` does.

    Returns:
        The config (netform's model classes restored; with ``compile``, a
        compiled model's ``compile_config`` beside it, as in a ``.keras``
        file's ``config.json``), or None where only Keras reads the file (a
        Keras 2 config, weights not in HDF5).

    Raises:
        FormatError: The file is corrupt.
        UnsafeFileError: The file is hostile.
    """
    where = path
    if fmt == "savedmodel":
        archive = savedmodel_archive(path, safe_mode=safe_mode)
        if archive is None:
            return None  # a SavedModel another tool wrote holds a graph, not a Keras config
        path, fmt = archive, "keras"
    if fmt == "keras":
        parts = KerasParts(path, where=where)
        path = where
        _check(parts.config, path, safe_mode)
        check_layer_configs(parts.config, path)
        if compile:
            check_compile_config(parts.config, path)
        if parts.weights is None:
            return None
        plain = _plain_weights(parts.weights)
        if plain is not None:  # what check_h5 accepts, read without h5py: the same checks follow
            with reading(path, "keras"):
                _check_archive_weights(parts.config, plain.file, plain.datasets, path)
            return parts.config
        import h5py

        with reading(path, "keras"), h5py.File(parts.weights, "r") as f:
            datasets: dict[str, Any] = {}
            check_h5(f, f"{path}!{WEIGHTS_ENTRY}", file_size=len(parts.weights.getbuffer()), datasets=datasets)
            _check_archive_weights(parts.config, f, datasets, path)
        return parts.config
    if fmt != "h5":
        return None
    from ._h5 import attr_json, check_same_model, model_config, verify_checksums
    from ._h5_source import open_h5

    with reading(path, "h5"), open_h5(path) as opened:
        f = opened.file
        stored: dict[str, Any] = {}
        check_h5(f, path, file_size=opened.size, datasets=stored, raw=opened.raw)
        config, is_native = model_config(f)  # the config load builds
        if config is None:
            raise FormatError(f"{path}: HDF5 file has no model config; load it with load_weights().")
        _check_h5(f, config, path, safe_mode)
        h5_meta(f, path, config)  # metadata naming another model is refused, as by inspect
        check_h5_layer_names(f, path)
        native = config if is_native else None
        check_declared_weights(config, ((name, d.shape) for name, d in stored.items()), path)
        verify_checksums(f, path, datasets=stored, source=opened.raw)
        if is_native:
            check_same_model(f, config, path)
        try:
            _same_compile(f, path)
        except _Unknown:
            return None  # a loss only Keras's names tell apart: load checks it
        if native is not None:  # a Keras 2 config is left to Keras's legacy loader, which renames arguments
            check_layer_configs(native, path)
            if isinstance(native, dict) and _is_model(native):
                _check_dense_shapes_h5(
                    native, f, _Store(f, stored), "model_weights/" if "model_weights" in f else "", path
                )
        if compile and native is not None:
            compile_config = attr_json(f, "netform_compile_config", path)
            if compile_config is None and "training_config" in f.attrs:
                return None  # Keras's legacy training config: Keras resolves its names
            if compile_config is not None:
                _check(compile_config, path, safe_mode)
                if isinstance(native, dict):  # beside the model's config, where config.json holds it
                    return {**native, "compile_config": compile_config}
    return native if isinstance(native, dict) else None


def _same_described(meta: dict[str, Any], info: dict[str, Any], where: str) -> None:
    """:func:`same_model` of a SavedModel's ``assets.extra/netform.json`` and the model it embeds."""
    class_name = str(info["model_class"]).rsplit(".", 1)[-1]
    config = {"class_name": class_name, "config": {"name": info["model_name"]}}
    same_model(meta, config, where, f"assets.extra/{NETFORM_ENTRY}", "the embedded model's config")


@settled_read("path")
def read_model(path: str, fmt: str, *, safe_mode: bool = True) -> dict[str, Any] | None:
    """Name, class, layers, parameter counts and optimizer of a saved model, without TensorFlow.

    Args:
        path: A ``.keras`` archive or folder (Keras's unzipped form), a full-model HDF5 file,
            or a SavedModel directory netform wrote (read through the ``.keras`` model it embeds).
        fmt: Its format, from :func:`~._detect.detect_format` (``"keras"``, ``"h5"`` or ``"savedmodel"``).
        safe_mode: As for :func:`netform.load`: refuse configs that name code.

    Returns:
        ``{"model_name", "model_class", "layers", "parameters",
        "trainable_parameters", "optimizer", "iterations"}`` as
        :func:`netform.saving.inspect` reports them, plus ``"meta"`` (the
        file's netform and Keras metadata), or None when only Keras can tell
        (a Keras 2 config, a subclassed model, a layer with variables of an
        unknown kind).

    Raises:
        FormatError: The file is corrupt.
        UnsafeFileError: The file is hostile, as :func:`netform.load` finds it.
    """
    try:
        if fmt == "keras":
            return _read_keras(path, safe_mode)
        if fmt == "savedmodel":
            # the record first, as inspect reads it before it loads: a record refused by both is named alike
            meta = savedmodel_meta(path) if os.path.isfile(os.path.join(path, "assets.extra", "netform.keras")) else {}
            archive = savedmodel_archive(path, safe_mode=safe_mode)
            if archive is None:
                return None  # another tool's SavedModel: see ._savedmodel_reader
            info = _read_keras(archive, safe_mode, where=path)
            shown = {"model_class": meta.get("model_class"), "model_name": meta.get("model_name")}
            _same_described(shown, info, path)
            info["meta"] = meta
            return info
        if fmt == "h5":
            return _read_h5(path, safe_mode)
    except _Unknown:
        return None
    return None
