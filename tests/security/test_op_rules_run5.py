"""Op nodes whose static shape claimed what the runtime does not honour.

``validate`` said ok for ``reshape`` to a size that does not divide the sample, ``slice`` of the batch axis
(8 inputs, 1 prediction), and ``cast`` to ``string``/``object``; each is now refused where it is written.
A scan runs every op case of ``test_op_shapes`` on real tensors of batch 1 and 3 and checks each size the
static rule claims.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import textwrap
from typing import Any

import keras
import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec.layers.ops import DTYPES, Op
from tests.spec.test_op_shapes import CASES, OPS, T, _netform_shape

SPEC = textwrap.dedent("""\
    netform: 1
    name: f
    kind: functional
    inputs:
      x: {shape: [4, 6]}
    nodes:
      o: %s
    outputs: [o]
    """)


def _error(node: str) -> Any:
    with pytest.raises(SpecError) as info:
        load_spec(SPEC % node)
    return info.value.diagnostics[0]


def _run(op: str, batch: int, **kwargs: Any) -> tuple[int, ...] | None:
    """The shape keras.ops gives on a real (batch, 4, 6) tensor, or None when it fails."""
    try:
        return tuple(getattr(keras.ops, op)(np.ones((batch, 4, 6), "float32"), **kwargs).shape)
    except Exception:  # noqa: BLE001 - any failure of Keras or TensorFlow is the point
        return None


def _static(op: str, **kwargs: Any) -> tuple[Any, ...] | None:
    try:
        return tuple(Op(op=op, args=("x",), kwargs=kwargs).output_shape((None, 4, 6)))
    except Exception as err:  # noqa: BLE001
        assert "op " + op in str(err)
        return None


def _honoured(static: tuple[Any, ...], runs: list[tuple[int, ...] | None], batches: tuple[int, ...]) -> bool:
    """Keras runs for every batch, with the batch first and every size the static shape claims."""
    return all(r is not None and len(r) == len(static) and (not r or r[0] == b) and
               all(s is None or s == d for s, d in zip(static, r)) for r, b in zip(runs, batches))


RESHAPES = [[-1, 25], [-1, 24], [-1, 4, 6], [-1, 2, 12], [-1, 0], [0, -1], [8, 24], [3, -1], [-1, 5, 5],
            [-1, 12, 2], [1, -1], [-1, 48]]
SLICES = [([0, 0, 0], [1, 1, 1]), ([0, 0, 0], [-1, 1, 1]), ([0, 1, 2], [-1, 3, 4]), ([1, 0, 0], [-1, 4, 6]),
          ([0, 0, 0], [-1, -1, -1]), ([0, 2, 0], [-1, -1, 6]), ([0, 0, 0], [3, 4, 6])]


@pytest.mark.parametrize("newshape", RESHAPES, ids=str)
def test_reshape_validates_exactly_when_keras_gives_one_result_per_sample(newshape: list[int]) -> None:
    static = _static("reshape", newshape=newshape)
    runs = [_run("reshape", b, newshape=newshape) for b in (1, 3)]
    if static is None:
        assert not _honoured((None,) * len(newshape), runs, (1, 3)) or newshape[0] != -1
    else:
        assert _honoured(static, runs, (1, 3))


@pytest.mark.parametrize("starts, sizes", SLICES, ids=str)
def test_slice_validates_exactly_when_keras_gives_one_result_per_sample(starts: list[int], sizes: list[int]) -> None:
    static = _static("slice", start_indices=starts, shape=sizes)
    runs = [_run("slice", b, start_indices=starts, shape=sizes) for b in (1, 3)]
    assert (static is not None) == _honoured(static or (None, None, None), runs, (1, 3))


def test_the_reported_reshape_and_slice_are_located_errors() -> None:
    diag = _error("{op: reshape, in: x, newshape: [-1, 25]}")
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    assert "24 values per sample" in diag.message and "not a multiple of 25" in diag.message
    diag = _error("{op: slice, in: x, start_indices: [0, 0, 0], shape: [1, 1, 1]}")
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    assert "not one per sample" in diag.message and "shape: [-1, 1, 1]" in diag.message
    assert "size 0" in _error("{op: reshape, in: x, newshape: [-1, 0]}").message
    assert "fixes the batch axis to 8" in _error("{op: reshape, in: x, newshape: [8, 24]}").message


@pytest.mark.parametrize("op", ["bitwise_and", "left_shift"])
def test_second_operand_that_widens_the_first_is_refused(op: str) -> None:
    """Keras's static shape is x's; at run time y broadcasts it, so the static shape lied."""
    x, y = np.ones((3, 3, 1), "int32"), np.ones((1, 4), "int32")
    assert tuple(getattr(keras.ops, op)(x, y).shape) == (3, 3, 4)
    assert tuple(getattr(keras.ops, op)(keras.KerasTensor((None, 3, 1), dtype="int32"), y).shape) == (None, 3, 1)
    with pytest.raises(Exception, match="broadcasts x"):
        Op(op=op, args=("x", [[1, 1, 1, 1]]), kwargs={}).output_shape((None, 3, 1))


def test_squeezing_the_batch_axis_is_refused() -> None:
    assert tuple(keras.ops.squeeze(np.ones((1, 4, 6)), axis=0).shape) == (4, 6)
    assert _run("squeeze", 3, axis=0) is None
    assert "removes the batch axis" in _error("{op: squeeze, in: x, axis: 0}").message


@pytest.mark.parametrize("node, run", [
    ("{op: getitem, in: x, index: '[5]'}", lambda b: np.ones((b, 4, 6))[5]),
    ("{op: getitem, in: x, index: '[1:3]'}", lambda b: np.ones((b, 4, 6))[1:3]),
    ("{op: getitem, in: x, index: '[..., 0, 0, 0]'}", lambda b: np.ones((b, 4, 6))[..., 0, 0, 0]),
    ("{op: take, in: [x, [0, 1]], axis: 0}", lambda b: keras.ops.take(np.ones((b, 4, 6)), [0, 1], axis=0)),
    ("{op: split, in: x, indices_or_sections: 2, axis: 0}",
     lambda b: keras.ops.split(np.ones((b, 4, 6)), 2, axis=0)[0]),
    ("{op: broadcast_to, in: x, shape: [5, 4, 6]}", lambda b: keras.ops.broadcast_to(np.ones((b, 4, 6)), [5, 4, 6])),
])
def test_ops_that_take_from_the_batch_axis_are_refused(node: str, run: Any) -> None:
    """On real tensors each fails for batch 1 or 3, or gives the same count of results for both."""
    outs = []
    for batch in (1, 3):
        try:
            outs.append(tuple(np.shape(run(batch)))[:1])
        except Exception:  # noqa: BLE001 - NumPy, Keras or TensorFlow refusing is the point
            outs.append(None)
    assert None in outs or outs[0] == outs[1] or outs != [(1,), (3,)]
    diag = _error(node)
    assert (diag.path, diag.line) == (("nodes", "o"), 7) and "the batch axis" in diag.message
    assert "not be one per sample" in diag.message


def test_indexing_after_the_batch_axis_still_validates() -> None:
    for index in ("'[:, 0]'", "'[..., 1:3]'", "'[:, None, ::2]'", "'[0:, 1]'"):
        load_spec(SPEC % f"{{op: getitem, in: x, index: {index}}}")


@pytest.mark.parametrize("dtype", ["string", "object", "str", "float", "Float32"])
def test_cast_to_what_keras_cannot_compute_with_is_refused(dtype: str) -> None:
    diag = _error(f"{{op: cast, in: x, dtype: {dtype}}}")
    assert (diag.path, diag.line, diag.column) == (("nodes", "o", "dtype"), 7, 24)
    assert f"dtype {dtype!r}" in diag.message
    assert "float32" in diag.message
    with pytest.raises(Exception):  # noqa: B017 - TensorFlow's own error types differ by dtype
        keras.ops.cast(np.ones((3, 4, 6), "float32"), dtype)


@pytest.mark.parametrize("op", ["ones_like", "full_like", "cumsum", "one_hot"])
def test_every_dtype_argument_is_checked(op: str) -> None:
    extra = {"full_like": ", fill_value: 1", "one_hot": ", num_classes: 3"}.get(op, "")
    diag = _error(f"{{op: {op}, in: x, dtype: string{extra}}}")
    assert f"op {op}: dtype 'string'" in diag.message


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_allowed_dtype_casts_on_real_tensors(dtype: str) -> None:
    load_spec(SPEC % f"{{op: cast, in: x, dtype: {dtype}}}")
    for batch in (1, 3):
        assert tuple(keras.ops.cast(np.ones((batch, 4, 6), "float32"), dtype).shape) == (batch, 4, 6)


def _real(value: Any, batch: int) -> Any:
    if not isinstance(value, T):
        return value
    shape = tuple(batch if d is None else d for d in value.shape)
    if value.dtype == "bool":
        return np.ones(shape, bool)
    if value.dtype.startswith("int"):
        return np.ones(shape, value.dtype)
    return np.linspace(0.1, 0.9, int(np.prod(shape)), dtype="float32").reshape(shape)


@pytest.mark.parametrize(("op", "args", "kwargs"),
                         [(op, a, k) for op, cases in sorted(CASES.items()) for a, k in cases
                          if any(isinstance(t, T) and t.shape[:1] == (None,) for t in a)
                          # squeeze without axis: static (None, …) holds for every batch but one sample (then
                          # the batch axis goes too), as in Keras; a rule cannot say "not 1"
                          and not (op == "squeeze" and "axis" not in k)],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_static_shapes_hold_on_real_tensors_of_batch_1_and_3(op: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    static = _netform_shape(op, args, kwargs)
    fn: Any = keras.ops
    for part in op.split(".") if op != "getitem" else ():
        fn = getattr(fn, part)
    for batch in (1, 3):
        values = [_real(a, batch) for a in args]
        if op == "getitem":
            from netform.spec.layers.ops import parse_index
            out = keras.ops.convert_to_tensor(values[0])[parse_index(kwargs["index"])]
        else:
            out = fn(values, **kwargs) if OPS[op].list_input else fn(kwargs["subscripts"], *values) \
                if OPS[op].operands else fn(*values, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        claims = static if isinstance(static, list) else [static]
        for claim, real in zip(claims, outs):
            real_shape = tuple(real.shape)
            assert len(claim) == len(real_shape), (claim, real_shape)
            assert all(c is None or c == r for c, r in zip(claim, real_shape)), (batch, claim, real_shape)
