"""A block's parameter named as a field of every use, and an input name listed twice, are refused.

* ``params: {repeat: 3}``: a use's ``repeat: 2`` is the use's own field, so the parameter could never be set
  (and ``in``, ``block``, ``nested``, ``call`` alike); the spec validated and built with the default.
* ``inputs: [p, p]``: a use gives its tensors in order, and the first given under the repeated name was
  silently dropped (the static summary and the built model both read only the second).
"""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import SpecError

HEAD = "netform: 1\nkind: functional\ninputs: {x: {shape: [4]}, y: {shape: [7]}}\n"


@pytest.mark.parametrize("param", ["repeat", "in", "block", "nested", "call"])
def test_a_parameter_named_as_a_use_field_is_refused(param: str) -> None:
    text = (
        HEAD + f"blocks:\n  b:\n    params: {{{param}: 3}}\n    nodes:\n      d: {{type: Dense, units: 2, in: x}}\n"
        "nodes:\n  u: {block: b, in: x}\noutputs: [u]\n"
    )
    with pytest.raises(SpecError, match=f"blocks.b.params.{param}: block 'b' parameter name '{param}' is a field"):
        nf.load_spec(text)


def test_an_input_name_listed_twice_is_refused() -> None:
    text = (
        HEAD + "blocks:\n  b:\n    inputs: [p, p]\n    nodes:\n      d: {type: Dense, units: 2, in: p}\n"
        "nodes:\n  u: {block: b, in: [x, y]}\noutputs: [u]\n"
    )
    with pytest.raises(SpecError, match=r"blocks.b.inputs\[1\]: block 'b' lists the input name 'p' twice"):
        nf.load_spec(text)


def test_other_parameter_names_still_work() -> None:
    text = (
        HEAD + "blocks:\n  b:\n    inputs: [p, q]\n    params: {units: 3, type_name: 1, name: 2}\n"
        "    nodes:\n      d: {type: Dense, units: $units, in: p}\n      e: {type: Dense, units: $units, in: q}\n"
        "      c: {type: Concatenate, in: [d, e]}\n"
        "nodes:\n  u: {block: b, in: [x, y], units: 5}\noutputs: [u]\n"
    )
    assert nf.summary(nf.load_spec(text)).rows[-1].output_shape == (None, 10)
