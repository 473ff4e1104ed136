"""Bounded text of names, shapes and configuration values, for labels, tooltips and the HTML panel.

A diagram quotes what a spec or a saved file holds, and that can be large: a ``KerasLayer``
configuration of 1,000 YAML aliases of one 400 KB string is a 410 KB spec, but 400 MB written out
in full; one ``split`` has 9,998 outputs, and graphviz refuses an HTML label past 16,384
characters. What a diagram shows of any value is therefore cut: each value to
:data:`VALUE_CHARS`, each node's configuration to about :data:`CONFIG_CHARS`, each shape list
to its first outputs, with a mark saying how much was left out.
"""

from __future__ import annotations

from typing import Any

from ..spec._types import format_shape  # not the spec package's: its module brings the graph layer

__all__ = ["VALUE_CHARS", "NAME_CHARS", "LINE_CHARS", "SHAPE_CHARS", "CONFIG_CHARS", "clip", "shape_text", "bounded"]

# The most characters of one value shown (a string, a key, a shape, an odd object's text).
VALUE_CHARS = 300
# The most characters of a name in a label (Keras takes names of up to 1,024).
NAME_CHARS = 512
# The most characters of any other line of a label (the type, the key attributes, the shape and parameters):
# a label of a name and three such lines, every character escaped as ``&quot;``, stays under graphviz's
# 16,384-character limit of an HTML label.
LINE_CHARS = 400
# About the most characters of a shape drawn on a node or an edge: a ``split`` into 9,998 tensors shows the
# first ones, then ``… and 9,972 more``.
SHAPE_CHARS = 200
# About the most characters of one node's configuration (or a block's parameters) in the HTML page's data.
CONFIG_CHARS = 4_000
# Containers nested deeper than this are shown as a mark (the walk never recurses without bound).
_DEPTH = 32


def clip(text: str, limit: int = VALUE_CHARS) -> str:
    """``text``, or its first ``limit`` characters and a mark ``… (N characters)`` when it is longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def shape_text(shape: Any, limit: int = VALUE_CHARS, unknown: str = "?") -> str:
    """A shape as Keras writes it (``(None, 28, 28, 1)``), cut to about ``limit`` characters: a list of
    outputs shows its first ones and ``… and N more``; ``unknown`` for None."""
    if shape is None:
        return unknown
    if not isinstance(shape, list):
        return clip(format_shape(shape), limit)
    parts: list[str] = []
    size = 2
    for i, item in enumerate(shape):
        text = shape_text(item, limit, unknown)
        if parts and size + len(text) > limit:
            return "[" + ", ".join(parts) + f", … and {len(shape) - i:,} more]"
        parts.append(text)
        size += len(text) + 2
    return "[" + ", ".join(parts) + "]"


def bounded(value: Any, budget: int = CONFIG_CHARS) -> Any:
    """A JSON value standing for ``value`` in about ``budget`` characters.

    Strings (and dictionary keys) longer than :data:`VALUE_CHARS` are cut with a ``… (N characters)``
    mark; once the budget is spent, a list ends with ``"… and N more"`` and a dictionary with an entry
    ``"…": "N more entries"``. Tuples become lists, anything else its text. The walk visits at most
    about ``budget`` values, however many times YAML aliases repeat one.
    """
    left = budget

    def walk(item: Any, depth: int) -> Any:
        nonlocal left
        if item is None or isinstance(item, (bool, int, float)):
            left -= 4
            return item
        if isinstance(item, str):
            text = clip(item)
            left -= len(text) + 2
            return text
        if isinstance(item, (list, tuple, dict)) and depth >= _DEPTH:
            left -= 8
            return f"… ({type(item).__name__} nested more than {_DEPTH} deep)"
        if isinstance(item, (list, tuple)):
            left -= 2
            items: list[Any] = []
            for i, sub in enumerate(item):
                if left <= 0:
                    items.append(f"… and {len(item) - i:,} more")
                    break
                items.append(walk(sub, depth + 1))
            return items
        if isinstance(item, dict):
            left -= 2
            entries: dict[str, Any] = {}
            for i, (key, sub) in enumerate(item.items()):
                if left <= 0:
                    entries["…"] = f"{len(item) - i:,} more entries"
                    break
                name = clip(str(key))
                left -= len(name) + 3
                entries[name] = walk(sub, depth + 1)
            return entries
        text = clip(str(item))
        left -= len(text) + 2
        return text

    return walk(value, 0)
