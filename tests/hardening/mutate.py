"""Spec mutations shared by the fuzz tests and ``bench/fuzz_specs.py``.

A case starts from one zoo spec (``models/*.yaml``) and applies one to three
mutations, either to the YAML text or to the loaded data (``yaml.safe_load``,
mutate, dump again). Every choice goes through a :class:`Chooser`, so the
same code runs under Hypothesis (which can then shrink a failing case) and
under a seeded ``random.Random`` in the long benchmark run.

:func:`check` runs one case through ``load_spec`` and says whether it ended
the way every spec must: valid (and then ``summary`` and the ``to_yaml``
round trip work) or a :class:`~netform.SpecError` whose every diagnostic is
located. Anything else is a failure.
"""

from __future__ import annotations

import copy
import random
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, TypeVar

import yaml

import netform
from netform.errors import SpecError
from netform.spec import layer_specs
from tests._budget import cpu_seconds

T = TypeVar("T")

MODELS = Path(__file__).resolve().parents[2] / "models"
ZOO: dict[str, str] = {p.stem: p.read_text(encoding="utf-8") for p in sorted(MODELS.glob("*.yaml"))}
_ZOO_DATA: dict[str, Any] = {name: yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                             for name, text in ZOO.items()}
SOURCE = "fuzz.yaml"
TIME_LIMIT_S = 2.0

TAGS = (
    '!!python/object/apply:os.system ["touch NETFORM_FUZZ_MARKER"]',
    "!!python/object/new:subprocess.Popen",
    "!!python/name:builtins.eval",
    "!custom",
    "!!binary",
    "!!set",
    "!!timestamp",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!seq",
    "!!map",
)
NUMBERS_TEXT = ("-1", "0", "-0.0", "1e999", "-.inf", ".nan", "0x1F", "1_000", "0o17", "99999999999999999999999",
                "1.5", '"7"', "~", "true", "2147483648", "-9223372036854775809")
JUNK = (":", "-", "[", "]", "{", "}", '"', "'", "\t", "#", "&", "*", "!", "|", ">", "%", "@", "`", "?", ",",
        "\n", " ", "\x00", "\u2028", "\ufeff", "\x85", "é", "<<: ", "$", "${", "..")
VALUES: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, "", "x", "$filters", "${units}", [], {}, [1, 2],
                           {"a": 1}, 10**20, -(10**20), "Dense", [None], [[1]], {"type": "Dense"})


class Chooser(Protocol):
    """Where the random choices of a case come from."""

    def integer(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""


def choice(ch: Chooser, seq: Sequence[T]) -> T:
    """One element of the non-empty ``seq``."""
    return seq[ch.integer(0, len(seq) - 1)]


class RandomChooser:
    """Choices from a seeded ``random.Random`` (for the benchmark)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DataChooser:
    """Choices drawn from Hypothesis's ``st.data()``, so failures shrink."""

    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self._data = data
        self._st = st

    def integer(self, lo: int, hi: int) -> int:
        return self._data.draw(self._st.integers(lo, hi))


# -- data-level mutations -------------------------------------------------------

Tree = Any


class Tagged:
    """A value dumped with an explicit (possibly hostile) YAML tag."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _Dumper(yaml.SafeDumper):
    pass


def _represent_tagged(dumper: yaml.SafeDumper, data: Tagged) -> Any:
    tag = data.tag.split(" ", 1)[0].replace("!!", "tag:yaml.org,2002:", 1)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(tag, data.value)
    if isinstance(data.value, list):
        return dumper.represent_sequence(tag, data.value)
    return dumper.represent_scalar(tag, str(data.value))


_Dumper.add_representer(Tagged, _represent_tagged)


def _containers(tree: Tree) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) slot of the tree, depth first."""
    out: list[tuple[Any, Any]] = []
    stack = [tree]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def _dicts(tree: Tree, pred: Callable[[dict[str, Any]], bool] = bool) -> list[dict[str, Any]]:
    found = [tree] if isinstance(tree, dict) and pred(tree) else []
    return found + [c[k] for c, k in _containers(tree) if isinstance(c[k], dict) and pred(c[k])]


def _node_maps(tree: Tree) -> list[dict[str, Any]]:
    """The ``nodes:`` mappings (top level and in blocks)."""
    return [c[k] for c, k in _containers(tree) if k == "nodes" and isinstance(c[k], dict) and c[k]]


def _rename_in_place(d: dict[str, Any], old: str, new: str) -> None:
    items = [(new if k == old else k, v) for k, v in d.items()]
    d.clear()
    d.update(items)


def _typo(ch: Chooser, name: str) -> str:
    how = ch.integer(0, 3)
    if how == 0 and len(name) > 1:
        i = ch.integer(0, len(name) - 1)
        return name[:i] + name[i + 1:]
    if how == 1:
        return name.swapcase()
    if how == 2:
        return name + "_x"
    return choice(ch, ("1bad", "a-b", "", "with space", "x.y", "in", "type", "nodes", "netform"))


def d_drop_key(tree: Tree, ch: Chooser) -> None:
    slots = [(c, k) for c, k in _containers(tree) if isinstance(c, dict)]
    if slots:
        c, k = choice(ch, slots)
        del c[k]


def d_copy_key(tree: Tree, ch: Chooser) -> None:
    slots = [(c, k) for c, k in _containers(tree) if isinstance(c, dict)]
    if slots:
        c, k = choice(ch, slots)
        c[_typo(ch, str(k))] = copy.deepcopy(c[k])


def d_rename_key(tree: Tree, ch: Chooser) -> None:
    slots = [(c, k) for c, k in _containers(tree) if isinstance(c, dict)]
    if slots:
        c, k = choice(ch, slots)
        new = _typo(ch, str(k))
        if new not in c:
            _rename_in_place(c, k, new)


def d_retype_key(tree: Tree, ch: Chooser) -> None:
    slots = [(c, k) for c, k in _containers(tree) if isinstance(c, dict)]
    if slots:
        c, k = choice(ch, slots)
        new = choice(ch, (1, 0, -3, 2.5, True, None))
        if new not in c:
            _rename_in_place(c, k, new)  # type: ignore[arg-type]


def d_retype_value(tree: Tree, ch: Chooser) -> None:
    slots = _containers(tree)
    if slots:
        c, k = choice(ch, slots)
        c[k] = copy.deepcopy(choice(ch, VALUES))


def d_swap_values(tree: Tree, ch: Chooser) -> None:
    slots = _containers(tree)
    if len(slots) > 1:
        (c1, k1), (c2, k2) = choice(ch, slots), choice(ch, slots)
        a, b = c1[k1], c2[k2]
        c1[k1], c2[k2] = copy.deepcopy(b), copy.deepcopy(a)


def d_numbers(tree: Tree, ch: Chooser) -> None:
    slots = [(c, k) for c, k in _containers(tree) if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]
    if slots:
        c, k = choice(ch, slots)
        x = c[k]
        c[k] = choice(ch, (-x, 0, -1, x * 10**9, 10**30, -(2**63) - 1, x + 0.5, float(x), str(x),
                           float("inf"), float("nan"), 1e308, 2**31, [x], {"value": x}))


def d_break_reference(tree: Tree, ch: Chooser) -> None:
    """Delete or rename a node (top level or in a block) or a whole block, so references to it break."""
    blocks = tree.get("blocks") if isinstance(tree, dict) else None
    maps = _node_maps(tree) + ([blocks] if isinstance(blocks, dict) and blocks else [])
    if maps:
        m = choice(ch, maps)
        name = choice(ch, list(m))
        if ch.integer(0, 1):
            del m[name]
        else:
            new = _typo(ch, str(name))
            if new not in m:
                _rename_in_place(m, name, new)


def d_cycle(tree: Tree, ch: Chooser) -> None:
    maps = _node_maps(tree)
    if not maps:
        return
    m = choice(ch, maps)
    names = list(m)
    i = ch.integer(0, len(names) - 1)
    j = ch.integer(i, len(names) - 1)
    if isinstance(m[names[i]], dict):
        old = m[names[i]].get("in")
        target = names[j]
        m[names[i]]["in"] = [old, target] if isinstance(old, str) and ch.integer(0, 1) else target


def d_alias(tree: Tree, ch: Chooser) -> None:
    """Put one object in two places; the dump writes an anchor and an alias."""
    slots = _containers(tree)
    shared = [c[k] for c, k in slots if isinstance(c[k], (dict, list))]
    if shared and slots:
        c, k = choice(ch, slots)
        c[k] = choice(ch, shared)


def d_tag(tree: Tree, ch: Chooser) -> None:
    slots = _containers(tree)
    if slots:
        c, k = choice(ch, slots)
        c[k] = Tagged(choice(ch, TAGS), c[k])


def d_layer_type(tree: Tree, ch: Chooser) -> None:
    layers = _dicts(tree, lambda d: isinstance(d.get("type"), str))
    if layers:
        choice(ch, layers)["type"] = choice(ch, _LAYER_TYPES + ("Nope", "dense", "Conv2d", "Model", "Sequential"))


def d_block_use(tree: Tree, ch: Chooser) -> None:
    uses = _dicts(tree, lambda d: "block" in d)
    if uses:
        use = choice(ch, uses)
        key = choice(ch, ("repeat", "nested", "block", "filters", "in"))
        use[key] = choice(ch, (0, -1, 3, 40, "two", True, None, [], "stage", "conv_bn_relu", "x", ["x", "x"]))


_LAYER_TYPES = tuple(sorted(layer_specs()))

DATA_MUTATIONS: dict[str, Callable[[Tree, Chooser], None]] = {
    f.__name__[2:]: f for f in (d_drop_key, d_copy_key, d_rename_key, d_retype_key, d_retype_value, d_swap_values,
                                d_numbers, d_break_reference, d_cycle, d_alias, d_tag, d_layer_type, d_block_use)
}


# -- text-level mutations -------------------------------------------------------

def _lines(text: str) -> list[str]:
    return text.split("\n")


def _value_spots(text: str) -> list[int]:
    """Offsets just after ``: `` or ``- `` (where a value starts)."""
    return [m.end() for m in re.finditer(r"(?::|^\s*-|\[|,) ?", text, re.M)] or [0]


def t_cut(text: str, ch: Chooser) -> str:
    return text[: ch.integer(0, len(text))]


def t_delete_line(text: str, ch: Chooser) -> str:
    lines = _lines(text)
    del lines[ch.integer(0, len(lines) - 1)]
    return "\n".join(lines)


def t_duplicate_line(text: str, ch: Chooser) -> str:
    lines = _lines(text)
    i = ch.integer(0, len(lines) - 1)
    lines.insert(ch.integer(0, len(lines)), lines[i])
    return "\n".join(lines)


def t_swap_lines(text: str, ch: Chooser) -> str:
    lines = _lines(text)
    i, j = ch.integer(0, len(lines) - 1), ch.integer(0, len(lines) - 1)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def t_indent(text: str, ch: Chooser) -> str:
    lines = _lines(text)
    i = ch.integer(0, len(lines) - 1)
    lines[i] = (" " * ch.integer(1, 4) + lines[i]) if ch.integer(0, 1) else lines[i][ch.integer(1, 4):]
    return "\n".join(lines)


def t_tag(text: str, ch: Chooser) -> str:
    at = choice(ch, _value_spots(text))
    return text[:at] + choice(ch, TAGS) + " " + text[at:]


def t_anchor_alias(text: str, ch: Chooser) -> str:
    spots = _value_spots(text)
    a, b = choice(ch, spots), choice(ch, spots)
    kind = ch.integer(0, 3)
    if kind == 0:  # anchor a value, alias it elsewhere (either order: the second is undefined)
        first, second = sorted((a, b))
        return text[:first] + "&fz " + text[first:second] + "*fz " + text[second:]
    if kind == 1:
        return text[:a] + "*undefined " + text[a:]
    if kind == 2:  # a merge key pulling in an anchored mapping
        lines = _lines(text)
        i = ch.integer(0, len(lines) - 1)
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        lines.insert(i + 1, " " * indent + "<<: *fz")
        return "&fz ".join(["\n".join(lines)[:a], "\n".join(lines)[a:]])
    return text[:a] + "&fz [*fz] " + text[a:]


def t_number(text: str, ch: Chooser) -> str:
    spots = [m.span() for m in re.finditer(r"(?<![\w.$])-?\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])", text)]
    if not spots:
        return text
    start, end = choice(ch, spots)
    return text[:start] + choice(ch, NUMBERS_TEXT) + text[end:]


def t_junk(text: str, ch: Chooser) -> str:
    at = ch.integer(0, len(text))
    return text[:at] + choice(ch, JUNK) + text[at:]


def t_rename_word(text: str, ch: Chooser) -> str:
    words = [m.span() for m in re.finditer(r"\b[a-z_][a-z0-9_]{2,}\b", text)]
    if not words:
        return text
    start, end = choice(ch, words)
    return text[:start] + _typo(ch, text[start:end]) + text[end:]


def t_documents(text: str, ch: Chooser) -> str:
    return choice(ch, ("---\n" + text, text + "\n---\nnetform: 1\n", "%YAML 1.1\n---\n" + text,
                       "%TAG !! tag:example.com,2000:\n---\n" + text, text + "\n...\n", "%YAML 9.9\n---\n" + text))


TEXT_MUTATIONS: dict[str, Callable[[str, Chooser], str]] = {
    f.__name__[2:]: f for f in (t_cut, t_delete_line, t_duplicate_line, t_swap_lines, t_indent, t_tag,
                                t_anchor_alias, t_number, t_junk, t_rename_word, t_documents)
}


# -- cases ----------------------------------------------------------------------

@dataclass
class Case:
    """One mutated spec and how it was made (for failure reports)."""

    model: str
    level: str
    ops: list[str]
    text: str

    def describe(self) -> str:
        return f"{self.model} [{self.level}: {', '.join(self.ops)}]"


def make_case(ch: Chooser, *, level: str | None = None) -> Case:
    """Pick a zoo spec and apply one to three mutations at the text or data level."""
    model = choice(ch, list(ZOO))
    level = level or choice(ch, ("text", "data"))
    text = ZOO[model]
    ops: list[str] = []
    n = ch.integer(1, 3)
    if level == "text":
        for _ in range(n):
            op = choice(ch, list(TEXT_MUTATIONS))
            ops.append(op)
            text = TEXT_MUTATIONS[op](text, ch)
    else:
        tree = copy.deepcopy(_ZOO_DATA[model])
        for _ in range(n):
            op = choice(ch, list(DATA_MUTATIONS))
            ops.append(op)
            DATA_MUTATIONS[op](tree, ch)
        text = yaml.dump(tree, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return Case(model, level, ops, text)


@dataclass
class Outcome:
    """How one case ended: ``"valid"``, ``"error"`` (a located SpecError) or ``"failure"``."""

    kind: str
    seconds: float
    problems: list[str] = field(default_factory=list)


def check(text: str, *, source: str = SOURCE, time_limit: float = TIME_LIMIT_S) -> Outcome:
    """Load ``text`` and check that it ends valid or in a located :class:`SpecError`, within ``time_limit``.

    The limit is on CPU time; a case over it is timed once more and the lower of the two kept, so that the modules
    a first case imports, or a pause from elsewhere, do not count (a blowup comes back each time).
    """
    start = time.process_time()
    kind, problems = _outcome(text, source)
    seconds = time.process_time() - start
    if seconds > time_limit:
        seconds = min(seconds, cpu_seconds(lambda: _outcome(text, source), warm=False))
    if seconds > time_limit:
        problems.append(f"took {seconds:.2f} s of CPU (limit {time_limit} s; the lower of two runs)")
    return Outcome("failure" if problems else kind, seconds, problems)


def _outcome(text: str, source: str) -> tuple[str, list[str]]:
    """How loading ``text`` ended (``"valid"`` or ``"error"``) and the problems found."""
    problems: list[str] = []
    kind = "valid"
    try:
        spec = netform.load_spec(text, source=source)
        str(netform.summary(spec))
        again = netform.load_spec(spec.to_yaml(), source=source)
        if again != spec:
            problems.append(f"to_yaml round trip changed the spec:\n{spec.to_yaml()}\n!=\n{again.to_yaml()}")
    except SpecError as err:
        kind = "error"
        if not err.diagnostics:
            problems.append("SpecError without diagnostics")
        for d in err.diagnostics:
            if d.source != source:
                problems.append(f"diagnostic without source {source!r}: {d!r}")
            if d.line is None:
                problems.append(f"diagnostic without a line: {d!r}")
        str(err)
    except BaseException as err:  # noqa: BLE001 - any other exception is what we hunt for
        if isinstance(err, KeyboardInterrupt):
            raise
        problems.append("".join(traceback.format_exception(err)))
    return kind, problems
