"""Brackets inside a plain, block or folded scalar are text, not nesting.

The lexical pre-scan that bounds flow nesting before the YAML parser runs counted ``[`` in
``description: see [[[[…`` (70 brackets) and refused a spec PyYAML reads as "nested more than 64 levels".
Where the pre-scan stops at a bracket, the parser's events now tell the flow nesting exactly (the parser
keeps its own stack; only composing recurses), so such specs validate, while real nesting is still refused
at the same place, quickly.
"""

from __future__ import annotations

import time

import pytest

import netform as nf

HEAD = "netform: 1\nname: m\nkind: sequential\ninputs:\n  x: {shape: [4]}\nlayers: [{type: Dense, units: 2}]\n"
BRACKETS = "[" * 70


@pytest.mark.parametrize(
    "description",
    [
        f"description: see {BRACKETS}\n",
        f"description: |\n  see {BRACKETS}\n",
        f"description: >\n  see {BRACKETS}\n  and {{{{{{{{\n",
        f"description: see\n  {BRACKETS} more\n",
        f"description: a#{BRACKETS}\n",
    ],
)
def test_brackets_in_a_scalar_are_text(description: str) -> None:
    spec = nf.load_spec(HEAD + description)
    assert "[" * 70 in str(spec.description)


@pytest.mark.parametrize("levels", [65, 1_000, 100_000])
def test_real_flow_nesting_is_still_refused_quickly(levels: int) -> None:
    text = HEAD.replace("layers: [{type: Dense, units: 2}]", "layers: " + "[" * levels + "]" * levels)
    start = time.process_time()
    with pytest.raises(nf.SpecError, match="nested more than 64 levels"):
        nf.load_spec(text)
    assert time.process_time() - start < 5


def test_a_scalar_of_brackets_before_real_nesting_is_refused_at_the_nesting() -> None:
    text = HEAD.replace("layers: [{type: Dense, units: 2}]", "layers: " + "[" * 65 + "]" * 65)
    with pytest.raises(nf.SpecError, match="nested more than 64") as raised:
        nf.load_spec(text + f"description: see {BRACKETS}\n")
    assert raised.value.diagnostics[0].line == 6


def test_64_levels_are_read() -> None:
    text = HEAD.replace(
        "layers: [{type: Dense, units: 2}]", "layers: [{type: Dense, units: 2}]\nx_note: " + "[" * 63 + "]" * 63
    )
    with pytest.raises(nf.SpecError) as raised:  # an unknown top-level field: refused for that, not for depth
        nf.load_spec(text)
    assert "nested" not in str(raised.value)
