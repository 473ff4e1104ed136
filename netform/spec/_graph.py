"""Resolve a spec into a flat graph: blocks expanded, references checked.

The resolved :class:`Graph` is what static shapes, summaries, diagrams and
the builder all read. Each node has a unique dotted name (``stage1.2.conv``
for node ``conv`` of the second repeat of block use ``stage1``), the names of
the nodes feeding it, and the node whose layer it uses (itself, unless it
shares another node's layer).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, SpecError
from ._expansion import SATURATE, MAX_VALUES, Hints, check_blocks, count_text, name_list, value_count
from ._layer_base import MAX_LAYER_NAME, LayerSpec
from ._model import NAME_PATTERN, InputSpec, ModelSpec, Node
from ._yaml import SourceMap

__all__ = ["Graph", "GraphNode", "Scope", "Slot", "resolve"]

Path = tuple[str | int, ...]
_NAME_RE = re.compile(NAME_PATTERN)
_PARAM_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_MAX_BLOCK_DEPTH = 16
# Far past any real model (ResNet152 has about 570 layers, a 96-block transformer about 4,000 nodes); keeps
# `repeat:` and blocks of repeated blocks from expanding without bound, and validate of any spec under 1 MB
# under 2 s of CPU: nodes no two alike (each adding a different number, a concatenate chain whose output
# grows at every node) share no checks, and 20,000 of them took 2.5 to 3 s.
MAX_GRAPH_NODES = 10_000
# Block bodies parsed during expansion (layers and block uses): a backstop for what the static count
# of `check_blocks` cannot see (a block or a repeat chosen by a block parameter).
_MAX_EXPANDED_ITEMS = 2 * MAX_GRAPH_NODES
#: the most tensors one node reads (`in` and tensor call arguments together), as Keras's merge layers take:
#: checking the shapes of an op's inputs costs per input, and 150,000 of them took seconds
MAX_NODE_INPUTS = 1024
#: the longest text a block parameter may hold, or ``$param`` substitution inside a text may make: far past a
#: name, an activation or an index, and a chain of blocks each passing ``s: "$s$s$s$s"`` on cannot grow past it
MAX_PARAM_TEXT = 100_000
#: characters of substituted text counted as one value in the expansion budget (:data:`MAX_VALUES`)
CHARS_PER_VALUE = 10
# quoted values in messages about substituted values are cut to this many characters
_MAX_QUOTED = 80
_LONG_QUOTE_RE = re.compile(r"'([^'\n]{%d})[^'\n]{8,}'" % _MAX_QUOTED)


@dataclass(frozen=True)
class GraphNode:
    """One layer application in the resolved graph."""

    name: str
    layer: LayerSpec
    inputs: tuple[str, ...]
    owner: str
    scope: tuple[str, ...] = ()
    path: Path = ()
    call: dict[str, Any] = field(default_factory=dict, hash=False)  # named call arguments; tensors as Slots
    n_args: int | None = None  # how many of `inputs` are positional (None: all)

    @property
    def shared(self) -> bool:
        """Whether this node reuses another node's layer (and weights)."""
        return self.owner != self.name

    @property
    def args(self) -> tuple[str, ...]:
        """The inputs passed positionally (``in``); the rest of :attr:`inputs` feed named call arguments."""
        return self.inputs if self.n_args is None else self.inputs[: self.n_args]


@dataclass(frozen=True)
class Slot:
    """A tensor call argument: the :attr:`GraphNode.inputs` entry at ``index``."""

    index: int


@dataclass(frozen=True)
class Scope:
    """One use of a block (one repeat of it)."""

    name: str
    block: str
    nested: bool
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    parent: tuple[str, ...] = ()
    shares: str | None = None
    path: Path = ()


@dataclass
class Graph:
    """A spec with blocks expanded and references resolved, in topological order."""

    name: str
    kind: str
    inputs: dict[str, InputSpec]
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    scopes: dict[str, Scope] = field(default_factory=dict)

    def consumers(self, name: str) -> list[str]:
        """Nodes that take ``name``'s output as input."""
        return [n.name for n in self.nodes.values() if name in n.inputs]


class _Resolver:
    def __init__(self, spec: ModelSpec, smap: SourceMap) -> None:
        self.spec = spec
        self.smap = smap
        self.diags: list[Diagnostic] = []
        self.graph = Graph(spec.name, spec.kind, dict(spec.inputs))
        # block instance → the arguments it was used with (a `shares:` of it reuses them)
        self._scope_args: dict[str, dict[str, Any]] = {}
        self.hint = Hints()  # "did you mean" for the first messages only: linear in the number of bad names
        self._expanded = 0  # block-body items parsed so far
        self._values = 0  # and the values they hold
        self._body_values: dict[str, int] = {}
        self._raw_bodies: dict[str, dict[str, Any]] = {}
        self._parsed: dict[tuple[str, str], dict[str, Node]] = {}  # block body parsed, by block and arguments
        self._extra: dict[tuple[str, str], int] = {}  # and what its substituted values add to the value budget
        self._weights = _Weights()

    def error(self, message: str, path: Path) -> None:
        self.diags.append(self.smap.diagnostic(message, path))

    # -- top level -------------------------------------------------------
    def run(self) -> Graph:
        spec = self.spec
        self.diags += check_blocks(spec, self.smap, MAX_GRAPH_NODES) if spec.kind != "subclass" else []
        try:
            if self.diags:
                pass  # blocks that use themselves or expand past the limit: expanding them is the attack
            elif spec.kind == "sequential":
                self._check_sections(("layers",), ("nodes", "outputs", "model"))
                if spec.layers is not None and not spec.layers:
                    self.error(
                        "the model has an empty `layers:` list; a sequential model needs at least one layer "
                        "(e.g. `- {type: Identity}` to pass its input through)",
                        ("layers",),
                    )
                self._sequential()
            elif spec.kind == "functional":
                self._check_sections(("nodes", "outputs"), ("layers", "model"))
                self._functional()
            else:
                self._check_sections(("model",), ("layers", "nodes", "outputs"))
                if not spec.inputs:
                    self.error("a subclass spec needs `inputs:` so the model can be built", ())
        except _TooBig as err:
            if err.what == "values":
                self.error(
                    f"the spec's blocks expand to more than {MAX_VALUES:,} values (settings and their items, "
                    f"all copies together{err.detail}): use fewer copies of large blocks, or move large settings "
                    "out of repeated blocks",
                    err.path,
                )
            else:
                self.error(
                    f"the spec expands to more than {MAX_GRAPH_NODES} layers; check `repeat:` and blocks that "
                    "use repeated blocks (netform refuses graphs past that size)",
                    err.path,
                )
        for name in spec.inputs:
            if not _NAME_RE.fullmatch(name):  # (not match: `$` also matches before a final newline)
                self.error(
                    f"input name {name!r:.80} is not a valid name (letters, digits and _, not starting with a digit)",
                    ("inputs", name),
                )
        for name in spec.blocks if spec.kind != "subclass" else ():  # block names prefix their layers' names
            if not _NAME_RE.fullmatch(name):
                self.error(
                    f"block name {name!r:.80} is not a valid name (letters, digits and _, not starting with a digit)",
                    ("blocks", name),
                )
        if self.diags:
            raise SpecError(sorted(self.diags, key=lambda d: (d.line or 0, d.column or 0)))
        return self.graph

    def _check_sections(self, required: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
        kind = self.spec.kind
        for key in required:
            if getattr(self.spec, key) is None:
                self.error(f"a {kind} spec needs `{key}:`", ("kind",))
        for key in forbidden:
            if getattr(self.spec, key) is not None:
                hint = {
                    "layers": "sequential specs",
                    "nodes": "functional specs",
                    "outputs": "functional specs",
                    "model": "subclass specs",
                }[key]
                self.error(f"`{key}:` is for {hint}, not kind: {kind}; change `kind` or remove `{key}`", (key,))

    def _sequential(self) -> None:
        spec = self.spec
        if len(spec.inputs) != 1:
            self.error(
                f"a sequential spec takes exactly one input, found {len(spec.inputs)}; "
                "write `inputs: {x: {shape: [...]}}` (use kind: functional for several inputs)",
                ("inputs",),
            )
            return
        current = next(iter(spec.inputs))
        used = _Names(spec.inputs)
        for i, node in enumerate(spec.layers or ()):
            path: Path = ("layers", i)
            if node.kind == "block":
                name = used.unique(node.block or "block")
                outs = self._use_block(node, name, (current,), (), path)
                if outs is None:
                    return
                if len(outs) != 1:
                    self.error(f"block '{node.block}' has {len(outs)} outputs; a sequential spec needs one", path)
                    return
                current = outs[0]
            elif node.kind == "shared":
                self.error("`shares` needs named nodes; use kind: functional to share a layer", path + ("shares",))
                return
            else:
                assert node.layer is not None
                name = node.layer.name or used.unique(_snake(node.layer.type))
                if node.layer.name and node.layer.name in used:
                    self.error(f"layer name '{name}' is used twice; layer names must be unique", path + ("name",))
                used.add(name)
                self._add(GraphNode(name, node.layer, (current,), name, (), path))
                current = name
        self.graph.outputs = (current,)
        self.graph.output_names = (current,)

    def _functional(self) -> None:
        spec = self.spec
        nodes = spec.nodes or {}
        env = {name: name for name in spec.inputs}
        for name in nodes:
            if name in spec.inputs:
                self.error(f"node '{name}' has the name of an input; names must be unique", ("nodes", name))
        self._graph_nodes(nodes, env, (), ("nodes",), "")
        outs = []
        known = dict.fromkeys([*nodes, *spec.inputs])  # once: per output it was quadratic in a long `outputs:` list
        for i, ref in enumerate(spec.outputs or ()):
            producer = self._ref(ref, env, ("outputs", i), known)
            if producer is not None:
                if producer in spec.inputs:
                    self.error(f"output '{ref}' is a model input; outputs must be nodes", ("outputs", i))
                outs.append(producer)
        if spec.outputs is not None and not spec.outputs:  # no `outputs:` at all is reported once, by _check_sections
            self.error("a functional spec needs at least one output: `outputs: [node_name]`", ("outputs",))
        self.graph.outputs = tuple(outs)
        self.graph.output_names = tuple(spec.outputs or ())

    # -- graphs (top level and block bodies) -------------------------------
    def _graph_nodes(
        self, nodes: dict[str, Node], env: dict[str, str], scope: tuple[str, ...], base: Path, prefix: str
    ) -> None:
        """Resolve one graph (the top level, or a block body whose names get ``prefix``)."""
        known = dict.fromkeys([*env, *nodes])  # ordered, for messages; a dict, so `in` is constant time
        for name in self._toposort(nodes, env, base, known):
            node = nodes[name]
            path = base + (name,)
            if not _NAME_RE.fullmatch(name):
                self.error(
                    f"node name {name!r:.80} is not a valid name (letters, digits and _, not starting with a digit)",
                    path,
                )
                continue
            n_refs = len(node.inputs) + (len(_call_refs(node)) if node.call else 0)
            if n_refs > MAX_NODE_INPUTS:
                self.error(
                    f"node '{name}' reads {n_refs:,} tensors; a node takes at most {MAX_NODE_INPUTS:,} (`in` and "
                    "tensor call arguments together): combine them in steps, e.g. several Concatenate nodes",
                    path + ("in",),
                )
                continue
            inputs = []
            indexed = len(node.inputs) > 1 and not _is_op(node)  # an op's `in` also holds constants
            for j, ref in enumerate(node.inputs):
                p = self._ref(ref, env, path + (("in", j) if indexed else ("in",)), known, scope)
                if p is None:
                    break
                inputs.append(p)
            else:
                full = prefix + name
                call = self._call(node, inputs, env, known, scope, path)
                if call is None:
                    continue
                n_args = len(node.inputs) if node.call else None
                if node.kind == "layer":
                    assert node.layer is not None
                    self._add(GraphNode(full, node.layer, tuple(inputs), full, scope, path, call, n_args))
                    env[name] = full
                elif node.kind == "shared":
                    self._share(node, name, full, tuple(inputs), env, scope, path, prefix, call, n_args)
                else:
                    outs = self._use_block(node, full, tuple(inputs), scope, path)
                    if outs:
                        env[name] = outs[-1]
                        block = self.spec.blocks.get(node.block or "")
                        for out_name, producer in zip(block.outputs if block else (), outs):
                            env[f"{name}.{out_name}"] = producer
                        for i, producer in enumerate(outs if len(outs) > 1 else ()):
                            env.setdefault(f"{name}.{i}", producer)

    def _toposort(self, nodes: dict[str, Node], env: dict[str, str], base: Path, known: dict[str, None]) -> list[str]:
        deps: dict[str, set[str]] = {}
        for name, node in nodes.items():
            wanted = set()
            for ref in (*node.inputs, *_call_refs(node)):
                head = ref.partition(".")[0]  # (no copy of a name without a dot: a 500 KB one given 3,000 times)
                if head in nodes and head not in env:
                    wanted.add(head)
            if node.shares and node.shares in nodes:
                wanted.add(node.shares)
            deps[name] = wanted
        # iterative depth-first search: a long chain written consumers-first must not hit the recursion limit
        position = {n: i for i, n in enumerate(nodes)}
        order: list[str] = []
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for root in nodes:
            if state.get(root):
                continue
            state[root] = 1
            trail = [root]
            stack = [iter(sorted(deps[root], key=position.__getitem__))]
            while stack:
                for d in stack[-1]:
                    if state.get(d) == 2:
                        continue
                    if state.get(d) == 1:
                        cycle = trail[trail.index(d) :] + [d]
                        self.error(
                            f"the graph has a cycle: {' -> '.join(cycle)}; a node cannot depend on its own output",
                            base + (d, "in"),
                        )
                        return []
                    state[d] = 1
                    trail.append(d)
                    stack.append(iter(sorted(deps[d], key=position.__getitem__)))
                    break
                else:
                    stack.pop()
                    state[trail[-1]] = 2
                    order.append(trail.pop())
        return order

    def _ref(
        self, ref: str, env: dict[str, str], path: Path, known: dict[str, Any], scope: tuple[str, ...] = ()
    ) -> str | None:
        if ref in env:
            return env[ref]
        head, _, tail = ref.partition(".")
        if head in env and tail.isascii() and tail.isdigit() and env[head] in self.graph.nodes:
            return self._pick(env[head], int(tail), head, scope, path)
        if head in env and "." in ref:
            # the outputs of a block use, listed for the first messages only (a scan of the names each)
            outs = (
                [k for k in env if k.startswith(head + ".") and not k.rpartition(".")[2].isdigit()]
                if len(self.diags) < 20
                else []
            )
            if outs:
                self.error(
                    f"'{ref}' names an output that '{head}' does not have; its outputs: {', '.join(outs)} "
                    f"(or {head}.0 to {head}.{len(outs) - 1})",
                    path,
                )
            else:
                self.error(
                    f"'{ref}' names an output that '{head}' does not have: write '{head}' for its output, or "
                    f"'{head}.N' for output N of a node with several outputs",
                    path,
                )
            return None
        if head in known:
            return None  # an earlier error on that node was already reported
        self.error(f"unknown node or input '{ref}'{self.hint(ref, known)}; known names: {name_list(known)}", path)
        return None

    def _pick(self, producer: str, index: int, head: str, scope: tuple[str, ...], path: Path) -> str:
        """The node for output ``index`` of ``producer`` (made once, named ``producer.index``)."""
        from .layers.ops import Pick

        name = f"{producer}.{index}"
        if name not in self.graph.nodes:
            self._add(GraphNode(name, Pick(source=head, index=index), (producer,), name, scope, path))
        return name

    def _call(
        self,
        node: Node,
        inputs: list[str],
        env: dict[str, str],
        known: dict[str, Any],
        scope: tuple[str, ...],
        path: Path,
    ) -> dict[str, Any] | None:
        """``node.call`` with its node names resolved: each becomes a :class:`Slot` into ``inputs`` (extended)."""
        if not node.call:
            return {}
        if node.kind == "block":
            self.error("`call` applies to a layer node, not to a block use", path + ("call",))
            return None
        layer = node.layer
        if node.kind == "shared":
            owner = self.graph.nodes.get(env.get(node.shares or "", ""))
            layer = owner.layer if owner is not None else None
        if layer is not None:
            from .layers._calls import call_arguments

            allowed = call_arguments(layer.type)
            for key in node.call:
                if allowed is not None and key not in allowed:
                    listing = ", ".join(allowed) if allowed else "none: it takes only its input"
                    self.error(
                        f"{layer.type} has no call argument '{key}'{self.hint(key, dict.fromkeys(allowed))}; "
                        f"its call arguments: {listing}",
                        path + ("call", key),
                    )
                    return None
        out: dict[str, Any] = {}
        for key, value in node.call.items():
            refs = [value] if isinstance(value, str) else value if isinstance(value, list) else None
            if refs is None:
                out[key] = value
                continue
            slots = []
            for j, ref in enumerate(refs):
                p = self._ref(ref, env, path + ("call", key) + ((j,) if isinstance(value, list) else ()), known, scope)
                if p is None:
                    return None
                slots.append(Slot(len(inputs)))
                inputs.append(p)
            out[key] = slots[0] if isinstance(value, str) else slots
        return out

    def _share(
        self,
        node: Node,
        name: str,
        full: str,
        inputs: tuple[str, ...],
        env: dict[str, str],
        scope: tuple[str, ...],
        path: Path,
        prefix: str,
        call: dict[str, Any] | None = None,
        n_args: int | None = None,
    ) -> None:
        target = node.shares or ""
        producer = env.get(target)
        if producer is None or producer in self.graph.inputs:
            self.error(
                f"`shares: {target}` must name an earlier layer or block node{self.hint(target, env)}",
                path + ("shares",),
            )
            return
        if producer in self.graph.nodes and self.graph.nodes[producer].scope == scope:
            owner_node = self.graph.nodes[producer]
            n_in = len(inputs) if n_args is None else n_args
            if n_in != len(owner_node.args):
                self.error(
                    f"node '{name}' shares the layer of '{target}', which takes {len(owner_node.args)} "
                    f"input(s), but `in` lists {n_in}",
                    path + ("in",),
                )
                return
            self._add(GraphNode(full, owner_node.layer, inputs, owner_node.owner, scope, path, call or {}, n_args))
            env[name] = full
            return
        source_scope = prefix + target
        sc = self.graph.scopes.get(source_scope)
        if sc is None:
            self.error(f"`shares: {target}`: a repeated block cannot be shared; share a single use", path + ("shares",))
            return
        if not sc.nested:
            self.error(
                f"`shares: {target}` reuses a block use, which needs `nested: true` on the block or the use "
                "(weights are shared by calling the same nested model)",
                path + ("shares",),
            )
            return
        if call:
            self.error("`call` applies to a layer node, not to a shared block use", path + ("call",))
            return
        while sc.shares is not None and sc.shares in self.graph.scopes:
            # a use that shares a use that shares another: the weights, and the nested model, are the first one's
            source_scope = sc.shares
            sc = self.graph.scopes[source_scope]
        fake = Node.model_validate({"block": sc.block, "in": inputs, "args": {}, "nested": True})
        args = self._scope_args.get(source_scope, {})
        fake = fake.model_copy(update={"args": args})
        outs = self._use_block(fake, full, inputs, scope, path, shares=source_scope)
        if outs:
            env[name] = outs[-1]

    # -- blocks ------------------------------------------------------------
    def _use_block(
        self,
        node: Node,
        full: str,
        inputs: tuple[str, ...],
        scope: tuple[str, ...],
        path: Path,
        shares: str | None = None,
    ) -> tuple[str, ...] | None:
        name = node.block or ""
        block = self.spec.blocks.get(name)
        if block is None:
            self.error(
                f"unknown block '{name}'{self.hint(name, self.spec.blocks)}; "
                f"define it under `blocks:`"
                + (f" (defined: {name_list(self.spec.blocks)})" if self.spec.blocks else ""),
                path + ("block",),
            )
            return None
        if len(scope) >= _MAX_BLOCK_DEPTH:
            self.error(f"blocks are nested more than {_MAX_BLOCK_DEPTH} deep (does block '{name}' use itself?)", path)
            return None
        unknown = [k for k in node.args if k not in block.params]
        for key in unknown:
            self.error(
                f"block '{name}' has no parameter '{key}'{self.hint(key, block.params)}; "
                f"its parameters: {name_list(block.params) or '(none)'}",
                path + (key,),
            )
        args = {**block.params, **node.args}
        missing = [k for k, v in args.items() if v is None]
        for key in missing:
            self.error(
                f"block parameter '{key}' is left unset; block '{name}' needs it: write `{key}: …` in this node", path
            )
        if unknown or missing:
            return None
        if not self._bind(name, node.args, path):
            return None
        n_in = len(block.inputs)
        if len(inputs) != n_in:
            self.error(
                f"block '{name}' takes {n_in} input(s) ({', '.join(block.inputs)}), `in` gives {len(inputs)}",
                path + ("in",),
            )
            return None
        nested = node.nested if node.nested is not None else block.nested
        if node.repeat > MAX_GRAPH_NODES:
            self.error(
                f"`repeat: {node.repeat}` is more than the {MAX_GRAPH_NODES} layers a spec may expand to",
                path + ("repeat",),
            )
            return None
        current = inputs
        outs: tuple[str, ...] | None = ()
        # the body parsed with the same arguments is the same (frozen) nodes: parsed once per set of arguments
        cache_key = (name, repr(sorted(args.items())))
        try:
            for k in range(node.repeat):
                inst = full if node.repeat == 1 else f"{full}.{k + 1}"
                self._scope_args[inst] = dict(node.args)
                outs = self._expand_body(name, block, args, cache_key, inst, current, scope, path, nested, shares)
                if outs is None:
                    return None
                if k + 1 < node.repeat and len(outs) != n_in:
                    self.error(
                        f"`repeat: {node.repeat}` chains block '{name}' into itself, so it needs as many "
                        f"outputs as inputs ({len(outs)} vs {n_in})",
                        path + ("repeat",),
                    )
                    return None
                current = outs
        except _TooBig as err:
            if not scope:  # point at the top-level use that blew up
                err.path = path + ("repeat",) if node.repeat > 1 else path
            raise
        return outs

    def _expand_body(
        self,
        name: str,
        block: Any,
        args: dict[str, Any],
        cache_key: tuple[str, str],
        inst: str,
        inputs: tuple[str, ...],
        scope: tuple[str, ...],
        use_path: Path,
        nested: bool,
        shares: str | None,
    ) -> tuple[str, ...] | None:
        from ._parse import parse_node

        base: Path = ("blocks", name, "nodes" if block.nodes is not None else "layers")
        raw_nodes: dict[str, Any]
        if name in self._raw_bodies:
            raw_nodes = self._raw_bodies[name]
        elif block.nodes is not None:
            raw_nodes = dict(block.nodes)
        elif block.layers is not None:
            raw_nodes = {}
            used = _Names(block.inputs)
            prev = block.inputs[0] if block.inputs else ""
            for i, item in enumerate(block.layers):
                item = dict(item) if isinstance(item, dict) else item
                nm = (item.get("name") if isinstance(item, dict) else None) or used.unique(
                    _snake(str(item.get("type") or item.get("block") or item.get("op") or "layer").replace(".", "_"))
                    if isinstance(item, dict)
                    else "layer"
                )
                used.add(nm)
                if isinstance(item, dict):
                    item.pop("name", None)
                    item["in"] = prev
                raw_nodes[nm] = (i, item)
                prev = nm
        else:
            self.error(f"block '{name}' needs `nodes:` (with `outputs:`) or `layers:`", ("blocks", name))
            return None
        if name not in self._body_values:
            self._raw_bodies[name] = raw_nodes  # the same for every use: named once
            self._body_values[name] = value_count(raw_nodes)
        self._expanded += len(raw_nodes) + 1
        self._values += self._body_values[name]
        if self._expanded > _MAX_EXPANDED_ITEMS:
            raise _TooBig(use_path)
        if self._values > MAX_VALUES:
            raise _TooBig(use_path, "values")
        diags_before = len(self.diags)
        if cache_key in self._parsed:  # what the substituted values add, as when they were first substituted
            self._values += self._extra[cache_key]
            if self._values > MAX_VALUES:
                raise _TooBig(use_path, "values")
        parsed: dict[str, Node] = dict(self._parsed.get(cache_key, {}))
        extra = 0
        for nm, raw in raw_nodes.items() if cache_key not in self._parsed else ():
            key: str | int = nm
            if isinstance(raw, tuple):
                key, raw = raw
            n_diags = len(self.diags)
            params: set[str] = set()
            substituted, values, chars = self._substitute(raw, args, base + (key,), name, params)
            if len(self.diags) > n_diags:
                continue  # an unknown `$param` stays as text: validating it would only report it again, less clearly
            if params:  # substituted values are counted (text by its length) before anything reads them
                added = max(0, _units(values, chars) - value_count(raw))
                extra += added
                self._values += added
                if self._values > MAX_VALUES:
                    raise _TooBig(
                        use_path,
                        "values",
                        f"; block '{name}' with {_params(params)} substituted holds {count_text(values)} values and "
                        f"{count_text(chars)} characters of text at {_dotted(base + (key,))}, text counted "
                        f"{CHARS_PER_VALUE} characters a value",
                    )
            local: list[Diagnostic] = []
            node = parse_node(substituted, base + (key,), self.smap, local, graph=True)
            for d in local:
                self.diags.append(
                    Diagnostic(
                        f"{_cut_quotes(d.message) if params else d.message} (in block '{name}' used at "
                        f"{_dotted(use_path)})",
                        d.path,
                        d.source,
                        d.line,
                        d.column,
                    )
                )
            if node is not None:
                parsed[nm] = node
        if len(self.diags) > diags_before:
            return None
        if cache_key not in self._parsed:
            self._parsed[cache_key] = parsed
            self._extra[cache_key] = extra
        env = {b_in: outer for b_in, outer in zip(block.inputs, inputs)}
        inner_scope = scope + (inst,)
        n_before = len(self.graph.nodes)  # nodes are only ever added, so the new ones are the dict's tail
        # names inside a scope are prefixed with the instance name
        self._graph_nodes(parsed, env, inner_scope, base, inst + ".")
        if len(self.diags) > diags_before:
            return None
        out_names = block.outputs or ((list(parsed)[-1],) if parsed else ())
        outs = []
        for i, ref in enumerate(out_names):
            p = self._ref(ref, env, ("blocks", name, "outputs", i), env, inner_scope)
            if p is None:
                return None
            outs.append(p)
        if shares is not None:
            added = len(self.graph.nodes) - n_before  # the tail of the dict, taken without copying all of it
            for nm in list(itertools.islice(reversed(self.graph.nodes), added))[::-1]:
                gn = self.graph.nodes[nm]
                owner = shares + gn.owner[len(inst) :] if gn.owner.startswith(inst + ".") else gn.owner
                self.graph.nodes[nm] = GraphNode(
                    gn.name,
                    self.graph.nodes[owner].layer if owner in self.graph.nodes else gn.layer,
                    gn.inputs,
                    owner,
                    gn.scope,
                    gn.path,
                    gn.call,
                    gn.n_args,
                )
        self.graph.scopes[inst] = Scope(inst, name, nested, inputs, tuple(outs), scope, shares, use_path)
        return tuple(outs)

    def _bind(self, block: str, args: dict[str, Any], path: Path) -> bool:
        """Check the size of the values a block use binds to its parameters, and count them in the value budget."""
        extra, largest = 0, (0, "")
        for key, value in args.items():
            values, chars = self._weights(value)
            if isinstance(value, str) and len(value) > MAX_PARAM_TEXT:
                self.error(
                    f"block '{block}' parameter '{key}' is a text of {len(value):,} characters "
                    f"({_quote(value)}); a block parameter's text is limited to {MAX_PARAM_TEXT:,} characters",
                    path + (key,),
                )
                return False
            units = _units(values, chars)
            if units > MAX_VALUES:
                self.error(
                    f"block '{block}' parameter '{key}' holds {count_text(values)} values and "
                    f"{count_text(chars)} characters of text; a block parameter's value is limited to "
                    f"{MAX_VALUES:,} values (text counted {CHARS_PER_VALUE} characters a value): pass a smaller "
                    "value, or check parameters passed on from block to block in lists or texts that repeat them",
                    path + (key,),
                )
                return False
            extra += units - 1  # a number or a short name costs nothing more than any other setting
            if units > largest[0]:
                largest = (
                    units,
                    f"; block '{block}' parameter '{key}' holds {count_text(values)} values and "
                    f"{count_text(chars)} characters of text at {_dotted(path)}, text counted {CHARS_PER_VALUE} "
                    "characters a value",
                )
        self._values += extra
        if self._values > MAX_VALUES:
            raise _TooBig(path, "values", largest[1])
        return True

    def _substitute(
        self, value: Any, args: dict[str, Any], path: Path, block: str, used: set[str]
    ) -> tuple[Any, int, int]:
        """``value`` with ``$param`` replaced, and how many values and characters of text it then holds.

        Sizes are worked out before anything is built: a whole ``$param`` is the bound value itself (shared,
        not copied), a text's length is summed before it is joined, and a list or mapping past
        :data:`MAX_VALUES` is refused before anything reads it. The parameters used are added to ``used``.
        """
        if isinstance(value, (dict, list)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            out: Any = {} if isinstance(value, dict) else []
            values, chars = 1, 0
            for k, v in items:
                sub, n, c = self._substitute(v, args, path + (k,), block, used)
                if isinstance(out, dict):
                    out[k] = sub
                else:
                    out.append(sub)
                values, chars = min(values + n, SATURATE), min(chars + c, SATURATE)
            if used and _units(values, chars) > MAX_VALUES:
                self.error(
                    f"block '{block}': with {_params(used)} substituted, this value holds {count_text(values)} values "
                    f"and {count_text(chars)} characters of text; a substituted value is limited to "
                    f"{MAX_VALUES:,} values (text counted {CHARS_PER_VALUE} characters a value): check parameters "
                    "passed on from block to block in lists that repeat them",
                    path,
                )
                return value, 1, 0
            return out, values, chars
        if not isinstance(value, str):
            return value, 1, 0
        if "$" not in value:
            return value, 1, len(value)
        whole = _PARAM_RE.fullmatch(value)
        if whole:
            key = whole.group(1)
            if key not in args:
                self.error(
                    f"unknown block parameter '${key}'{self.hint(key, args)}; block '{block}' declares: "
                    f"{name_list(args) or '(none)'}",
                    path,
                )
                return value, 1, len(value)
            used.add(key)
            return (args[key], *self._weights(args[key]))
        texts: dict[str, str] = {}
        length = len(value)
        for m in _PARAM_RE.finditer(value):
            key = m.group(1)
            if key not in args:
                continue  # left as written
            used.add(key)
            if key not in texts:
                texts[key] = self._text_of(args[key])
            length += len(texts[key]) - len(m.group(0))
            if length > MAX_PARAM_TEXT:
                size = len(texts[key])
                self.error(
                    f"block '{block}': the text {_quote(value)} with parameter '{key}' "
                    + (f"({size:,} characters) " if size <= MAX_PARAM_TEXT else "")
                    + f"substituted is longer than {MAX_PARAM_TEXT:,} characters, the limit for a substituted text: "
                    "check parameters passed on from block to block in texts that repeat them",
                    path,
                )
                return value, 1, len(value)
        out_text = _PARAM_RE.sub(lambda m: texts.get(m.group(1), m.group(0)), value)
        return out_text, 1, len(out_text)

    def _text_of(self, value: Any) -> str:
        """``str(value)`` for substitution inside a text; a placeholder past the limit (refused by the caller)."""
        if isinstance(value, str):
            return value
        values, chars = self._weights(value)
        if values + chars > MAX_PARAM_TEXT:  # its text is at least a character a value, and the text it holds
            return " " * (MAX_PARAM_TEXT + 1)
        return str(value)

    def _add(self, node: GraphNode) -> None:
        if len(self.graph.nodes) >= MAX_GRAPH_NODES:
            raise _TooBig(node.path)
        if node.name in self.graph.nodes or node.name in self.graph.inputs:
            self.error(f"the name '{node.name}' is used twice; node and layer names must be unique", node.path)
            return
        if len(node.name) > MAX_LAYER_NAME:
            self.error(
                f"the layer name '{node.name[:40]}...' is {len(node.name):,} characters long (with the names of "
                f"the blocks it is in); netform reads back layer names of at most {MAX_LAYER_NAME:,} characters, "
                "so a saved model could not be loaded: give a shorter name",
                node.path,
            )
            return
        self.graph.nodes[node.name] = node


class _Weights:
    """How many values and characters of text a bound value holds, memoised by identity.

    A value substituted into a list several times is one object listed several
    times; a chain of blocks each passing ``[$s, $s]`` on makes a value whose
    copies double per level. Each object is counted once and its total kept, so
    the count is linear in the objects, not in the copies they stand for.
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, int, int]] = {}  # the object too, so its id is not reused

    def __call__(self, value: Any) -> tuple[int, int]:
        if isinstance(value, str):
            return 1, len(value)
        if not isinstance(value, (dict, list, tuple)):
            return 1, 0
        memo = self._memo
        stack: list[tuple[Any, bool]] = [(value, False)]
        while stack:
            item, done = stack.pop()
            if id(item) in memo:
                continue
            children = list(item.values()) if isinstance(item, dict) else item
            if not done:
                stack.append((item, True))
                stack.extend((c, False) for c in children if isinstance(c, (dict, list, tuple)) and id(c) not in memo)
                continue
            values, chars = 1, 0
            for c in children:
                if isinstance(c, str):
                    n, ch = 1, len(c)
                elif isinstance(c, (dict, list, tuple)):
                    _, n, ch = memo[id(c)]
                else:
                    n, ch = 1, 0
                values, chars = min(values + n, SATURATE), min(chars + ch, SATURATE)
            memo[id(item)] = (item, values, chars)
        return memo[id(value)][1:]


def _units(values: int, chars: int) -> int:
    """Values and text together, in the units of :data:`MAX_VALUES`."""
    return values + chars // CHARS_PER_VALUE


def _quote(text: str) -> str:
    """``'text'``, cut to its first characters."""
    return f"'{text[:_MAX_QUOTED]}…'" if len(text) > _MAX_QUOTED else f"'{text}'"


def _params(used: set[str]) -> str:
    names = sorted(used)
    return ("parameter " if len(names) == 1 else "parameters ") + name_list([f"'{n}'" for n in names])


def _cut_quotes(message: str) -> str:
    """A message with long quoted values (substituted texts it echoes) cut to their first characters."""
    return _LONG_QUOTE_RE.sub(lambda m: f"'{m.group(1)}…'", message)


class _TooBig(Exception):
    def __init__(self, path: Path, what: str = "layers", detail: str = "") -> None:
        super().__init__(path)
        self.path = path
        self.what = what
        self.detail = detail  # for values: where the last ones were bound or substituted, ``; …``


def _call_refs(node: Node) -> list[str]:
    """The node names among ``node.call``'s values."""
    out: list[str] = []
    for value in node.call.values():
        out += (
            [value]
            if isinstance(value, str)
            else [v for v in value if isinstance(v, str)]
            if isinstance(value, list)
            else []
        )
    return out


def _is_op(node: Node) -> bool:
    return node.layer is not None and node.layer.type == "Op"


def _snake(name: str) -> str:
    """Keras's automatic layer names: Conv2D → conv2d, GlobalAveragePooling2D → global_average_pooling2d."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class _Names(set[str]):
    """Names in use, and Keras's rule for a fresh one (dense, dense_1, dense_2, …) in constant time."""

    def __init__(self, names: Any = ()) -> None:
        super().__init__(names)
        self._next: dict[str, int] = {}

    def unique(self, base: str) -> str:
        """``base``, or ``base_N`` with the smallest N after the last one given that is free."""
        if base not in self:
            self.add(base)
            return base
        i = self._next.get(base, 1)
        while f"{base}_{i}" in self:
            i += 1
        self._next[base] = i + 1
        self.add(f"{base}_{i}")
        return f"{base}_{i}"


def _dotted(path: Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out


def resolve(spec: ModelSpec) -> Graph:
    """Expand blocks and resolve references of ``spec`` into a :class:`Graph`.

    Raises:
        SpecError: Unknown references, cycles, duplicate names, missing
            outputs, bad block uses — all of them, located.
    """
    smap = spec._smap if spec._smap is not None else SourceMap(spec.source)
    return _Resolver(spec, smap).run()
