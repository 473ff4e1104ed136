"""A generic KerasLayer of a class that takes several inputs says how to write it, wherever it is refused.

``{type: KerasLayer, class_name: MultiHeadAttention, ...}`` was refused in every form (``in: [x, x]``: "KerasLayer
takes one input"; ``in: x, call: {value: x}``: "MultiHeadAttention takes a list of inputs"), with no word of
the form validate takes: netform's own ``type: MultiHeadAttention`` with the same arguments.
"""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import SpecError


def _spec(cls: str, config: str, node: str, shape: str = "[6, 8]") -> str:
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}, y: {{shape: {shape}}}}}\nnodes:\n"
        f"  n: {{type: KerasLayer, class_name: {cls}, config: {config}, {node}}}\noutputs: [n]\n"
    )


@pytest.mark.parametrize("node", ["in: [x, y]", "in: x, call: {value: y}", "in: x"])
@pytest.mark.parametrize(
    ("cls", "config"), [("MultiHeadAttention", "{num_heads: 2, key_dim: 3}"), ("Add", "{}"), ("Dot", "{axes: -1}")]
)
def test_the_refusal_names_netforms_own_type(cls: str, config: str, node: str) -> None:
    with pytest.raises(SpecError) as info:
        nf.load_spec(_spec(cls, config, node))
    assert f"write it with netform's own type, {{type: {cls}, ...}}" in str(info.value)


def test_the_own_type_takes_the_same_arguments() -> None:
    spec = nf.load_spec(
        _spec("MultiHeadAttention", "{}", "in: x").replace(
            "{type: KerasLayer, class_name: MultiHeadAttention, config: {}, in: x}",
            "{type: MultiHeadAttention, num_heads: 2, key_dim: 3, in: [x, y]}",
        )
    )
    assert {r.name: r for r in nf.summary(spec).rows}["n"].output_shape == (None, 6, 8)
