"""A generic wrapper nested in generic wrappers is checked once per level, not once per level below it.

A 989 KB spec of 608 generic ``TimeDistributed`` nodes, each 20 wrappers deep around a ``Bidirectional(GRU)``,
took 3.6 s of CPU to validate (4.0 s at 25 deep): making a generic layer's schema form converted each nested
layer to a mapping, validated it and dumped it, and the level above validated all of it again (a 20-deep
nesting validated 210 levels); and the code check asked the file check of every level to walk all the levels
below it again. Each level is now validated once, and each check walks the config once.
"""

from __future__ import annotations

import pytest

import netform.spec._access as access
import netform.spec.layers.recurrent as recurrent
from netform.spec import load_spec, summary


def _deep(depth: int, units: int = 3) -> str:
    gru = "{class_name: GRU, module: keras.layers, config: {units: %d, dropout: 0.001}}" % units
    inner = "{class_name: Bidirectional, module: keras.layers, config: {layer: %s}}" % gru
    for _ in range(depth):
        inner = "{class_name: TimeDistributed, module: keras.layers, config: {layer: %s}}" % inner
    shape = ", ".join(["1"] * (depth + 1) + ["5", "3"])
    return (
        f"netform: 1\nkind: functional\ninputs:\n  x: {{shape: [{shape}]}}\nnodes:\n"
        f"  n: {{type: KerasLayer, class_name: TimeDistributed, config: {{layer: {inner}}}, in: x}}\n"
        "outputs: [n]\n"
    )


def test_each_nested_level_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    mappings = []
    real = recurrent._nested_spec
    monkeypatch.setattr(
        recurrent, "_nested_spec", lambda w, v: mappings.append(1) if isinstance(v, dict) else None or real(w, v)
    )
    depth = 20
    spec = load_spec(_deep(depth), source="deep.yaml")
    row = {r.name: r for r in summary(spec).rows}["n"]
    assert row.output_shape == (None, *([1] * (depth + 1)), 2 * 3) and row.trainable == 2 * 3 * 3 * (3 + 3 + 2)
    # 21 wrappers and a GRU: each nested level comes to its wrapper as a validated layer (210 mappings before)
    assert len(mappings) == 0


def test_the_file_check_walks_each_level_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = access.file_argument_problems
    monkeypatch.setattr(access, "file_argument_problems", lambda *a, **k: calls.append(1) or real(*a, **k))
    import netform.spec.layers.generic as generic

    monkeypatch.setattr(generic, "file_argument_problems", access.file_argument_problems)
    load_spec(_deep(20), source="deep.yaml")
    assert len(calls) < 4 * 23  # 23 layers, a few checks each (about 23 * 24 / 2 per check before)


def test_a_nested_layer_that_fits_no_schema_stays_generic() -> None:
    # a nested layer with a key netform's schema lacks (rms_scaling drops LayerNormalization's beta) is kept as
    # Keras has it, and the wrapper's counts come at build time, never counted with a beta Keras does not make
    text = (
        "netform: 1\nkind: functional\ninputs:\n  x: {shape: [4, 5]}\nnodes:\n"
        "  n: {type: KerasLayer, class_name: TimeDistributed, config: {layer: {class_name: LayerNormalization, "
        "module: keras.layers, config: {rms_scaling: true}}}, in: x}\noutputs: [n]\n"
    )
    spec = load_spec(text, source="f.yaml")
    row = {r.name: r for r in summary(spec).rows}["n"]
    assert row.trainable is None
