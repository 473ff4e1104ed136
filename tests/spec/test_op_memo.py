"""Op nodes of one op, constants and input shapes and kinds share one static result; nodes that differ in
any of these (an int constant and a float one, an int input and a float one) keep their own."""

from __future__ import annotations

import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec import shapes_of

HEAD = """netform: 1
name: m
kind: functional
inputs:
  i: {shape: [4], dtype: int32}
  f: {shape: [4]}
nodes:
"""


def _shapes(nodes: str) -> dict[str, str | None]:
    spec = nf.load_spec(HEAD + nodes + "outputs: [z]\n")
    return {k: v.output_shape for k, v in shapes_of(spec).items()}


def test_an_int_and_a_float_constant_are_told_apart() -> None:
    # an int tensor floor-divided by the float 0.0 is computed as floats; by the int 0 TensorFlow refuses it
    nf.load_spec(HEAD + "  a: {op: floor_divide, in: [i, 0.0]}\n  z: {op: add, in: [a, f]}\noutputs: [z]\n")
    with pytest.raises(SpecError, match="division by zero") as err:
        nf.load_spec(
            HEAD + "  a: {op: floor_divide, in: [i, 0.0]}\n  b: {op: floor_divide, in: [i, 0]}\n"
            "  z: {op: add, in: [a, b]}\noutputs: [z]\n"
        )
    assert [d.path for d in err.value.diagnostics] == [("nodes", "b")]


def test_repeated_nodes_with_other_input_shapes_keep_their_own_shape() -> None:
    nodes = (
        "  a: {op: concatenate, in: [f, f], axis: 1}\n"
        "  b: {op: concatenate, in: [a, a], axis: 1}\n"
        "  c: {op: concatenate, in: [f, f], axis: 1}\n"
        "  z: {op: add, in: [b, 1.0]}\n"
    )
    shapes = _shapes(nodes)
    assert shapes["a"] == (None, 8) and shapes["c"] == (None, 8) and shapes["b"] == (None, 16)
    assert shapes["z"] == (None, 16)


def test_an_error_on_a_repeated_node_is_reported_at_each_node() -> None:
    nodes = "  a: {op: bitwise_and, in: [f, f]}\n  b: {op: bitwise_and, in: [f, f]}\n  z: {op: add, in: [a, b]}\n"
    with pytest.raises(SpecError) as err:
        nf.load_spec(HEAD + nodes + "outputs: [z]\n")
    located = {d.path for d in err.value.diagnostics}
    assert ("nodes", "a") in located and ("nodes", "b") in located


def test_equal_layer_nodes_each_count_their_weights() -> None:
    nodes = "".join(
        f"  d{i}: {{type: Dense, units: 4, in: {'f' if i == 0 else f'd{i - 1}'}}}\n" for i in range(5)
    ) + "  z: {type: Dense, units: 4, in: d4}\n"
    shapes = shapes_of(nf.load_spec(HEAD + nodes + "outputs: [z]\n"))
    assert [shapes[f"d{i}"].trainable for i in range(5)] == [20] * 5
    assert nf.summary(HEAD + nodes + "outputs: [z]\n").total_params == 6 * 20


def test_a_layer_mapping_equal_in_python_but_not_in_yaml_is_validated_again() -> None:
    # `use_bias: true` passes; `use_bias: 1` is refused (True == 1 in Python, not in a spec)
    nodes = "  a: {type: Dense, units: 4, use_bias: true, in: f}\n  z: {type: Dense, units: 4, use_bias: 1, in: a}\n"
    with pytest.raises(SpecError) as err:
        nf.load_spec(HEAD + nodes + "outputs: [z]\n")
    assert [d.path[:2] for d in err.value.diagnostics] == [("nodes", "z")]


def test_op_node_checks_are_shared_only_by_equal_nodes() -> None:
    nodes = (
        "  a: {op: add, in: [f, [1.0, 2.0, 3.0, 4.0]]}\n"
        "  b: {op: add, in: [f, [1.0, [2.0], 3.0, 4.0]]}\n"  # a ragged constant, after an equal-looking node
        "  c: {op: reshape, in: f}\n"
        "  d: {op: reshape, in: f}\n"
        "  z: {op: add, in: [c, d]}\n"
    )
    with pytest.raises(SpecError) as err:
        nf.load_spec(HEAD + nodes + "outputs: [z]\n")
    located = [d.path[:2] for d in err.value.diagnostics]
    assert ("nodes", "b") in located and ("nodes", "c") in located and ("nodes", "d") in located


def test_a_number_s_value_still_counts_where_the_rules_read_it() -> None:
    # add reads a number's type only; power reads its value (an integer tensor to a negative power)
    ok = "  a: {op: add, in: [i, 2]}\n  b: {op: add, in: [a, -7]}\n  z: {op: power, in: [i, 2]}\n"
    nf.load_spec(HEAD + ok + "outputs: [z]\n")
    bad = "  a: {op: power, in: [i, 2]}\n  z: {op: power, in: [i, -1]}\n"
    with pytest.raises(SpecError, match="negative power") as err:
        nf.load_spec(HEAD + bad + "outputs: [a, z]\n")
    assert [d.path[:2] for d in err.value.diagnostics] == [("nodes", "z")]
