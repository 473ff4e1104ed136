"""Op nodes: the static shape of every supported keras.ops function against Keras's own.

Each case applies the op to symbolic Keras tensors (Keras computes the result
with the op's ``compute_output_spec``) and compares with netform's pure-Python
rule; Hypothesis then draws shapes for the ops whose rules do real work.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import inspect
from typing import Any

import keras
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netform._compat._graph_nodes import history, op_function_name
from netform.spec._layer_base import ShapeError
from netform.spec.layers.ops import _MISSING, OPS, Op, format_index, parse_index


class T:
    """A tensor argument of a case: its full shape (batch first) and dtype."""

    def __init__(self, *shape: int | None, dtype: str = "float32") -> None:
        self.shape = tuple(shape)
        self.dtype = dtype


X = T(None, 3, 4)
INT = "int32"

#: op → (in, settings); tensors are T, anything else a constant
CASES: dict[str, list[tuple[list[Any], dict[str, Any]]]] = {
    "round": [([X], {"decimals": 1})],
    "gelu": [([X], {"approximate": False})],
    "elu": [([X], {"alpha": 0.5})],
    "celu": [([X], {})],
    "leaky_relu": [([X], {"negative_slope": 0.1})],
    "squareplus": [([X], {})],
    "soft_shrink": [([X], {})],
    "hard_shrink": [([X], {})],
    "threshold": [([X], {"threshold": 0.1, "default_value": 0.0})],
    "softmax": [([X], {"axis": 1})],
    "log_softmax": [([X], {})],
    "sparsemax": [([X], {})],
    "glu": [([X], {}), ([T(None, 6, 3)], {"axis": 1})],
    "normalize": [([X], {"axis": 1})],
    "cast": [([X], {"dtype": "float16"})],
    "clip": [([X], {"x_min": 0.0, "x_max": 6.0})],
    "nan_to_num": [([X], {})],
    "where": [([T(None, 3, 4, dtype="bool"), X, 0.0], {}), ([T(None, 1, 4, dtype="bool"), T(None, 3, 1), X], {})],
    "reshape": [([X], {"newshape": [-1, 12]}), ([X], {"newshape": [-1, 2, 6]}), ([T(2, 3, 4)], {"newshape": [4, -1]})],
    "transpose": [([X], {"axes": [0, 2, 1]}), ([X], {})],
    "expand_dims": [([X], {"axis": 1}), ([X], {"axis": -1}), ([X], {"axis": [1, 3]})],
    "squeeze": [([T(None, 1, 4, 1)], {}), ([T(None, 1, 4, 1)], {"axis": 1})],
    "concatenate": [([X, X], {"axis": -1}), ([X, T(None, 5, 4)], {"axis": 1})],
    "ones_like": [([X], {"dtype": "int32"})],
    "zeros_like": [([X], {})],
    "heaviside": [([X, T(None, 1, 4)], {})],
    "hypot": [([X, T(None, 1, 4)], {})],
    "stack": [([X, X], {"axis": 1}), ([X, X, X], {})],
    "split": [([T(None, 3, 4)], {"indices_or_sections": 2, "axis": -1}),
              ([T(None, 7, 4)], {"indices_or_sections": [2, 5], "axis": 1})],
    "getitem": [([X], {"index": "[:, 0]"}), ([X], {"index": "[..., 1:3]"}), ([X], {"index": "[:, None, ::2]"}),
                ([T(2, 3, 4)], {"index": "[0]"}), ([X], {"index": "[:, -1, 1:]"})],
    "ravel": [([T(2, 3, 4)], {})],
    "repeat": [([X], {"repeats": 2, "axis": 1}), ([T(2, 3)], {"repeats": 3})],
    "tile": [([X], {"repeats": [1, 2, 3]}), ([X], {"repeats": 2})],
    "moveaxis": [([T(None, 3, 4, 5)], {"source": 1, "destination": -1})],
    "swapaxes": [([X], {"axis1": 1, "axis2": 2})],
    "matmul": [([X, T(None, 4, 5)], {}), ([X, T(4, 2)], {}), ([X, T(4)], {}), ([T(4), T(None, 4, 2)], {})],
    "top_k": [([X], {"k": 2})],
    "one_hot": [([T(None, 3, dtype=INT)], {"num_classes": 5}), ([T(None, 3, dtype=INT)], {"num_classes": 5, "axis": 1})],
    "logsumexp": [([X], {"axis": 1}), ([X], {})],
    "norm": [([X], {"axis": -1}), ([X], {"axis": -1, "keepdims": True})],
    "cumsum": [([X], {"axis": 1})],
    "cumprod": [([X], {"axis": 1})],
    "image.resize": [([T(None, 8, 8, 3)], {"size": [4, 6]}), ([T(8, 8, 3)], {"size": [16, 16]})],
    "stop_gradient": [([X], {})],
    "flip": [([X], {"axis": 1})],
    "roll": [([X], {"shift": 2, "axis": 2})],
    "sort": [([X], {})],
    "argsort": [([X], {"axis": 1})],
    "triu": [([X], {"k": 1})],
    "tril": [([X], {})],
    "full_like": [([X], {"fill_value": 2.0})],
    "broadcast_to": [([T(3, 1)], {"shape": [2, 3, 4]})],
    "pad": [([T(2, 3, 4)], {"pad_width": [[0, 0], [1, 2], [0, 3]]}), ([T(None, 3)], {"pad_width": [[0, 0], [2, 2]]})],
    "take": [([X, T(None, 5, dtype=INT)], {"axis": 1}), ([X, [0, 2]], {"axis": 2})],
    "outer": [([T(3), T(2, 2)], {})],
    "moments": [([X], {"axes": [1]}), ([X], {"axes": [1, 2], "keepdims": True})],
    "average": [([X], {"axis": 1})],
    "median": [([X], {"axis": 2, "keepdims": True})],
    "count_nonzero": [([X], {"axis": 1})],
    "append": [([X, T(None, 2, 4)], {"axis": 1}), ([T(2, 3), T(4)], {})],
    "diff": [([X], {"n": 2, "axis": 2})],
    "slice": [([T(4, 6)], {"start_indices": [1, 2], "shape": [2, 3]})],
    "max_pool": [([T(None, 8, 8, 3)], {"pool_size": 2}), ([T(None, 9, 3)], {"pool_size": 3, "strides": 2,
                                                                          "padding": "same"})],
    "average_pool": [([T(None, 8, 8, 3)], {"pool_size": [2, 3], "strides": 1})],
    "image.rgb_to_grayscale": [([T(None, 8, 8, 3)], {})],
    "einsum": [([X, T(None, 5, 4)], {"subscripts": "bij,bkj->bik"}), ([T(2, 3), T(3, 4)], {"subscripts": "ij,jk"}),
               ([X, T(4, 2)], {"subscripts": "bij,jk->bik"}), ([X], {"subscripts": "bij->b"})],
    "max": [([X], {"axis": 1}), ([X], {})],
    "min": [([X], {"axis": [1, 2], "keepdims": True})],
    "argmax": [([X], {"axis": -1})],
    "argmin": [([X], {"axis": 1, "keepdims": True})],
}
for _name in ("mean", "sum", "prod", "any", "all", "var", "std"):
    CASES.setdefault(_name, [([X], {"axis": 1}), ([X], {"axis": [1, 2], "keepdims": True}), ([X], {})])
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"):
    CASES[_name] = [([T(None, 3, 4, dtype=INT), T(4, dtype=INT)], {}), ([T(None, 3, 4, dtype=INT), T(3, 1, dtype=INT)], {})]
for _name, _spec in OPS.items():
    if _name in CASES:
        continue
    if _spec.names == ("x",):
        CASES[_name] = [([X], {})]
    elif _spec.names == ("x1", "x2"):
        CASES[_name] = [([X, T(None, 1, 4)], {}), ([X, 0.5], {}), ([2.0, X], {}), ([T(None, 3, 1), T(4)], {})]


#: keras.ops names that are other names for one operation: Keras records (and from_keras writes) the second
ALIASES = {"abs": "absolute", "conj": "conjugate", "hard_swish": "hard_silu", "swish": "silu"}


def _symbolic(value: Any) -> Any:
    if isinstance(value, T):
        return keras.KerasTensor(value.shape, dtype=value.dtype)
    return value


def _keras_shape(op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    values = [_symbolic(a) for a in args]
    if op == "getitem":
        out = values[0][parse_index(kwargs["index"])]
    else:
        fn: Any = keras.ops
        for part in op.split("."):
            fn = getattr(fn, part)
        out = fn(values, **kwargs) if OPS[op].list_input else fn(kwargs["subscripts"], *values) \
            if OPS[op].operands else fn(*values, **kwargs)
    return [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else tuple(out.shape)


def _netform_shape(op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    written = [f"t{i}" if isinstance(a, T) else a for i, a in enumerate(args)]
    node = Op(op=op, args=tuple(written), kwargs=kwargs)
    shapes = [a.shape for a in args if isinstance(a, T)]
    return node.output_shape(shapes if len(shapes) > 1 else shapes[0])


@pytest.mark.parametrize(("op", "args", "kwargs"),
                         [(op, a, k) for op, cases in sorted(CASES.items()) for a, k in cases],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_static_shape_equals_keras(op: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    assert _netform_shape(op, args, kwargs) == _keras_shape(op, args, kwargs)


def test_every_op_has_a_case() -> None:
    assert set(CASES) == set(OPS)


@pytest.mark.parametrize("op", sorted(set(OPS) - {"getitem"}))
def test_signature_equals_keras_ops(op: str) -> None:
    fn: Any = keras.ops
    for part in op.split("."):
        fn = getattr(fn, part)
    keras_params = [(p.name, _MISSING if p.default is p.empty else p.default)
                    for p in inspect.signature(fn).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if OPS[op].operands:
        assert any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(fn).parameters.values())
    assert keras_params == list(OPS[op].params)


@pytest.mark.parametrize("op", sorted(OPS))
def test_keras_graph_names_the_op(op: str) -> None:
    """The operation Keras records for the call is read back as the same op name (what from_keras writes)."""
    args, kwargs = CASES[op][0]
    values = [_symbolic(a) for a in args]
    if op == "getitem":
        out = values[0][parse_index(kwargs["index"])]
    else:
        fn: Any = keras.ops
        for part in op.split("."):
            fn = getattr(fn, part)
        out = fn(values, **kwargs) if OPS[op].list_input else fn(kwargs["subscripts"], *values) \
            if OPS[op].operands else fn(*values, **kwargs)
    tensor = out[0] if isinstance(out, (list, tuple)) else out
    assert op_function_name(history(tensor)[0]) == ALIASES.get(op, op)


@pytest.mark.parametrize(("op", "args", "kwargs", "message"), [
    ("add", [T(None, 3), T(None, 4)], {}, "do not broadcast"),
    ("reshape", [T(2, 3, 4)], {"newshape": [5, -1]}, "cannot reshape"),
    ("concatenate", [T(None, 3), T(None, 3, 1)], {"axis": 1}, "one rank"),
    ("matmul", [T(None, 3, 4), T(5, 2)], {}, "last axis of x1"),
    ("getitem", [T(None, 3)], {"index": "[:, 5]"}, "out of range"),
    ("split", [T(None, 5)], {"indices_or_sections": 2, "axis": 1}, "equal parts"),
    ("mean", [T(None, 3)], {"axis": 2}, "out of range"),
    ("split", [T(None, 4)], {"indices_or_sections": 0, "axis": 1}, "a number of equal parts is 1 or more"),
])
def test_bad_shapes_are_refused_as_keras_refuses_them(op: str, args: list[Any], kwargs: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        _netform_shape(op, args, kwargs)
    with pytest.raises(Exception):  # noqa: B017 - Keras's error types vary by op; that it refuses is the point
        _keras_shape(op, args, kwargs)


def test_index_text_round_trips() -> None:
    for text in ["[:, 0]", "[..., 1:3]", "[:, None, ::2]", "[0]", "[-1, 1:, :-1:2]"]:
        assert format_index(parse_index(text)) == text
    with pytest.raises(ShapeError, match="not an integer, a slice"):
        parse_index("[x]")
    with pytest.raises(ShapeError, match="index must be text"):
        parse_index("0")
    with pytest.raises(ShapeError, match="is not an integer, a slice"):  # no 500-digit int() call
        parse_index("[" + "9" * 500 + "]")
    with pytest.raises(ShapeError, match="index text is 200,002 characters long"):
        parse_index("[" + " " * 200_000 + "]")


_dims = st.lists(st.integers(1, 5), min_size=1, max_size=4)


def _maybe_none(dims: list[int], mask: list[bool]) -> tuple[int | None, ...]:
    return tuple(None if m else d for d, m in zip(dims, mask + [False] * len(dims)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dims, st.lists(st.booleans(), max_size=4), st.integers(0, 4), st.lists(st.booleans(), max_size=4),
       st.lists(st.booleans(), max_size=4))
def test_broadcasting_equals_keras(dims: list[int], unknown: list[bool], cut: int, ones: list[bool],
                                   unknown2: list[bool]) -> None:
    a = (None, *_maybe_none(dims, unknown))
    other = [1 if o else d for d, o in zip(dims, ones + [False] * len(dims))][cut:]
    b = _maybe_none(other, unknown2) if other else (1,)
    assert _netform_shape("multiply", [T(*a), T(*b)], {}) == _keras_shape("multiply", [T(*a), T(*b)], {})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dims, st.data())
def test_reductions_and_index_equal_keras(dims: list[int], data: st.DataObject) -> None:
    shape = (None, *dims)
    rank = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-rank, rank - 1)))
    keep = data.draw(st.booleans())
    op = data.draw(st.sampled_from(["mean", "sum", "max", "argmax"]))
    if op == "argmax" and axis is None:
        keep = False
    kwargs = {"axis": axis, "keepdims": keep}
    assert _netform_shape(op, [T(*shape)], kwargs) == _keras_shape(op, [T(*shape)], kwargs)
    items = []
    for d in dims[: data.draw(st.integers(0, len(dims)))]:
        items.append(data.draw(st.one_of(st.integers(-d, d - 1).map(str),
                                         st.tuples(st.integers(-d, d), st.integers(-d, d)).map(lambda t: f"{t[0]}:{t[1]}"),
                                         st.just("::2"))))
    items.insert(data.draw(st.integers(0, len(items))), "None")
    items += ["..."] if data.draw(st.booleans()) else []
    index = "[:" + "".join(", " + i for i in items) + "]"
    assert _netform_shape("getitem", [T(*shape)], {"index": index}) == _keras_shape("getitem", [T(*shape)],
                                                                                       {"index": index})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.data())
def test_reshape_transpose_concatenate_equal_keras(dims: list[int], data: st.DataObject) -> None:
    shape = (None, *dims)
    minus = data.draw(st.integers(0, len(dims) - 1))
    new = [-1 if i == minus else d for i, d in enumerate(dims)]
    assert _netform_shape("reshape", [T(*shape)], {"newshape": [-1, *dims]}) == \
        _keras_shape("reshape", [T(*shape)], {"newshape": [-1, *dims]})
    fixed = (2, *dims)
    assert _netform_shape("reshape", [T(*fixed)], {"newshape": [2, *new]}) == \
        _keras_shape("reshape", [T(*fixed)], {"newshape": [2, *new]})
    axes = [0, *data.draw(st.permutations(range(1, len(shape))))]
    assert _netform_shape("transpose", [T(*shape)], {"axes": axes}) == _keras_shape("transpose", [T(*shape)],
                                                                                      {"axes": axes})
    axis = data.draw(st.integers(-len(dims), len(dims)))
    other = tuple(d + 1 if i == axis % len(shape) else d for i, d in enumerate(shape[1:], 1))
    case = [T(*shape), T(None, *other)]
    assert _netform_shape("concatenate", case, {"axis": axis}) == _keras_shape("concatenate", case, {"axis": axis})
