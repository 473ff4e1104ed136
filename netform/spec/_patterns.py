"""Regular expressions a model file hands to Keras, bounded before Keras matches them.

Three of Keras's objects hold patterns that Keras matches with Python's ``re`` against the model's own layer
and variable paths: a ``DTypePolicyMap`` (its ``policy_map`` keys, ``re.fullmatch`` against each layer's
path whenever its dtype policy is read), a ``MultiOptimizer``'s ``OptimizerMap`` (its ``optimizer_map`` keys,
against each variable's path) and ``Muon`` (its ``exclude_layers``, ``re.search`` against each variable's
path). Python's matcher backtracks: a 13 KB file whose map holds ``(((a+)+)+)+b`` beside a layer named
``aaaa…`` kept every reader of it (``inspect``, ``summary``, ``load``) busy for as long as one waited.

Each pattern is costed before anything reads the file through Keras: the number of ways Python's
matcher can try it on a path of the config's longest length (a repeat of something that can itself match
in several ways, as ``(a+)+``, grows with the power of that length; a back-reference is refused outright),
times the patterns and the paths it meets. Over :data:`MAX_MATCH_STEPS` the file is refused, naming the
pattern. Literal paths (what Keras writes: ``DTypePolicyMap`` keys are layer paths) and the patterns people
write (``encoder/.*``, ``.*attention.*``) cost a few steps a path.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator

from netform.errors import UnsafeFileError

__all__ = ["check_patterns", "MAX_MATCH_STEPS", "MAX_OP_STRING", "MAX_PATTERN_CHARS"]

#: The most backtracking steps (as costed here, an upper bound) the patterns of one file may take on its paths,
#: all together: a few seconds of Python's matcher at worst (``.*a.*a.*b``, costed 10**9 on a path of 1,000
#: characters, takes it 0.2 s).
MAX_MATCH_STEPS = 2 * 10**10
#: The most ways alternations whose branches start alike may be tried on the model's paths, all together: each
#: way is a walk of the path (2**28 of them on one 58-character name took nf.load 73 s of CPU).
MAX_AMBIGUOUS_WAYS = 10**8
#: The longest pattern taken (Keras writes layer paths; a pattern a person writes is a line).
MAX_PATTERN_CHARS = 1_000
#: The most distinct patterns a config's maps may hold, and their characters in all: Keras tries every key of a
#: ``DTypePolicyMap`` at each lookup of a layer's dtype, and Python's ``re`` keeps 512 compiled patterns (a map of
#: 1,000 long keys was compiled again at every lookup: a 37 KB ``.keras`` kept ``inspect`` busy 47 s of CPU)
MAX_PATTERNS = 256
MAX_PATTERNS_CHARS = 65_536
#: How many times a layer's path is matched while a model is made and built (its dtype policy is read often).
_LOOKUPS_PER_PATH = 4

#: (class name, config key holding the patterns, whether Keras searches rather than matches the whole path)
_PATTERN_HOLDERS = (("DTypePolicyMap", "policy_map", False), ("OptimizerMap", "optimizer_map", False))
_SEARCHED_LISTS = (("Muon", "exclude_layers"),)


def _shown(pattern: object) -> str:
    """The pattern as a message quotes it: whole when short, else its start (closed) and its length."""
    whole = repr(pattern)
    if len(whole) <= 120 or not isinstance(pattern, str):
        return whole[:120]
    return f"{pattern[:100]!r}… ({len(pattern):,} characters)"


def _parser() -> Any:
    # Python's own parser of regular expressions (``re._parser``; ``sre_parse`` before 3.11): the only way to
    # see a pattern's structure; the standard library's, not Keras's or TensorFlow's.
    import importlib

    try:
        return importlib.import_module("re._parser")
    except ImportError:  # pragma: no cover - Python before 3.11
        return importlib.import_module("sre_parse")


#: The most characters a repeat's leading set may hold for :func:`_delimited` to test them one by one.
_MAX_LEAD_CHARS = 4_096
#: Character classes (``\d``, ``\w``, ``\s`` and their negations) by the name Python's parser gives them.
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}


#: How many parts of a pattern :func:`_delimited` may look at, for all its repeats together, before it leaves
#: a repeat costed as any other (a pattern of 94 branches led by 4,096-character ranges took it 10 minutes).
_LOOKS = 200_000


class _Spent(Exception):
    """:func:`_delimited` looked at :data:`_LOOKS` parts of one pattern."""


def _chars(op: Any, arg: Any, parser: Any) -> set[str] | None:
    """The characters a one-character part of a pattern matches, where they are written out (a literal, a
    ``[…]`` of literals and short ranges); else ``None``."""
    if op == parser.LITERAL:
        return {chr(arg)}
    if op != parser.IN:
        return None
    chars: set[str] = set()
    for kind, value in arg:
        if kind == parser.LITERAL:
            chars.add(chr(value))
        elif kind == parser.RANGE and value[1] - value[0] < _MAX_LEAD_CHARS:
            chars.update(map(chr, range(value[0], value[1] + 1)))
        else:
            return None  # a negated set or a class such as \w: not written out
    return chars if len(chars) <= _MAX_LEAD_CHARS else None


def _leads(items: list[Any], parser: Any) -> list[tuple[set[str], list[Any]]] | None:
    """Each way a match of ``items`` can start, as ``(the characters it starts with, the rest of items)``,
    where each starts with one character of a set written out (an alternation gives one a branch); else
    ``None``."""
    if not items:
        return None
    op, arg = items[0]
    first = _chars(op, arg, parser)
    if first is not None:
        return [(first, list(items[1:]))]
    if op == parser.SUBPATTERN:
        return _leads(list(arg[-1]) + list(items[1:]), parser)
    if op == parser.BRANCH:
        ways: list[tuple[set[str], list[Any]]] = []
        for branch in arg[1]:
            inner = _leads(list(branch) + list(items[1:]), parser)
            if inner is None:
                return None
            ways += inner
        return ways
    return None


_ONE_CHAR = ("LITERAL", "NOT_LITERAL", "IN", "ANY")


def _one_way(rest: list[Any], parser: Any, budget: list[int]) -> bool:
    """Whether ``rest`` matches a given text in at most one way: one-character parts, each repeat of one
    character followed by a part of characters written out that the repeat cannot match."""
    for i, (op, arg) in enumerate(rest):
        if str(op) in _ONE_CHAR:
            continue
        if op not in (parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None)):
            return False
        sub = list(arg[2])
        if len(sub) != 1 or str(sub[0][0]) not in _ONE_CHAR:
            return False
        if i + 1 < len(rest):
            next_op, next_arg = rest[i + 1]
            after = _chars(next_op, next_arg, parser)
            if after is None or any(_can_match(sub, char, parser, budget) for char in after):
                return False
    return True


def _can_match(items: Any, char: str, parser: Any, budget: list[int]) -> bool:
    """Whether any character-matching part of ``items`` (a parsed pattern) could match ``char``; where in
    doubt, that it could. Each part looked at spends ``budget`` (:class:`_Spent` when it runs out)."""
    for op, arg in items:
        budget[0] -= 1 + (len(arg) if op == parser.IN else 0)
        if budget[0] < 0:
            raise _Spent
        if op == parser.LITERAL:
            if chr(arg) == char:
                return True
        elif op == parser.NOT_LITERAL:
            if chr(arg) != char:
                return True
        elif op == parser.IN:
            for kind, value in arg:
                if kind == parser.LITERAL and chr(value) != char:
                    continue
                if kind == parser.RANGE and not value[0] <= ord(char) <= value[1]:
                    continue
                if kind == parser.CATEGORY and str(value) in _CATEGORIES:
                    if re.fullmatch(_CATEGORIES[str(value)], char) is None:
                        continue
                return True  # a match, a negation, or a kind not looked into
        elif op in (parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None)):
            if _can_match(arg[2], char, parser, budget):
                return True
        elif op == parser.SUBPATTERN:
            if _can_match(arg[-1], char, parser, budget):
                return True
        elif op == parser.BRANCH:
            if any(_can_match(branch, char, parser, budget) for branch in arg[1]):
                return True
        elif op != parser.AT:  # any other character, a look-around, a back-reference, a kind not looked into
            return True
    return False


def _delimited(sub: Any, parser: Any, budget: list[int]) -> bool:
    """Whether the text fixes how a repeat of ``sub`` splits into tries, and how each try matches: each try
    starts with a character nothing else in ``sub`` matches (the ``/`` of ``(/[a-z_]+)*``, the ``a`` and
    ``c`` of ``(ab|cd)+``), tells its way by that character, and goes on in one way only. Its tries then add
    up instead of multiplying (``(a|a)*`` and ``(/a*a*)*`` multiply)."""
    ways = _leads(list(sub), parser)
    if not ways:
        return False
    seen: set[str] = set()
    for first, _ in ways:
        if seen & first:
            return False  # two ways start alike: the text does not tell them
        seen |= first
    if len(seen) > _MAX_LEAD_CHARS or budget[0] <= 0:
        return False
    try:
        return all(_one_way(rest, parser, budget) for _, rest in ways) and not any(
            _can_match(rest, char, parser, budget) for _, rest in ways for char in seen
        )
    except _Spent:  # too many characters and parts to tell in time: costed as any repeat
        return False


def _nested(items: Any, parser: Any, inside: bool = False) -> bool:
    """Whether a parsed pattern repeats something that itself repeats or alternates."""
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None))
    for op, arg in items:
        if op in repeats:
            if inside or _nested(arg[2], parser, True):
                return True
        elif op == parser.BRANCH:
            if inside or any(_nested(branch, parser, inside) for branch in arg[1]):
                return True
        elif op == parser.SUBPATTERN and _nested(arg[-1], parser, inside):
            return True
        elif op in (parser.ASSERT, parser.ASSERT_NOT) and _nested(arg[1], parser, inside):
            return True
    return False


def _branch_factor(branches: list[Any], parser: Any) -> int:
    """How many of an alternation's branches can start alike (1 when each starts with characters of its own,
    as ``conv|dense``; where a start cannot be told, all of them): the ways the matcher tries at one place."""
    firsts: list[set[str]] = []
    for branch in branches:
        ways = _leads(list(branch), parser)
        if not ways:
            return len(branches)
        firsts.append(set().union(*(first for first, _ in ways)))
    if sum(len(first) for first in firsts) > 16 * _MAX_LEAD_CHARS:
        return len(branches)
    counts: dict[str, int] = {}
    for first in firsts:
        for char in first:
            counts[char] = counts.get(char, 0) + 1
    return max(counts.values(), default=1)


def _ambiguity(items: Any, longest: int, parser: Any, cased: bool = True) -> float:
    """log10 of the ways alternations whose branches start alike multiply along a pattern (each such
    alternation of k branches in a row multiplies by k: ``(?:ab|[ax]b)`` twenty-eight times is 2**28 ways on
    ``abab…``, with no repeat), where :func:`_log_cost` counts every branch as one more way."""
    total = 0.0
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None))
    for op, arg in items:
        if op == parser.BRANCH:
            inner = max((_ambiguity(branch, longest, parser, cased) for branch in arg[1]), default=0.0)
            factor = _branch_factor(arg[1], parser) if cased else len(arg[1])
            total += math.log10(max(factor, 1)) + inner
        elif op == parser.SUBPATTERN:
            total += _ambiguity(arg[-1], longest, parser, cased)
        elif op in (parser.ASSERT, parser.ASSERT_NOT):
            total += _ambiguity(arg[1], longest, parser, cased)
        elif op == getattr(parser, "ATOMIC_GROUP", None):
            total += _ambiguity(arg, longest, parser, cased)
        elif op in repeats:
            total += min(int(arg[1]), longest) * _ambiguity(arg[2], longest, parser, cased)
        if total > 300:
            return math.inf
    return total


def _log_cost(items: Any, longest: int, parser: Any, cased: bool = True, budget: list[int] | None = None) -> float:
    """log10 of the ways Python's backtracking matcher can try ``items`` (a parsed pattern) on a path of
    ``longest`` characters: a sequence multiplies its parts, an alternation adds its branches, a repeat of
    up to n (at most the path's length) takes n + 1 lengths of each of its n tries (where the text fixes
    where each try starts, (n + 1)² lengths of one try: :func:`_delimited`, taken only in a ``cased`` pattern,
    one without case-insensitive matching)."""
    budget = [_LOOKS] if budget is None else budget
    total = 0.0
    for op, arg in items:
        if op in (parser.MAX_REPEAT, parser.MIN_REPEAT, getattr(parser, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            reps = min(int(high), longest)
            inner = _log_cost(sub, longest, parser, cased, budget)
            ways = math.log10(reps + 1) + reps * inner
            if cased and ways > 2 * math.log10(reps + 1) + inner and _delimited(sub, parser, budget):
                ways = 2 * math.log10(reps + 1) + inner
            total += ways
        elif op == parser.BRANCH:
            costs = [_log_cost(branch, longest, parser, cased, budget) for branch in arg[1]]
            if cased and _branch_factor(arg[1], parser) == 1:
                total += max(costs, default=0.0)  # each starts with characters of its own: one goes on
            else:
                total += math.log10(sum(10 ** min(cost, 300) for cost in costs))
        elif op == parser.SUBPATTERN:
            total += _log_cost(arg[-1], longest, parser, cased, budget)
        elif op in (parser.ASSERT, parser.ASSERT_NOT):
            total += _log_cost(arg[1], longest, parser, cased, budget)
        elif op == getattr(parser, "ATOMIC_GROUP", None):
            total += _log_cost(arg, longest, parser, cased, budget)
        elif op in (parser.GROUPREF, parser.GROUPREF_EXISTS):
            return math.inf  # a back-reference: matching is no longer bounded by any power of the length
        if total > 300:
            return math.inf
    return total


#: Serialized objects that are no layer (no path of their own): dtype policies, and the maps holding them.
_NOT_LAYERS = ("DTypePolicy", "DTypePolicyMap")


def _paths(config: Any) -> tuple[int, int]:
    """``(paths, longest)``: how many layers the config holds (each a path Keras may match, four variables a
    layer; each layer once, though its entry and its config both carry its name) and the longest path their
    names make, nested as the config nests layers. Dtype policies (a ``DTypePolicyMap`` serialized into every
    layer that shares it) are no layers."""
    count, longest = 0, 0
    stack: list[tuple[Any, int]] = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            class_name, inner = node.get("class_name"), node.get("config")
            if isinstance(class_name, str) and class_name.endswith(_NOT_LAYERS):
                continue
            name = inner.get("name") if isinstance(inner, dict) and isinstance(class_name, str) else None
            here = depth
            if isinstance(name, str):
                count += 1
                here = depth + len(name) + 1
                longest = max(longest, here)
            stack.extend((value, here) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth) for value in node)
    return 4 * max(count, 1), longest + 64  # a variable's own name after its layer's path ("/kernel", …)


def _patterns(config: Any) -> Iterator[tuple[str, Any, bool]]:
    """``(class name, pattern, searched)`` for every pattern the config's objects hand to Keras's matcher."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            class_name, inner = node.get("class_name"), node.get("config")
            if isinstance(inner, dict):
                for holder, key, searched in _PATTERN_HOLDERS:
                    if class_name == holder and isinstance(inner.get(key), dict):
                        yield from ((holder, pattern, searched) for pattern in inner[key])
                for holder, key in _SEARCHED_LISTS:
                    if class_name == holder and isinstance(inner.get(key), list):
                        yield from ((holder, pattern, True) for pattern in inner[key])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


#: The longest string an op node of a model config may pass to its op (a ``keras.ops.rearrange`` pattern, an
#: einsum equation): Keras parses them with backtracking regular expressions whose time grows with the square
#: of their length (a 210 KB ``.keras`` whose pattern held 100,000 spaces and ``(`` took ``nf.load`` 62 s).
MAX_OP_STRING = 1_024


def _op_strings(config: Any) -> Iterator[tuple[str, str]]:
    """``(class name, string)`` for every string an op node's calls pass (``inbound_nodes`` args and kwargs)."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and module.startswith(("keras.src.ops", "keras.ops")):
                calls: list[Any] = [node.get("inbound_nodes")]
                while calls:
                    item = calls.pop()
                    if isinstance(item, str):
                        yield str(node.get("class_name")), item
                    elif isinstance(item, dict):
                        calls.extend(item.values())
                    elif isinstance(item, list):
                        calls.extend(item)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _refusal(parsed: list[Any], parser: Any, repeats: float, over: bool, searched: bool) -> tuple[str, str, str]:
    """``(why, fix, bound)`` of a pattern refused on cost, for the message."""
    nested = math.isinf(repeats) or _nested(parsed, parser)
    if over and not nested:
        why = "alternatives that start alike, one after another, each doubling the ways: (?:ab|[ax]b) twenty times "
        return (
            why + "is a million ways",
            "write alternatives that start with different characters",
            (f"{MAX_AMBIGUOUS_WAYS:,} ways"),
        )
    bound = f"{MAX_MATCH_STEPS:,} steps"
    if nested:
        why = "a repeat of something that itself repeats or alternates, such as (a+)+, or a back-reference"
        return why, "write the pattern without nested repeats", bound
    why = "repeats one after another, each trying every length: a*a*b tries the square of a path's length"
    why += ", at each place the search starts" if searched else ""
    return why, "write fewer repeats that can match the same characters", bound


def check_patterns(config: Any, where: str, *, met: tuple[int, int] | None = None) -> None:
    """Refuse a config whose patterns would keep Python's matcher busy beyond :data:`MAX_MATCH_STEPS`.

    Args:
        config: A decoded model or compile config (Keras 3 or legacy).
        where: The file, for messages.
        met: ``(how many, longest)`` of the paths the patterns meet, where they are known (a compile
            config's optimizer meets the built model's variables); else counted from ``config``'s layers.

    Also refuses a string longer than :data:`MAX_OP_STRING` that an op node's call passes (Keras parses
    ``rearrange`` patterns and einsum equations with backtracking regular expressions).

    Raises:
        UnsafeFileError: An op node's string past :data:`MAX_OP_STRING`; a pattern that is not text or not a
            regular expression, longer than
            :data:`MAX_PATTERN_CHARS`, with a back-reference, or costing more than the bound on the
            config's paths (nested repeats, as ``(a+)+``).
    """
    for op, text in _op_strings(config):
        if len(text) > MAX_OP_STRING:
            raise UnsafeFileError(
                f"{where}: an op node ({op[:80]}) in the config is called with a string of {len(text):,} characters "
                f"({text[:40]!r}…), more than the {MAX_OP_STRING:,} netform takes: Keras parses such strings (a "
                "rearrange pattern, an einsum equation) with regular expressions whose time grows with the square "
                "of their length; the file is refused as hostile."
            )
    # each distinct pattern once: Keras serializes a DTypePolicyMap into every layer that shares it, and each
    # layer looks up only its own path
    found = list(dict.fromkeys((h, p, s) for h, p, s in _patterns(config) if isinstance(p, (str, int, float))))
    found += [item for item in _patterns(config) if not isinstance(item[1], (str, int, float))][:1]
    if not found:
        return
    chars = sum(len(p) for _, p, _ in found if isinstance(p, str))
    if len(found) > MAX_PATTERNS or chars > MAX_PATTERNS_CHARS:
        holders = ", ".join(sorted({h for h, _, _ in found}))
        raise UnsafeFileError(
            f"{where}: the config's pattern maps ({holders[:120]}) hold {len(found):,} distinct patterns of "
            f"{chars:,} characters in all; netform takes at most {MAX_PATTERNS:,} patterns of "
            f"{MAX_PATTERNS_CHARS:,} characters: Keras tries every key of a map at each lookup of a layer's dtype "
            "or optimizer, compiling each again once Python's cache of 512 patterns is full (1,000 keys of 1,000 "
            "characters, a 37 KB file, kept load busy 47 s); the file is refused as hostile."
        )
    paths, longest = _paths(config) if met is None else (max(met[0], 1), met[1])
    parser = _parser()
    budget = math.log10(MAX_MATCH_STEPS) - math.log10(paths * _LOOKUPS_PER_PATH * len(found))
    for holder, pattern, searched in found:
        shown = _shown(pattern)
        holder = f"{'an' if holder[0] in 'AEIOU' else 'a'} {holder}"
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_CHARS:
            why = "not text" if not isinstance(pattern, str) else f"longer than {MAX_PATTERN_CHARS:,} characters"
            raise UnsafeFileError(f"{where}: {holder} in the config holds the pattern {shown}, {why}.")
        try:
            parsed = parser.parse(pattern)
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as err:
            raise UnsafeFileError(
                f"{where}: {holder} in the config holds {shown}, which is no regular expression Python "
                f"compiles ({err}); Keras would fail on it, so the file is refused as corrupt or edited."
            ) from None
        # case-insensitive matching (a flag anywhere in the pattern) makes other characters match a literal
        cased = not parsed.state.flags & re.IGNORECASE and re.search(r"\(\?[a-zA-Z-]*i", pattern) is None
        repeats = _log_cost(list(parsed), longest, parser, cased)
        cost = repeats + (math.log10(longest + 1) if searched else 0.0)
        ambiguous = _ambiguity(list(parsed), longest, parser, cased)
        over = ambiguous > 0 and ambiguous + math.log10(paths * _LOOKUPS_PER_PATH * len(found)) > math.log10(
            MAX_AMBIGUOUS_WAYS
        )
        if over or (repeats > 0 and cost > budget):  # a pattern with no repeat is tried in one pass of the path
            why, fix, bound = _refusal(list(parsed), parser, repeats, over, searched)
            raise UnsafeFileError(
                f"{where}: {holder} in the config holds the pattern {shown}, which Python's matcher could "
                f"take more than {bound} to try on the model's {paths:,} layer and variable "
                f"paths of up to {longest:,} characters ({why}); the file is refused as hostile. Keras "
                f"writes layer paths there; {fix}."
            )
