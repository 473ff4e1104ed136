"""Loading a spec does each node's checks once (counted, not timed).

A 1 MB spec holds about 20,000 op nodes; each check run twice per node was
seconds of CPU past the size's budget. The counts here are deterministic.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import netform
from netform.spec.layers import _op_rules
from netform.spec.layers import ops as ops_module

N_NODES = 30


def _op_spec(n: int = N_NODES) -> str:
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [2, 4]}}", "nodes:"]
    prev = "x"
    for i in range(n):
        if i % 3 == 0:
            lines.append(f"  n{i}: {{op: add, in: [{prev}, x]}}")
        elif i % 3 == 1:
            lines.append(f"  n{i}: {{op: concatenate, in: [{prev}, {prev}], axis: 1}}")
        else:
            lines.append(f"  n{i}: {{op: getitem, in: {prev}, index: '[:, 0:2]'}}")
        prev = f"n{i}"
    lines.append(f"outputs: [{prev}]")
    return "\n".join(lines) + "\n"


def test_op_arguments_are_checked_once_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = ops_module.op_problems

    def counted(op: Any, args: tuple[Any, ...], kwargs: dict[str, Any], **options: Any) -> list[tuple[str | None, str]]:
        calls.append(op)
        return real(op, args, kwargs, **options)

    monkeypatch.setattr(ops_module, "op_problems", counted)
    spec = netform.load_spec(_op_spec())
    assert len(spec.nodes or {}) == N_NODES
    # the parser checks each distinct node once (the spec has three forms; equal nodes share the result),
    # and the Op model does not repeat it
    assert sorted(calls) == ["add", "concatenate", "getitem"]


def test_an_op_made_directly_is_still_checked() -> None:
    with pytest.raises(ValidationError, match="has no argument 'bogus'"):
        ops_module.Op(op="add", args=("x", 1.0), kwargs={"bogus": 1})
    with pytest.raises(ValidationError, match="needs at least one node"):
        ops_module.Op.model_validate({"op": "add", "args": (1.0, 2.0), "kwargs": {}})


def test_a_bad_op_is_still_refused_located() -> None:
    text = _op_spec(4).replace("axis: 1", "axis: 1, bogus: 2")
    with pytest.raises(netform.SpecError, match="no argument 'bogus'") as err:
        netform.load_spec(text)
    assert [d.path for d in err.value.diagnostics] == [("nodes", "n1", "bogus")]


def test_a_getitem_index_text_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every getitem node of the spec writes the same index: it is read once, not twice per node."""
    _op_rules._parse_index_text.cache_clear()
    calls: list[Any] = []
    real = _op_rules._parse_index

    def counted(text: Any) -> tuple[Any, ...]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(_op_rules, "_parse_index", counted)
    netform.load_spec(_op_spec())
    assert calls == ["[:, 0:2]"]
    with pytest.raises(netform.SpecError, match="is not an integer, a slice"):
        netform.load_spec(_op_spec(3).replace("[:, 0:2]", "[:, a]"))
    with pytest.raises(netform.SpecError, match="is not an integer, a slice"):  # an error is not remembered
        netform.load_spec(_op_spec(3).replace("[:, 0:2]", "[:, a]"))
    assert calls[1:] == ["[:, a]", "[:, a]"]
