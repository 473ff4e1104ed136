"""Op nodes whose result, in Keras, has no per-sample batch axis: each is refused where it is written.

Keras's image ops take a rank-3 tensor as one image, not as a batch: ``image.resize`` of a (None, 4, 6) input
with channels last resized the batch axis as the height (batches of 1, 3 and 5 all gave (2, 2, 6)), and
``image.rgb_to_grayscale`` with channels first took the batch axis as the channels (one result for a batch
of 1 or 3, a failure for the others). ``take`` without an axis picks its constant indices from the flattened
tensor, batch included: as many results whatever the batch. All three validated. Each image op is checked
here against a Keras model on ``keras.Input`` of ranks 3 to 5 in both data formats, run on batches of 1, 3
and 5: the static rule refuses exactly the cases Keras builds without a batch axis that follows the batch,
or refuses, or fails on some batch, and gives Keras's shape for the others.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import textwrap
from typing import Any, Callable

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netform.errors import SpecError
from netform.spec import load_spec
from netform.spec._layer_base import ShapeError
from netform.spec.layers.ops import Op

BATCHES = (1, 3, 5)

SPEC = textwrap.dedent("""\
    netform: 1
    name: f
    kind: functional
    inputs:
      x: {shape: %s}
    nodes:
      o: %s
    outputs: [o]
    """)


def _keras_runs(sample: tuple[int, ...], fn: Callable[[Any], Any]) -> tuple[Any, list[Any]] | None:
    """Keras's static shape of ``fn`` on ``keras.Input(sample)`` and the shapes of a model of it on batches of 1,
    3 and 5 (None for a batch it fails on); None when Keras refuses to build it."""
    x = keras.Input(sample)
    try:
        y = fn(x)
        model = keras.Model(x, y)
    except Exception:  # Keras's error types differ by op; refusing is the point
        return None
    runs: list[Any] = []
    for batch in BATCHES:
        data = np.linspace(0.1, 0.9, batch * int(np.prod(sample)), dtype="float32").reshape(batch, *sample)
        try:
            runs.append(tuple(np.shape(model(data))))
        except Exception:  # TensorFlow's error types differ by op; failing is the point
            runs.append(None)
    return tuple(y.shape), runs


def _per_sample(static: tuple[Any, ...], runs: list[Any]) -> bool:
    """Keras runs for every batch with the batch first, as the static shape's leading None says."""
    return bool(static) and static[0] is None and all(r is not None and r[:1] == (b,) for r, b in zip(runs, BATCHES))


def _netform(op: str, sample: tuple[int, ...], **kwargs: Any) -> Any:
    try:
        return tuple(Op(op=op, args=("x",), kwargs=kwargs).output_shape((None, *sample)))
    except ShapeError:
        return None


def _agree(op: str, sample: tuple[int, ...], kwargs: dict[str, Any]) -> None:
    fn: Any = keras.ops
    for part in op.split("."):
        fn = getattr(fn, part)
    keras_result = _keras_runs(sample, lambda x: fn(x, **kwargs))
    ours = _netform(op, sample, **kwargs)
    works = keras_result is not None and _per_sample(*keras_result)
    if not works:
        assert ours is None, f"netform gives {ours}; Keras: {keras_result}"
        return
    assert keras_result is not None
    assert ours == keras_result[0], f"netform gives {ours}, Keras {keras_result[0]}"
    for real, batch in zip(keras_result[1], BATCHES):
        assert all(c is None or c == r for c, r in zip(ours, real)), (batch, ours, real)


SAMPLES = [(4, 6), (4, 3), (3, 4), (4, 1), (1, 4), (4, 6, 3), (3, 4, 6), (4, 6, 1), (1, 4, 6), (4, 6, 3, 2),
           (3, 4, 6, 2), (4, 6, 1, 3)]
FORMATS = ["channels_last", "channels_first"]
RESIZES: list[dict[str, Any]] = [{"size": [2, 2]}, {"size": [3, 4], "crop_to_aspect_ratio": True},
                                 {"size": [3, 4], "pad_to_aspect_ratio": True}]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_rgb_to_grayscale_rule_equals_keras_on_batches(sample: tuple[int, ...], data_format: str) -> None:
    _agree("image.rgb_to_grayscale", sample, {"data_format": data_format})


@pytest.mark.parametrize("kwargs", RESIZES, ids=str)
@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_resize_rule_equals_keras_on_batches(sample: tuple[int, ...], data_format: str, kwargs: dict[str, Any]) -> None:
    _agree("image.resize", sample, {**kwargs, "data_format": data_format})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=st.lists(st.sampled_from([1, 2, 3, 5]), min_size=2, max_size=4).map(tuple),
    data_format=st.sampled_from(FORMATS),
    op=st.sampled_from(["image.resize", "image.rgb_to_grayscale"]),
    size=st.tuples(st.integers(1, 4), st.integers(1, 4)).map(list),
)
def test_image_rules_equal_keras_on_drawn_shapes(sample: tuple[int, ...], data_format: str, op: str,
                                                 size: list[int]) -> None:
    _agree(op, sample, {"data_format": data_format, **({"size": size} if op == "image.resize" else {})})


# -- take without an axis -------------------------------------------------------
TAKES: list[tuple[str, Callable[[Any], Any], Any]] = [
    # (indices as written, the Keras model's op on x, the indices' static shape netform sees)
    ("[0, 1]", lambda x: keras.ops.take(x, [0, 1], axis=None), [0, 1]),
    ("[[0, 1]]", lambda x: keras.ops.take(x, [[0, 1]], axis=None), [[0, 1]]),
    ("3", lambda x: keras.ops.take(x, 3, axis=None), 3),
    ("a tensor of one sample each", lambda x: keras.ops.take(x, keras.ops.cast(x[:, 0, :2] * 0, "int32"), axis=None),
     (None, 2)),
    ("a tensor without batch", lambda x: keras.ops.take(x, keras.ops.cast(keras.ops.sum(x) * 0, "int32"), axis=None),
     ()),
]


@pytest.mark.parametrize(("written", "run", "indices"), TAKES, ids=[t[0] for t in TAKES])
def test_take_without_axis_rule_equals_keras_on_batches(written: str, run: Callable[[Any], Any], indices: Any) -> None:
    keras_result = _keras_runs((4, 6), run)
    assert keras_result is not None
    if isinstance(indices, tuple):  # a tensor
        node = Op(op="take", args=("x", "i"), kwargs={"axis": None})
        try:
            ours = node.output_shape([(None, 4, 6), indices])
        except ShapeError:
            ours = None
    else:
        ours = _netform("take", (4, 6), indices=indices, axis=None)
    if _per_sample(*keras_result):
        assert ours == keras_result[0]
    else:
        assert ours is None, (ours, keras_result)


def test_take_without_axis_of_a_tensor_without_batch_still_validates() -> None:
    node = Op(op="take", args=("x", [0, 5]), kwargs={})
    assert node.output_shape((2, 3)) == (2,)
    assert tuple(keras.ops.take(np.ones((2, 3)), [0, 5]).shape) == (2,)


# -- the reported specs, as located errors naming the fix -----------------------
@pytest.mark.parametrize(("shape", "node", "words"), [
    ("[4, 6]", "{op: image.resize, in: x, size: [2, 2]}",
     ["resizes the batch axis as the height", "every batch gives 2 results", "expand_dims, axis: -1",
      "(None, 4, 6, 1)", "data_format: channels_first"]),
    ("[4, 6]", "{op: take, in: x, indices: [0, 1], axis: null}",
     ["take without an axis", "the batch axis", "not be one per sample", "e.g. axis: 1"]),
    ("[4, 6]", "{op: take, in: x, indices: [5, 0]}", ["take without an axis", "not be one per sample"]),
    ("[4, 6]", "{op: image.rgb_to_grayscale, in: x, data_format: channels_first}",
     ["batch axis would be its channels", "not one per sample", "(None, 1, 4, 6)"]),
])
def test_reported_specs_are_located_errors(shape: str, node: str, words: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPEC % (shape, node))
    diag = info.value.diagnostics[0]
    assert (diag.path, diag.line) == (("nodes", "o"), 7)
    for word in words:
        assert word in diag.message, diag.message


@pytest.mark.parametrize(("shape", "node"), [
    ("[4, 6]", "{op: image.resize, in: x, size: [2, 2], data_format: channels_first}"),
    ("[4, 6, 1]", "{op: image.resize, in: x, size: [2, 2]}"),
    ("[4, 3]", "{op: image.rgb_to_grayscale, in: x}"),
    ("[1, 4, 6]", "{op: image.rgb_to_grayscale, in: x, data_format: channels_first}"),
    ("[4, 6]", "{op: take, in: x, indices: [0, 1], axis: 1}"),
])
def test_the_fixes_the_errors_name_validate(shape: str, node: str) -> None:
    load_spec(SPEC % (shape, node))
