"""Op arguments Keras always rejects when the model runs are refused by validate, at their node.

They passed validate and build, and the built model failed on every input (predict and train blamed the
data, exit 4): ``pad`` with an unknown ``mode``, with ``constant_values`` in reflect mode, or reflecting
more than the axis holds; ``image.resize`` with ``antialias: 5``; ``one_hot`` with ``sparse: true``; and
ops TensorFlow computes with floats only (``erfinv``, ``hard_shrink``…) on integer or bool tensors, or
with numbers only on bools. The settings that name a choice and the true/false settings of every op are
swept against Keras, and so is every op on int32 and bool tensors (netform refuses exactly where Keras
fails). Ops over the batch axis that Keras builds give Keras's static shape; ``append`` along an axis of
unknown size, which Keras fails to build, is refused.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any

import numpy as np
import pytest

from netform.spec import load_spec
from netform.spec._layer_base import ShapeError
from netform.spec.layers._op_rules import parse_index
from netform.spec.layers.ops import CHOICES, OPS, Op, op_kind

from ..spec.test_op_shapes import CASES, T, _netform_shape
from ._helpers import ONE_NODE_SPEC, first_located_error


def _spec(node: str, shape: str = "[4]", dtype: str = "float32") -> str:
    return ONE_NODE_SPEC % (shape, dtype, node)


def _call(op: str, args: list[Any], kwargs: dict[str, Any], dtype: str | None = None) -> Any:
    """Run ``keras.ops.<op>`` eagerly on real tensors (a batch of 2; float32 ones replaced by ``dtype``).

    Eager calls run the kernels a built model runs (checked against ``keras.Model.predict`` for every op).
    """
    import keras

    values = []
    for a in args:
        if isinstance(a, T):
            dt = dtype if dtype is not None and a.dtype == "float32" else a.dtype
            values.append(keras.ops.convert_to_tensor(np.ones([2 if d is None else d for d in a.shape], dtype=dt)))
        else:
            values.append(a)
    if op == "getitem":
        out = values[0][parse_index(kwargs["index"])]
    else:
        fn: Any = keras.ops
        for part in op.split("."):
            fn = getattr(fn, part)
        spec = OPS[op]
        out = (
            fn(values, **kwargs)
            if spec.list_input
            else fn(kwargs["subscripts"], *values)
            if spec.operands
            else fn(*values, **kwargs)
        )
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def _keras_fails(op: str, args: list[Any], kwargs: dict[str, Any], dtype: str | None = None) -> bool:
    try:
        _call(op, args, kwargs, dtype)
    except Exception:  # TensorFlow's error types differ by op; failing is the point
        return True
    return False


def _predict(text: str, x: np.ndarray) -> Any:
    import netform as nf

    return nf.build(load_spec(text)).predict(x, verbose=0)


# -- the attack's cases --------------------------------------------------------------
REFUSED = [
    ("{op: pad, in: x, pad_width: [[0, 0], [1, 1]], mode: bogus}", "[4]", "float32", "mode 'bogus' is not one of"),
    (
        "{op: pad, in: x, pad_width: [[0, 0], [1, 1]], mode: reflect, constant_values: 3}",
        "[4]",
        "float32",
        "constant_values only with mode 'constant'",
    ),
    ("{op: pad, in: x, pad_width: [[0, 0], [4, 4]], mode: reflect}", "[4]", "float32", "at most 3"),
    ("{op: pad, in: x, pad_width: [[0, 0], [10, 10]], mode: reflect}", "[4]", "float32", "at most 3"),
    ("{op: pad, in: x, pad_width: [[0, 0], [5, 5]], mode: symmetric}", "[4]", "float32", "at most 4"),
    ("{op: pad, in: x, pad_width: [[0, 0], [0, 0], [0, 3]], mode: reflect}", "[4, 3]", "float32", "at most 2"),
    ("{op: image.resize, in: x, size: [2, 2], antialias: 5}", "[4, 4, 1]", "float32", "antialias must be true"),
    ("{op: image.resize, in: x, size: [2, 2], interpolation: ../../x}", "[4, 4, 1]", "float32", "not one of"),
    ("{op: image.resize, in: x, size: [2, 2], fill_mode: bogus}", "[4, 4, 1]", "float32", "not one of"),
    ("{op: image.rgb_to_grayscale, in: x, data_format: weird}", "[4, 4, 3]", "float32", "not one of"),
    ("{op: max_pool, in: x, pool_size: 2, padding: bogus}", "[4, 1]", "float32", "not one of"),
    ("{op: one_hot, in: x, num_classes: 3, sparse: true}", "[4]", "int32", "sparse: true"),
    ("{op: top_k, in: x, k: 2, sorted: 'yes'}", "[4]", "float32", "sorted must be true or false"),
    ("{op: erfinv, in: x}", "[4]", "int8", "computes with floats only"),
    ("{op: erfinv, in: x}", "[4]", "int32", "computes with floats only"),
    ("{op: hard_shrink, in: x}", "[4]", "bool", "computes with floats only"),
    ("{op: softmax, in: x}", "[4]", "int32", "computes with floats only"),
    ("{op: relu, in: x}", "[4]", "bool", "computes with numbers only"),
    ("{op: add, in: [x, x]}", "[4]", "bool", "computes with numbers only"),
]


@pytest.mark.parametrize(("node", "shape", "dtype", "says"), REFUSED)
def test_arguments_keras_fails_on_are_refused_at_the_node(node: str, shape: str, dtype: str, says: str) -> None:
    diag = first_located_error(_spec(node, shape, dtype))
    assert says in diag.message
    assert diag.path[:2] == ("nodes", "o")


def test_the_refused_pads_fail_in_keras_and_the_largest_mirror_pads_run() -> None:
    import keras

    x = np.arange(8, dtype="float32").reshape(2, 4)
    for mode, width in (("reflect", 4), ("symmetric", 5)):
        with pytest.raises(Exception):  # TensorFlow's MirrorPad error
            np.asarray(keras.ops.pad(x, [[0, 0], [width, width]], mode=mode))
    with pytest.raises(ValueError, match="constant_values"):
        keras.ops.pad(x, [[0, 0], [1, 1]], mode="reflect", constant_values=3)
    with pytest.raises(ValueError):
        np.asarray(keras.ops.pad(x, [[0, 0], [1, 1]], mode="bogus"))
    for mode, width in (("reflect", 3), ("symmetric", 4)):
        text = _spec(f"{{op: pad, in: x, pad_width: [[0, 0], [{width}, {width}]], mode: {mode}}}")
        out = _predict(text, x)
        assert out.shape == (2, 4 + 2 * width)
        np.testing.assert_array_equal(out, np.pad(x, [[0, 0], [width, width]], mode=mode))


def test_one_hot_sparse_fails_in_a_keras_model_and_dense_runs() -> None:
    import keras

    inp = keras.Input((4,), dtype="int32")
    model = keras.Model(inp, keras.ops.one_hot(inp, 3, sparse=True))
    model.predict(np.zeros((2, 4), "int32"), verbose=0)  # traced for a batch of 2: runs
    with pytest.raises(TypeError):  # traced again for any batch size: fails
        model.predict(np.zeros((3, 4), "int32"), verbose=0, batch_size=3)
    import netform as nf

    built = nf.build(load_spec(_spec("{op: one_hot, in: x, num_classes: 3}", dtype="int32")))
    assert built.predict(np.zeros((3, 4), "int32"), verbose=0).shape == (3, 4, 3)
    out = _predict(
        _spec("{op: one_hot, in: x, num_classes: 3, sparse: false}", dtype="int32"), np.zeros((2, 4), "int32")
    )
    assert out.shape == (2, 4, 3)


# -- every op's choices and true/false settings, against Keras ------------------------
def _setting_cases() -> list[tuple[str, str]]:
    return sorted(
        (op, name)
        for op, spec in OPS.items()
        for name, default in spec.params
        if name in CHOICES or isinstance(default, (bool, str))
    )


def test_every_setting_that_names_a_choice_has_its_values() -> None:
    for op, spec in OPS.items():
        for name, default in spec.params:
            if isinstance(default, str):
                assert name in CHOICES, f"{op}.{name}: a text setting without its values in CHOICES"


def _case_with(op: str) -> tuple[list[Any], dict[str, Any]]:
    return CASES[op][0]


@pytest.mark.parametrize(("op", "name"), _setting_cases(), ids=lambda v: v)
def test_each_setting_takes_what_keras_runs_with_and_refuses_the_rest(op: str, name: str) -> None:
    args, kwargs = _case_with(op)
    default = dict(OPS[op].params)[name]
    if isinstance(default, bool):
        good: list[Any] = [True, False]
        bad: list[Any] = [5, "yes", None]
    else:
        good = list(CHOICES[name])
        bad = ["bogus", "../../x"]
    for value in good:
        if op == "one_hot" and name == "sparse" and value:
            continue  # a sparse result runs eagerly but not in a functional model (see above)
        if op == "image.resize" and value is not False and name in ("crop_to_aspect_ratio", "pad_to_aspect_ratio"):
            continue  # one of the two only (the rule refuses both)
        settings = {**kwargs, name: value}
        if name == "data_format" and value == "channels_first":
            continue  # another layout of the case's tensor: the static shape tests cover it
        _netform_shape(op, args, settings)
        assert not _keras_fails(op, args, settings), f"Keras fails on {op} {name}={value!r}"
    for value in bad:
        settings = {**kwargs, name: value}
        with pytest.raises((ValueError, ShapeError)):
            Op(op=op, args=tuple(f"t{i}" if isinstance(a, T) else a for i, a in enumerate(args)), kwargs=settings)
        if name in CHOICES:
            assert _keras_fails(op, args, settings), f"Keras runs {op} {name}={value!r}"


# -- every op on int32 and bool tensors, against Keras ------------------------------
def _kind_cases() -> list[tuple[str, int, str]]:
    return [
        (op, i, dtype)
        for op, cases in sorted(CASES.items())
        for i, (args, _) in enumerate(cases)
        if any(isinstance(a, T) and a.dtype == "float32" for a in args)
        for dtype in ("int32", "bool")
    ]


def _netform_refuses(op: str, args: list[Any], kwargs: dict[str, Any], dtype: str) -> bool:
    from netform.spec._kinds import dtype_kind

    written = tuple(f"t{i}" if isinstance(a, T) else a for i, a in enumerate(args))
    node = Op(op=op, args=written, kwargs=kwargs)
    tensors = [a for a in args if isinstance(a, T)]
    kinds = [dtype_kind(dtype if a.dtype == "float32" else a.dtype) for a in tensors]
    try:
        op_kind(node, kinds, [f"input 't{i}'" for i in range(len(tensors))])
    except ShapeError:
        return True
    return False


@pytest.mark.parametrize(("op", "case", "dtype"), _kind_cases(), ids=lambda v: str(v))
def test_ops_on_integer_and_bool_tensors_are_refused_exactly_where_keras_fails(op: str, case: int, dtype: str) -> None:
    args, kwargs = CASES[op][case]
    assert _netform_refuses(op, args, kwargs, dtype) == _keras_fails(op, args, kwargs, dtype)


def test_a_float_op_on_ints_runs_after_a_cast() -> None:
    text = """\
netform: 1
kind: functional
inputs: {x: {shape: [4], dtype: int32}}
nodes:
  f: {op: cast, in: x, dtype: float32}
  o: {op: erfinv, in: f}
outputs: [o]
"""
    out = _predict(text, np.zeros((2, 4), "int32"))
    assert out.shape == (2, 4)


# -- ops over the batch axis: Keras's static shape -----------------------------------
X = T(None, 3, 4)
TEN_D = np.ones((1,) * 10, "float32").tolist()
BATCH_AXIS = [
    ("diff", [X], {"axis": 0}),
    ("diff", [X], {"axis": 0, "n": 2}),
    ("diff", [T(None, 4)], {"axis": 0}),
    ("transpose", [X], {"axes": [1, 0, 2]}),
    ("transpose", [X], {}),
    ("moveaxis", [X], {"source": 0, "destination": 1}),
    ("moveaxis", [X], {"source": 0, "destination": -1}),
    ("moveaxis", [X], {"source": [0, 1], "destination": [2, 0]}),
    ("swapaxes", [X], {"axis1": 0, "axis2": 2}),
    ("stack", [X, X], {"axis": 0}),
    ("stack", [X, X, X], {"axis": -3}),
    ("concatenate", [X, X], {"axis": 0}),
    ("einsum", [T(None, 4)], {"subscripts": "ab->ba"}),
    ("einsum", [X], {"subscripts": "abc->cba"}),
    ("add", [X, TEN_D], {}),
    ("multiply", [T(None, 4), TEN_D], {}),
    ("mean", [X], {"axis": 0}),
    ("sum", [X], {"axis": [0, 1]}),
    ("moments", [X], {"axes": [0]}),
    ("sort", [X], {"axis": 0}),
    ("roll", [X], {"shift": 1, "axis": 0}),
    ("cumprod", [X], {"axis": 0}),
    ("softmax", [X], {"axis": 0}),
    ("argmax", [X], {"axis": 0}),
    ("median", [X], {"axis": 0}),
    ("normalize", [X], {"axis": 0}),
]


def _keras_static(op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    import keras

    values = [keras.KerasTensor(a.shape, dtype=a.dtype) if isinstance(a, T) else np.asarray(a, "float32") for a in args]
    fn: Any = getattr(keras.ops, op)
    spec = OPS[op]
    out = (
        fn(values, **kwargs)
        if spec.list_input
        else fn(kwargs["subscripts"], *values)
        if spec.operands
        else fn(*values, **kwargs)
    )
    return [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else tuple(out.shape)


@pytest.mark.parametrize(("op", "args", "kwargs"), BATCH_AXIS, ids=lambda v: v if isinstance(v, str) else None)
def test_ops_across_the_batch_give_keras_static_shape(op: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    assert _netform_shape(op, args, kwargs) == _keras_static(op, args, kwargs)


def test_append_along_an_unknown_axis_is_refused_as_keras_fails_to_build_it() -> None:
    import keras

    with pytest.raises(TypeError):
        keras.ops.append(keras.KerasTensor((None, 3)), keras.KerasTensor((None, 3)), axis=0)
    with pytest.raises(ShapeError, match="use op concatenate"):
        _netform_shape("append", [T(None, 3), T(None, 3)], {"axis": 0})
    assert _netform_shape("append", [T(None, 3), T(None, 2)], {"axis": 1}) == (None, 5)


def test_diff_takes_one_axis() -> None:
    with pytest.raises(ShapeError, match="one axis"):
        _netform_shape("diff", [X], {"axis": [0, 1]})
    assert _keras_fails("diff", [X], {"axis": [1, 2]})


def test_the_reference_says_which_ops_are_refused_on_the_batch_axis() -> None:
    from netform.spec._reference import reference_markdown

    text = reference_markdown()
    assert "As in Keras, an op may work across the batch" in text
    assert "`squeeze` of axis 0" in text and "`broadcast_to`" in text


# -- a constant broadcast against the batch axis ---------------------------------------
THREE_ROWS = [[1.0, 2.0, 3.0, 4.0]] * 3


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("add", [T(None, 4), THREE_ROWS]),
        ("multiply", [THREE_ROWS, T(None, 4)]),
        ("where", [T(None, 4, dtype="bool"), T(None, 4), THREE_ROWS]),
    ],
    ids=["add", "multiply-first", "where"],
)
def test_a_constant_sized_against_the_batch_axis_is_refused(op: str, args: list[Any]) -> None:
    import keras

    with pytest.raises(ShapeError, match="has its batch axis"):
        _netform_shape(op, args, {})
    inputs = [keras.Input(a.shape[1:], dtype=a.dtype) for a in args if isinstance(a, T)]
    it = iter(inputs)
    values = [next(it) if isinstance(a, T) else np.asarray(a, "float32") for a in args]
    model = keras.Model(inputs, getattr(keras.ops, op)(*values))
    data = [np.ones((2, *i.shape[1:]), i.dtype) for i in inputs]
    with pytest.raises(Exception):  # TensorFlow's broadcasting error
        model.predict(data if len(data) > 1 else data[0], verbose=0)


def test_constants_that_fit_one_sample_or_add_axes_before_the_batch_still_broadcast() -> None:
    assert _netform_shape("add", [T(None, 4), [[1.0, 2.0, 3.0, 4.0]]], {}) == (None, 4)
    assert _netform_shape("add", [T(None, 4), [1.0, 2.0, 3.0, 4.0]], {}) == (None, 4)
    assert _netform_shape("add", [T(None, 4), [[[1.0]]] * 2], {}) == _keras_static(
        "add", [T(None, 4), [[[1.0]]] * 2], {}
    )
    diag = first_located_error(_spec("{op: add, in: [x, [[1, 2, 3, 4], [1, 2, 3, 4]]]}"))
    assert "has its batch axis" in diag.message and diag.path[:2] == ("nodes", "o")
