"""The named call arguments each built-in layer takes (``call:`` in a node), in pure Python.

A node passes them as ``call: {initial_state: [enc.1, enc.2]}`` or
``call: {use_causal_mask: true}``. This table is the layers' ``call``
signatures without their first (tensor) argument, so a spec is checked
without importing Keras; a test compares it with ``inspect.signature``.

:func:`call_misfit` checks the shapes of the tensors given there as Keras uses them (the masks
and key of the attention layers, the initial states of the ConvLSTM layers), so what Keras
refuses at build or at its first batch is refused at validate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._layer_base import ShapeError
from .._types import format_shape
from .attention import attention_axes

__all__ = ["CALL_ARGUMENTS", "CallTensor", "call_arguments", "call_misfit"]

_RNN = ("initial_state", "mask", "training")
_DROPOUT = ("training",)
_ATTENTION = ("mask", "training", "return_attention_scores", "use_causal_mask")
_MHA = (
    "key",
    "query_mask",
    "value_mask",
    "key_mask",
    "attention_mask",
    "return_attention_scores",
    "training",
    "use_causal_mask",
)

#: layer type → the names a node's `call:` may give (absent: the layer's call takes only its input)
CALL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "AdditiveAttention": _ATTENTION,
    "Attention": _ATTENTION,
    "MultiHeadAttention": _MHA,
    "GroupQueryAttention": _MHA,
    "LSTM": _RNN,
    "GRU": _RNN,
    "SimpleRNN": _RNN,
    "Bidirectional": _RNN,
    "ConvLSTM1D": _RNN,
    "ConvLSTM2D": _RNN,
    "ConvLSTM3D": _RNN,
    "BatchNormalization": ("training", "mask"),
    "TimeDistributed": ("training", "mask"),
    "GlobalAveragePooling1D": ("mask",),
    "Softmax": ("mask",),
    "CenterCrop": _DROPOUT,
    "Resizing": _DROPOUT,
    **{
        name: _DROPOUT
        for name in (
            "AlphaDropout",
            "Dense",
            "Dropout",
            "EinsumDense",
            "GaussianDropout",
            "GaussianNoise",
            "SpatialDropout1D",
            "SpatialDropout2D",
            "SpatialDropout3D",
        )
    },
}


def call_arguments(layer_type: str) -> tuple[str, ...] | None:
    """The call arguments of a built-in layer type; ``None`` for a type this table does not know (custom layers)."""
    from . import MODULE_OF

    if layer_type in CALL_ARGUMENTS:
        return CALL_ARGUMENTS[layer_type]
    return () if layer_type in MODULE_OF and layer_type != "KerasLayer" else None


# --- tensors given to `call:` against the layer's own inputs ----------------------------------------

#: the model's batch axis where its size is unknown: it takes any size at run time, so it fits only itself and 1
_BATCH = "batch"
_ATTENTION_TYPES = ("MultiHeadAttention", "GroupQueryAttention")
_CONV_LSTM = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
#: the masks of the projected attention layers, in the order Keras combines them
_MASKS = ("query_mask", "value_mask", "key_mask", "attention_mask")
#: layers whose `mask` applies to their one input
_INPUT_MASKED = ("Softmax", "GlobalAveragePooling1D", "BatchNormalization", "TimeDistributed")
#: recurrent layers: their `mask` holds one flag per sample and time step
_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "Bidirectional", *_CONV_LSTM)

Dim = Any  # a size: an int, None (unknown) or _BATCH
Misfit = tuple[str, tuple[Any, ...]]


class CallTensor(NamedTuple):
    """A tensor given to a call argument: the node that gives it and its static shape (None: unknown)."""

    node: str
    shape: Any


def call_misfit(layer: Any, inputs: Any, call: dict[str, Any], listed: int) -> Misfit | None:
    """Why the tensors of a node's ``call:`` cannot fit its layer, with the place under ``call``; or None.

    Args:
        layer: The node's layer spec.
        inputs: The static shapes of the layer's inputs (a list for several), a key given in ``call``
            included as the third.
        call: The node's call arguments, each tensor a :class:`CallTensor` (a list of them where the spec
            lists several).
        listed: How many tensors the node's ``in`` lists.

    Checked as Keras computes: the masks of MultiHeadAttention and GroupQueryAttention (``query_mask``,
    ``value_mask``, ``key_mask``, ``attention_mask`` and a ``key``), the ``mask`` list of Attention and
    AdditiveAttention, the ``mask`` of Softmax, GlobalAveragePooling1D, BatchNormalization,
    TimeDistributed and the recurrent layers, and the ``initial_state`` of the ConvLSTM layers (alone or in Bidirectional).
    Unknown sizes pass.
    """
    if layer.type in _ATTENTION_TYPES:
        return _attention_misfit(layer, inputs, call, listed)
    if layer.type in ("Attention", "AdditiveAttention") and "mask" in call:
        return _dot_mask_misfit(layer.type, inputs, call)
    if layer.type in _INPUT_MASKED and isinstance(call.get("mask"), CallTensor):
        return _input_mask_misfit(layer, inputs, call["mask"])
    if layer.type in _RECURRENT and isinstance(call.get("mask"), CallTensor):
        found = _recurrent_mask_misfit(layer.type, inputs, call["mask"])
        if found is not None:
            return found
    parts = [layer.layer, layer.backward_layer or layer.layer] if layer.type == "Bidirectional" else [layer]
    if "initial_state" in call and all(p.type in _CONV_LSTM for p in parts):
        return _conv_state_misfit(layer.type, parts, inputs, call["initial_state"])
    return None


def _conv_state_misfit(kind: str, parts: list[Any], inputs: Any, given: Any) -> Misfit | None:
    """ConvLSTM: two states (h and c) per direction, each exactly the shape of one step of its output."""
    from .._layer_base import ShapeError

    if not isinstance(inputs, tuple):
        return None
    try:
        wants = [s for p in parts for s in [p._conv_output(p._step(inputs), p.filters)] * 2]
    except ShapeError:
        return None
    tensors = given if isinstance(given, list) else [given]
    if len(tensors) != len(wants):
        what = f"{len(wants)} initial states (h and c{' of each direction' if kind == 'Bidirectional' else ''})"
        return (
            f"{kind} takes {what}, but `call.initial_state` gives {len(tensors)}: list one "
            f"{_text(_batched(wants[0]))} tensor per state",
            ("initial_state",),
        )
    for j, (tensor, want) in enumerate(zip(tensors, wants)):
        shape = tensor.shape
        if not isinstance(shape, tuple):
            continue
        if len(shape) != len(want) or any(g not in (None, w) and w is not None for g, w in zip(shape[1:], want[1:])):
            return (
                f"{parts[j // 2].type} initial state {j} must have shape {_text(_batched(want))} (one step of its output: "
                f"the same sizes and {parts[j // 2].filters} filters; no axis broadcasts), but node "
                f"'{tensor.node}' gives {_text(shape)}",
                ("initial_state", j) if isinstance(given, list) else ("initial_state",),
            )
    return None


def _attention_misfit(layer: Any, inputs: Any, call: dict[str, Any], listed: int) -> Misfit | None:
    """MultiHeadAttention and GroupQueryAttention: the key, and each mask as Keras folds it into the scores."""
    kind = layer.type
    if "key" in call and listed > 2:
        return (
            f"{kind} takes its key once: as the third tensor in `in` or as `call.key`, but the node gives both; "
            "remove one of them",
            ("key",),
        )
    if not isinstance(inputs, list) or len(inputs) < 2 or not all(isinstance(s, tuple) for s in inputs):
        return None
    query, value = inputs[0], inputs[1]
    keys = inputs[2] if len(inputs) > 2 else value
    rank = len(query)
    attn: tuple[int, ...]
    if kind == "GroupQueryAttention":
        heads, attn = layer.num_query_heads, (1,)
    else:
        heads = layer.num_heads
        try:  # a negative axis counts from the end of the query's shape, as Keras reads it
            attn = attention_axes(layer.attention_axes, rank)
        except ShapeError:  # the layer's shape rule names the axes that do not fit
            return None
    other = [a for a in range(1, rank - 1) if a not in attn]
    # the attention scores: (batch, other axes, heads, query attention axes, key attention axes)
    scores = _batched(
        (query[0], *(query[a] for a in other), heads, *(query[a] for a in attn), *(keys[a] for a in attn))
    )
    names = ["batch", *(f"axis {a}" for a in other), "heads"]
    if len(attn) == 1 and rank == 3:
        names += ["query steps", "value steps"]
    else:
        names += [*(f"query axis {a}" for a in attn), *(f"key axis {a}" for a in attn)]
    step = -2 * len(attn) - 1  # where Keras adds the axes a mask lacks: before the attention axes

    masks: dict[str, tuple[CallTensor, tuple[Dim, ...], list[int | None]]] = {}
    for name in _MASKS:
        tensor = call.get(name)
        if tensor is None or (name == "query_mask" and kind == "MultiHeadAttention"):
            continue  # MultiHeadAttention replaces `query_mask` with the query's own Keras mask
        if not isinstance(tensor, CallTensor) or not isinstance(tensor.shape, tuple) or not tensor.shape:
            return None  # a list, or a shape only the build knows: the masks combine unseen
        shape = _batched(tensor.shape)
        origin: list[int | None] = list(range(len(shape)))
        if name != "attention_mask":  # Keras makes a query mask (batch, T, 1), a value or key mask (batch, 1, S)
            at = len(shape) if name == "query_mask" else len(shape) - 1
            shape, origin = (*shape[:at], 1, *shape[at:]), [*origin[:at], None, *origin[at:]]
        masks[name] = (tensor, shape, origin)
    for name, (tensor, folded, origin) in masks.items():
        reason = _fit(folded, scores, step, names, origin)
        if reason is not None:
            return (
                f"{kind}'s {name} must {_expected(name, scores, heads, query, value, len(attn), rank)}, but node "
                f"'{tensor.node}' gives {_text(tensor.shape)}: {reason}",
                (name,),
            )
    causal = call.get("use_causal_mask") is True
    if not masks and not causal:
        return None
    # Keras ANDs the masks it is given (and its causal and sliding-window masks) from the last axis, the
    # attention_mask last
    extra: list[tuple[str, tuple[Dim, ...]]] = []
    if causal:  # Keras builds it from axis 1 of the query and the value, whatever the attention axes
        extra.append(("the causal mask", (1, query[1], value[1])))
        if not masks:
            reason = _fit((1, query[1], value[1]), scores, step, names)
            if reason is not None:
                return (
                    f"{kind}'s causal mask (use_causal_mask: true) has shape {_text((1, query[1], value[1]))}, from "
                    f"axis 1 of the query and of the value, which does not fit the attention scores "
                    f"{_text(scores)} of attention_axes {list(attn)}: {reason}; the causal mask takes attention over "
                    "axis 1 only: set attention_axes: [1] (the default for a query of rank 3), or give an "
                    "attention_mask of the scores' shape instead",
                    ("use_causal_mask",),
                )
    if getattr(layer, "sliding_window", None) is not None:
        extra.append(("the sliding-window mask", (1, query[1], value[1])))
    order = [(n, masks[n][1]) for n in _MASKS[:3] if n in masks] + extra
    order += [("attention_mask", masks["attention_mask"][1])] if "attention_mask" in masks else []
    done_name, done = order[0]
    for name, shape in order[1:]:
        merged = _broadcast(done, shape)
        if merged is None:
            place = name if name in masks else done_name
            return (
                f"{kind} combines its masks by broadcasting from the last axis, but {done_name} (as "
                f"{_text(done)}) and {name} (as {_text(shape)}) do not broadcast: give them shapes that do, "
                f"e.g. an attention_mask of shape {_text(scores[:1] + scores[-2:])}",
                (place,),
            )
        done, done_name = merged, f"{done_name} and {name}"
    reason = _fit(done, scores, step, names)
    if reason is not None:
        return (
            f"{kind}'s masks combine (from the last axis) to {_text(done)}, which does not fit the attention "
            f"scores {_text(scores)}: {reason}",
            (order[-1][0] if order[-1][0] in masks else order[0][0],),
        )
    return None


def _dot_mask_misfit(kind: str, inputs: Any, call: dict[str, Any]) -> Misfit | None:
    """Attention, AdditiveAttention: ``mask: [query_mask, value_mask]``, on the output and on the scores."""
    given = call["mask"]
    if not isinstance(given, list) or not 2 <= len(given) <= 3:
        count = len(given) if isinstance(given, list) else "one tensor"
        return (
            f"{kind} takes `call.mask` as a list [query_mask, value_mask] (a third tensor is ignored), but the node "
            f"gives {count}: list the query's mask, then the value's",
            ("mask",),
        )
    if not isinstance(inputs, list) or len(inputs) < 2 or not all(isinstance(s, tuple) for s in inputs):
        return None
    query, value = inputs[0], inputs[1]
    output = _batched((query[0], query[1], value[-1]))
    scores = _batched((query[0], query[1], value[1]))
    names = ["batch", "query steps", "features"]
    for j, (tensor, target, what) in enumerate(((given[0], output, "output"), (given[1], scores, "scores"))):
        if not isinstance(tensor, CallTensor) or not isinstance(tensor.shape, tuple) or not tensor.shape:
            continue
        shape = _batched(tensor.shape)
        origin: list[int | None] = list(range(len(shape)))
        # Keras makes a query mask (batch, Tq, 1); a value mask of rank 2 (batch, 1, Tv), or any with the causal mask
        at = len(shape) if j == 0 else len(shape) - 1
        if j == 0 or len(shape) == 2 or call.get("use_causal_mask") is True:
            shape, origin = (*shape[:at], 1, *shape[at:]), [*origin[:at], None, *origin[at:]]
        reason = _fit(shape, target, 0, names if j == 0 else ["batch", "query steps", "value steps"], origin, what=what)
        if reason is not None:
            steps = (_BATCH, query[1]) if j == 0 else (_BATCH, value[1])
            return (
                f"{kind}'s {('query', 'value')[j]} mask (`call.mask[{j}]`) must have shape {_text(steps)} "
                f"(batch, {('query', 'value')[j]} steps; a size of 1 broadcasts) to fit the {what} "
                f"{_text(target)}, but node '{tensor.node}' gives {_text(tensor.shape)}: {reason}",
                ("mask", j),
            )
    return None


def _recurrent_mask_misfit(kind: str, inputs: Any, tensor: CallTensor) -> Misfit | None:
    """The ``mask`` of a recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM, Bidirectional): (batch, time steps).

    Keras reads one step of the mask with each step of the input and applies it to that step's output and
    states: a mask with fewer steps than the input fails at the first batch, one with more axes fails while
    the model is built or at the first batch unless its sizes happen to broadcast to every state (and
    cuDNN's LSTM and GRU, on a GPU, take only (batch, time steps), as Keras documents the argument).
    """
    if not isinstance(inputs, tuple) or len(inputs) < 2 or not isinstance(tensor.shape, tuple):
        return None
    shape, target = _batched(tensor.shape), _batched(inputs)
    why: str | None = None
    if len(shape) != 2:
        why = f"it has {len(shape)} {'axis' if len(shape) == 1 else 'axes'} (batch included); Keras takes two"
    elif None not in (shape[1], target[1]) and shape[1] != target[1]:
        why = f"its axis 1 ({shape[1]}) is not the input's time steps ({target[1]})"
    elif isinstance(shape[0], int) and shape[0] != 1 and shape[0] != target[0]:
        why = f"its batch axis ({shape[0]}) is not the input's ({target[0]})"
    if why is None:
        return None
    return (
        f"{kind}'s mask must have shape {_text((_BATCH, target[1]))} (batch, the time steps of its input: one "
        f"flag per step of each sample), but node '{tensor.node}' gives {_text(tensor.shape)}: {why}",
        ("mask",),
    )


def _input_mask_misfit(layer: Any, inputs: Any, tensor: CallTensor) -> Misfit | None:
    """The ``mask`` of a layer with one input, as Keras applies it.

    Softmax: it broadcasts to the input. GlobalAveragePooling1D: one flag per step. BatchNormalization:
    one axis fewer than the input, each size 1 or the input's once Keras adds a last axis (it reads the
    mask when training). TimeDistributed: the batch and the time steps first, exactly.
    """
    if not isinstance(inputs, tuple) or not isinstance(tensor.shape, tuple) or not tensor.shape:
        return None
    shape, target = _batched(tensor.shape), _batched(inputs)
    origin: list[int | None] = list(range(len(shape)))
    names = ["batch", *(f"axis {a}" for a in range(1, len(inputs)))]
    why: str | None = None
    if layer.type == "Softmax":
        expected = f"broadcast to its input {_text(target)} from the last axis (each size 1 or the same)"
        why = _fit(shape, target, 0, names, origin, what="input")
    elif layer.type == "TimeDistributed":
        expected = f"have shape {_text(target[:2])} (batch, time steps; each exactly the input's)"
        if len(shape) < 2:
            why = f"it has {len(shape)} axis (batch included); Keras needs the batch and the time steps"
        elif None not in (shape[1], target[1]) and shape[1] != target[1]:
            why = f"its axis 1 ({shape[1]}) is not the input's time steps ({target[1]})"
        elif getattr(layer.layer, "type", None) in _INPUT_MASKED:  # each step of the mask goes to the inner layer
            step = CallTensor(tensor.node, (tensor.shape[0], *tensor.shape[2:]))
            inner = _input_mask_misfit(layer.layer, (inputs[0], *inputs[2:]), step)
            if inner is not None:
                return (
                    f"TimeDistributed gives each time step of its mask to its {layer.layer.type}: {inner[0]}",
                    ("mask",),
                )
    elif layer.type == "BatchNormalization":
        expected = f"have shape {_text(target[:-1])} (the input's shape without its last axis; a size of 1 broadcasts)"
        if len(shape) != len(target) - 1:
            why = f"it has {len(shape)} axes (batch included), the input {len(target)}"
        else:
            shape, origin = (*shape, 1), [*origin, None]
            found = _fit(shape, target, 0, names, origin, what="input")
            why = f"{found} (Keras refuses it when training)" if found is not None else None
    else:  # GlobalAveragePooling1D adds the channels axis: (batch, steps, 1), channels first (batch, 1, steps)
        first = getattr(layer, "data_format", None) == "channels_first"
        at = 1 if first else 2
        expected = f"have shape {_text((_BATCH, inputs[2 if first else 1]))} (batch, steps; a size of 1 broadcasts)"
        if at > len(shape):
            why = f"it has {len(shape)} axis (batch included); Keras adds one at position {at}"
        else:
            shape, origin = (*shape[:at], 1, *shape[at:]), [*origin[:at], None, *origin[at:]]
            why = _fit(shape, target, 0, names, origin, what="input")
    if why is None:
        return None
    return (
        f"{layer.type}'s mask must {expected}, but node '{tensor.node}' gives {_text(tensor.shape)}: {why}",
        ("mask",),
    )


def _expected(name: str, scores: tuple[Dim, ...], heads: int, query: Any, value: Any, k: int, rank: int) -> str:
    """What a mask must be, in words, for a message."""
    if rank == 3 and name == "attention_mask":
        return (
            f"have shape {_text(scores[:1] + scores[2:])} or {_text(scores)} (batch, [{heads} heads,] query "
            "steps, value steps; a size of 1 broadcasts)"
        )
    if rank == 3 and name in ("value_mask", "key_mask"):
        return f"have shape {_text((_BATCH, value[1]))} (batch, value steps; a size of 1 broadcasts)"
    if rank == 3 and name == "query_mask":
        return f"have shape {_text((_BATCH, query[1]))} (batch, query steps; a size of 1 broadcasts)"
    return f"broadcast to the attention scores {_text(scores)} (Keras adds missing axes before the last {2 * k})"


def _fit(
    mask: tuple[Dim, ...],
    scores: tuple[Dim, ...],
    step: int,
    names: list[str],
    origin: list[int | None] | None = None,
    *,
    what: str = "attention scores",
) -> str | None:
    """Why a mask cannot apply to the attention scores, as Keras widens it (axes added at ``step``); or None.

    A ``step`` of 0 adds leading axes, as broadcasting does; ``what`` names the tensor it applies to.

    ``origin`` is each axis's place in the mask as the spec gives it (None for an axis Keras added).
    """
    origin = list(range(len(mask))) if origin is None else origin
    # a query, value or key mask has one axis more once Keras has shaped it (batch, T, 1) or (batch, 1, S)
    axes = f"{len(mask)} axes" + (" as Keras shapes it" if None in origin else "") + " (batch included)"
    if len(mask) > len(scores):
        return f"it has {axes}, more than the {len(scores)} of the {what}"
    while len(mask) < len(scores):
        grown = _expand(mask, step)
        if grown is None:
            return f"Keras adds the axes it lacks at position {step}, which needs at least {-step - 1}; it has {axes}"
        at = step if step >= 0 else step + len(grown)
        mask, origin = grown, [*origin[:at], None, *origin[at:]]
    of = "scores'" if what.endswith("scores") else f"{what}'s"
    for m, s, name, j in zip(mask, scores, names, origin):
        if m in (s, 1, None) or s is None:
            continue
        if m == _BATCH:
            sizes = "1" if s == 1 else f"1 or {s}"
            return f"its batch axis meets the {of} {name} ({s}), so Keras runs it only with batches of {sizes}"
        if s == 1:
            return f"its axis {j} ({m}) would widen the {of} {name} of size 1"
        return f"its axis {j} ({m}) meets the {of} {name} ({s})"
    return None


def _batched(shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """A tensor's static shape with an unknown batch axis marked as the batch."""
    return (_BATCH, *shape[1:]) if shape and shape[0] is None else shape


def _expand(shape: tuple[Dim, ...], axis: int) -> tuple[Dim, ...] | None:
    """``ops.expand_dims``; None where Keras refuses the axis."""
    if not -len(shape) - 1 <= axis <= len(shape):
        return None
    at = axis if axis >= 0 else len(shape) + 1 + axis
    return (*shape[:at], 1, *shape[at:])


def _broadcast(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...] | None:
    """Two shapes broadcast from the last axis (as ``&`` of two masks); None where they cannot."""
    width = max(len(a), len(b))
    a, b = (1,) * (width - len(a)) + a, (1,) * (width - len(b)) + b
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x is None or y is None:
            out.append(None)
        else:  # two different sizes, or the batch against a size above 1
            return None
    return tuple(out)


def _text(shape: tuple[Dim, ...]) -> str:
    return format_shape(shape)
