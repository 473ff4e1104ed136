"""The one-pass reader of plain YAML documents gives what the general path (count the events, compose,
build) gives: the same values, positions and refusals (too many values, too many entries in a section)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netform.errors import SpecError
from netform.spec import _yaml

SECTIONS = {"nodes": 3, "layers": 2}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8),
    st.sampled_from(["1:20", "2001-01-01", "0x1f", "~", "yes", "<<", "&a", "*a", "!!int 3", "- x"]),
)
keys = st.one_of(st.sampled_from(["nodes", "layers", "a", "b", "in", "1", "true"]), st.integers(0, 3), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)


def _load(text: str, max_values: int, plain: bool) -> Any:
    limits = _yaml.Limits(max_values=max_values)
    if plain:
        return _yaml.load_yaml(text, "f.yaml", limits=limits, max_entries=SECTIONS)
    real = _yaml._read_plain
    _yaml._read_plain = lambda *args: None  # the general path only
    try:
        return _yaml.load_yaml(text, "f.yaml", limits=limits, max_entries=SECTIONS)
    finally:
        _yaml._read_plain = real


def _outcome(text: str, max_values: int, plain: bool) -> Any:
    try:
        data, smap = _load(text, max_values, plain)
    except SpecError as err:
        return "refused", str(err)
    return "ok", data, smap.positions


def _same(text: str, max_values: int) -> None:
    assert _outcome(text, max_values, True) == _outcome(text, max_values, False), text


@settings(max_examples=300, deadline=None)
@given(values, st.booleans(), st.integers(1, 40))
def test_generated_documents_read_the_same(doc: Any, flow: bool, max_values: int) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    _same(text, max_values)
    _same(text, 200_000)


def test_hand_written_documents_read_the_same() -> None:
    for text in (
        "a: 1\na: 2\n",
        "a: &x [1]\nb: *x\n",
        "? [1]\n: 2\n",
        "--- 1\n--- 2\n",
        "nodes: {a: 1, b: 2, c: 3, d: 4}\n",
        "nodes: [1, 2, 3, 4]\nlayers: [1, 2, 3]\n",
        "layers: {a: 1}\nnodes:\n  a: {in: x}\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n",
        "x: !!str 3\n",
        "1: a\n1.0: b\ntrue: c\n",
        "t: 2001-01-01\n",
        "n: 1:20\n",
        "",
        "- a\n- [b, {c: d}]\n",
    ):
        _same(text, 200_000)
        _same(text, 3)
