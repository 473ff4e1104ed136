"""Op nodes that passed validate, then failed at build or predict with Keras's or TensorFlow's own error.

Each bad spec is now a located SpecError on its node, naming the fix: an axis named twice (also as a
negative axis) in any op's axis list (expand_dims, reductions, moments, flip, moveaxis…), a negative
integer power or an integer division by zero of an integer tensor by a constant, ``clip`` of an integer
tensor with float bounds, ``tril``/``triu`` with a ``k`` TensorFlow does not take, ``normalize`` with an
order below 1, ``norm`` with an order its number of axes does not take, ``image.resize`` to an empty
size, ``rgb_to_grayscale`` of images that are neither RGB nor gray, and ``average`` with weights that fit
no axis. Each refusal is checked against Keras on real tensors, and a good spec beside it validates and
builds (a few also predict). An error Keras raises of a type of its own while an op is built is a
BuildError naming the node, never the raw error.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dataclasses
import json
from typing import Any, Callable

import numpy as np
import pytest

from netform.errors import BuildError
from netform.spec import load_spec

from ._helpers import ONE_NODE_SPEC, first_located_error

SPEC = ONE_NODE_SPEC


def _spec(node: str, shape: str = "[4, 6]", dtype: str = "float32") -> str:
    return SPEC % (shape, dtype, node)


_error = first_located_error


def _fails(fn: Callable[[], Any]) -> bool:
    try:
        np.asarray(fn())
    except Exception:  # noqa: BLE001 - TensorFlow's error types differ by op; failing is the point
        return True
    return False


def _predict(text: str, x: np.ndarray) -> Any:
    import netform as nf

    model = nf.build(load_spec(text))
    return model.predict(x, verbose=0)


X = np.random.default_rng(0).random((2, 4, 6)).astype("float32")
XI = np.arange(8, dtype="int32").reshape(2, 4) + 1


def _ops() -> Any:
    import keras

    return keras.ops


# -- an axis named twice ---------------------------------------------------------
TWICE = [
    ("{op: expand_dims, in: x, axis: [1, 1]}", "axis [1, 1] names axis 1 twice", None),
    ("{op: logsumexp, in: x, axis: [1, 1]}", "axis [1, 1] names axis 1 twice", lambda o: o.logsumexp(X, axis=[1, 1])),
    ("{op: moments, in: x, axes: [1, 1]}", "axes [1, 1] names axis 1 twice", lambda o: o.moments(X, axes=[1, 1])),
    ("{op: median, in: x, axis: [1, -2]}", "axis [1, -2] names axis 1 twice", lambda o: o.median(X, axis=[1, -2])),
    ("{op: count_nonzero, in: x, axis: [2, 2]}", "names axis 2 twice", lambda o: o.count_nonzero(X, axis=[2, 2])),
    ("{op: mean, in: x, axis: [2, -1]}", "names axis 2 twice", lambda o: o.mean(X, axis=[2, -1])),
    ("{op: sum, in: x, axis: [1, 1], keepdims: true}", "names axis 1 twice", lambda o: o.sum(X, axis=[1, 1])),
    ("{op: std, in: x, axis: [1, 1]}", "names axis 1 twice", lambda o: o.std(X, axis=[1, 1])),
    ("{op: norm, in: x, axis: [1, 1]}", "names axis 1 twice", lambda o: o.norm(X, axis=[1, 1])),
    ("{op: flip, in: x, axis: [1, 1]}", "names axis 1 twice", lambda o: o.flip(X, axis=[1, 1])),
    ("{op: normalize, in: x, axis: [1, 1]}", "names axis 1 twice", lambda o: o.normalize(X, axis=[1, 1])),
]


@pytest.mark.parametrize(("node", "says", "keras_call"), TWICE)
def test_an_axis_named_twice_is_refused_at_its_node(node: str, says: str, keras_call: Any) -> None:
    diag = _error(_spec(node))
    assert says in diag.message and "give each axis once" in diag.message
    assert diag.path == ("nodes", "o")
    if keras_call is not None:
        assert _fails(lambda: keras_call(_ops()))


def test_keras_fails_to_build_expand_dims_with_an_axis_named_twice() -> None:
    import keras

    with pytest.raises(StopIteration):
        keras.ops.expand_dims(keras.Input((4, 6)), axis=[1, 1])


@pytest.mark.parametrize(
    "node",
    [
        "{op: expand_dims, in: x, axis: [1, 2]}",
        "{op: logsumexp, in: x, axis: [1, 2]}",
        "{op: moments, in: x, axes: [1, -1]}",
        "{op: median, in: x, axis: [1, -1]}",
        "{op: count_nonzero, in: x, axis: [1, 2]}",
    ],
)
def test_distinct_axes_still_validate_and_build(node: str) -> None:
    import netform as nf

    nf.build(load_spec(_spec(node)))


def test_a_keras_error_of_its_own_while_an_op_is_built_is_a_build_error_naming_the_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were a rule to let such an op through, building it still raises netform's own error."""
    import netform as nf
    from netform.spec.layers import ops

    loose = dataclasses.replace(ops.OPS["expand_dims"], rule=lambda a: (None, 1, 1, 4, 6))
    monkeypatch.setitem(ops.OPS, "expand_dims", loose)
    spec = load_spec(_spec("{op: expand_dims, in: x, axis: [1, 1]}"))
    with pytest.raises(BuildError, match=r"node 'o'.*keras\.ops\.expand_dims failed on its arguments.*StopIteration"):
        nf.build(spec)


# -- integer tensors and constants ----------------------------------------------
INTEGER = [
    ("{op: power, in: [x, -1]}", "negative power", lambda o: o.power(XI, -1)),
    (
        "{op: power, in: [x, [1, -2, 1, 1]]}",
        "negative power",
        lambda o: o.power(XI, o.convert_to_tensor([1, -2, 1, 1])),
    ),
    ("{op: floor_divide, in: [x, 0]}", "division by zero", lambda o: o.floor_divide(XI, 0)),
    ("{op: mod, in: [x, 0]}", "division by zero", lambda o: o.mod(XI, 0)),
    ("{op: mod, in: [x, [1, 2, 0, 3]]}", "division by zero", lambda o: o.mod(XI, o.convert_to_tensor([1, 2, 0, 3]))),
    ("{op: clip, in: [x, 0.5, 0.2]}", "float x_min", lambda o: o.clip(XI, 0.5, 0.2)),
    ("{op: clip, in: [x, 0, 2.5]}", "float x_max", lambda o: o.clip(XI, 0, 2.5)),
    ("{op: clip, in: x, x_min: 0, x_max: 2.5}", "float x_max", lambda o: o.clip(XI, 0, 2.5)),
]


@pytest.mark.parametrize(("node", "says", "keras_call"), INTEGER)
def test_integer_arithmetic_tensorflow_refuses_is_refused_at_its_node(node: str, says: str, keras_call: Any) -> None:
    diag = _error(_spec(node, "[4]", "int32"))
    assert says in diag.message and "input 'x'" in diag.message
    assert diag.path == ("nodes", "o")
    assert _fails(lambda: keras_call(_ops()))


def test_integer_arithmetic_keras_runs_still_predicts() -> None:
    """The same ops with a float operand, a float input, a positive power or a nonzero divisor run."""
    good = [
        ("{op: power, in: [x, -1.0]}", "int32", lambda o: o.power(XI, -1.0)),
        ("{op: power, in: [x, 2]}", "int32", lambda o: o.power(XI, 2)),
        ("{op: floor_divide, in: [x, 0.0]}", "int32", lambda o: o.floor_divide(XI, 0.0)),
        ("{op: mod, in: [x, 3]}", "int32", lambda o: o.mod(XI, 3)),
        ("{op: clip, in: [x, 0, 2]}", "int32", lambda o: o.clip(XI, 0, 2)),
        ("{op: floor_divide, in: [x, 0]}", "float32", lambda o: o.floor_divide(XI.astype("float32"), 0)),
        ("{op: clip, in: [x, 0.5, 2.5]}", "float32", lambda o: o.clip(XI.astype("float32"), 0.5, 2.5)),
    ]
    for node, dtype, keras_call in good:
        out = _predict(_spec(node, "[4]", dtype), XI.astype(dtype))
        np.testing.assert_allclose(np.asarray(out), np.asarray(keras_call(_ops())))


def test_integer_arithmetic_after_a_cast_to_int_is_refused() -> None:
    text = SPEC.replace("  o: %s\n", "  c: {op: cast, in: x, dtype: int32}\n  o: %s\n") % (
        "[4]",
        "float32",
        "{op: floor_divide, in: [c, 0]}",
    )
    assert "division by zero" in _error(text).message


# -- tril / triu k -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("node", "keras_call"),
    [
        ("{op: tril, in: x, k: 100000000000}", lambda o: o.tril(X, k=10**11)),
        ("{op: tril, in: x, k: 7}", lambda o: o.tril(X, k=7)),
        ("{op: triu, in: x, k: -5}", lambda o: o.triu(X, k=-5)),
        ("{op: triu, in: x, k: 9223372036854775808}", lambda o: o.triu(X, k=2**63)),
        ("{op: tril, in: x, k: -9223372036854775809}", lambda o: o.tril(X, k=-(2**63) - 1)),
    ],
)
def test_tril_triu_with_a_k_tensorflow_refuses_is_refused(node: str, keras_call: Any) -> None:
    diag = _error(_spec(node))
    assert "is outside what TensorFlow's" in diag.message and diag.path == ("nodes", "o")
    assert _fails(lambda: keras_call(_ops()))


def test_tril_triu_with_k_in_range_predict_as_keras() -> None:
    ops = _ops()
    for node, keras_call in [
        ("{op: tril, in: x, k: 6}", lambda: ops.tril(X, k=6)),
        ("{op: tril, in: x, k: -100000000000}", lambda: ops.tril(X, k=-(10**11))),
        ("{op: triu, in: x, k: -4}", lambda: ops.triu(X, k=-4)),
        ("{op: triu, in: x, k: 100000000000}", lambda: ops.triu(X, k=10**11)),
    ]:
        np.testing.assert_allclose(np.asarray(_predict(_spec(node), X)), np.asarray(keras_call()))


# -- normalize order, norm ord, resize size, grayscale channels, average weights -------------
@pytest.mark.parametrize("order", ["0", "-1", "1.5"])
def test_normalize_with_an_order_below_one_or_not_whole_is_refused(order: str) -> None:
    diag = _error(_spec(f"{{op: normalize, in: x, order: {order}}}"))
    assert "whole order p ≥ 1" in diag.message
    assert _fails(lambda: _ops().normalize(X, order=float(order) if "." in order else int(order)))


def test_normalize_with_order_three_predicts() -> None:
    out = _predict(_spec("{op: normalize, in: x, order: 3}"), X)
    np.testing.assert_allclose(np.asarray(out), np.asarray(_ops().normalize(X, order=3)), rtol=1e-5)


@pytest.mark.parametrize(
    ("node", "says", "keras_call"),
    [
        ("{op: norm, in: x, ord: 3, axis: [1, 2]}", "matrix norm", lambda o: o.norm(X, ord=3, axis=[1, 2])),
        ("{op: norm, in: x, ord: fro, axis: 1}", "vector norm", lambda o: o.norm(X, ord="fro", axis=1)),
        ("{op: norm, in: x}", "norm over 3 axes", lambda o: o.norm(X)),
    ],
)
def test_norm_with_an_ord_or_axes_keras_refuses_is_refused(node: str, says: str, keras_call: Any) -> None:
    diag = _error(_spec(node))
    assert says in diag.message
    assert _fails(lambda: keras_call(_ops()))


def test_norm_with_orders_keras_takes_builds() -> None:
    import netform as nf

    for node in ["{op: norm, in: x, ord: 3, axis: 1}", "{op: norm, in: x, ord: nuc, axis: [1, 2]}"]:
        nf.build(load_spec(_spec(node)))
    out = _predict(_spec("{op: norm, in: x, ord: -.inf, axis: [1, 2]}"), X)
    np.testing.assert_allclose(np.asarray(out), np.asarray(_ops().norm(X, ord=-np.inf, axis=[1, 2])), rtol=1e-5)


@pytest.mark.parametrize("size", ["[0, 0]", "[-1, 3]", "[4, 0]"])
def test_resize_to_an_empty_size_is_refused(size: str) -> None:
    diag = _error(_spec(f"{{op: image.resize, in: x, size: {size}}}", "[8, 8, 4]"))
    assert "height and width of 1 or more" in diag.message
    assert _fails(
        lambda: _ops().image.resize(np.ones((1, 8, 8, 4), "float32"), [int(v) for v in size[1:-1].split(",")])
    )


@pytest.mark.parametrize(("shape", "data_format"), [("[8, 8, 4]", "channels_last"), ("[2, 8, 8]", "channels_first")])
def test_rgb_to_grayscale_of_images_neither_rgb_nor_gray_is_refused(shape: str, data_format: str) -> None:
    diag = _error(_spec(f"{{op: image.rgb_to_grayscale, in: x, data_format: {data_format}}}", shape))
    assert "3 channels (RGB) or 1" in diag.message
    assert _fails(lambda: _ops().image.rgb_to_grayscale(np.ones((1, 8, 8, 4), "float32")))


def test_rgb_to_grayscale_of_rgb_and_gray_images_builds() -> None:
    import netform as nf

    for shape in ("[8, 8, 3]", "[8, 8, 1]"):
        nf.build(load_spec(_spec("{op: image.rgb_to_grayscale, in: x}", shape)))


@pytest.mark.parametrize(
    "node",
    [
        "{op: average, in: x, axis: 1, weights: [1, 2]}",
        "{op: average, in: x, axis: 2, weights: [[1, 2, 3, 4, 5, 6]]}",
        "{op: average, in: x, weights: [1, 2, 3, 4]}",
    ],
)
def test_average_with_weights_that_fit_no_axis_is_refused(node: str) -> None:
    diag = _error(_spec(node))
    assert "weights of shape" in diag.message and "do not fit x" in diag.message
    assert _fails(lambda: _ops().average(X, axis=1, weights=_ops().convert_to_tensor([1.0, 2.0])))


def test_average_with_one_weight_per_value_on_its_axis_predicts() -> None:
    out = _predict(_spec("{op: average, in: x, axis: 1, weights: [1, 2, 3, 4]}"), X)
    want = _ops().average(X, axis=1, weights=_ops().convert_to_tensor([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-5)


@pytest.mark.parametrize(
    ("node", "says"),
    [("{op: floor_divide, in: [x, 0]}", "division by zero"), ("{op: clip, in: [x, 0, 1.5]}", "float x_max")],
)
def test_integer_arithmetic_on_a_bool_input_is_refused_as_tensorflow_refuses_it(node: str, says: str) -> None:
    assert says in _error(_spec(node, "[4]", "bool")).message
    b = np.array([[True, False, True, True]])
    assert _fails(lambda: _ops().floor_divide(b, 0)) and _fails(lambda: _ops().clip(b, 0, 1.5))


def test_roll_takes_an_axis_twice_as_tensorflow_does() -> None:
    """TensorFlow's roll adds up the shifts of an axis given twice: that is not an axis named twice by mistake."""
    x = np.arange(12, dtype="float32").reshape(1, 2, 6)
    out = _predict(_spec("{op: roll, in: x, shift: [1, 2], axis: [2, 2]}", "[2, 6]"), x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(_ops().roll(x, [1, 2], axis=[2, 2])))
    np.testing.assert_allclose(np.asarray(out), np.roll(x, 3, axis=2))


@pytest.mark.parametrize(("shift", "axis"), [("1", "[1, 2]"), ("[1, 2]", "2"), ("[1, 2]", "[2]"), ("[1, 2]", "null")])
def test_roll_with_not_one_shift_per_axis_is_refused(shift: str, axis: str) -> None:
    diag = _error(_spec(f"{{op: roll, in: x, shift: {shift}, axis: {axis}}}", "[2, 6]"))
    assert "one shift per axis" in diag.message
    x = np.ones((1, 2, 6), "float32")
    assert _fails(lambda: _ops().roll(x, json.loads(shift), axis=json.loads(axis)))
