"""A node sharing a layer with a key it may not take gets that one error, not two false ones besides.

``{shares: d, in: y, trainable: false}`` was reported with "a functional spec needs `nodes:`" and "unknown node
or input 's'" for a spec that has both: the refused node dropped the whole graph.
"""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import SpecError

SPEC = """\
netform: 1
kind: functional
inputs: {x: {shape: [5]}, y: {shape: [5]}}
nodes:
  d: {type: Dense, units: 4, in: x}
  d2: {shares: d, in: y, trainable: false}
  s: {type: Add, in: [d, d2]}
outputs: [s]
"""


def test_one_error_for_one_refused_key() -> None:
    with pytest.raises(SpecError) as err:
        nf.load_spec(SPEC)
    assert len(err.value.diagnostics) == 1
    assert "6:26: nodes.d2.trainable: a node that shares a layer takes only `shares` and `in`" in str(err.value)


def test_the_rest_of_the_graph_is_still_checked() -> None:
    with pytest.raises(SpecError) as err:
        nf.load_spec(SPEC.replace("in: [d, d2]", "in: [d, nothere]"))
    messages = [d.message for d in err.value.diagnostics]
    assert len(messages) == 2 and any("nothere" in m for m in messages)
    assert not any("needs `nodes:`" in m for m in messages)
