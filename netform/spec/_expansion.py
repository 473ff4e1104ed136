"""Check blocks before expanding them: empty bodies, blocks that use themselves, expanded size.

A few hundred bytes of blocks nested with ``repeat:`` describe billions of
layers, and a block that uses itself (directly or through others) never
stops expanding. As the YAML loader does for aliases, the size is counted
first, per block and memoised (linear in the text, not in the expansion),
and the expansion runs only when the count is within the limits.

The diagnostics helpers here keep messages bounded too: a spec with 10,000
errors must not cost 10,000 × 10,000 name comparisons or a 300 MB message.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import Any, Collection, Iterable, Iterator

from ..errors import Diagnostic, did_you_mean
from ._model import NAME_PATTERN, ModelSpec
from ._yaml import SourceMap

__all__ = [
    "check_blocks",
    "name_list",
    "Hints",
    "MAX_LISTED",
    "MAX_HINTS",
    "MAX_VALUES",
    "SATURATE",
    "count_text",
    "value_count",
]

Path = tuple[str | int, ...]
_PARAM_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_NAME_RE = re.compile(NAME_PATTERN)
#: known-name lists in messages stop after this many names
MAX_LISTED = 20
#: "did you mean" suggestions are worked out for this many messages; later ones (never shown) go without
MAX_HINTS = 100
# past this many known names, only the likeliest candidates (same first letter, similar length) are compared
_MAX_CANDIDATES = 200
# the most known names sorted for suggestions, all lists together (a list is sorted again when it grows)
_MAX_INDEXED = 200_000
# and, for a list that long, how many of those sharing the longest prefix with the name are compared with it
_MAX_SORTED = 50
#: the most values (YAML scalars, lists, mappings) block bodies may expand to, all copies together: each
#: is substituted and validated per copy (1.5 times the document's own limit; about 1 s of CPU)
MAX_VALUES = 300_000
#: counts saturate here: past it the exact number does not matter and big-int arithmetic would
SATURATE = 10**18


def count_text(n: int) -> str:
    """Write a count with thousands separators (``more than 10^18`` past the saturation point)."""
    return "more than 10^18" if n >= SATURATE else f"{n:,}"


def name_list(names: Collection[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c`` — the first ``limit`` names, then ``… (N in all)``."""
    shown = ", ".join(itertools.islice(names, limit))
    return shown if len(names) <= limit else shown + f", … ({len(names):,} in all)"


class Hints:
    """``did_you_mean`` with a budget: only the first :data:`MAX_HINTS` messages get a suggestion.

    Each suggestion compares a name with a bounded set of candidates; the
    budget keeps a spec with thousands of bad names linear instead of
    quadratic. A long list of known names is sorted once (and again only when
    it grows), so picking the candidates costs a few binary searches, not a
    pass over every name per message; past :data:`_MAX_INDEXED` names sorted
    in all, suggestions stop.
    """

    def __init__(self, budget: int = MAX_HINTS) -> None:
        self.budget = budget
        self._indexed = 0  # names sorted so far, all lists together
        self._index: tuple[object, int, list[str], list[str]] | None = None  # choices, their count, lowered, names

    def __call__(self, name: str, choices: Iterable[str]) -> str:
        """The suggestion suffix for ``name`` (``""`` once the budget is spent)."""
        if self.budget <= 0:
            return ""
        self.budget -= 1
        if not isinstance(choices, Collection) or len(choices) <= _MAX_CANDIDATES:
            return did_you_mean(name, _candidates(name, choices))
        index = self._index
        if index is None or index[0] is not choices or index[1] != len(choices):
            if self._indexed + len(choices) > _MAX_INDEXED:
                self.budget = 0
                return ""
            self._indexed += len(choices)
            entries = sorted((c.lower(), c) for c in choices)
            index = self._index = (choices, len(choices), [low for low, _ in entries], [c for _, c in entries])
        return did_you_mean(name, _sorted_candidates(name, index[2], index[3]))


def _sorted_candidates(name: str, lowered: list[str], names: list[str]) -> list[str]:
    """:func:`_candidates` over names sorted by their lower case (``lowered``): binary searches, no full pass."""
    lower, size = name.lower(), len(name)

    def span(k: int) -> tuple[int, int]:  # the names that start with the first k letters of ``name``
        prefix = lower[:k]
        return bisect.bisect_left(lowered, prefix), bisect.bisect_left(lowered, prefix + "\U0010ffff")

    # the shortest prefix (at least the first letter) shared by at most _MAX_SORTED names; counts fall as k grows
    low, high = 1, max(size, 1)
    while low < high:
        mid = (low + high) // 2
        start, end = span(mid)
        if end - start <= _MAX_SORTED:
            high = mid
        else:
            low = mid + 1
    start, end = span(low)
    if start == end and low > 1:  # nothing shares that much: keep the longest prefix some names share
        start, end = span(low - 1)
    # a close match (difflib ratio >= 0.6) has a similar length: read a bounded stretch of the span, closest lengths first
    picked = [c for c in names[start : min(end, start + 4 * _MAX_SORTED)] if abs(len(c) - size) <= size // 2 + 1]
    picked.sort(key=lambda c: abs(len(c) - size))
    exact = bisect.bisect_left(lowered, lower)
    if exact < len(lowered) and lowered[exact] == lower and names[exact] not in picked:
        picked.insert(0, names[exact])  # the same name in another case
    return picked[:_MAX_SORTED]


def _candidates(name: str, choices: Iterable[str]) -> list[str]:
    """The choices worth comparing with ``name``: all of a short list, a cheap pre-selection of a long one."""
    choices = list(choices)
    if len(choices) <= _MAX_CANDIDATES:
        return choices
    lower, size = name.lower(), len(name)
    first = lower[:1]
    # a close match (difflib ratio >= 0.6) has a similar length; most share the first letter
    picked = [
        c for c in choices if c.lower() == lower or (c[:1].lower() == first and abs(len(c) - size) <= size // 2 + 1)
    ]
    k = 2
    while len(picked) > _MAX_CANDIDATES and k <= size:  # still too many: keep those sharing a longer prefix
        narrower = [c for c in picked if c[:k].lower() == lower[:k]]
        if not narrower:
            break
        picked, k = narrower, k + 1
    return picked[:_MAX_CANDIDATES]


def value_count(value: Any) -> int:
    """How many values (scalars, lists, mappings) ``value`` holds, itself included."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


def _mul(a: int, b: int) -> int:
    return min(a * b, SATURATE)


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    """A ``$param`` value replaced by the parameter's default (the best a static count can do)."""
    if isinstance(value, str):
        m = _PARAM_RE.fullmatch(value)
        if m:
            return params.get(m.group(1))
    return value


def _body(spec: ModelSpec, name: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    block = spec.blocks[name]
    if block.nodes is not None:
        for key, item in block.nodes.items():
            yield ("blocks", name, "nodes", key), item
    elif block.layers is not None:
        for i, item in enumerate(block.layers):
            yield ("blocks", name, "layers", i), item


def _uses(spec: ModelSpec, name: str) -> list[tuple[str, int, Path]]:
    """The blocks that ``name``'s body uses: (block, repeat, path of the use)."""
    params = spec.blocks[name].params
    out = []
    for path, item in _body(spec, name):
        if not isinstance(item, dict) or "block" not in item:
            continue
        child = _resolve(item["block"], params)
        if not isinstance(child, str) or child not in spec.blocks:
            continue  # reported when the block is used
        repeat = _resolve(item.get("repeat", 1), params)
        repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat > 0 else 1
        out.append((child, repeat, path))
    return out


#: The fields of a block use (``{block: b, in: x, repeat: 2}``): its other keys are the block's parameters.
_USE_FIELDS = frozenset({"block", "in", "repeat", "nested", "call"})


def _empty_bodies(spec: ModelSpec, smap: SourceMap) -> list[Diagnostic]:
    diags = []
    for name, block in spec.blocks.items():
        where: Path = ("blocks", name)
        if not block.inputs:
            diags.append(
                smap.diagnostic(
                    f"block '{name}' has no inputs; write `inputs: [x]` (the names its nodes read)", where + ("inputs",)
                )
            )
        # the names a block declares are names as the graph's are: its inputs are read by its nodes' `in` (and
        # name the Input layers of a nested block), its parameters by `$name` and by each use's arguments
        declared: list[tuple[str, str, Path]] = [
            ("input", item, where + ("inputs", i)) for i, item in enumerate(block.inputs)
        ]
        declared += [("parameter", item, where + ("params", item)) for item in block.params]
        seen: set[str] = set()
        for what, item, path in declared:
            if not _NAME_RE.fullmatch(item):  # (not match: `$` also matches before a final newline)
                diags.append(
                    smap.diagnostic(
                        f"block '{name}' {what} name {item!r:.80} is not a valid name (letters, digits and _, not "
                        "starting with a digit)",
                        path,
                    )
                )
            elif what == "parameter" and item in _USE_FIELDS:
                # a use's `repeat: 2` is the use's own field: such a parameter could never be given
                diags.append(
                    smap.diagnostic(
                        f"block '{name}' parameter name {item!r} is a field of every block use "
                        f"({', '.join(sorted(_USE_FIELDS))}), so no use could set it; rename the parameter",
                        path,
                    )
                )
            elif what == "input" and item in seen:
                # a use's inputs are given in order: the first tensor given under a repeated name would be lost
                diags.append(
                    smap.diagnostic(
                        f"block '{name}' lists the input name {item!r} twice; give each input its own name", path
                    )
                )
            seen.add(item)
        if block.layers is not None and not block.layers:
            diags.append(
                smap.diagnostic(
                    f"block '{name}' has an empty `layers:` list; give it at least one layer", where + ("layers",)
                )
            )
        if block.nodes is not None and not block.nodes and not block.outputs:
            diags.append(
                smap.diagnostic(
                    f"block '{name}' has no nodes and no `outputs:`; give it nodes, or `outputs: [x]` to pass its input "
                    "through",
                    where + ("nodes",),
                )
            )
    return diags


def _cycles(
    spec: ModelSpec, smap: SourceMap, uses: dict[str, list[tuple[str, int, Path]]]
) -> tuple[list[Diagnostic], set[str]]:
    """Blocks that use themselves, directly or through others (iterative depth-first search)."""
    diags: list[Diagnostic] = []
    cyclic: set[str] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in spec.blocks:
        if state.get(root):
            continue
        state[root] = 1
        trail = [root]
        stack = [iter(uses[root])]
        while stack:
            for child, _, path in stack[-1]:
                if state.get(child) == 2:
                    continue
                if state.get(child) == 1:
                    cycle = trail[trail.index(child) :] + [child]
                    if not cyclic.intersection(cycle):
                        diags.append(
                            smap.diagnostic(
                                f"block '{child}' uses itself: {' → '.join(cycle)}; a block cannot contain itself "
                                "(to chain copies of a block, use `repeat:`)",
                                path + ("block",),
                            )
                        )
                    cyclic.update(cycle)
                    continue
                state[child] = 1
                trail.append(child)
                stack.append(iter(uses[child]))
                break
            else:
                stack.pop()
                state[trail.pop()] = 2
    return diags, cyclic


def _sizes(spec: ModelSpec, uses: dict[str, list[tuple[str, int, Path]]]) -> dict[str, tuple[int, int, int]]:
    """Per block: (layers, block uses, values) once fully expanded, counted without expanding (blocks are acyclic)."""
    sizes: dict[str, tuple[int, int, int]] = {}

    def size(name: str) -> tuple[int, int, int]:
        # iterative post-order: block nesting may be as deep as the number of blocks
        todo = [name]
        while todo:
            current = todo[-1]
            if current in sizes:
                todo.pop()
                continue
            pending = [c for c, _, _ in uses[current] if c not in sizes]
            if pending:
                todo.extend(pending)
                continue
            todo.pop()
            items = [item for _, item in _body(spec, current)]
            layers, blocks, values = len(items) - len(uses[current]), 0, sum(value_count(i) for i in items)
            for child, repeat, _ in uses[current]:
                c_layers, c_blocks, c_values = sizes[child]
                layers = min(layers + _mul(repeat, c_layers), SATURATE)
                blocks = min(blocks + _mul(repeat, c_blocks + 1), SATURATE)
                values = min(values + _mul(repeat, c_values), SATURATE)
            sizes[current] = (layers, blocks, values)
        return sizes[name]

    for name in spec.blocks:
        size(name)
    return sizes


def check_blocks(spec: ModelSpec, smap: SourceMap, limit: int) -> list[Diagnostic]:
    """Everything that must hold before blocks are expanded; an empty list when expanding is safe.

    Args:
        spec: The spec (its blocks' bodies as written).
        smap: Positions of the document.
        limit: The most layers, and the most block uses, the expanded spec may have.

    Returns:
        Located diagnostics: empty block bodies, blocks that use themselves,
        and top-level uses past ``limit`` (with the count).
    """
    if not spec.blocks:
        return []
    diags = _empty_bodies(spec, smap)
    uses = {name: _uses(spec, name) for name in spec.blocks}
    cycle_diags, cyclic = _cycles(spec, smap, uses)
    diags += cycle_diags
    if diags:
        return diags
    sizes = _sizes(spec, uses)
    top: list[tuple[Path, Any]] = []
    if spec.layers is not None:
        top = [(("layers", i), node) for i, node in enumerate(spec.layers)]
    elif spec.nodes is not None:
        top = [(("nodes", name), node) for name, node in spec.nodes.items()]
    total_layers = total_blocks = total_values = 0
    worst: tuple[int, Path] | None = None
    for path, node in top:
        if node is None or node.kind != "block" or node.block not in sizes:
            total_layers += 1
            continue
        if node.repeat > limit:
            continue  # the resolver refuses that `repeat:` by itself, in plainer words
        layers, blocks, values = (_mul(node.repeat, n) for n in sizes[node.block])
        blocks = min(blocks + node.repeat, SATURATE)
        total_layers = min(total_layers + layers, SATURATE)
        total_blocks = min(total_blocks + blocks, SATURATE)
        total_values = min(total_values + values, SATURATE)
        here = max(layers / limit, blocks / limit, values / MAX_VALUES)
        if worst is None or here > worst[0]:
            worst = (here, path + ("repeat",) if node.repeat > 1 else path)
    if worst is not None and (total_layers > limit or total_blocks > limit):
        what = "layers" if total_layers > limit else "block uses"
        n = total_layers if total_layers > limit else total_blocks
        diags.append(
            smap.diagnostic(
                f"the spec expands to more than {limit} {what}; check `repeat:` and blocks that use repeated blocks: "
                f"it makes {count_text(n)} {what} (netform refuses graphs past {limit:,})",
                worst[1],
            )
        )
    elif worst is not None and total_values > MAX_VALUES:
        diags.append(
            smap.diagnostic(
                f"the spec's blocks expand to {count_text(total_values)} values (settings and their items, all copies "
                f"together); the limit is {MAX_VALUES:,}: use fewer copies of large blocks, or move large settings out "
                "of repeated blocks",
                worst[1],
            )
        )
    return diags
