"""A Keras graph written as spec data: node names, shared layers, nested blocks, the spec's sections.

The two exports walk a graph in their own way: :func:`netform.from_keras`
over a live model's nodes, ``netform export-spec``
(:mod:`netform.saving._config_walk`) over a saved file's config, without
Keras. Both meet the nodes in the same order and write what they meet here,
so names, ``shares:`` nodes, blocks and the spec's layout are decided in one
place and the two give the same YAML.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable

from ._layer_dict import clean_name

__all__ = ["GraphWriter", "SpecWriter"]

#: the order of a spec's sections, as a reader expects them (blocks before the nodes that use them)
_SECTIONS = ("netform", "name", "kind", "inputs", "blocks", "layers", "nodes", "outputs")


class GraphWriter:
    """One graph (a model's, or a nested model's) as ``inputs``, ``nodes`` and ``outputs``.

    Nodes are named as a person writing the spec would name them: a layer's
    node by the layer's own name, the second and later calls of a shared
    layer ``name_2``, ``name_3`` (in the order the graph calls them), never
    taking the name of another layer of the graph.

    Args:
        used: Names taken in this graph's namespace (added to as nodes are named).
        layer_names: Every layer (and operation) name of the graph, reserved for its own node.
        scope: The nested model's name where netform built it: its layers are named ``scope.name``
            (netform's builder prefixes them), written here as ``name``.
    """

    def __init__(self, used: set[str], layer_names: Iterable[str] = (), scope: str | None = None) -> None:
        self.used = used
        self._prefix = None if scope is None else scope + "."
        self._reserved = {self._base(n) for n in layer_names}
        self.inputs: dict[str, Any] = {}
        self.nodes: dict[str, Any] = {}
        #: node name → the name of the Keras layer (or operation) it calls
        self.layer_names: dict[str, str] = {}
        self._first_use: dict[Hashable, str] = {}
        self._calls: dict[Hashable, int] = {}

    def _base(self, layer_name: str) -> str:
        if self._prefix is not None and layer_name.startswith(self._prefix) and len(layer_name) > len(self._prefix):
            layer_name = layer_name[len(self._prefix) :]
        return clean_name(layer_name, set())

    def node_name(self, layer_name: str, call: int = 1) -> str:
        """The node name of call ``call`` (from 1) of the layer ``layer_name``, made unique and taken."""
        base = self._base(layer_name)
        want = base if call == 1 else f"{base}_{call}"
        out, i = want, 1
        while out in self.used or (out != base and out in self._reserved):
            out = f"{want}_{i}"
            i += 1
        self.used.add(out)
        return out

    def add_input(self, layer_name: str, shape: list[Any], dtype: str, sparse: bool) -> str:
        """A model input; its dtype is written unless it is ``float32`` (the spec's default)."""
        name = self.node_name(layer_name)
        entry: dict[str, Any] = {"shape": shape}
        if dtype != "float32":
            entry["dtype"] = dtype
        if sparse:
            entry["sparse"] = True
        self.inputs[name] = entry
        return name

    def add(
        self,
        layer: Hashable,
        layer_name: str,
        refs: list[Any],
        entry: Callable[[], dict[str, Any]],
        call: dict[str, Any] | None = None,
    ) -> tuple[str, bool]:
        """A call of ``layer`` on ``refs``: its first call writes ``entry()``, a later one ``shares:`` the first.

        Returns:
            The node's name, and whether it is the layer's first call.
        """
        self._calls[layer] = self._calls.get(layer, 0) + 1
        name = self.node_name(layer_name, self._calls[layer])
        self.layer_names[name] = layer_name
        ref_value: Any = refs[0] if len(refs) == 1 else refs
        first = layer not in self._first_use
        if first:
            self.nodes[name] = {**entry(), "in": ref_value}
            self._first_use[layer] = name
        else:
            self.nodes[name] = {"shares": self._first_use[layer], "in": ref_value}
        if call:
            self.nodes[name]["call"] = call
        return name, first

    def add_op(self, layer_name: str, entry: dict[str, Any]) -> str:
        """An op node (a ``keras.ops`` call)."""
        name = self.node_name(layer_name)
        self.layer_names[name] = layer_name
        self.nodes[name] = entry
        return name

    def result(
        self, input_order: Iterable[str], outputs: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """``(inputs, nodes, outputs)``: inputs in the model's order, op nodes nothing uses left out."""
        for name in _unused_ops(self.nodes, outputs):
            del self.nodes[name]
            self.layer_names.pop(name, None)
        inputs = {n: self.inputs[n] for n in input_order if n in self.inputs} | self.inputs
        return inputs, self.nodes, outputs


def _unused_ops(nodes: dict[str, Any], outputs: list[str]) -> list[str]:
    """Op nodes nothing uses (the ops that computed a propagated mask that is no longer written), innermost last."""
    uses: dict[str, int] = dict.fromkeys(nodes, 0)

    def refs(node: dict[str, Any]) -> list[str]:
        ins = node.get("in", [])
        found = [ins] if isinstance(ins, str) else [r for r in ins if isinstance(r, str)]
        for value in node.get("call", {}).values():
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
        return [r.split(".", 1)[0] for r in found]

    for node in nodes.values():
        for r in refs(node):
            if r in uses:
                uses[r] += 1
    for out in outputs:
        uses[out.split(".", 1)[0]] = uses.get(out.split(".", 1)[0], 0) + 1
    dropped: list[str] = []
    todo = [n for n, count in uses.items() if count == 0 and "op" in nodes[n]]
    while todo:
        name = todo.pop()
        dropped.append(name)
        for r in refs(nodes[name]):
            if r in uses:
                uses[r] -= 1
                if uses[r] == 0 and "op" in nodes[r]:
                    todo.append(r)
    return dropped


class SpecWriter:
    """The nested models met in a walk, as ``blocks:``, and the spec data around the top-level graph."""

    def __init__(self) -> None:
        self.blocks: dict[str, Any] = {}
        self._block_of: dict[Hashable, str] = {}
        self._block_names: set[str] = set()

    def known_block(self, model: Hashable) -> str | None:
        """The block already written for ``model``, if any."""
        return self._block_of.get(model)

    def block_name(self, model: Hashable, model_name: str) -> str:
        """Name the block of a nested model (before its body is walked: nested models inside it come first)."""
        name = clean_name(model_name, self._block_names)
        self._block_of[model] = name
        return name

    @staticmethod
    def linear_names(model_name: str, layer_names: Iterable[str]) -> list[str]:
        """The names of a nested Sequential's layers in its ``layers:`` list (``x`` is its input)."""
        names = list(layer_names)
        writer = GraphWriter({"x"}, names, scope=model_name)
        return [writer.node_name(n) for n in names]

    def linear_block(self, model: Hashable, name: str, layers: list[dict[str, Any]]) -> str:
        """A nested Sequential's block: its layers (each with its ``name``) after its input ``x``.

        Returns:
            The block's name (see :meth:`graph_block`).
        """
        return self._add_block(model, name, {"nested": True, "inputs": ["x"], "layers": layers})

    def graph_block(
        self, model: Hashable, name: str, inputs: dict[str, Any], nodes: dict[str, Any], outputs: list[str]
    ) -> str:
        """A nested Functional's block.

        Returns:
            The block's name: an earlier block's where that one has the same body (another nested model
            of the same architecture, with its own weights, is another use of one block).
        """
        return self._add_block(
            model, name, {"nested": True, "inputs": list(inputs), "nodes": nodes, "outputs": outputs}
        )

    def _add_block(self, model: Hashable, name: str, body: dict[str, Any]) -> str:
        for existing, other in self.blocks.items():
            if other == body:
                self._block_of[model] = existing
                self._block_names.discard(name)
                return existing
        self.blocks[name] = body
        return name

    def spec_data(
        self,
        spec_name: str,
        inputs: dict[str, Any],
        nodes: dict[str, Any],
        outputs: list[str],
        *,
        sequential: bool,
    ) -> dict[str, Any]:
        """The spec's data: ``kind: sequential`` where a Sequential's graph is a chain, else ``functional``."""
        data: dict[str, Any] = {"netform": 1, "name": spec_name, "kind": "functional", "inputs": inputs}
        linear = sequential and all(
            isinstance(v.get("in"), str)
            and not {"shares", "block", "op", "call"} & set(v)
            and v["in"] in (*inputs, *nodes)
            for v in nodes.values()
        )
        if linear:
            layers = [{**{k: v for k, v in node.items() if k != "in"}, "name": name} for name, node in nodes.items()]
            data.update(kind="sequential", layers=layers)
        else:
            data.update(nodes=nodes, outputs=outputs)
        if self.blocks:
            data["blocks"] = self.blocks
        return {k: data[k] for k in _SECTIONS if k in data}
