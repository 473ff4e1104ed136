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
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Mapping

from netform.errors import FormatError, NetformError

__all__ = ["DECLARED_SLACK", "MAX_DECLARED_WEIGHTS", "check_declared_weights", "declared_weights", "stored_weights"]

#: Values a config may declare beyond the file's datasets (state kept outside the weights file).
DECLARED_SLACK = 1 << 20
#: No config may declare more weight values than this (16 GiB of float32), whatever the file holds.
MAX_DECLARED_WEIGHTS = 1 << 32
#: Top-level groups of optimizer state (``.keras``: ``optimizer``; netform's ``.h5``: ``optimizer_weights``).
_OPTIMIZER_GROUPS = ("optimizer/", "optimizer_weights/")
_SIZE_KEY = re.compile(
    r"(^|_)(units|filters|dim|tokens|heads|classes|features|channels|hidden)$"
    r"|^(kernel|vocab|embed|embedding|hidden|input|output|intermediate|state|key|value)_size$"
)
#: ``build_config`` ``shapes_dict`` keys of layers called on several tensors, in netform's input order.
_CALL_SHAPES = ("query_shape", "value_shape", "key_shape")
_MAX_RANK = 8


def stored_weights(shapes: Iterator[tuple[str, tuple[int, ...] | None]]) -> int:
    """The element count of a weights file's datasets, optimizer state excluded, from ``(name, shape)`` pairs."""
    total = 0
    for name, shape in shapes:
        if name.lstrip("/").startswith(_OPTIMIZER_GROUPS):
            continue
        total += math.prod(shape or ())
    return total


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


def _static_count(layer: dict[str, Any]) -> int | None:
    """The layer's weight count from netform's static rules; None where they do not apply."""
    from netform.spec._layer_base import NoStaticRule  # noqa: PLC0415

    from ._config_walk import static_layer  # noqa: PLC0415

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
        return int(trainable) + int(frozen)
    return None


def _scanned_count(value: Any, depth: int = 0) -> int:
    """The largest size-like integer argument of a layer config (a lower bound on its weights)."""
    best = 0
    if depth > 32:
        return best
    if isinstance(value, dict):
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


def declared_weights(config: Mapping[str, Any]) -> tuple[int, str | None, int]:
    """The weight values a model config implies, without Keras.

    Returns:
        ``(total, layer, count)``: the total (exact for layers with static rules
        and recorded input shapes, a lower bound otherwise), and the layer
        declaring the most weights with its count (None and 0 for none).
    """
    total, top, top_count = 0, None, 0
    for name, layer in _layers(dict(config)):
        count = _static_count(layer)
        if count is None:
            count = _scanned_count(layer.get("config"))
        total += count
        if count > top_count:
            top, top_count = name, count
    return total, top, top_count


def check_declared_weights(
    config: Mapping[str, Any], shapes: Iterator[tuple[str, tuple[int, ...] | None]], where: str
) -> None:
    """Refuse a config that declares more weights than its file holds, before Keras allocates them.

    Args:
        config: The model config Keras would deserialize.
        shapes: ``(dataset name, shape)`` of every dataset in the weights file.
        where: The file, for messages.

    Raises:
        FormatError: The config declares more weight values than the file
            holds (plus :data:`DECLARED_SLACK`), or more than
            :data:`MAX_DECLARED_WEIGHTS`.
    """
    declared, layer, count = declared_weights(config)
    stored = stored_weights(shapes)
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
