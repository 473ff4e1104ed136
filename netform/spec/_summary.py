"""``netform.summary(spec)``: per-node shapes and parameter counts, no TensorFlow."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ._graph import Graph
from ._shapes import NodeShape, format_shape

__all__ = ["Summary", "SummaryRow"]


@dataclass(frozen=True)
class SummaryRow:
    """One row of a summary: a model input or a node."""

    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: Any
    trainable: int | None
    non_trainable: int | None
    shared_with: str | None = None
    scope: tuple[str, ...] = ()

    @property
    def params(self) -> int | None:
        """All parameters of the row (None when only a build can tell)."""
        if self.trainable is None or self.non_trainable is None:
            return None
        return self.trainable + self.non_trainable


@dataclass(frozen=True)
class Summary:
    """The static summary of a spec: rows and totals.

    Totals are ``None`` when some layer has no static rule (a custom layer):
    its counts are only known once the model is built.
    """

    name: str
    kind: str
    rows: tuple[SummaryRow, ...]
    outputs: tuple[str, ...]
    complete: bool = True
    notes: tuple[str, ...] = field(default=())
    #: the rows whose own layer has no static rule for its shape or its parameter counts (rows after them
    #: may be unknown too, from them)
    at_build: tuple[str, ...] = field(default=())

    @property
    def trainable_params(self) -> int | None:
        """Sum of trainable parameters."""
        return None if not self.complete else sum(r.trainable or 0 for r in self.rows)

    @property
    def non_trainable_params(self) -> int | None:
        """Sum of non-trainable parameters."""
        return None if not self.complete else sum(r.non_trainable or 0 for r in self.rows)

    @property
    def total_params(self) -> int | None:
        """Sum of all parameters."""
        t, n = self.trainable_params, self.non_trainable_params
        return None if t is None or n is None else t + n

    def row(self, name: str) -> SummaryRow:
        """The row of a node or input by name."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": [
                {
                    "name": r.name,
                    "type": r.type,
                    "inputs": list(r.inputs),
                    "output_shape": _jsonable(r.output_shape),
                    "trainable": r.trainable,
                    "non_trainable": r.non_trainable,
                    "shared_with": r.shared_with,
                }
                for r in self.rows
            ],
            "outputs": list(self.outputs),
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_params": self.total_params,
            "at_build": list(self.at_build),
            "notes": list(self.notes),
        }

    def to_text(self, width: int = 96) -> str:  # kept for callers; cells are capped instead
        """A table in the spirit of Keras's ``model.summary()``."""
        headers = ("Node (type)", "Output Shape", "Param #", "Connected to")
        body = []
        for r in self.rows:
            label = f"{r.name} ({r.type})" + (" *" if r.name in self.at_build else "")
            params = ("? (at build)" if r.name in self.at_build else "?") if r.params is None else f"{r.params:,}"
            if r.shared_with:
                params += f" (shares {r.shared_with})"
            inputs = ", ".join(r.inputs[:_MAX_INPUTS_SHOWN]) + (
                f", … ({len(r.inputs):,} in all)" if len(r.inputs) > _MAX_INPUTS_SHOWN else ""
            )
            shape = format_shape(r.output_shape) if r.output_shape is not None else "? (at build)"
            body.append(tuple(_cell(c) for c in (label, shape, params, inputs or "-")))
        cols = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]
        line = "━" * (sum(cols) + 3 * (len(cols) - 1) + 2)
        fmt = " " + "   ".join(f"{{:<{c}}}" for c in cols)
        out = [f'Model: "{self.name}" ({self.kind})', line, fmt.format(*headers), line]
        out += [fmt.format(*b) for b in body]
        out.append(line)

        why = (
            "a subclassed model is counted at build time"
            if self.kind == "subclass"
            else "layers without a static rule are counted at build time"
        )

        def num(v: int | None) -> str:
            return f"? ({why})" if v is None else f"{v:,}"

        out.append(f" Total params: {num(self.total_params)}")
        out.append(f" Trainable params: {num(self.trainable_params)}")
        out.append(f" Non-trainable params: {num(self.non_trainable_params)}")
        out += [f" Note: {n}" for n in self.notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def with_model(self, model: Any) -> Summary:
        """This summary with what only the build knows read from ``model``, the spec built (``netform.build``).

        Rows whose shape or parameter counts are unknown statically (a layer without a
        static rule, and the rows after it) get the built layer's output shape and weight
        counts; the totals are then complete. Nothing is imported here: ``model`` is a
        built Keras model, read through its public ``layers``, ``output`` and weights.

        Args:
            model: The model ``netform.build`` made from the spec of this summary.

        Returns:
            A new summary (this one is unchanged).

        Example::

            info = netform.summary(spec)                      # "? (at build)" for a custom layer
            info = info.with_model(netform.build(spec))       # its real shape and parameters
        """
        layers = _layers_by_name(model)
        rows = []
        for r in self.rows:
            layer = layers.get(r.name)
            if layer is None or (r.output_shape is not None and r.params is not None):
                rows.append(r)
                continue
            shape = r.output_shape if r.output_shape is not None else _built_shape(layer)
            trainable, frozen = r.trainable, r.non_trainable
            if r.params is None:
                trainable, frozen = (0, 0) if r.shared_with else _built_counts(layer)
            rows.append(dataclasses.replace(r, output_shape=shape, trainable=trainable, non_trainable=frozen))
        complete = self.kind != "subclass" and all(r.params is not None for r in rows)
        filled = [n for n in self.at_build if n in layers]
        notes = tuple(n for n in self.notes if not n.startswith(_AT_BUILD_NOTE)) + (
            (f"{_read_from_build(filled)} read from the built model",) if filled else ()
        )
        return dataclasses.replace(self, rows=tuple(rows), complete=complete, notes=notes, at_build=())


def _jsonable(shape: Any) -> Any:
    if shape is None:
        return None
    if isinstance(shape, list):
        return [_jsonable(s) for s in shape]
    return list(shape)


def _layers_by_name(model: Any) -> dict[str, Any]:
    """Every layer of a built model by name, nested models' layers included (the builder names them by node)."""
    out: dict[str, Any] = {}
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        out.setdefault(layer.name, layer)
        stack.extend(getattr(layer, "layers", []) if hasattr(layer, "inputs") else [])
    return out


def _built_shape(layer: Any) -> Any:
    """A built layer's output shape (a list for several outputs), or ``None`` for a layer used several times."""
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return None
    if isinstance(output, (list, tuple)):
        return [tuple(t.shape) for t in output]
    if isinstance(output, dict):
        return [tuple(t.shape) for t in output.values()]
    return tuple(output.shape)


def _built_counts(layer: Any) -> tuple[int, int]:
    def size(weights: Any) -> int:
        return sum(math.prod(int(d) for d in w.shape) for w in weights)

    return size(layer.trainable_weights), size(layer.non_trainable_weights)


_AT_BUILD_NOTE = "some shapes are inferred at build time"


def _read_from_build(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_INPUTS_SHOWN]) + (
        f", … ({len(names):,} in all)" if len(names) > _MAX_INPUTS_SHOWN else ""
    )
    return f"the shapes and parameters of {shown} (marked * before the build) and the rows after them are"


def _own_rule_missing(node: Any, shapes: dict[str, NodeShape]) -> bool:
    """Whether a node is unknown because of its own layer (its inputs' shapes are all known)."""
    s = shapes[node.name]
    if s.static:
        return False
    return all(shapes.get(i) is not None and shapes[i].output_shape is not None for i in node.args)


def build_summary(graph: Graph, shapes: dict[str, NodeShape]) -> Summary:
    """Assemble a :class:`Summary` from a graph and its inferred shapes."""
    rows = [SummaryRow(name, "InputLayer", (), shapes[name].output_shape, 0, 0) for name in graph.inputs]
    complete = True
    notes = []
    at_build = []
    for node in graph.nodes.values():
        s = shapes[node.name]
        if not s.static:
            complete = False
            if _own_rule_missing(node, shapes):
                at_build.append(node.name)
        rows.append(
            SummaryRow(
                node.name,
                node.layer.type,
                node.inputs,
                s.output_shape,
                s.trainable,
                s.non_trainable,
                node.owner if node.shared else None,
                node.scope,
            )
        )
    if not complete:
        if at_build:
            named = ", ".join(f"{n} ({graph.nodes[n].layer.type})" for n in at_build[:_MAX_INPUTS_SHOWN]) + (
                f", … ({len(at_build):,} in all)" if len(at_build) > _MAX_INPUTS_SHOWN else ""
            )
            notes.append(
                f"{_AT_BUILD_NOTE}: * marks {named}, {'a layer' if len(at_build) == 1 else 'layers'} without a "
                "static rule (a custom layer, a Keras layer netform has no schema for, a quantized dtype): the '? (at build)' values, and the unknowns of the rows after, are "
                "known once the model is built; "
                "netform summary --build, or Summary.with_model(netform.build(spec)), shows them"
            )
        else:
            notes.append(f"{_AT_BUILD_NOTE} (a layer without a static rule, e.g. a custom layer)")
    if graph.kind == "subclass":
        complete = False
        notes.append("a subclassed model's layers are known only once it is built")
    return Summary(graph.name, graph.kind, tuple(rows), graph.outputs, complete, tuple(notes), tuple(at_build))


# Every row is padded to the widest cell: one 100 KB cell would make the table rows x 100 KB.
_MAX_CELL = 80
_MAX_INPUTS_SHOWN = 4


def _cell(text: str) -> str:
    """A table cell of at most ``_MAX_CELL`` characters (long names and shapes end in ``…``)."""
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"
