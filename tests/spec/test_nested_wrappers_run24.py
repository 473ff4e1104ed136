"""Wrappers in wrappers are dumped once per level, so a deep nesting validates in time.

A ``TimeDistributed`` whose layer is a ``TimeDistributed``, 22 levels deep (a
1.2 KB spec, generic ``KerasLayer`` or netform's own schema), took 39 s of CPU
to validate: each level dumped its nested layer twice, so the work doubled per
level. Each level now dumps it once.
"""

from __future__ import annotations

import pytest

import netform.spec.layers.recurrent as recurrent
from netform.spec import load_spec
from tests._budget import assert_cpu_under


def _generic(depth: int) -> str:
    inner = "{class_name: Dense, module: keras.layers, config: {units: 3}}"
    for _ in range(depth - 1):
        inner = "{class_name: TimeDistributed, module: keras.layers, config: {layer: %s}}" % inner
    shape = ", ".join(["1"] * (depth + 1) + ["4"])
    return (
        f"netform: 1\nkind: sequential\ninputs:\n  x: {{shape: [{shape}]}}\nlayers:\n"
        f"  - {{type: KerasLayer, class_name: TimeDistributed, config: {{layer: {inner}}}}}\n"
    )


def _native(depth: int) -> str:
    inner = "{type: Dense, units: 3}"
    for _ in range(depth - 1):
        inner = "{type: TimeDistributed, layer: %s}" % inner
    shape = ", ".join(["1"] * (depth + 1) + ["4"])
    return (
        f"netform: 1\nkind: sequential\ninputs:\n  x: {{shape: [{shape}]}}\nlayers:\n"
        f"  - {{type: TimeDistributed, layer: {inner}}}\n"
    )


@pytest.mark.parametrize("spec", [_generic, _native], ids=["KerasLayer", "schema"])
def test_a_deep_nesting_is_dumped_once_per_level(spec, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = recurrent._with_nested
    monkeypatch.setattr(recurrent, "_with_nested", lambda *a: calls.append(1) or real(*a))
    model = load_spec(spec(12), source="td.yaml")
    model.layers[0].to_dict()
    # 2**12 and more before: each level dumped its layer twice (a generic layer's schema form is now made
    # from validated nested layers, and dumps none)
    assert len(calls) <= 2 * 12 * 12
    if spec is _native:
        assert calls


@pytest.mark.parametrize("spec", [_generic, _native], ids=["KerasLayer", "schema"])
def test_a_30_deep_nesting_validates_in_time(spec) -> None:
    text = spec(30)
    assert len(text) < 3_000
    assert_cpu_under(lambda: load_spec(text, source="td.yaml"), 2.0, "validate of a 30-deep TimeDistributed")


def test_the_nested_type_is_kept_when_defaults_are_left_out() -> None:
    model = load_spec(_native(3), source="td.yaml")
    layer = model.layers[0].to_dict()
    assert layer["type"] == "TimeDistributed"
    assert layer["layer"]["type"] == "TimeDistributed"
    assert layer["layer"]["layer"]["type"] == "TimeDistributed"
    assert layer["layer"]["layer"]["layer"] == {"type": "Dense", "units": 3}
