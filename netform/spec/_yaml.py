"""Safe YAML in and out, keeping the line and column of every key and item.

Loading composes the YAML node tree with PyYAML's safe loader and builds
plain Python values from it ourselves, so that we can (a) remember where each
value came from, and (b) refuse hostile input early: oversized text, deep
nesting, alias expansion bombs, duplicate keys and any non-standard tag
(``!!python/…`` included) are errors, never executed.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
import re
from typing import Any, Literal, Mapping

import yaml
from yaml.composer import Composer
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import Diagnostic, SpecError

__all__ = ["SourceMap", "load_yaml", "dump_yaml", "Limits", "LIMITS"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile YAML from using unbounded time or memory."""

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    max_values: int = 200_000


LIMITS = Limits()


_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}


@dataclass
class SourceMap:
    """Where each value of a loaded document came from.

    Attributes:
        source: The file name, or ``"<string>"``.
        positions: Path in the document → (line, column), both 1-based. For a
            mapping entry the position is that of its key.
    """

    source: str = "<string>"
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.positions:
                return self.positions[path]
            if not path:
                return None, None
            path = path[:-1]

    def diagnostic(self, message: str, path: Path = (), *, limit: bool = False) -> Diagnostic:
        """A :class:`Diagnostic` for ``path`` in this document (``limit``: see :attr:`Diagnostic.limit`)."""
        line, column = self.locate(path)
        return Diagnostic(message, tuple(path), self.source, line, column, limit)


class _DepthLimitedLoader(yaml.SafeLoader):
    """A safe loader whose composer refuses documents nested too deeply."""

    def __init__(self, stream: str, max_depth: int) -> None:
        super().__init__(stream)
        self._depth = 0
        self._max_depth = max_depth

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        if self._depth > self._max_depth:
            mark = self.peek_event().start_mark
            raise _Refused("deep", mark.line + 1, mark.column + 1)
        try:
            return Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1


_CLoader = getattr(yaml, "CSafeLoader", None)
# UTF-32 first: its little-endian mark starts with UTF-16's
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# what the flow pre-scan reads: brackets, and the comments and quoted strings it skips
_FLOW = re.compile(r"""[\[\]{}#'"]""")
_AFTER_SPACE = " \t\r\n"  # a comment starts after these (or at the start)
_BEFORE_QUOTE = " \t\r\n[{,:?-"  # a quoted string starts after these (or at the start)
_SKIPPED = {
    "#": re.compile(r"#[^\n]*"),
    "'": re.compile(r"'(?:[^']|'')*'?"),
    '"': re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL),
}
_NO_FLOW = 1 << 62  # (no flow collection open)
_BLOCK_LEAD = re.compile(r"(?:[ \t]|[-?:](?=[ \t]|$))*")


def _flow_bracket_at(text: str, line: int, column: int) -> bool:
    """Whether the pre-scan's refusal at (``line``, ``column``) is at a bracket (flow nesting, which the
    parser's events tell exactly), not at the indentation of a block (which only the pre-scan bounds)."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return False
    at = start + column - 1
    return 0 <= at < len(text) and text[at] in "[{"


def _prescan_depth(text: str, max_depth: int) -> None:
    """Refuse flow nesting or indentation deeper than the limit before parsing.

    Brackets inside quoted strings and comments are skipped (a quote starts a string after a space, an
    indicator or the line's start; ``#`` a comment after a space or the line's start). The reading is
    lexical only: where it errs, the parser's events are counted exactly before the document is composed
    (:func:`_precount_values`), and libyaml refuses flow nesting past 1,000 levels itself.
    """
    depth = 0
    search = _FLOW.search
    m = search(text)
    while m is not None:
        ch = m.group()
        at = m.start()
        end = m.end()
        if ch == "[" or ch == "{":
            depth += 1
            if depth > max_depth:
                raise _Refused("deep", text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at))
        elif ch == "]" or ch == "}":
            if depth:
                depth -= 1
        elif not at or text[at - 1] in (_AFTER_SPACE if ch == "#" else _BEFORE_QUOTE):
            skipped = _SKIPPED[ch].match(text, at)
            end = skipped.end() if skipped is not None else end
        m = search(text, end)
    # Block nesting needs indentation, or compact indicators on one line (`- - - x`, `? ? x`); libyaml's
    # composer recurses once per level and crashes the process (a C stack overflow) near 100,000.
    for number, row in enumerate(text.splitlines(), 1):
        lead = _BLOCK_LEAD.match(row)
        if lead is not None and lead.end() > max_depth * 8:
            raise _Refused("deep", number, lead.end() + 1)


def _precount_values(
    text: str, max_values: int, max_entries: Mapping[str, int] | None = None, max_depth: int | None = None
) -> bool:
    """Refuse documents with too many values from the event stream, before composing them.

    Composing builds a Python object per value and slows down superlinearly as
    the garbage collector rescans them (100,000 keys: over a second); reading
    the events first costs a tenth of that and keeps refusals fast. The
    entries of the top-level sections named in ``max_entries`` are counted
    on the way (a spec past the layer limit is refused before it is built).
    Flow collections (``[…]``, ``{…}``) nested more than ``max_depth`` deep are
    refused ("deep"): libyaml's composer recurses once per level.

    Returns:
        Whether the document has aliases (without them, its expanded size is the count).
    """
    loader = _CLoader(text) if _CLoader is not None else yaml.SafeLoader(text)
    count = 0
    aliases = False
    depth = 0
    root_mapping = False
    top_key: str | None = None  # at depth 1 of a mapping root: the key whose value comes next (None: a key comes)
    section: str | None = None  # the watched top-level section being read
    limit = entries = 0  # its limit, and its entries so far
    mapping_section = is_key = False  # whether it is a mapping, and then whether its next node is a key
    past: tuple[Any, int, int] | None = None  # the first entry past the limit: its key or index, line, column
    flow_base = _NO_FLOW  # the depth of the outermost open flow collection
    deepest = max_depth if max_depth is not None else _NO_FLOW  # flow levels are depth - flow_base + 1
    kinds = _EVENT_KINDS
    try:
        for event in iter(loader.get_event, None):
            kind = kinds.get(type(event))
            if kind is None:
                continue  # stream and document events
            if kind == _END:
                depth -= 1
                if depth < flow_base:
                    flow_base = _NO_FLOW
                if depth == 1 and section is not None:
                    if past is not None:
                        raise _TooManyEntries(section, entries, limit, *past)
                    section = None
                continue
            if kind == _ALIAS:
                aliases = True
            else:
                count += 1
                if count > max_values:
                    raise _Refused("many", event.start_mark.line + 1, event.start_mark.column + 1)
            if depth <= 2 and max_entries:
                if depth == 2:
                    if section is not None:
                        if not mapping_section or is_key:
                            entries += 1
                            if entries > limit and past is None:
                                where = event.value if mapping_section and kind == _SCALAR else entries - 1
                                past = (where, event.start_mark.line + 1, event.start_mark.column + 1)
                        is_key = mapping_section and not is_key
                elif depth == 0:
                    root_mapping = kind == _MAPPING
                elif root_mapping:
                    if top_key is None:
                        top_key = event.value if kind == _SCALAR else ""
                    else:
                        if kind in (_SEQUENCE, _MAPPING) and top_key in max_entries:
                            section, limit, entries, past = top_key, max_entries[top_key], 0, None
                            mapping_section = is_key = kind == _MAPPING
                        top_key = None
            if kind == _SEQUENCE or kind == _MAPPING:
                depth += 1
                if flow_base == _NO_FLOW and event.flow_style:  # everything inside a flow collection is flow
                    flow_base = depth
                if depth - flow_base >= deepest:
                    raise _Refused("deep", event.start_mark.line + 1, event.start_mark.column + 1)
    finally:
        loader.dispose()
    return aliases


def _read_plain(
    text: str, max_values: int, max_entries: Mapping[str, int] | None, max_depth: int
) -> tuple[Any, dict[Path, tuple[int, int]]] | None:
    """A plain document's values and positions in one pass over its events, with the counts and limits of
    :func:`_precount_values`, as :class:`_Builder` would build them from the composed document.

    Plain: no anchors, aliases or explicit tags, only strings, numbers, booleans and nulls, scalar keys
    each once, nesting within the limit. At the first thing outside that (or a scalar the builder words
    an error for: a date, a base-60 number), it returns None, and the document is counted, composed and
    built by the general path, which words the errors. Composing costs a Python object per value; this
    loop keeps its state in local variables (a 1 MB spec has 200,000 events). Past the entries a section
    may list, nothing more is built: the rest of the section is only counted (:func:`_count_rest`).

    Raises:
        _Refused: Past ``max_values`` values ("many").
        _TooManyEntries: A section of ``max_entries`` with more entries than its limit.
    """
    positions: dict[Path, tuple[int, int]] = {}
    scalars = _Scalars()
    made = scalars.plain  # a plain scalar's value by its text (the resolver's patterns tried once a text)
    read = scalars.read_plain
    sections = max_entries or {}
    loader = _CLoader(text) if _CLoader is not None else yaml.SafeLoader(text)
    events = iter(loader.get_event, None)
    kinds = _EVENT_KINDS
    document_start = yaml.DocumentStartEvent
    none = _NONE
    root: Any = none
    # per open collection: [the collection, its path, the pending mapping key, whether it is a mapping]
    stack: list[list[Any]] = []
    count = 0
    section: str | None = None  # the watched top-level section being read
    limit = entries = 0
    section_mapping = False
    try:
        for event in events:
            kind = kinds.get(type(event))
            if kind is None:
                if type(event) is document_start and root is not none:
                    return None  # a second document: the composer refuses it
                continue
            if kind == _END:
                stack.pop()
                if section is not None and len(stack) == 1:
                    section = None
                continue
            if kind == _ALIAS or event.anchor is not None or event.tag not in (None, "!"):
                return None
            count += 1
            if count > max_values:
                raise _Refused("many", event.start_mark.line + 1, event.start_mark.column + 1)
            if kind == _SCALAR:  # the value a scalar event reads as (`_Scalars`), worked out inline
                value = event.value
                if len(value) > MAX_TEXT or (len(value) > MAX_KEY and stack and stack[-1][3] and stack[-1][2] is none):
                    return None  # a text or a key past its limit: the general path words the error
                if event.implicit[0]:  # plain: its text decides (a quoted scalar is its text)
                    value = made.get(value, none)
                    if value is none:
                        value = read(event.value)
            depth = len(stack)
            if depth:
                top = stack[-1]
                container = top[0]
                if top[3]:  # a mapping
                    key = top[2]
                    if key is none:  # a key
                        if kind != _SCALAR:
                            return None
                        if type(value) is not str:
                            value = str(value)
                        if value in container:
                            return None
                        top[2] = value
                        mark = event.start_mark
                        positions[top[1] + (value,)] = mark.line + 1, mark.column + 1
                        if depth == 2 and section is not None:
                            entries += 1
                            if entries > limit:
                                where = (event.value, mark.line + 1, mark.column + 1)
                                _count_rest(
                                    events, section, entries, limit, where, 2, section_mapping, count, max_values
                                )
                        continue
                    if depth > max_depth:
                        return None
                    top[2] = none
                    if kind == _SCALAR:  # its position is its key's, recorded with the key
                        container[key] = value
                        continue
                    value = {} if kind == _MAPPING else []
                    container[key] = value
                    path = top[1] + (key,)
                    if depth == 1 and key in sections:
                        section, limit, entries = key, sections[key], 0
                        section_mapping = kind == _MAPPING
                else:
                    if depth > max_depth:
                        return None
                    path = top[1] + (len(container),)
                    mark = event.start_mark
                    positions[path] = mark.line + 1, mark.column + 1
                    if depth == 2 and section is not None and not section_mapping:
                        entries += 1
                        if entries > limit:
                            where = (entries - 1, mark.line + 1, mark.column + 1)
                            depth = 2 if kind == _SCALAR else 3  # an entry that is a list or a mapping is open
                            _count_rest(events, section, entries, limit, where, depth, False, count, max_values)
                    if kind == _SCALAR:
                        container.append(value)
                        continue
                    value = {} if kind == _MAPPING else []
                    container.append(value)
            else:
                if root is not none:
                    return None
                mark = event.start_mark
                positions[()] = mark.line + 1, mark.column + 1
                if kind == _SCALAR:
                    root = value
                    continue
                value = root = {} if kind == _MAPPING else []
                path = ()
            stack.append([value, path, none, kind == _MAPPING])
    except (ValueError, KeyError, IndexError):
        return None  # a date, a base-60 number: the general path words it
    finally:
        loader.dispose()
    if root is none:
        return None
    return root, positions


def _count_rest(
    events: Any,
    section: str,
    entries: int,
    limit: int,
    past: tuple[Any, int, int],
    depth: int,
    mapping: bool,
    count: int,
    max_values: int,
) -> None:
    """The rest of a top-level section listing more entries than its limit, counted as
    :func:`_precount_values` counts it (nothing built): its entries, and the document's values so far.

    Args:
        events: The parser's events, from the one after the first entry past the limit (in a mapping
            section, after its key: the next node at depth 2 is that entry's value).
        section, entries, limit: The section, its entries so far, and the most it may list.
        past: The first entry past the limit: its key or index, line and column.
        depth: How many collections are open (the section's entries are at depth 2).
        mapping: Whether the section is a mapping.
        count, max_values: The document's values so far, and the most it may hold.

    Raises:
        _TooManyEntries: At the end of the section, with its count.
        _Refused: Past ``max_values`` values first ("many").
    """
    kinds = _EVENT_KINDS
    is_key = False  # whether the next node at depth 2 of a mapping section is a key
    for event in events:
        kind = kinds.get(type(event))
        if kind is None:
            continue
        if kind == _END:
            depth -= 1
            if depth == 1:
                break
            continue
        if kind != _ALIAS:
            count += 1
            if count > max_values:
                raise _Refused("many", event.start_mark.line + 1, event.start_mark.column + 1)
        if depth == 2:
            if not mapping or is_key:
                entries += 1
            is_key = mapping and not is_key
        if kind == _SEQUENCE or kind == _MAPPING:
            depth += 1
    raise _TooManyEntries(section, entries, limit, *past)


_SCALAR, _SEQUENCE, _MAPPING, _ALIAS, _END = range(5)
_EVENT_KINDS: dict[type, int] = {
    ScalarEvent: _SCALAR,
    SequenceStartEvent: _SEQUENCE,
    MappingStartEvent: _MAPPING,
    AliasEvent: _ALIAS,
    SequenceEndEvent: _END,
    MappingEndEvent: _END,
}


class _Scalars:
    """Reads the scalars of a plain document (see :func:`_read_plain`) as :class:`_Builder` reads them.

    A scalar's value depends only on its text and whether it was plain (a quoted scalar is its text): a
    spec repeats the same keys, names and numbers thousands of times, and the resolver tries its
    patterns anew for each, so the values of short plain texts are kept in :attr:`plain`.
    """

    def __init__(self) -> None:
        self._scalars = yaml.SafeLoader("")
        self.plain: dict[str, Any] = {}  # the values of short plain scalars, by text
        self._constructors = {
            _TAG + "int": self._scalars.construct_yaml_int,
            _TAG + "float": self._scalars.construct_yaml_float,
            _TAG + "bool": self._scalars.construct_yaml_bool,
            _TAG + "null": self._scalars.construct_yaml_null,
        }

    def read_plain(self, text: str) -> Any:
        """The value of the plain scalar ``text``, kept in :attr:`plain` when the text is short."""
        value = self._construct(self._scalars.resolve(ScalarNode, text, (True, False)), text)
        if len(text) <= _MAX_MEMO_TEXT and len(self.plain) < _MAX_MEMO:
            self.plain[text] = value  # str, int, float, bool or None: shared safely
        return value

    def _construct(self, tag: str, text: str) -> Any:
        if tag == _STR_TAG:
            return text
        constructor = self._constructors.get(tag)
        if constructor is None or (":" in text and tag in _NUMBER_TAGS):
            raise ValueError(tag)  # a date, a merge key, a base-60 number: the builder words it
        return constructor(ScalarNode(tag, text))


_NONE: Any = object()
_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"
#: YAML 1.1 reads ``1:20`` as the base-60 number 80 (``1:20.5`` as 80.5): refused, as dates are.
_NUMBER_TAGS = (_TAG + "int", _TAG + "float")
# resolved tags are remembered for this many scalars of at most this many characters
#: The most characters of one text in a spec (a substituted block parameter's limit too), and of one key. Each
#: message quotes a value; one 500 KB text given 3,000 times through a YAML anchor took seconds and gigabytes.
MAX_TEXT = 100_000
MAX_KEY = 1_024
_MAX_MEMO = 50_000
_MAX_MEMO_TEXT = 64


class _TooManyEntries(Exception):
    def __init__(self, section: str, count: int, limit: int, where: Any, line: int, column: int) -> None:
        super().__init__(section, count)
        self.section, self.count, self.limit, self.where = section, count, limit, where
        self.line = line
        self.column = column


class _Refused(Exception):
    """A limit hit at (line, column) of the text: ``why`` is "deep", "many" or "self_alias"."""

    def __init__(self, why: Literal["deep", "many", "self_alias"], line: int, column: int) -> None:
        super().__init__(why, line, column)
        self.why = why
        self.line = line
        self.column = column


class _Builder:
    """Builds Python values from composed nodes, recording positions."""

    def __init__(self, smap: SourceMap, limits: Limits) -> None:
        self.smap = smap
        self.limits = limits
        self.count = 0
        self.errors: list[Diagnostic] = []
        self._scalars = yaml.SafeLoader("")
        self._constructors = {
            "str": self._scalars.construct_yaml_str,
            "int": self._scalars.construct_yaml_int,
            "float": self._scalars.construct_yaml_float,
            "bool": self._scalars.construct_yaml_bool,
            "null": self._scalars.construct_yaml_null,
        }

    def _pos(self, node: Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _error(self, message: str, node: Node, path: Path) -> None:
        line, col = self._pos(node)
        self.errors.append(Diagnostic(message, path, self.smap.source, line, col))

    def build(self, node: Node, path: Path, depth: int = 0) -> Any:
        self.count += 1
        if self.count > self.limits.max_values:
            raise _Bomb()
        if depth > self.limits.max_depth:
            raise _Refused("deep", *self._pos(node))
        if path not in self.smap.positions:
            self.smap.positions[path] = node.start_mark.line + 1, node.start_mark.column + 1
        if node.tag == "tag:yaml.org,2002:str" and type(node) is ScalarNode:
            if len(node.value) > MAX_TEXT:
                self._error(
                    f"a text of {len(node.value):,} characters; a spec's texts are at most {MAX_TEXT:,} characters",
                    node,
                    path,
                )
                return None
            return node.value  # the common case, as `_scalar` below reads it
        if node.tag not in _STANDARD_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            if tag == "!!timestamp" and isinstance(node, ScalarNode) and re.match(r"\d{4}-\d\d?-\d\d?", node.value):
                self._error(
                    f"'{node.value}' reads as a YAML date/time, which specs do not use; "
                    f'quote it ("{node.value}") if you meant text',
                    node,
                    path,
                )
                return None
            self._error(
                f"the YAML tag '{tag}' is not allowed; specs use plain YAML values only "
                "(netform never constructs objects from tags)",
                node,
                path,
            )
            return None
        kind = _NODE_KIND_OF_TAG.get(node.tag, ScalarNode)
        if not isinstance(node, kind):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self._error(
                f"the YAML tag '{tag}' is for {_KIND_NAMES[kind]}, but it is on {_KIND_NAMES[type(node)]}; "
                "remove the tag",
                node,
                path,
            )
            return None
        if isinstance(node, ScalarNode):
            try:
                return self._scalar(node, path)
            except _BadScalar:
                return None
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        raise AssertionError(f"unexpected node {node!r}")  # pragma: no cover

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag == "tag:yaml.org,2002:str":
            return node.value  # what the safe constructor returns for a string scalar, without its calls
        tag = node.tag.rsplit(":", 1)[-1]
        if ":" in node.value and node.tag in _NUMBER_TAGS:
            self._error(
                f"'{node.value}' reads as a YAML 1.1 base-60 number ('1:20' is 80), "
                f'which specs do not use; write the number itself, or quote it ("{node.value}") if you meant text',
                node,
                path,
            )
            raise _BadScalar()
        constructor = self._constructors[tag]
        try:
            return constructor(node)
        except (ValueError, KeyError, IndexError) as err:
            # an explicit tag (`!!int abc`) or a number-like scalar (`0x_`) that PyYAML cannot convert
            self._error(
                f"'{node.value}' cannot be read as a YAML {tag}; write a valid {tag}, or quote the value "
                "to make it a string",
                node,
                path,
            )
            raise _BadScalar() from err

    def _mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._error("YAML merge keys ('<<') are not supported in specs; write the keys out", key_node, path)
                continue
            if (
                not isinstance(key_node, ScalarNode)
                or key_node.tag not in _STANDARD_TAGS
                or key_node.tag in _NODE_KIND_OF_TAG
            ):
                self._error("mapping keys must be plain scalars", key_node, path)
                continue
            try:
                key = self._scalar(key_node, path)
            except _BadScalar:
                continue
            key = key if isinstance(key, str) else str(key)
            if len(key) > MAX_KEY:
                self._error(
                    f"a key of {len(key):,} characters; keys (fields, node, block and input names) are at most "
                    f"{MAX_KEY:,} characters",
                    key_node,
                    path,
                )
                continue
            if key in out:
                self._error(
                    f"duplicate key '{key}' (the first one is at line {self.smap.positions[path + (key,)][0]})",
                    key_node,
                    path + (key,),
                )
                continue
            self.smap.positions[path + (key,)] = self._pos(key_node)
            out[key] = self.build(value_node, path + (key,), depth + 1)
        return out


class _Bomb(Exception):
    pass


class _BadScalar(Exception):
    pass


_NODE_KIND_OF_TAG: dict[str, type[Node]] = {"tag:yaml.org,2002:seq": SequenceNode, "tag:yaml.org,2002:map": MappingNode}
_KIND_NAMES: dict[type[Node], str] = {ScalarNode: "a plain value", SequenceNode: "a list", MappingNode: "a mapping"}


def _expanded_size(root: Node, cap: int) -> int:
    """How many values the document has once aliases are expanded, without expanding them.

    Aliases share composed nodes, so sizes are memoised per node: the cost is
    linear in the text, not in the expansion. Counting stops past ``cap``;
    a recursive alias counts as infinite.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise _Refused("self_alias", node.start_mark.line + 1, node.start_mark.column + 1)
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for item in node.value:
                total += size(item)
                if total > cap:
                    break
        elif isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > cap:
                    break
        active.discard(key)
        memo[key] = min(total, cap + 1)
        return memo[key]

    return size(root)


def _tab_in_indentation(text: str | bytes, line: int | None) -> tuple[int, int] | None:
    """``(line, column)`` of the tab behind a YAML syntax error, when a tab indents the line of the error."""
    lines = (text.decode("utf-8", "replace") if isinstance(text, bytes) else text).splitlines()
    if line is None or not 1 <= line <= len(lines):
        return None
    row = lines[line - 1]
    indent = row[: len(row) - len(row.lstrip(" \t"))]
    return (line, indent.index("\t") + 1) if "\t" in indent else None


def load_yaml(
    text: str | bytes,
    source: str = "<string>",
    *,
    limits: Limits = LIMITS,
    max_entries: Mapping[str, int] | None = None,
) -> tuple[Any, SourceMap]:
    """Parse one YAML document safely, keeping every value's position.

    Args:
        text: The YAML text.
        source: The file name used in error messages.
        limits: Size, depth and expansion bounds.
        max_entries: Top-level sections (``layers``, ``nodes``) → the most
            entries each may list, counted before the document is built.

    Returns:
        The document as plain Python values and its :class:`SourceMap`.

    Raises:
        SpecError: Syntax errors, forbidden tags, duplicate keys, or input
            past the limits; all problems found are reported together.
    """
    return _load_yaml(text, source, limits, max_entries)


def _load_yaml(
    text: str | bytes, source: str, limits: Limits, max_entries: Mapping[str, int] | None
) -> tuple[Any, SourceMap]:
    smap = SourceMap(source)
    size = len(text)
    if size > limits.max_bytes:
        raise SpecError(
            [
                Diagnostic(
                    f"the file is {size / 1e6:.1f} MB; specs are limited to {limits.max_bytes / 1e6:.0f} MB "
                    "(a model spec is usually a few KB: is this the right file?)",
                    source=source,
                )
            ]
        )
    if isinstance(text, bytes):
        for bom, encoding in _BOMS:
            if text.startswith(bom):
                raise SpecError(
                    [
                        Diagnostic(
                            f"the file is {encoding} text (it starts with a {encoding} byte-order mark); specs are UTF-8: "
                            "save the file as UTF-8",
                            source=source,
                        )
                    ]
                )
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            start = raw.rfind(b"\n", 0, err.start) + 1
            bad_line, bad_col = (
                raw.count(b"\n", 0, err.start) + 1,
                len(raw[start : err.start].decode("utf-8", "replace")) + 1,
            )
            raise SpecError(
                [
                    Diagnostic(
                        f"the file is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8",
                        (),
                        source,
                        bad_line,
                        bad_col,
                    )
                ]
            ) from err
    try:
        try:
            _prescan_depth(text, limits.max_depth)
        except _Refused as err:
            if err.why != "deep" or err.line is None or not _flow_bracket_at(text, err.line, err.column):
                raise
            # The lexical reading counts a bracket inside a plain or block scalar (`description: see [[[…`) as
            # nesting: the parser's events tell flow nesting exactly, and the parser keeps its own stack (only
            # composing recurses), so they are counted before anything is composed (refused there if deep).
            try:
                _precount_values(text, limits.max_values, None, limits.max_depth)
            except yaml.YAMLError:  # libyaml's own bound on flow nesting (its scanner reads ahead): deep
                raise err from None
        plain = _read_plain(text, limits.max_values, max_entries, limits.max_depth)
        if plain is not None:
            smap.positions = plain[1]
            return plain[0], smap
        aliases = _precount_values(text, limits.max_values, max_entries, limits.max_depth)
        smap.positions.clear()
        if _CLoader is not None:
            # libyaml composes ~20x faster; the pre-scan above bounds its (C) recursion.
            c_loader = _CLoader(text)
            try:
                root = c_loader.get_single_node()
            finally:
                c_loader.dispose()
        else:
            loader = _DepthLimitedLoader(text, limits.max_depth)
            try:
                root = loader.get_single_node()
            finally:
                loader.dispose()
    except _Refused as err:  # "deep" from the pre-scan or the composer, "many" from the count
        what = (
            (
                f"the document is nested more than {limits.max_depth} levels deep; specs are shallow, "
                "is this the right file?"
            )
            if err.why == "deep"
            else (
                f"the document has more than {limits.max_values} values (keys and items); specs are refused past "
                "that size (a 1,000-layer spec has about 10,000): is this the right file?"
            )
        )
        raise SpecError([Diagnostic(what, (), source, err.line, err.column)]) from None
    except _TooManyEntries as err:
        raise SpecError(
            [
                Diagnostic(
                    f"the spec lists {err.count:,} {err.section}; the limit is {err.limit:,} (netform refuses graphs past "
                    "that size)",
                    (err.section, err.where),
                    source,
                    err.line,
                    err.column,
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        what = err.problem or str(err)
        if err.context:
            what = f"{what} ({err.context})"
        tab = _tab_in_indentation(text, line)
        if tab is not None:  # PyYAML says "found character that cannot start any token", and the like
            raise SpecError(
                [Diagnostic("tabs are not allowed in YAML; indent with spaces", (), source, tab[0], tab[1])]
            ) from None
        raise SpecError([Diagnostic(f"invalid YAML: {what}", (), source, line, col)]) from None
    except yaml.reader.ReaderError as err:
        # a character YAML forbids (NUL, most control characters); place it like a syntax error
        pos = err.position if isinstance(text, str) and 0 <= err.position <= len(text) else 0
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        what = f"U+{err.character:04X}" if isinstance(err.character, int) else repr(err.character)
        raise SpecError(
            [
                Diagnostic(
                    f"invalid YAML: the control character {what} is not allowed in YAML text; remove it",
                    (),
                    source,
                    line,
                    col,
                )
            ]
        ) from None
    except yaml.YAMLError as err:
        raise SpecError([Diagnostic(f"invalid YAML: {err}", source=source)]) from None
    if root is None:
        raise SpecError(
            [Diagnostic("the document is empty; a spec starts with `netform: 1`", source=source, line=1, column=1)]
        )
    try:
        # without aliases the document has the values counted above; with them, count the expansion
        expanded = _expanded_size(root, limits.max_values) if aliases else 0
    except _Refused as err:  # "self_alias", the only refusal of the count
        raise SpecError(
            [
                Diagnostic(
                    "an alias refers to the list or mapping that contains it (a recursive YAML alias); "
                    "specs cannot be recursive",
                    (),
                    source,
                    err.line,
                    err.column,
                )
            ]
        ) from None
    if expanded > limits.max_values:
        raise SpecError(
            [
                Diagnostic(
                    f"the document expands to more than {limits.max_values} values (a YAML alias bomb?); "
                    "specs are refused past that size",
                    (),
                    source,
                    1,
                    1,
                )
            ]
        )
    builder = _Builder(smap, limits)
    try:
        data = builder.build(root, ())
    except _Bomb:
        raise SpecError(
            [
                Diagnostic(
                    f"the document expands to more than {limits.max_values} values (a YAML alias bomb?); "
                    "specs are refused past that size",
                    (),
                    source,
                    1,
                    1,
                )
            ]
        ) from None
    except _Refused as err:  # "deep", the only refusal of the build
        raise SpecError(
            [
                Diagnostic(
                    f"the document is nested more than {limits.max_depth} levels deep (through aliases?)",
                    (),
                    source,
                    err.line,
                    err.column,
                )
            ]
        ) from None
    if builder.errors:
        raise SpecError(builder.errors)
    return data, smap


class _Dumper(yaml.SafeDumper):
    """A safe dumper that writes short lists and small mappings inline."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    flow = all(not isinstance(v, (dict, list)) for v in data) and len(data) <= 12
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_tuple(dumper: yaml.SafeDumper, data: tuple[Any, ...]) -> Any:
    return _represent_list(dumper, list(data))


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> Any:
    flow = (
        0 < len(data) <= 8
        and all(
            not isinstance(v, (dict, list, tuple))
            or (isinstance(v, (list, tuple)) and len(v) <= 4 and all(not isinstance(x, (dict, list, tuple)) for x in v))
            for v in data.values()
        )
        and len(repr(data)) < 100
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(tuple, _represent_tuple)
_Dumper.add_representer(dict, _represent_dict)


def dump_yaml(data: Any) -> str:
    """Write plain Python values as readable, stable YAML (key order kept)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
