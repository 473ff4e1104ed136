"""A spec holds at most MAX_GENERIC_LAYERS Keras layer configurations, so validate stays within its 2 s.

A generic ``KerasLayer`` costs validate about twice a schema layer: its config is checked against Keras's
constructor rules and made into netform's schema for the class. A 957 KB spec of 9,990 distinct generic
``Conv2D`` nodes took 3.0 s of CPU (over the 2 s every spec under 1 MB is promised), and 4,300 nodes of a
generic ``TimeDistributed(Bidirectional(LSTM))`` (12,900 configurations) 2.1-2.6 s. The configurations are
now counted as they are read (nested ones included, equal ones once) and a spec past the limit is refused
where it passes it, the rest unread.
"""

from __future__ import annotations

import pytest

import netform.spec._parse as parse
from netform.errors import SpecError
from netform.spec import load_spec

LIMIT = parse.MAX_GENERIC_LAYERS


def _spec(n: int, *, nested: bool = False, same: bool = False) -> str:
    # (a time axis of no fixed length: fixed steps of many TimeDistributed add up to a bounded count of their own)
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [null, 5, 3]}}", "nodes:"]
    for i in range(n):
        units = 1 if same else i + 1
        if nested:
            lstm = "{class_name: LSTM, module: keras.layers, config: {units: %d, dropout: %.6f}}" % (2, i / 10**6)
            config = "{layer: %s}" % lstm
            cls = "TimeDistributed"
        else:
            config, cls = "{units: %d}" % units, "Dense"
        lines.append(f"  n{i}: {{type: KerasLayer, class_name: {cls}, config: {config}, in: x}}")
    lines.append(f"outputs: [n{n - 1}]")
    return "\n".join(lines) + "\n"


def test_the_limit_is_what_a_spec_may_hold() -> None:
    spec = load_spec(_spec(LIMIT), source="ok.yaml")
    assert len(spec.nodes) == LIMIT


def test_past_the_limit_is_refused_where_it_is_passed() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_spec(LIMIT + 50), source="many.yaml")
    errors = info.value.diagnostics
    assert len(errors) == 1
    assert f"more than {LIMIT:,} Keras layer configurations" in errors[0].message
    assert errors[0].path == ("nodes", f"n{LIMIT}")
    assert "type: Conv2D" in errors[0].message


def test_nested_configurations_count() -> None:
    # a TimeDistributed holding an LSTM is two configurations
    load_spec(_spec(LIMIT // 2, nested=True), source="ok.yaml")
    with pytest.raises(SpecError, match="Keras layer configurations") as info:
        load_spec(_spec(LIMIT // 2 + 1, nested=True), source="many.yaml")
    assert info.value.diagnostics[0].path == ("nodes", f"n{LIMIT // 2}")


def test_equal_configurations_count_once() -> None:
    # equal layers share one validated layer and its checks: they cost once
    spec = load_spec(_spec(LIMIT + 500, same=True), source="same.yaml")
    assert len(spec.nodes) == LIMIT + 500


def test_sequential_layers_count_too() -> None:
    lines = ["netform: 1", "kind: sequential", "inputs: {x: {shape: [4]}}", "layers:"]
    lines += [
        f"  - {{type: KerasLayer, class_name: Dense, config: {{units: {i % 3 + 1 + (i // 3) * 0}}}}}" for i in range(3)
    ]
    lines += [
        f"  - {{type: KerasLayer, class_name: Dropout, config: {{rate: {i / (LIMIT * 10):.8f}}}}}" for i in range(LIMIT)
    ]
    with pytest.raises(SpecError, match="Keras layer configurations") as info:
        load_spec("\n".join(lines) + "\n", source="seq.yaml")
    assert info.value.diagnostics[0].path == ("layers", LIMIT - 3 + 3)


def test_initializers_in_a_config_are_no_layer_configurations() -> None:
    # a generic layer exported with its initializer written as Keras writes it is one layer configuration
    init = "{module: keras.initializers, class_name: GlorotUniform, config: {seed: %d}}"
    lines = ["netform: 1", "kind: functional", "inputs: {x: {shape: [4]}}", "nodes:"]
    for i in range(LIMIT):
        config = "{units: 2, kernel_initializer: %s}" % (init % i)
        lines.append(f"  n{i}: {{type: KerasLayer, class_name: Dense, config: {config}, in: x}}")
    lines.append(f"outputs: [n{LIMIT - 1}]")
    spec = load_spec("\n".join(lines) + "\n", source="init.yaml")
    assert len(spec.nodes) == LIMIT
