"""Ops and layers that passed validate and build, then failed at predict with TensorFlow's own error.

Each bad spec is now a located SpecError on its node, naming the fix: a bitwise op or shift on floats (or
bools or text), ``moveaxis`` moving one axis twice, ``diff`` with ``n < 0``, a ``dtype: string`` input
fed to a layer or op that computes with numbers, ``full_like`` with a ``fill_value`` that does not
broadcast to x, a ``Discretization`` without (sorted) ``bin_boundaries``, and an op whose output is past
the size bound only once its axes of unknown size are counted. Each refusal is checked against Keras on
real tensors, and a good spec beside it validates (a few also build and predict).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import textwrap
from typing import Any

import keras
import numpy as np
import pytest

from netform.spec import load_spec

from ._helpers import ONE_NODE_SPEC, first_located_error

SPEC = ONE_NODE_SPEC

CHAIN = textwrap.dedent("""\
    netform: 1
    name: f
    kind: functional
    inputs:
      x: {shape: %s, dtype: %s}
    nodes:
      h: %s
      o: %s
    outputs: [o]
    """)


def _spec(node: str, shape: str = "[4, 6]", dtype: str = "float32") -> str:
    return SPEC % (shape, dtype, node)


_error = first_located_error


def _fails(fn: Any) -> bool:
    try:
        fn()
    except Exception:  # noqa: BLE001 - TensorFlow's error types differ by op; failing is the point
        return True
    return False


def _predict(text: str, x: np.ndarray) -> np.ndarray:
    import netform as nf

    model = nf.build(load_spec(text))
    return np.asarray(model.predict(x, verbose=0))


# -- bitwise ops and shifts: integers only ------------------------------------
BITWISE = ["bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"]


@pytest.mark.parametrize("op", BITWISE)
def test_bitwise_op_on_a_float_input_is_refused_at_its_node(op: str) -> None:
    assert _fails(lambda: getattr(keras.ops, op)(np.ones((2, 4, 6), "float32"), 1))
    diag = _error(_spec(f"{{op: {op}, in: [x, 1]}}"))
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    assert f"op {op} works on integers only" in diag.message
    assert "input 'x' (dtype float32)" in diag.message and "dtype: int32" in diag.message


@pytest.mark.parametrize("op", BITWISE)
def test_bitwise_op_on_an_integer_input_validates(op: str) -> None:
    assert getattr(keras.ops, op)(np.ones((2, 4, 6), "int32"), 1).shape == (2, 4, 6)
    load_spec(_spec(f"{{op: {op}, in: [x, 1]}}", dtype="int32"))


def test_bitwise_op_on_a_dense_output_is_refused() -> None:
    """A Dense output holds floats whatever its input: the kind follows the graph."""
    diag = _error(CHAIN % ("[4]", "int32", "{type: Dense, units: 3, in: x}", "{op: left_shift, in: [h, 2]}"))
    assert diag.path == ("nodes", "o") and "node 'h'" in diag.message


def test_bitwise_op_with_a_float_operand_or_on_bools_is_refused() -> None:
    assert _fails(lambda: keras.ops.bitwise_and(np.ones((2, 4), "int32"), 1.5))
    assert "the number 1.5" in _error(_spec("{op: bitwise_and, in: [x, 1.5]}", dtype="int32")).message
    assert _fails(lambda: keras.ops.left_shift(np.ones((2, 4), "bool"), 1))
    assert "holds bool values" in _error(_spec("{op: left_shift, in: [x, 1]}", dtype="bool")).message
    assert "holds bool values" in _error(_spec("{op: bitwise_or, in: [x, x]}", dtype="bool")).message


def test_bitwise_op_after_a_cast_to_int_builds_and_predicts() -> None:
    text = CHAIN % ("[4]", "float32", "{op: cast, in: x, dtype: int32}", "{op: left_shift, in: [h, 2]}")
    out = _predict(text, np.full((3, 4), 3.0, "float32"))
    assert out.shape == (3, 4) and (out == 12).all()


# -- moveaxis ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "destination", "says"),
    [
        ("[1, 1]", "[2, 0]", "source [1, 1] names axis 1 twice"),
        ("[2, -1]", "[1, 0]", "source [2, -1] names axis 2 twice"),
        ("[1, 2]", "[2, 2]", "destination [2, 2] names axis 2 twice"),
        ("[1, 2]", "[2]", "source names 2 axes and destination 1"),
    ],
)
def test_moveaxis_moving_an_axis_twice_is_refused(source: str, destination: str, says: str) -> None:
    """Keras's op follows NumPy's moveaxis, which refuses these; TensorFlow fails on a repeated source, and
    gives a result NumPy's semantics do not define for a repeated destination."""
    src, dst = eval(source), eval(destination)  # noqa: S307 - literal lists of the cases above
    assert _fails(lambda: np.moveaxis(np.ones((2, 4, 6), "float32"), src, dst))
    if len(set(src)) < len(src) or len(src) != len(dst) or any(s < 0 for s in src):
        assert _fails(lambda: keras.ops.moveaxis(np.ones((2, 4, 6), "float32"), src, dst))
    diag = _error(_spec(f"{{op: moveaxis, in: x, source: {source}, destination: {destination}}}"))
    assert diag.path == ("nodes", "o") and says in diag.message


def test_moveaxis_with_distinct_axes_validates_as_keras_computes() -> None:
    spec = load_spec(_spec("{op: moveaxis, in: x, source: [1, 2], destination: [2, 1]}"))
    assert spec._cache["shapes"]["o"].output_shape == (None, 6, 4)
    assert keras.ops.moveaxis(np.ones((2, 4, 6)), [1, 2], [2, 1]).shape == (2, 6, 4)


# -- diff ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [-1, -5])
def test_diff_with_a_negative_order_is_refused(n: int) -> None:
    assert _fails(lambda: keras.ops.diff(np.ones((2, 4, 6), "float32"), n=n))
    diag = _error(_spec(f"{{op: diff, in: x, n: {n}}}"))
    assert diag.path == ("nodes", "o") and f"n={n}" in diag.message and "≥ 0" in diag.message


@pytest.mark.parametrize("n", [0, 1, 3])
def test_diff_with_an_order_of_zero_or_more_validates(n: int) -> None:
    spec = load_spec(_spec(f"{{op: diff, in: x, n: {n}}}"))
    assert spec._cache["shapes"]["o"].output_shape == (None, 4, 6 - n)
    assert keras.ops.diff(np.ones((2, 4, 6)), n=n).shape == (2, 4, 6 - n)


# -- text inputs ---------------------------------------------------------------
@pytest.mark.parametrize(
    "node",
    [
        "{type: Dense, units: 2, in: x}",
        "{type: Embedding, input_dim: 5, output_dim: 2, in: x}",
        "{type: LayerNormalization, in: x}",
        "{type: Dropout, rate: 0.5, in: x}",
        "{type: KerasLayer, class_name: Dense, config: {units: 2}, in: x}",
    ],
)
def test_a_text_input_fed_to_a_layer_that_computes_with_numbers_is_refused(node: str) -> None:
    diag = _error(_spec(node, shape="[4]", dtype="string"))
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    assert "computes with numbers, but input 'x' (dtype string) holds text" in diag.message
    assert "StringLookup" in diag.message


def test_keras_fails_on_text_in_dense() -> None:
    import tensorflow as tf

    inp = keras.Input((4,), dtype="string")
    assert _fails(lambda: keras.Model(inp, keras.layers.Dense(2)(inp)).predict(tf.constant([["a"] * 4]), verbose=0))


def test_text_through_a_reshape_then_into_dense_is_refused_at_the_dense() -> None:
    text = CHAIN % ("[4]", "string", "{type: Reshape, target_shape: [2, 2], in: x}", "{type: Dense, units: 2, in: h}")
    diag = _error(text)
    assert diag.path == ("nodes", "o") and "node 'h' holds text" in diag.message


@pytest.mark.parametrize("node", ["{op: sqrt, in: x}", "{op: mean, in: x, axis: 1}", "{op: add, in: [x, 0.5]}"])
def test_a_text_input_in_an_op_that_computes_with_numbers_is_refused(node: str) -> None:
    diag = _error(_spec(node, shape="[4]", dtype="string"))
    assert diag.path == ("nodes", "o") and "input 'x' (dtype string)" in diag.message


@pytest.mark.parametrize(
    "node",
    [
        "{type: StringLookup, vocabulary: [a, b], in: x}",
        "{type: KerasLayer, class_name: Hashing, config: {num_bins: 4}, in: x}",
        "{type: Reshape, target_shape: [2, 2], in: x}",
        "{op: reshape, in: x, newshape: [-1, 2, 2]}",
        "{op: equal, in: [x, x]}",
    ],
)
def test_text_into_layers_and_ops_that_take_it_still_validates(node: str) -> None:
    load_spec(_spec(node, shape="[4]", dtype="string"))


def test_text_through_a_reshape_into_a_lookup_builds_and_predicts() -> None:
    import tensorflow as tf

    text = CHAIN % (
        "[4]",
        "string",
        "{type: Reshape, target_shape: [2, 2], in: x}",
        "{type: StringLookup, vocabulary: [a, b], in: h}",
    )
    out = _predict(text, tf.constant([["a", "b", "c", "a"]]))
    assert out.tolist() == [[[1, 2], [0, 1]]]


# -- full_like -----------------------------------------------------------------
@pytest.mark.parametrize("fill", ["[1, 2]", "[[1, 2], [3, 4]]", "[[[1.0]], [[2.0]]]", "[[[[1.0]]]]"])
def test_full_like_with_a_fill_value_that_does_not_broadcast_to_x_is_refused(fill: str) -> None:
    value = eval(fill)  # noqa: S307 - literal lists of the cases above
    inp = keras.Input((4, 6))
    assert _fails(lambda: keras.Model(inp, keras.ops.full_like(inp, value)).predict(np.ones((3, 4, 6)), verbose=0))
    diag = _error(_spec(f"{{op: full_like, in: x, fill_value: {fill}}}"))
    assert diag.path == ("nodes", "o") and "does not broadcast to x's shape (None, 4, 6)" in diag.message


def test_full_like_with_a_fill_value_that_broadcasts_builds_and_predicts() -> None:
    out = _predict(_spec("{op: full_like, in: x, fill_value: [1, 2, 3, 4, 5, 6]}"), np.zeros((3, 4, 6), "float32"))
    assert out.shape == (3, 4, 6) and (out[2, 3] == [1, 2, 3, 4, 5, 6]).all()
    load_spec(_spec("{op: full_like, in: x, fill_value: [[1], [2], [3], [4]]}"))
    load_spec(_spec("{op: full_like, in: x, fill_value: [[1, 2, 3, 4, 5, 6]]}"))
    load_spec(_spec("{op: full_like, in: x, fill_value: 7}"))


# -- Discretization ------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("{}", "needs its bin boundaries"),
        ("{num_bins: 3}", "needs its bin boundaries"),
        ("{bin_boundaries: [2.0, 1.0]}", "not in ascending order"),
        ("{bin_boundaries: 1.0}", "a list of numbers"),
    ],
)
def test_discretization_without_sorted_bin_boundaries_is_refused(config: str, says: str) -> None:
    diag = _error(_spec(f"{{type: KerasLayer, class_name: Discretization, config: {config}, in: x}}", shape="[3]"))
    assert diag.path == ("nodes", "o") and "config.bin_boundaries" in diag.message and says in diag.message


def test_keras_fails_on_a_discretization_never_adapted() -> None:
    layer = keras.layers.Discretization(num_bins=3)
    assert _fails(lambda: layer(np.ones((2, 3), "float32")))


def test_discretization_with_bin_boundaries_builds_and_predicts() -> None:
    text = _spec("{type: KerasLayer, class_name: Discretization, config: {bin_boundaries: [1.0, 2.0]}, in: x}", "[3]")
    out = _predict(text, np.array([[0.5, 1.5, 2.5]], "float32"))
    assert out.tolist() == [[0, 1, 2]]


# -- the output-size bound on every op ----------------------------------------
@pytest.mark.parametrize(
    "node",
    [
        "{op: pad, in: x, pad_width: [[0, 0], [0, 400000000], [0, 0]]}",
        "{op: tile, in: x, repeats: [1, 400000000, 1]}",
        "{op: repeat, in: x, repeats: 400000000, axis: 1}",
    ],
)
def test_an_op_past_the_bound_on_an_axis_of_unknown_size_is_refused(node: str) -> None:
    """``pad`` of an axis of unknown size by 4e8 has static shape (None, None, 6): the bound saw 6 values."""
    diag = _error(_spec(node, shape="[null, 6]"))
    op = node.split(",")[0].split()[-1]
    assert diag.path == ("nodes", "o")
    assert f"op {op} outputs at least 2,400,000,00" in diag.message and "2,147,483,647" in diag.message


@pytest.mark.parametrize(
    "node",
    [
        "{op: pad, in: x, pad_width: [[0, 0], [0, 400000000], [0, 0]]}",
        "{op: tile, in: x, repeats: [1, 400000000, 1]}",
        "{op: repeat, in: x, repeats: 400000000, axis: 1}",
    ],
)
def test_an_op_past_the_bound_on_known_axes_names_the_op(node: str) -> None:
    diag = _error(_spec(node, shape="[4, 6]"))
    op = node.split(",")[0].split()[-1]
    assert (
        diag.path == ("nodes", "o")
        and f"op {op} outputs " in diag.message
        and "the limit is 2,147,483,647" in diag.message
    )


@pytest.mark.parametrize(
    "node",
    [
        "{op: pad, in: x, pad_width: [[0, 0], [0, 4], [0, 0]]}",
        "{op: tile, in: x, repeats: [1, 3, 1]}",
        "{op: reshape, in: x, newshape: [-1, 3, 2]}",
    ],
)
def test_ops_within_the_bound_on_axes_of_unknown_size_validate(node: str) -> None:
    load_spec(_spec(node, shape="[null, 6]"))


def test_pad_of_an_axis_of_unknown_size_builds_and_predicts() -> None:
    out = _predict(
        _spec("{op: pad, in: x, pad_width: [[0, 0], [1, 2], [0, 0]]}", shape="[null, 6]"), np.ones((2, 5, 6), "float32")
    )
    assert out.shape == (2, 8, 6)


def test_broadcast_to_past_the_bound_is_refused_and_within_it_validates() -> None:
    """``sum`` without an axis gives a scalar, which ``broadcast_to`` may widen to any fixed shape."""
    diag = _error(CHAIN % ("[4]", "float32", "{op: sum, in: x}", "{op: broadcast_to, in: h, shape: [100000, 100000]}"))
    assert diag.path == ("nodes", "o") and "op broadcast_to outputs 10,000,000,000 values" in diag.message
    load_spec(CHAIN % ("[4]", "float32", "{op: sum, in: x}", "{op: broadcast_to, in: h, shape: [100, 100]}"))
