"""The spec reference states the limits validate enforces on `diff`, `split` and "did you mean", with the
numbers the code uses."""

from __future__ import annotations

import pytest

from netform.errors import MAX_SUGGESTED_NAME, SpecError
from netform.spec import load_spec
from netform.spec._reference import reference_markdown
from netform.spec.layers._op_rules import MAX_DIFF_ORDER, MAX_SPLIT_PARTS


def _op(node: str, shape: str) -> str:
    return f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {shape}}}}}\nnodes:\n  d: {node}\noutputs: [d]\n"


def test_the_reference_states_the_limits() -> None:
    text = " ".join(reference_markdown().split())
    assert (
        f"`diff` takes an order `n` from 0 to the size of its axis (each difference leaves one value fewer) and at most {MAX_DIFF_ORDER}:"
        in text
    )
    assert f"`split` makes at most {MAX_SPLIT_PARTS:,} parts, one output each" in text
    assert f"a list of up to {MAX_SPLIT_PARTS - 1:,} indices" in text
    assert f"a name longer than {MAX_SUGGESTED_NAME} characters gets that suggestion only when it differs" in text


def test_the_limits_are_those_validate_enforces() -> None:
    load_spec(_op(f"{{op: diff, in: x, n: {MAX_DIFF_ORDER}, axis: 1}}", "[40, 3]"))
    with pytest.raises(SpecError, match=f"netform takes n up to {MAX_DIFF_ORDER}"):
        load_spec(_op(f"{{op: diff, in: x, n: {MAX_DIFF_ORDER + 1}, axis: 1}}", "[40, 3]"))
    with pytest.raises(SpecError, match="give n from 0 to 3"):
        load_spec(_op("{op: diff, in: x, n: 4, axis: 2}", "[40, 3]"))
    load_spec(_op(f"{{op: split, in: x, indices_or_sections: {MAX_SPLIT_PARTS}, axis: 1}}", "[20000, 3]"))
    with pytest.raises(SpecError, match=f"netform takes at most {MAX_SPLIT_PARTS:,}"):
        load_spec(_op(f"{{op: split, in: x, indices_or_sections: {MAX_SPLIT_PARTS + 1}, axis: 1}}", "[20000, 3]"))


@pytest.mark.parametrize(("length", "suggested"), [(MAX_SUGGESTED_NAME, True), (MAX_SUGGESTED_NAME + 1, False)])
def test_long_unknown_names_get_no_suggestion(length: int, suggested: bool) -> None:
    name = "a" * length
    text = (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [4]}}}}\nnodes:\n  {name}x: {{type: Dense, units: 2, "
        f"in: x}}\n  out: {{type: Dense, units: 2, in: {name}}}\noutputs: [out]\n"
    )
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert ("Did you mean" in str(info.value)) is suggested
