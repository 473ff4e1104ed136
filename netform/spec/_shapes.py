"""Static shapes and parameter counts of a resolved graph, in pure Python."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

from ..errors import Diagnostic, SpecError
from ._graph import Graph, Slot
from ._layer_base import LayerSpec, LimitError, NoStaticRule, ShapeError
from .layers._util import MAX_TRACED_STEPS
from ._parse import frozen_value
from ._types import (
    MAX_ELEMENTS,
    format_shape,
)  # defined beside Shape: the static rules and diagrams need it without this module
from ._yaml import SourceMap

__all__ = ["NodeShape", "infer_shapes", "format_shape", "MAX_ELEMENTS", "MAX_SHAPE_HELD", "MAX_SHAPE_READS"]

#: TensorFlow's most dimensions in one tensor (``TensorShape`` refuses more), batch included
MAX_RANK = 254
#: the most input dimensions (batch included) the shape rules of one spec may read, summed over the nodes whose rule
#: runs (the nodes of one layer or op, input shapes and kinds run it once): the rules' work grows with it, 0.1 to
#: 0.2 s a million; the keras.applications models read at most 2,086 (DenseNet201), the zoo at most 170
MAX_SHAPE_READS = 1_000_000
#: The most output dimensions the nodes' shapes may hold, summed over every node (a repeated block's copies
#: each count): a ``split`` of 10,000 parts in a block used with ``repeat: 4999`` held 100 million.
MAX_SHAPE_HELD = 1_000_000


@dataclass(frozen=True)
class NodeShape:
    """What static inference knows about one node.

    Attributes:
        output_shape: The output shape (batch first), a list of shapes for a
            layer with several outputs, or ``None`` when only a build can tell.
        trainable: Trainable parameters (0 for a node that shares a layer).
        non_trainable: Non-trainable parameters.
        static: False when the layer (or one upstream) has no static rule; a layer
            whose shape has a rule but whose parameter counts have none keeps
            its ``output_shape`` with ``None`` counts.
    """

    output_shape: Any
    trainable: int | None
    non_trainable: int | None
    static: bool = True


def infer_shapes(graph: Graph, smap: SourceMap | None = None) -> dict[str, NodeShape]:
    """Output shapes and parameter counts of every input and node of ``graph``.

    Raises:
        SpecError: Where input shapes do not fit a layer (every such node is
            reported, with the shapes involved).
    """
    from ._layer_dict import keras_defaults_read_once

    with keras_defaults_read_once():  # the generic layers' schema forms read Keras's settings: once per spec
        return _infer_shapes(graph, smap or SourceMap())


def _infer_shapes(graph: Graph, smap: SourceMap) -> dict[str, NodeShape]:
    from ._kinds import dtype_kind
    from .layers import MODULE_OF  # once: per node, a package's `from … import` runs Python's import machinery

    out: dict[str, NodeShape] = {}
    diags: list[Diagnostic] = []
    for name, spec in graph.inputs.items():
        out[name] = NodeShape((None, *spec.shape), 0, 0)
        size = _elements((None, *spec.shape))
        if len(spec.shape) + 1 > MAX_RANK:
            diags.append(
                smap.diagnostic(
                    f"input '{name}' has {len(spec.shape) + 1:,} dimensions with the batch; TensorFlow takes at most "
                    f"{MAX_RANK}",
                    ("inputs", name, "shape"),
                )
            )
            out[name] = NodeShape(None, None, None, False)
        elif size > MAX_ELEMENTS:
            diags.append(
                smap.diagnostic(
                    f"input '{name}' holds {size:,} values per sample; the limit is {MAX_ELEMENTS:,} (8 GB as float32)",
                    ("inputs", name, "shape"),
                )
            )
            out[name] = NodeShape(None, None, None, False)
    total = 0
    memory = _memory_values()
    kinds: dict[str, Any] = {name: dtype_kind(spec.dtype) for name, spec in graph.inputs.items()}
    unknown = NodeShape(None, None, None, False)
    # nodes of one key (_node_key: the op or layer settings, the input shapes and kinds) have one result: a
    # spec repeats such nodes thousands of times (a chain, a repeated block), and their rules are most of the work
    done: dict[Any, tuple[Any, NodeShape]] = {}
    signatures = _Signatures()
    read = 0  # input dimensions the shape rules have been given (MAX_SHAPE_READS)
    held = 0  # output dimensions the nodes' shapes hold (MAX_SHAPE_HELD)
    traced = 0  # copies of a step the layers write into the graph of a call (MAX_TRACED_STEPS)
    steps_of: dict[Any, int] = {}
    for node in graph.nodes.values():
        key = _node_key(node, out, kinds, signatures)
        if key is not None:
            try:
                hit = done.get(key)
            except TypeError:  # a layer setting that is a mapping or a list
                key = hit = None
            if hit is not None:
                kinds[node.name] = hit[0]
                memo = hit[1]
                same = memo.output_shape
                held += _held(same)
                if held > MAX_SHAPE_HELD:
                    diags.append(_over_held(held, node, same, smap))
                    break
                traced += steps_of.get(key, 0)
                if steps_of.get(key, 0) and traced > MAX_TRACED_STEPS:
                    diags.append(_over_traced(traced, node, smap))
                    break
                out[node.name] = NodeShape(
                    list(same) if isinstance(same, list) else same, memo.trainable, memo.non_trainable, memo.static
                )
                weights = (memo.trainable or 0) + (memo.non_trainable or 0)
                if weights:
                    total += weights
                    if memory is not None and total > memory:
                        diags.append(_over_memory(total, memory, smap, node.path))
                        memory = None  # say it once
                continue
        n_diags = len(diags)
        try:
            kinds[node.name] = _node_kind(node, kinds, graph, MODULE_OF)
        except ShapeError as err:
            diags.append(smap.diagnostic(str(err), node.path))
            out[node.name] = unknown
            continue
        args = node.args  # tensors given to named call arguments leave the shape as it is
        shapes = []
        for i in args:
            known = out.get(i)
            if known is None or known.output_shape is None:
                break
            shapes.append(known.output_shape)
        if len(shapes) != len(args):
            out[node.name] = unknown
            continue
        layer = node.layer
        # (not `key`: that is the node's key in `done`, which the result is kept under below)
        call_key = node.call.get("key") if len(shapes) == 2 and layer.type in _KEYED else None
        if call_key is not None:  # a key given in `call` is the layer's third input: its shape rule and weights read it
            known = out.get(node.inputs[call_key.index]) if isinstance(call_key, Slot) else None
            if known is None or not isinstance(known.output_shape, tuple):
                out[node.name] = unknown
                continue
            shapes.append(known.output_shape)
        # a rule's work grows with its inputs' dimensions (a merge of 1,024 tensors of rank 254 reads 260,096):
        # counted before it runs, so that no spec keeps the rules busy for seconds
        for s in shapes:
            read += len(s) if isinstance(s, tuple) else _dims(s)
        if read > MAX_SHAPE_READS:
            diags.append(_over_reads(read, node, shapes, smap))
            break
        if layer.arity == "one":
            if len(shapes) != 1:
                several = _several_inputs(layer)
                diags.append(
                    smap.diagnostic(
                        f"{layer.type} takes one input, but `in` lists {len(shapes)}; "
                        + (several or "combine them first with a merge layer such as Concatenate or Add"),
                        node.path + ("in",),
                    )
                )
                out[node.name] = NodeShape(None, None, None, False)
                continue
            arg: Any = shapes[0]
        else:
            if not (layer.min_inputs <= len(shapes) <= layer.max_inputs):
                want = (
                    f"{layer.min_inputs}"
                    if layer.min_inputs == layer.max_inputs
                    else f"{layer.min_inputs} to {layer.max_inputs}"
                )
                diags.append(
                    smap.diagnostic(
                        f"{layer.type} takes {want} inputs, but `in` lists {len(shapes)}", node.path + ("in",)
                    )
                )
                out[node.name] = NodeShape(None, None, None, False)
                continue
            arg = []
            for s in shapes:
                arg.append(tuple(s))
        try:
            shape: Any = layer.output_shape(arg)
            trainable: int | None
            frozen: int | None
            try:
                # an op, a pick or a merge layer has no weights: its counts would only run the shape rule above again
                trainable, frozen = (0, 0) if layer.type in _WEIGHTLESS or _rule_only(layer) else layer.counts(arg)
            except NoStaticRule:  # a shape rule without a parameter rule: the counts come at build time
                trainable = frozen = None
            if node.call.get("return_attention_scores") is True:  # the output and the scores
                shape = [shape, _scores_shape(layer, arg)]
        except NoStaticRule:
            out[node.name] = NodeShape(None, None, None, False)
            continue
        except ShapeError as err:
            received = ", ".join(format_shape(s) for s in shapes)
            message = f"{err} (input shape{'s' if len(shapes) > 1 else ''}: {received})"
            diags.append(smap.diagnostic(message, node.path, limit=isinstance(err, LimitError)))
            out[node.name] = NodeShape(None, None, None, False)
            continue
        misfit = _shared_misfit(graph, node, arg, (trainable, frozen), out) if node.shared else None
        misfit = misfit or (_call_misfit(node, arg, out) if node.call else None)
        if misfit is not None:
            diags.append(smap.diagnostic(*misfit))
            out[node.name] = NodeShape(None, None, None, False)
            continue
        if node.shared:
            trainable, frozen = 0, 0
        weights = (trainable or 0) + (frozen or 0)
        size = rank = 0
        for one in shape if isinstance(shape, list) else (shape,):
            if isinstance(one, tuple):
                size = max(size, _elements(one))
                rank = max(rank, len(one))
        if size <= MAX_ELEMENTS:
            size = max(size, _least_elements(layer, arg))
        if weights > MAX_ELEMENTS or size > MAX_ELEMENTS or rank > MAX_RANK:
            if weights > MAX_ELEMENTS:
                what = f"has {weights:,} weights; the limit is {MAX_ELEMENTS:,} (8 GB as float32)"
            elif size > MAX_ELEMENTS:
                what = f"outputs {size:,} values per sample; the limit is {MAX_ELEMENTS:,} (8 GB as float32)"
                if not _elements_known(shape):
                    what = (
                        f"outputs at least {size:,} values per sample (each axis of unknown size holding one value); "
                        f"the limit is {MAX_ELEMENTS:,} (8 GB as float32)"
                    )
            else:
                what = f"outputs a tensor of {rank:,} dimensions with the batch; TensorFlow takes at most {MAX_RANK}"
            label = f"op {getattr(layer, 'op', '')}" if layer.type == "Op" else layer.type
            diags.append(smap.diagnostic(f"{label} {what}: make it smaller", node.path, limit=True))
            out[node.name] = NodeShape(None, None, None, False)
            continue
        held += _held(shape)
        if held > MAX_SHAPE_HELD:
            diags.append(_over_held(held, node, shape, smap))
            break
        try:
            steps = layer.traced_steps(arg)
        except (ShapeError, NoStaticRule, TypeError, ValueError):
            steps = 0
        traced += steps
        if key is not None:
            steps_of[key] = steps
        if steps and traced > MAX_TRACED_STEPS:
            diags.append(_over_traced(traced, node, smap))
            break
        total += weights
        if memory is not None and total > memory:
            diags.append(_over_memory(total, memory, smap, node.path))
            memory = None  # say it once
        out[node.name] = NodeShape(shape, trainable, frozen, trainable is not None)
        if key is not None and len(diags) == n_diags:
            done[key] = (kinds[node.name], out[node.name])
    if diags:
        raise SpecError(diags)
    return out


def _over_traced(traced: int, node: Any, smap: Any) -> Any:
    return smap.diagnostic(
        f"the model's unrolled and TimeDistributed steps add up to {traced:,} copies of a step in the graph of every "
        f"call by this layer; netform takes at most {MAX_TRACED_STEPS:,} in a model (Keras traces each one: ten "
        "unrolled LSTMs over 255 steps kept train tracing past 200 s); leave unroll out (Keras then loops in the "
        "graph), or shorten the sequences",
        node.path,
        limit=True,
    )


#: layers whose Keras input_spec fixes the rank they were built on, whatever their weights
_FIXED_RANK = frozenset({"PReLU", "BatchNormalization", "MultiHeadAttention", "GroupQueryAttention"})


def _shared_misfit(
    graph: Graph, node: Any, arg: Any, counts: tuple[int | None, int | None], out: dict[str, NodeShape]
) -> tuple[str, tuple[Any, ...]] | None:
    """Why the weights of the layer ``node`` shares cannot take ``arg`` (its input shapes), with the place; or None.

    Keras makes a layer's weights once, for the input of its first call: a shared use must give the same
    sizes on every axis the weights depend on. Those are the axes on which the parameter counts change: a
    use whose counts differ from the owner's is refused, and so is one that differs from the owner on an
    axis where changing the owner's size alone changes the counts (a PReLU on (2, 3) and (3, 2)).
    """
    layer = node.layer
    owner = graph.nodes.get(node.owner)
    if owner is None or layer.type in _WEIGHTLESS or None in counts:
        return None
    owner_shapes = []
    for i in owner.args:
        known = out.get(i)
        if known is None or not isinstance(known.output_shape, tuple):
            return None
        owner_shapes.append(known.output_shape)
    mine = [arg] if layer.arity == "one" else list(arg)
    if len(owner_shapes) != len(mine):
        return None

    def weights(shapes: list[tuple[Any, ...]]) -> tuple[int, int] | None:
        try:
            return layer.counts(shapes[0] if layer.arity == "one" else shapes)
        except Exception:  # no rule (NoStaticRule) or sizes the rule refuses: nothing certain to say
            return None

    owned = weights(owner_shapes)
    if owned is None:
        return None
    reason = None
    if tuple(owned) != tuple(counts):
        reason = f"its weights hold {sum(owned):,} values, but this input would need {sum(c or 0 for c in counts):,}"
    else:
        for k, (theirs, ours) in enumerate(zip(owner_shapes, mine)):
            if len(theirs) != len(ours):
                if layer.type in _FIXED_RANK:
                    reason = f"{layer.type} takes inputs of the rank it was built on ({len(theirs)} with the batch)"
                    break
                continue
            for axis in range(1, len(theirs)):
                if theirs[axis] == ours[axis] or theirs[axis] is None or ours[axis] is None:
                    continue
                probe = list(owner_shapes)
                probe[k] = (*theirs[:axis], ours[axis], *theirs[axis + 1 :])
                if weights(probe) != owned:
                    reason = f"its weights depend on the size of axis {axis}"
                    break
            if reason:
                break
    if reason is None:
        return None
    place = node.path
    for name in node.scope:  # a node of a block use that shares another: the place is that `shares:` use
        scope = graph.scopes.get(name)
        if scope is not None and scope.shares is not None:
            place = scope.path
            break
    theirs_text = ", ".join(format_shape(s) for s in owner_shapes)
    ours_text = ", ".join(format_shape(s) for s in mine)
    return (
        f"node '{node.name}' shares the layer of '{owner.name}' ({layer.type}), which is built for input "
        f"shape(s) {theirs_text}, but '{node.name}' gives it {ours_text}: {reason}. Keras makes a shared "
        f"layer's weights once, so give '{node.name}' inputs of the sizes '{owner.name}' takes, or give it a "
        "layer of its own instead of `shares`",
        place,
    )


#: attention layers whose key may come as `call.key` instead of a third input
_KEYED = frozenset({"MultiHeadAttention", "GroupQueryAttention"})
#: recurrent layers and how many initial states their cell keeps
_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


def _call_misfit(node: Any, arg: Any, out: dict[str, NodeShape]) -> tuple[str, tuple[Any, ...]] | None:
    """Why a tensor given to a node's ``call:`` cannot fit its layer, with the place; or None.

    Checked where the rule is certain: ``initial_state`` of a recurrent layer (one ``(batch, units)``
    tensor per state of the cell, both directions' for Bidirectional), and what
    :func:`.layers._calls.call_misfit` checks (attention masks and keys, ConvLSTM states). Unknown sizes pass.
    """
    from .layers._calls import CallTensor, call_misfit

    layer = node.layer

    def tensor(slot: Any) -> Any:
        if not isinstance(slot, Slot):
            return slot
        known = out.get(node.inputs[slot.index])
        return CallTensor(node.inputs[slot.index], known.output_shape if known is not None else None)

    given = {k: [tensor(s) for s in v] if isinstance(v, list) else tensor(v) for k, v in node.call.items()}
    found = call_misfit(layer, arg, given, len(node.args))
    if found is not None:
        return found[0], (*node.path, "call", *found[1])

    def shapes_of(value: Any) -> list[Any] | None:
        slots = value if isinstance(value, list) else [value]
        if not all(isinstance(s, Slot) for s in slots):
            return None
        found = []
        for s in slots:
            known = out.get(node.inputs[s.index])
            found.append(known.output_shape if known is not None else None)
        return found

    state = node.call.get("initial_state")
    if state is not None and layer.type in (*_STATES, "Bidirectional"):
        shapes = shapes_of(state)
        parts = [layer.layer, layer.backward_layer or layer.layer] if layer.type == "Bidirectional" else [layer]
        if shapes is None or any(p.type not in _STATES for p in parts):
            return None
        units = [u for p in parts for u in [getattr(p, "units")] * _STATES[p.type]]
        where = (*node.path, "call", "initial_state")
        if len(shapes) != len(units):
            cells = " + ".join(f"{_STATES[p.type]} of its {p.type}" for p in parts)
            what = (
                f"{len(units)} initial states ({cells})"
                if layer.type == "Bidirectional"
                else f"{len(units)} initial state{'s' * (len(units) > 1)}"
            )
            return (
                f"{layer.type} takes {what}, but `call.initial_state` gives {len(shapes)}: list one "
                f"(batch, units) tensor per state",
                where,
            )
        for j, (shape, width) in enumerate(zip(shapes, units)):
            if not isinstance(shape, tuple):
                continue
            if len(shape) != 2 or shape[-1] not in (None, width):
                return (
                    f"{layer.type} initial state {j} must have shape (batch, {width}) (one value per unit), but "
                    f"node '{node.inputs[state[j].index if isinstance(state, list) else state.index]}' gives "
                    f"{format_shape(shape)}",
                    where + ((j,) if isinstance(state, list) else ()),
                )
    return None


def _dims(shapes: Any) -> int:
    """The dimensions of the shapes in ``shapes`` (a shape, or a list of them for a layer of several outputs)."""
    return sum(len(s) for s in shapes if isinstance(s, tuple)) if isinstance(shapes, list) else 0


def _held(shape: Any) -> int:
    """The dimensions an output shape holds (a shape, or a list of them for a node of several outputs)."""
    return len(shape) if isinstance(shape, tuple) else _dims(shape) + (len(shape) if isinstance(shape, list) else 0)


def _over_held(held: int, node: Any, shape: Any, smap: SourceMap) -> Diagnostic:
    outputs = len(shape) if isinstance(shape, list) else 1
    return smap.diagnostic(
        f"the nodes' output shapes would hold {held:,} dimensions by node '{node.name}' (summed over the nodes, "
        f"each copy of a repeated block counted; this one outputs {outputs:,} tensor{'s' * (outputs != 1)}); the "
        f"limit is {MAX_SHAPE_HELD:,}: split tensors into fewer parts, or repeat blocks that output many "
        "tensors fewer times",
        node.path,
    )


def _over_reads(read: int, node: Any, shapes: list[Any], smap: SourceMap) -> Diagnostic:
    largest = max((len(s) for s in shapes if isinstance(s, tuple)), default=0)
    return smap.diagnostic(
        f"the shape rules would read {read:,} input dimensions by node '{node.name}' (summed over the nodes: "
        f"inputs × rank; this one reads {len(shapes):,} tensor{'s' * (len(shapes) != 1)} of up to {largest:,} "
        f"dimensions); the limit is {MAX_SHAPE_READS:,}: give nodes fewer inputs (merge them in steps) or "
        "tensors of fewer dimensions",
        node.path,
    )


def _over_memory(total: int, memory: int, smap: SourceMap, path: tuple[Any, ...]) -> Diagnostic:
    return smap.diagnostic(
        f"the model's weights reach {total:,} values here ({total * 4 / 2**30:,.0f} GB as float32), more "
        f"than this machine's memory ({memory * 4 / 2**30:,.0f} GB): make the layers smaller",
        path,
    )


class _Signatures:
    """A number for each distinct (output shape, kind) of the nodes read so far, kept per node name.

    A node's key holds these numbers rather than its inputs' shapes: a key of 1,024 inputs of rank 254 would
    otherwise hash 260,096 dimensions at every node that repeats it.
    """

    __slots__ = ("_numbers", "_of")

    def __init__(self) -> None:
        self._numbers: dict[tuple[Any, Any], int] = {}
        self._of: dict[str, int | None] = {}

    def of(self, name: str, out: dict[str, NodeShape], kinds: dict[str, Any]) -> int | None:
        """The number of node ``name``'s output shape and kind; None when its shape is not known."""
        try:
            return self._of[name]
        except KeyError:
            pass
        known = out.get(name)
        if known is None:  # not worked out yet: nothing to keep
            return None
        number = None
        if isinstance(known.output_shape, tuple):  # shapes hold ints and Nones only
            number = self._numbers.setdefault((known.output_shape, kinds.get(name)), len(self._numbers))
        self._of[name] = number
        return number


def _several_inputs(layer: Any) -> str | None:
    """For a generic KerasLayer of a class that takes several inputs (MultiHeadAttention, Add, Dot, …), how to
    write it instead: with netform's own schema for the class, whose `in` lists its inputs."""
    form = layer.schema_form() if layer.type == "KerasLayer" else None
    if form is None or form.arity == "one":
        return None
    from .layers.generic import several_inputs_message

    return several_inputs_message(form.type)


def _node_key(node: Any, out: dict[str, NodeShape], kinds: dict[str, Any], signatures: _Signatures) -> Any:
    """What a node's kind, shape and weights depend on, as a dictionary key; None when it has none.

    An op node: its op, its constants, and the output shape and kind of each node it takes. A layer
    node: its layer's settings (a frozen schema, compared by value) and the same of its inputs. None
    for a node that shares a layer or passes call arguments, when an input is not known, or when a
    setting cannot be hashed.
    """
    layer = node.layer
    if layer is None or node.call or node.shared:
        return None
    if layer.type != "Op":
        parts: list[Any] = [type(layer), layer]
        for a in node.args:
            number = signatures.of(a, out, kinds)
            if number is None:
                return None
            parts.append(number)
        return tuple(parts)  # hashed once, where it is looked up (a setting may be a mapping or a list)
    return _op_key(layer, out, kinds, signatures)


#: elementwise ops whose shape and kind a number in ``in`` sets by its type alone (``power``,
#: ``floor_divide`` and ``mod`` also read its value: an integer power below 0, a division by 0)
_SCALARS_BY_TYPE = frozenset({"add", "subtract", "multiply", "maximum", "minimum", "divide", "true_divide"})


#: marks an op argument that names a tensor in an op node's key
_REF = object()


def _op_key(layer: Any, out: dict[str, NodeShape], kinds: dict[str, Any], signatures: _Signatures) -> Any:
    """An op node's key: its op, its constants, and the output shape and kind of each node it takes."""
    parts = [layer.op]
    by_type = layer.op in _SCALARS_BY_TYPE
    try:
        for a in layer.args:
            if isinstance(a, str):
                number = signatures.of(a, out, kinds)
                if number is None:
                    return None
                parts.append((_REF, number))  # a constant never holds _REF
            elif by_type and type(a) in (int, float, bool):
                parts.append((type(a), None))
            else:
                parts.append(frozen_value(a))
        return tuple(parts), frozen_value(layer.kwargs) if layer.kwargs else ()
    except TypeError:
        return None


def _elements(shape: Any) -> int:
    """Values in one sample of a tensor of ``shape`` (batch first; unknown dimensions count as 1).

    A first dimension that is a number (an op such as ``broadcast_to`` can set
    it) counts too: the whole tensor is then that size, whatever the batch.
    """
    if not isinstance(shape, tuple):
        return 0
    values = 1
    for d in shape:
        if isinstance(d, int):
            values *= d
    return values


def _elements_known(shape: Any) -> bool:
    """Whether every size of ``shape`` (a shape or a list of them) but the batch is known."""
    shapes = shape if isinstance(shape, list) else [shape]
    return all(d is not None for s in shapes if isinstance(s, tuple) for d in s[1:])


def _least_elements(layer: Any, arg: Any) -> int:
    """The fewest values one sample of ``layer``'s output can hold: its output for a batch of one sample
    whose axes of unknown size hold one value each (0 when that has no static answer).

    A shape rule keeps an unknown size unknown (``pad`` of an axis of unknown size by a billion gives
    ``None``); this bounds such outputs too, whatever the rule.
    """
    # looked up on the class first: a missing attribute of a pydantic model is an exception, slow at every node
    if getattr(type(layer), "sized_by_shape", None) is not None and layer.sized_by_shape:
        return 0  # as many as its output shape counts, which the caller has counted
    shapes = arg if isinstance(arg, list) else [arg]
    unknown = False
    for s in shapes:
        if not isinstance(s, tuple):
            return 0
        unknown = unknown or None in s[1:]
    if not unknown:
        return 0
    smallest = [tuple(1 if d is None else d for d in s) for s in shapes]
    try:
        shape = layer.output_shape(smallest if isinstance(arg, list) else smallest[0])
    except Exception:  # a rule may refuse the sizes picked here; the real shapes passed it
        return 0
    return max((_elements(s) for s in (shape if isinstance(shape, list) else [shape])), default=0)


#: graph nodes that hold no weights (their parameter counts are 0 once their shape rule passes)
_WEIGHTLESS = frozenset({"Op", "Pick"})
#: layer classes -> whether their parameter rule only runs their shape rule again (:func:`_rule_only`)
_RULE_ONLY: dict[type, bool] = {}


def _rule_only(layer: Any) -> bool:
    """Whether ``layer``'s parameter counts are (0, 0) once its shape rule has passed: a merge layer's parameter
    rule runs its shape rule again and gives (0, 0), a second broadcast of up to 1,024 input shapes."""
    cls = type(layer)
    found = _RULE_ONLY.get(cls)
    if found is None:
        merge = sys.modules.get("netform.spec.layers.merge")  # loaded wherever a spec has a merge layer
        base = getattr(merge, "_Merge", None)
        found = (
            base is not None
            and issubclass(cls, base)
            and cls.param_counts is base.param_counts
            and cls.counts is LayerSpec.counts
        )
        _RULE_ONLY[cls] = found
    return found


#: built-in layers that move text without computing with it (Keras runs them on string tensors)
_TEXT_LAYERS = frozenset(
    {
        "Identity",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Concatenate",
        *(f"{kind}{n}D" for kind in ("Cropping", "UpSampling", "ZeroPadding") for n in (1, 2, 3)),
    }
)
#: Keras layers that take text (and give numbers)
_TEXT_READERS = frozenset({"StringLookup", "Hashing", "TextVectorization", "HashedCrossing"})
#: layer families whose output is float whatever their input's numbers (they compute with float weights)
_FLOAT_FAMILIES = frozenset({"conv", "conv_transpose", "recurrent", "conv_recurrent", "attention", "normalization"})
_FLOAT_LAYERS = frozenset({"Dense", "EinsumDense", "Embedding", "Rescaling", "Normalization"})


class _Feeds(Sequence[str]):
    """What feeds each of a node's tensors (``"input 'x' (dtype float32)"``, ``"node 'a'"``), written when a
    message asks for one."""

    __slots__ = ("_names", "_inputs")

    def __init__(self, names: tuple[str, ...], inputs: dict[str, Any]) -> None:
        self._names = names
        self._inputs = inputs

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._names))[index]]
        name = self._names[index]
        return f"input '{name}' (dtype {self._inputs[name].dtype})" if name in self._inputs else f"node '{name}'"


def _node_kind(node: Any, kinds: dict[str, Any], graph: Graph, module_of: dict[str, str]) -> Any:
    """What the node's output holds ("float", "int", "bool", "string" or None when unknown).

    Raises:
        ShapeError: The node computes with numbers but is given text, or an integer-only op is given floats.
    """
    layer = node.layer
    ins = []
    for i in node.args:
        ins.append(kinds.get(i))
    where = _Feeds(node.args, graph.inputs)
    if layer.type == "Op":
        from .layers.ops import op_kind  # imported where the spec has op nodes: their family is built already

        return op_kind(layer, ins, where)
    name = getattr(layer, "class_name", None) if layer.type == "KerasLayer" else layer.type
    if node.call and name in module_of:  # a built-in layer casts its call masks to bool, computes with keys and states
        for key, value in node.call.items():
            for slot in value if isinstance(value, list) else [value]:
                if isinstance(slot, Slot) and kinds.get(node.inputs[slot.index]) == "string":
                    given = _Feeds((node.inputs[slot.index],), graph.inputs)[0]
                    raise ShapeError(
                        f"{name}'s call.{key} is {given}, which holds text: Keras casts a mask to bool (and "
                        "computes with a key or a state), so the model fails on every input; give it a bool "
                        "or numeric dtype"
                    )
    if name in _TEXT_READERS:
        return None
    known = [k for k in ins if k is not None]
    if name in _TEXT_LAYERS and (name != "Concatenate" or len(set(known)) <= 1):
        return known[0] if known and len(known) == len(ins) else None
    text = [where[j] for j, k in enumerate(ins) if k == "string"]
    if text and name in module_of and name != "TimeDistributed":  # a wrapper computes with what its layer takes
        raise ShapeError(
            f"{name} computes with numbers, but {text[0]} holds text; map text to numbers first with "
            "StringLookup (or a KerasLayer Hashing or TextVectorization), or give the input a numeric dtype"
        )
    dtype = getattr(layer, "dtype", None)
    floating = dtype is None or (isinstance(dtype, str) and dtype.startswith(("float", "bfloat", "mixed")))
    if (
        floating
        and isinstance(name, str)
        and layer.type != "KerasLayer"
        and (name in _FLOAT_LAYERS or module_of.get(name) in _FLOAT_FAMILIES)
    ):
        return "float"
    return None


def _memory_values() -> int | None:
    """How many float32 values the machine's physical memory holds, when the system says."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (AttributeError, ValueError, OSError):
        return None


def _scores_shape(layer: Any, inputs: Any) -> tuple[int | None, ...]:
    """The attention scores an attention layer also returns with ``return_attention_scores: true``."""
    shapes = inputs if isinstance(inputs, list) else [inputs]
    query, value = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
    if layer.type in ("Attention", "AdditiveAttention"):
        return (query[0], *query[1:-1], value[-2])
    heads = getattr(layer, "num_heads", None) or getattr(layer, "num_query_heads", None)
    if heads is None:
        raise NoStaticRule(layer.type)
    # Keras's compute_output_shape, which a functional graph goes by: (batch, heads, query axis 1, value axis 1),
    # whatever attention_axes are
    return (query[0], heads, query[1], value[1])
