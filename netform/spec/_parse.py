"""From loaded YAML (values + positions) to a :class:`ModelSpec`, with located errors.

Every problem found is turned into a :class:`Diagnostic` naming the file,
line, column and spec path; all of them are raised together as one
:class:`SpecError`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import Diagnostic, RegistryError, SpecError, did_you_mean
from ._expansion import MAX_HINTS, count_text
from ._layer_base import _REGISTRY, LAYER_DTYPES, LayerSpec, _ensure_catalog, get_layer_spec, layer_dtype
from ._model import ModelSpec, Node
from ._yaml import SourceMap

__all__ = ["parse_spec", "pydantic_diagnostics", "validate_layer", "dedupe", "Unresolved"]

Path = tuple[str | int, ...]


def _short(value: Any, limit: int = 60) -> str:
    # a long text is cut before repr() copies it whole (a 500 KB value quoted by each of 3,000 errors)
    text = repr(value[: limit + 1] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _filter_loc(loc: tuple[Any, ...], data: Any, err_type: str) -> Path:
    """Keep the parts of a Pydantic ``loc`` that index into the data."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            out.append(part)
            current = current[part]
        elif isinstance(current, (list, tuple)) and isinstance(part, int) and 0 <= part < len(current):
            out.append(part)
            current = current[part]
        elif last and err_type in ("missing", "extra_forbidden") and isinstance(part, (str, int)):
            out.append(part)
        elif isinstance(part, str) and part in ("in",) and isinstance(current, dict):
            out.append(part)
            current = current.get(part)
    return tuple(out)


def _message(err: ErrorDetails, model: type[BaseModel] | None, field_names: list[str], brief: bool = False) -> str:
    etype = err["type"]
    loc = err["loc"]
    key = loc[-1] if loc else ""
    if etype == "extra_forbidden":
        what = f"{model.__name__}" if model is not None else "this section"
        hint = "" if brief else did_you_mean(str(key), field_names)
        listing = ", ".join(field_names)
        return f"unknown field '{key}'{hint}; {what} accepts: {listing}"
    if etype == "missing":
        desc = ""
        if model is not None and isinstance(key, str) and key in model.model_fields:
            d = model.model_fields[key].description
            desc = f" ({d.rstrip('.')})" if d else ""
        return f"missing required field '{key}'{desc}"
    if etype in ("value_error", "assertion_error"):
        raised = (err.get("ctx") or {}).get("error")
        if raised is not None:  # a validator's own words, as it raised them
            return str(raised)
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return f"{msg}; received {_short(err.get('input'))}"


# What a value failing each of Pydantic's type checks should have been, by error type (Pydantic's English
# messages may change wording between versions; its error types are its stable interface).
_EXPECTED = {
    "int_type": "a valid integer",
    "int_parsing": "a valid integer",
    "int_from_float": "a valid integer",
    "float_type": "a valid number",
    "float_parsing": "a valid number",
    "bool_type": "a valid boolean",
    "bool_parsing": "a valid boolean",
    "string_type": "a valid string",
    "dict_type": "a valid dictionary",
    "list_type": "a valid list",
    "tuple_type": "a valid tuple",
    "none_required": "None",
}
_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("greater than or equal to", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("less than or equal to", "le"),
    "multiple_of": ("a multiple of", "multiple_of"),
}


def _expected(err: ErrorDetails) -> str:
    """What the value should have been, for one of several type errors at one place."""
    etype, ctx = err["type"], err.get("ctx") or {}
    if etype in _EXPECTED:
        return _EXPECTED[etype]
    if etype == "literal_error" and "expected" in ctx:
        return str(ctx["expected"])
    if etype in _BOUNDS and _BOUNDS[etype][1] in ctx:
        words, key = _BOUNDS[etype]
        return f"{words} {ctx[key]}"
    if etype == "model_type" and "class_name" in ctx:
        return f"a valid dictionary or instance of {ctx['class_name']}"
    msg = err["msg"]  # a type this table does not know: Pydantic's own sentence
    return msg[0].lower() + msg[1:] if msg else msg


def pydantic_diagnostics(
    error: ValidationError,
    data: Any,
    smap: SourceMap,
    prefix: Path = (),
    model: type[BaseModel] | None = None,
    *,
    brief: bool = False,
) -> list[Diagnostic]:
    """Turn a Pydantic ``ValidationError`` into located diagnostics.

    Args:
        error: The validation error.
        data: The raw data that was validated (to map ``loc`` onto real keys).
        smap: Positions of the document.
        prefix: Where ``data`` sits in the document.
        model: The model that was validated, for field listings.
        brief: Skip the "did you mean" suggestions (for errors past the first
            :data:`MAX_HINTS`, which are not shown: keeps many errors linear).
    """
    grouped: dict[Path, list[ErrorDetails]] = {}
    raw_errors = error.errors(include_url=False)
    # A misspelt required field shows up twice: as "missing" and as "extra".
    # Report only the misspelling, which names the fix.
    # (compared within one mapping only: across the document it would be quadratic in the number of errors)
    extras: dict[tuple[Any, ...], set[str]] = {}
    for e in raw_errors:
        if e["type"] == "extra_forbidden" and e["loc"]:
            extras.setdefault(tuple(e["loc"][:-1]), set()).add(str(e["loc"][-1]))

    def _explained(e: ErrorDetails) -> bool:
        if e["type"] != "missing" or not e["loc"]:
            return False
        wanted = str(e["loc"][-1])
        here = extras.get(tuple(e["loc"][:-1]), set())
        if brief or len(here) > 20:
            return bool(here)
        return any(did_you_mean(x, [wanted]) for x in here)

    raw_errors = [e for e in raw_errors if not _explained(e)]
    for err in raw_errors:
        path = _filter_loc(tuple(err["loc"]), data, err["type"])
        grouped.setdefault(path, []).append(err)
    # A union such as "a list of metrics, or a mapping of them per output" fails in both branches; when one
    # branch got inside the value (errors deeper down), the other branch's "should be a valid dictionary" is noise.
    for path in [p for p, errs in grouped.items() if all(e["type"].endswith("_type") for e in errs)]:
        if any(len(q) > len(path) and q[: len(path)] == path for q in grouped):
            del grouped[path]
    out: list[Diagnostic] = []
    field_names: dict[Any, list[str]] = {}  # by model: a mapping with thousands of unknown keys lists them once
    for path, errs in grouped.items():
        specific = [e for e in errs if e["type"] in ("value_error", "assertion_error", "extra_forbidden", "missing")]
        chosen = specific or errs
        target_model = _model_at(model, path)
        names = field_names.get(target_model)
        if names is None:
            names = field_names[target_model] = list(target_model.model_fields) if target_model is not None else []
        if len(chosen) > 1 and not specific:
            kinds = sorted({_expected(e) for e in chosen})
            message = f"expected {' or '.join(kinds)}; received {_short(chosen[0].get('input'))}"
            out.append(smap.diagnostic(message, prefix + path))
            continue
        seen = set()
        for err in chosen:
            message = _message(err, target_model, names, brief)
            if message in seen:
                continue
            seen.add(message)
            out.append(smap.diagnostic(message, prefix + path))
    return out


def _model_at(model: type[BaseModel] | None, path: Path) -> type[BaseModel] | None:
    """The Pydantic model that owns the last key of ``path`` (best effort)."""
    current = model
    for part in path[:-1]:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return current if isinstance(part, int) else None
        annotation = current.model_fields[part].annotation
        nxt = _first_model(annotation)
        if nxt is None:
            return current
        current = nxt
    return current


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def frozen_value(value: Any) -> Any:
    """A hashable stand-in for a value read from a spec that tells apart what Python's equality does not
    (``1``, ``1.0`` and ``True``; a list and a mapping).

    Raises:
        TypeError: A value that cannot be hashed.
    """
    if isinstance(value, (list, tuple)):
        return (list, tuple(frozen_value(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((k, frozen_value(v)) for k, v in value.items()))
    hash(value)
    return (type(value), value)


def validate_layer(
    fields: dict[str, Any],
    path: Path,
    smap: SourceMap,
    diags: list[Diagnostic],
    memo: dict[Any, Any] | None = None,
) -> LayerSpec | None:
    """Validate one layer mapping (with ``type``) and record any problems.

    With ``memo``, a mapping equal to one validated before without problems (value for value, ``1`` apart
    from ``1.0``) gets the same layer: it is frozen, and a spec repeats its layers thousands of times.
    """
    key = None
    if memo is not None:
        try:
            key = frozen_value(fields)
        except TypeError:
            key = None
        else:
            hit = memo.get(key)
            if hit is not None:
                return hit
        if not _within_generic_budget(fields, path, smap, diags, memo):
            return None
    layer = _validate_layer(fields, path, smap, diags)
    if key is not None and layer is not None:
        memo[key] = layer  # type: ignore[index]  # key is set with memo
    return layer


#: the most Keras layer configurations (``class_name: …``, a generic KerasLayer's and those it holds) one spec
#: may give: each is checked against Keras's constructor rules and made into netform's schema for its class,
#: about twice a schema layer's work (9,990 distinct generic Conv2D nodes took 3.0 s where as many Conv2D took
#: 1.4 s): with at most this many, a 1 MB spec costs validate at most about 0.2 s more than one of schema layers
MAX_GENERIC_LAYERS = 2_000
#: where a spec's memo keeps the count of its Keras layer configurations
_GENERIC_COUNT = ("netform", "generic layer configurations")


def _within_generic_budget(
    fields: dict[str, Any], path: Path, smap: SourceMap, diags: list[Diagnostic], memo: dict[Any, Any]
) -> bool:
    """Count the Keras layer configurations of a layer mapping not validated before; False past the limit
    (said once, where it was passed)."""
    if not any(isinstance(v, (dict, list)) for v in fields.values()) and "class_name" not in fields:
        return True
    count = memo.get(_GENERIC_COUNT, 0)
    if count > MAX_GENERIC_LAYERS:
        return False  # said already
    count += _keras_configs(fields, MAX_GENERIC_LAYERS + 1 - count)
    memo[_GENERIC_COUNT] = count
    if count <= MAX_GENERIC_LAYERS:
        return True
    diags.append(
        smap.diagnostic(
            f"more than {MAX_GENERIC_LAYERS:,} Keras layer configurations (generic KerasLayer layers and the "
            "layers they hold) in one spec: each is checked against Keras's constructor rules and made into "
            "netform's schema for its class, and this many would keep validate busy for seconds; write the "
            "layers netform has a schema for with their own type (type: Conv2D, …), or repeat them with a block",
            path,
        )
    )
    return False


def _keras_configs(value: Any, most: int) -> int:
    """The mappings in ``value`` (nested ones included) whose ``class_name`` is one of Keras's layer classes
    (an initializer's or a regularizer's is not), counted up to ``most``."""
    from ._keras_layer_args import KERAS_LAYER_ARGS

    found = 0
    stack = [value]
    while stack and found < most:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("class_name")
            if isinstance(name, str) and name in KERAS_LAYER_ARGS:
                found += 1
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return found


def _validate_layer(fields: dict[str, Any], path: Path, smap: SourceMap, diags: list[Diagnostic]) -> LayerSpec | None:
    type_name = fields.get("type")
    if type_name is None:
        diags.append(smap.diagnostic("missing required field 'type' (the Keras layer class, e.g. type: Dense)", path))
        return None
    if not isinstance(type_name, str):
        diags.append(
            smap.diagnostic(f"`type` must be a layer class name; received {_short(type_name)}", path + ("type",))
        )
        return None
    brief = len(diags) >= MAX_HINTS  # later messages are not shown: no suggestions, so many errors stay cheap
    if brief and type_name not in _REGISTRY:
        _ensure_catalog()
        if type_name not in _REGISTRY:
            diags.append(smap.diagnostic(f"unknown layer type {_short(type_name)}", path + ("type",)))
            return None
    try:
        cls = get_layer_spec(type_name)
    except RegistryError as err:
        diags.append(smap.diagnostic(err.diagnostics[0].message, path + ("type",)))
        return None
    if _many_unknown_keys(fields, cls, path, smap, diags):
        return None
    try:
        layer = cls.model_validate(fields, context={"brief": brief})
    except ValidationError as err:
        diags.extend(pydantic_diagnostics(err, fields, smap, path, cls, brief=brief))
        return None
    if layer.dtype is not None and not layer_dtype(layer.dtype):
        diags.append(
            smap.diagnostic(
                f"dtype {_short(layer.dtype)} is not a dtype policy a layer computes with; use one of "
                f"{', '.join(LAYER_DTYPES)}, or a quantized policy such as int8_from_float32 "
                "(text and object dtypes hold no numbers)",
                path + ("dtype",),
            )
        )
        return None
    too_big = [
        smap.diagnostic(
            f"{_number(v)} is {'too small' if v < 0 else 'too large'}; {layer.type if len(where) == 1 else 'a layer'} takes "
            + (
                f"seeds from {-MAX_SEED - 1:,} to {MAX_SEED:,} (TensorFlow draws with 64-bit seeds)"
                if where and where[-1] == "seed"
                else f"integers up to {MAX_INT:,} (TensorFlow holds sizes and settings as 32-bit integers)"
            ),
            path + where,
        )
        for where, v in _big_ints(fields, layer)
    ]
    diags.extend(too_big)
    return None if too_big else layer


def _many_unknown_keys(
    fields: dict[str, Any], cls: type[LayerSpec], path: Path, smap: SourceMap, diags: list[Diagnostic]
) -> bool:
    """Report a layer mapping with more than :data:`MAX_HINTS` unknown keys without validating it; True if so.

    Pydantic reports each unknown key, and each message works out a suggestion: 90,000 keys in one
    mapping took seconds. Here the keys are counted against the schema's fields first; past
    :data:`MAX_HINTS` the first ones are reported as Pydantic's would be, the rest in one line.
    """
    if len(fields) <= MAX_HINTS:
        return False  # (as below, without building the schema's names once a layer)
    known = set(cls.model_fields)
    known.update(f.alias for f in cls.model_fields.values() if f.alias)
    if len(fields) - len(known) <= MAX_HINTS:
        return False  # too few keys for MAX_HINTS unknown ones: Pydantic reports them, with suggestions
    unknown = [k for k in fields if k not in known]
    if len(unknown) <= MAX_HINTS:
        return False
    names = list(cls.model_fields)
    listing = ", ".join(names)
    for key in unknown[:MAX_HINTS]:
        diags.append(
            smap.diagnostic(
                f"unknown field '{key}'{did_you_mean(str(key), names)}; {cls.__name__} accepts: {listing}",
                path + (key,),
            )
        )
    diags.append(
        smap.diagnostic(
            f"… and {len(unknown) - MAX_HINTS:,} more unknown fields here ({len(unknown):,} in all); "
            f"{cls.__name__} accepts: {listing}",
            path + (unknown[MAX_HINTS],),
        )
    )
    return True


#: the largest integer a layer setting may have: Keras hands sizes, seeds and counts to TensorFlow as int32
MAX_INT = 2**31 - 1
#: the largest seed Keras takes (TensorFlow draws with 64-bit seeds)
MAX_SEED = 2**63 - 1


def _number(value: int) -> str:
    if value.bit_length() < 128:
        return f"{value:,}"
    return f"a number of about 10^{int(value.bit_length() * 0.30103)}"  # str() of a huge int is slow or refused


def _big_ints(raw: Any, validated: Any, where: Path = ()) -> list[tuple[Path, int]]:
    """Every integer setting past :data:`MAX_INT` (nested layers and lists included).

    Walks the few values as written (not the whole validated model, to stay
    cheap) and keeps those the schema made integers: a float field may be huge.
    """
    if isinstance(raw, bool):
        return []
    if isinstance(raw, (int, float)):
        value = validated if validated is not _MISSING else raw
        # Keras takes 64-bit seeds (TensorFlow draws with int64 seeds); every other setting is 32-bit
        if isinstance(value, int) and not isinstance(value, bool):
            seed = bool(where) and where[-1] == "seed"
            # a seed is a signed 64-bit integer: -2**63 .. 2**63 - 1
            if (seed and not -MAX_SEED - 1 <= value <= MAX_SEED) or (not seed and abs(value) > MAX_INT):
                return [(where, value)]
        return []
    out: list[tuple[Path, int]] = []
    if isinstance(raw, dict):
        for key, item in raw.items():
            if item is None or isinstance(item, str):
                continue  # (no integer here: skip looking up its validated value)
            out += _big_ints(item, _child(validated, key), where + (str(key),))
    elif isinstance(raw, (list, tuple)):
        for i, item in enumerate(raw):
            out += _big_ints(item, _child(validated, i), where + (i,))
    return out


_MISSING = object()


def _child(value: Any, key: str | int) -> Any:
    """``value``'s field, key or item ``key`` (``_MISSING`` when it has none)."""
    if isinstance(key, int):
        return value[key] if isinstance(value, (list, tuple)) and 0 <= key < len(value) else _MISSING
    if isinstance(value, BaseModel):
        fields = value.__dict__  # the field values by name (Pydantic keeps extra keys apart, in model_extra)
        if key in fields:
            return fields[key]
        return (value.model_extra or {}).get(key, _MISSING)
    if isinstance(value, dict):
        return value.get(key, _MISSING)
    return _MISSING


def _inputs(value: Any, path: Path, smap: SourceMap, diags: list[Diagnostic]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    diags.append(
        smap.diagnostic(f"`in` must name a node or input, or list several; received {_short(value)}", path + ("in",))
    )
    return None


def parse_node(
    value: Any,
    path: Path,
    smap: SourceMap,
    diags: list[Diagnostic],
    *,
    graph: bool,
    memo: dict[Any, Any] | None = None,
) -> Node | None:
    """Parse one node mapping (layer, shared layer or block use); ``memo`` as :func:`validate_layer`'s."""
    if not isinstance(value, dict):
        example = "{type: Dense, units: 8, in: x}" if graph else "{type: Dense, units: 8}"
        diags.append(smap.diagnostic(f"a node is a mapping like {example}; received {_short(value)}", path))
        return None
    fields = dict(value)
    meta: dict[str, Any] = {}
    n_before = len(diags)
    if "op" in fields:
        return _parse_op(fields, path, smap, diags, graph=graph, memo=memo)
    if "call" in fields:
        call = fields.pop("call")
        if graph and _check_call(call, path + ("call",), smap, diags):
            meta["call"] = call
        elif not graph:
            diags.append(
                smap.diagnostic(
                    "`call` is for functional nodes (a sequential list passes only the previous layer's output)",
                    path + ("call",),
                )
            )
    if "in" in fields:
        raw_in = fields.pop("in")
        if not graph:
            diags.append(
                smap.diagnostic(
                    "`in` is for functional nodes; in a sequential `layers:` list each layer takes the previous one's output",
                    path + ("in",),
                )
            )
        else:
            meta["in"] = _inputs(raw_in, path, smap, diags)
    elif graph:
        # `input: x` for `in: x`: one error naming the fix, not "missing `in`" plus an unknown layer argument
        misspelt = next((k for k in fields if k in ("input", "inputs", "inp", "from", "In", "IN")), None)
        if misspelt is not None:
            diags.append(
                smap.diagnostic(
                    f"unknown field '{misspelt}' (Did you mean 'in'?); a node names the node or "
                    f"input that feeds it with `in`, e.g. in: "
                    f"{fields[misspelt] if isinstance(fields[misspelt], str) else 'x'}",
                    path + (misspelt,),
                )
            )
            meta["in"] = ()
            fields.pop(misspelt)
    for key in ("block", "shares"):
        if key in fields and not (isinstance(fields[key], str) and fields[key]):
            # a null here would leave a node with neither layer, block nor shared layer
            what = "a block defined under `blocks:`" if key == "block" else "an earlier node whose layer to reuse"
            diags.append(smap.diagnostic(f"`{key}` must name {what}; received {_short(fields[key])}", path + (key,)))
            return Node.model_validate({"layer": Unresolved(), "in": meta.get("in") or ()})
    for key in ("repeat", "nested"):
        if key in fields and ("block" in fields):
            meta[key] = fields.pop(key)
    if "block" in fields:
        meta["block"] = fields.pop("block")
        meta["args"] = fields
    elif "shares" in fields:
        meta["shares"] = fields.pop("shares")
        extra = [k for k in fields if k != "name"]
        if extra:
            diags.append(
                smap.diagnostic(
                    f"a node that shares a layer takes only `shares` and `in`; remove {', '.join(extra)} "
                    "(the shared layer's settings come from the node it shares)",
                    path + (extra[0],),
                )
            )
    else:
        for key in ("repeat", "nested"):
            if key in fields:
                diags.append(
                    smap.diagnostic(f"`{key}` applies only to block uses (nodes with `block:`)", path + (key,))
                )
                fields.pop(key)
        layer = validate_layer(fields, path, smap, diags, memo)
        meta["layer"] = layer
    if graph and "in" not in meta:
        diags.append(smap.diagnostic("missing `in`: name the node or input that feeds this node", path))
    if len(diags) > n_before:
        if "block" not in meta and "shares" not in meta:
            return Node.model_validate({"layer": Unresolved(), "in": meta.get("in") or ()})
        if "shares" in meta:  # the node stands without the keys refused: the rest of the graph is still checked
            try:
                return Node.model_validate(meta)
            except ValidationError:
                pass
        return None
    try:
        return Node.model_validate(meta)
    except ValidationError as err:
        diags.extend(pydantic_diagnostics(err, value, smap, path, Node))
        return None


def _check_call(call: Any, path: Path, smap: SourceMap, diags: list[Diagnostic]) -> bool:
    """A node's ``call:`` is a mapping of argument names to node names (tensors) or constants."""
    if not isinstance(call, dict):
        diags.append(
            smap.diagnostic(
                f"`call` is a mapping of the layer's call arguments, e.g. {{initial_state: [enc.1, enc.2]}} or "
                f"{{use_causal_mask: true}}; received {_short(call)}",
                path,
            )
        )
        return False
    ok = True
    for key, value in call.items():
        if not (
            isinstance(value, (str, bool, int, float))
            or value is None
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            diags.append(
                smap.diagnostic(
                    f"call argument '{key}' takes a node name, a list of node names or a constant; received "
                    f"{_short(value)}",
                    path + (key,),
                )
            )
            ok = False
        elif key in _CALL_SETTINGS and not isinstance(value, bool):
            diags.append(
                smap.diagnostic(
                    f"call argument '{key}' is a setting, true or false; received {_short(value)} (Keras reads it "
                    "as a Python bool: a tensor there fails when the model is built or run)",
                    path + (key,),
                )
            )
            ok = False
    return ok


#: call arguments that are settings, never tensors: Keras tests them with `if` while it builds its graph
_CALL_SETTINGS = frozenset({"use_causal_mask", "return_attention_scores"})
_NUMBERS = (int, float, bool)
#: netform.spec.layers.ops, once a spec has an op node (it builds the op tables)
_ops: Any = None


def _parse_op(
    fields: dict[str, Any],
    path: Path,
    smap: SourceMap,
    diags: list[Diagnostic],
    *,
    graph: bool,
    memo: dict[Any, Any] | None = None,
) -> Node | None:
    """An op node, ``{op: add, in: [a, b]}``: a keras.ops function applied to nodes and constants."""
    global _ops
    if _ops is None:  # once: a `from … import` in a function runs the import machinery at each of 20,000 calls
        from .layers import ops

        _ops = ops
    ARGS_CHECKED, Op, op_problems = _ops.ARGS_CHECKED, _ops.Op, _ops.op_problems
    if not graph:
        diags.append(
            smap.diagnostic(
                "op nodes need named inputs: use kind: functional (or a block with `nodes:`) "
                "to apply a keras.ops function",
                path + ("op",),
            )
        )
        return None
    op = fields.pop("op")
    n_before = len(diags)
    if "in" not in fields:
        diags.append(smap.diagnostic(f"missing `in`: name the node(s) that op {op} applies to", path))
        raw_in: Any = []
    else:
        raw_in = fields.pop("in")
    for key in ("call", "shares", "block", "repeat", "nested", "type"):
        if key in fields:
            diags.append(
                smap.diagnostic(
                    f"`{key}` does not apply to an op node; an op node has `op`, `in` and the function's own arguments",
                    path + (key,),
                )
            )
            fields.pop(key)
    fields.pop("name", None)
    args = tuple(raw_in) if isinstance(raw_in, list) else (raw_in,)
    # what op_problems reads: the op, the constants and where the tensors are, the named arguments (not
    # which nodes the tensors come from); an op node of the same as one that passed passes
    checked: Any = None
    if memo is not None:
        try:
            checked = (
                "op",
                op,
                # a number in `in` is checked for its type only (lists: for their values and structure)
                tuple(
                    None if isinstance(a, str) else (type(a), None) if type(a) in _NUMBERS else frozen_value(a)
                    for a in args
                ),
                frozen_value(fields),
            )
        except TypeError:
            checked = None
    if checked is None or memo is None or checked not in memo:
        # past the messages shown, no "did you mean" (a comparison with every op name each)
        for where, message in op_problems(op, args, fields, brief=len(diags) >= MAX_HINTS):
            diags.append(smap.diagnostic(message, path + (where if where is not None else "op",)))
        if checked is not None and memo is not None and len(diags) == n_before:
            memo[checked] = True
    if len(diags) > n_before:
        refs = tuple(a for a in args if isinstance(a, str))
        return Node.model_validate({"layer": Unresolved(), "in": refs})
    layer = Op.model_validate({"op": op, "args": args, "kwargs": fields}, context=ARGS_CHECKED)
    return Node.model_validate({"layer": layer, "in": layer.refs})


class Unresolved(LayerSpec):
    """Stands in for a layer whose schema had errors, so graph checks can still run."""

    type: str = "Unresolved"
    arity = "many"
    min_inputs = 0
    max_inputs = 1 << 30


def _stopped(diags: list[Diagnostic], path: Path, smap: SourceMap) -> Diagnostic:
    """The diagnostic that ends a check stopped at :attr:`SpecError.ERROR_LIMIT` errors, at the first part left.

    Every error is built with its place (and the first ones with suggestions); a spec of 70,000 errors
    took seconds of CPU to list errors nobody reads past the first hundred. Past the limit the spec's
    remaining layers or nodes are not checked: the errors found are reported, and this one says where
    checking stopped.
    """
    return smap.diagnostic(
        f"{SpecError.STOPPED} {len(diags):,} errors: this and the rest of the spec were not checked; "
        "fix the errors above and validate again",
        path,
    )


def parse_spec(data: Any, smap: SourceMap) -> tuple[ModelSpec | None, list[Diagnostic]]:
    """Validate a loaded document into a :class:`ModelSpec`.

    Nodes whose layer schema has errors are kept with an :class:`Unresolved`
    layer, so the graph can still be checked and every problem of the file is
    reported at once.

    Returns:
        The spec (``None`` when the containers themselves are invalid) and the
        diagnostics found.
    """
    diags: list[Diagnostic] = []
    if not isinstance(data, dict):
        hint = ""
        if isinstance(data, str) and "\n" not in data and len(data) < 4096:
            # one word is more likely a file name than a spec
            if os.path.isfile(data):
                hint = f" (it holds only the path of the file {data!r}: give that path itself to read its spec)"
            elif os.path.islink(data):
                hint = f" ({data!r} is a symbolic link to {os.readlink(data)!r}, which does not exist)"
            else:
                hint = f" ({data!r} is no file either: looked in {os.getcwd()})"
        raise SpecError(
            [
                smap.diagnostic(
                    f"a spec is a mapping that starts with `netform: 1`; received {type(data).__name__}{hint}"
                )
            ]
        )
    raw = dict(data)
    if "netform" not in raw:
        diags.append(smap.diagnostic("missing `netform: 1` (the spec format version) at the top of the spec"))
    elif raw["netform"] != 1 or isinstance(raw["netform"], bool):  # `true` == 1 in Python, not in JSON Schema
        diags.append(
            smap.diagnostic(
                f"unsupported spec format version {_short(raw['netform'])}; this netform reads version 1", ("netform",)
            )
        )
    _check_count(raw, smap)
    memo: dict[Any, Any] = {}  # equal layer mappings share their (frozen) layer; equal op nodes, their checks
    nodes_ok = True
    if isinstance(raw.get("nodes"), dict):
        parsed = {}
        for name, value in raw["nodes"].items():
            if len(diags) >= SpecError.ERROR_LIMIT:
                return None, [*diags, _stopped(diags, ("nodes", name), smap)]
            node = parse_node(value, ("nodes", name), smap, diags, graph=True, memo=memo)
            if memo.get(_GENERIC_COUNT, 0) > MAX_GENERIC_LAYERS:
                return None, diags  # the nodes past the limit are not checked: said where it was passed
            nodes_ok &= node is not None
            parsed[name] = node
        raw["nodes"] = parsed
    if isinstance(raw.get("layers"), list):
        items = []
        for i, v in enumerate(raw["layers"]):
            if len(diags) >= SpecError.ERROR_LIMIT:
                return None, [*diags, _stopped(diags, ("layers", i), smap)]
            items.append(parse_node(v, ("layers", i), smap, diags, graph=False, memo=memo))
            if memo.get(_GENERIC_COUNT, 0) > MAX_GENERIC_LAYERS:
                return None, diags  # the layers past the limit are not checked: said where it was passed
        nodes_ok &= all(n is not None for n in items)
        raw["layers"] = items
    if isinstance(raw.get("model"), dict):
        _check_subclass_config(raw["model"], smap, diags)
    if not nodes_ok:
        if isinstance(raw.get("nodes"), dict) and any(v is None for v in raw["nodes"].values()):
            raw.pop("nodes")
        if isinstance(raw.get("layers"), list) and any(v is None for v in raw["layers"]):
            raw.pop("layers")
    _drop_unknown_keys(raw, smap, diags)
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as err:
        relevant = [d for d in pydantic_diagnostics(err, data, smap, (), ModelSpec)]
        diags.extend(relevant)
        spec = None
    if spec is not None:
        spec._source = smap.source  # private attrs are settable on frozen models
        spec._smap = smap
    return spec, diags


def _drop_unknown_keys(raw: dict[str, Any], smap: SourceMap, diags: list[Diagnostic]) -> None:
    """Report and remove the unknown keys of the top level and of ``training:`` when there are very many.

    Pydantic reports each unknown key itself, each with a suggestion: tens of thousands of them cost
    seconds. Past :data:`MAX_HINTS`, the first :data:`MAX_HINTS` are reported as Pydantic's would be, the
    rest in one line, and all are removed before validation.
    """
    from ._training import TrainingSpec

    sections: list[tuple[Path, dict[str, Any], type[BaseModel]]] = [((), raw, ModelSpec)]
    if isinstance(raw.get("training"), dict):
        raw["training"] = dict(raw["training"])
        sections.append((("training",), raw["training"], TrainingSpec))
    for path, mapping, model in sections:
        fields = model.model_fields
        unknown = [k for k in mapping if k not in fields]
        if len(unknown) <= MAX_HINTS:
            continue  # reported by Pydantic, with suggestions
        names = list(fields)
        for key in unknown[:MAX_HINTS]:
            diags.append(
                smap.diagnostic(
                    f"unknown field '{key}'{did_you_mean(str(key), names)}; {model.__name__} accepts: "
                    f"{', '.join(names)}",
                    path + (key,),
                )
            )
        diags.append(
            smap.diagnostic(
                f"… and {len(unknown) - MAX_HINTS:,} more unknown fields here ({len(unknown):,} in all); "
                f"{model.__name__} accepts: {', '.join(names)}",
                path + (unknown[MAX_HINTS],),
            )
        )
        for key in unknown:
            del mapping[key]
    if isinstance(raw.get("training"), dict):
        _drop_long_lists(raw["training"], smap, diags)


#: the most callbacks, or metrics (of one output), a ``training:`` section may list: far beyond any real
#: use, few enough that checking each stays well under a second
MAX_TRAINING_ITEMS = 1000


def _drop_long_lists(training: dict[str, Any], smap: SourceMap, diags: list[Diagnostic]) -> None:
    """Refuse (and remove before validation) a ``callbacks``/``metrics`` list past :data:`MAX_TRAINING_ITEMS`."""
    for field in ("callbacks", "metrics", "weighted_metrics"):
        value = training.get(field)
        groups = list(value.items()) if isinstance(value, dict) else [(None, value)]
        for key, items in groups:
            if not isinstance(items, list) or len(items) <= MAX_TRAINING_ITEMS:
                continue
            where: Path = ("training", field) + ((key,) if key is not None else ())
            diags.append(
                smap.diagnostic(
                    f"`{field}` lists {len(items):,} items; the limit is {MAX_TRAINING_ITEMS:,}: list fewer",
                    where + (MAX_TRAINING_ITEMS,),
                )
            )
            training.pop(field, None)
            break


def _check_count(raw: dict[str, Any], smap: SourceMap) -> None:
    """Refuse a spec with more top-level layers than a graph may have, before validating each of them."""
    from ._graph import MAX_GRAPH_NODES

    for key, what in (("layers", "layers"), ("nodes", "nodes")):
        items = raw.get(key)
        if isinstance(items, (list, dict)) and len(items) > MAX_GRAPH_NODES:
            where: Path = (key, MAX_GRAPH_NODES) if isinstance(items, list) else (key, list(items)[MAX_GRAPH_NODES])
            raise SpecError(
                [
                    smap.diagnostic(
                        f"the spec lists {count_text(len(items))} {what}; the limit is {MAX_GRAPH_NODES:,} "
                        "(netform refuses graphs past that size)",
                        where,
                    )
                ]
            )


def _check_subclass_config(model: dict[str, Any], smap: SourceMap, diags: list[Diagnostic]) -> None:
    from ._custom import get_model_class

    name = model.get("type")
    if not isinstance(name, str):
        diags.append(smap.diagnostic("missing `type`: the registered model class name", ("model",)))
        return
    try:
        _, config = get_model_class(name)
    except RegistryError as err:
        diags.append(smap.diagnostic(err.diagnostics[0].message, ("model", "type")))
        return
    fields = {k: v for k, v in model.items() if k != "type"}
    try:
        config.model_validate(fields)
    except ValidationError as err:
        diags.extend(pydantic_diagnostics(err, fields, smap, ("model",), config))


def dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for d in diags:
        key = (d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    # in the order of the file; a check stopped at the error limit says so last
    return sorted(out, key=lambda d: (d.message.startswith(SpecError.STOPPED), d.line or 0, d.column or 0))
