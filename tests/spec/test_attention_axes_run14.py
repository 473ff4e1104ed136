"""MultiHeadAttention's `attention_axes` at validate and summary, against Keras 3 itself.

Keras makes a negative axis positive by adding its query's rank (it adds the rank of the projected tensors,
which carry one more axis, less one), so -2 is the last axis before the features, as in Python. It checks
nothing when it builds: its output shape is the query's (last axis replaced by `output_shape`) and its
parameters do not depend on the axes. What happens at the first batch does:

* an axis named twice (``[1, 1]``, or ``[1, -3]`` on rank 4) or out of range: its einsum fails;
* ``[]``: its softmax over no axis fails;
* the batch axis (0, or -rank) or the feature axis (-1, which Keras reads as the heads of the projection): it
  runs while the sizes allow, attending across the samples of a batch or across the heads.

(A query of rank 3 with no dropout and no returned scores goes through ``ops.dot_product_attention``, which
ignores the axes; with dropout or returned scores it takes the einsum path like every higher rank.)

Validate accepts what attends over the axes between the batch and the feature axis, with the shape and
parameters Keras builds, and refuses the rest, naming the layer, `attention_axes` and the axes to give.
"""

from __future__ import annotations

import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any

import keras
import numpy as np
import pytest

import netform as nf
from netform.errors import SpecError
from netform.spec import load_spec
from netform.builder._layers import to_keras_layer
from netform.spec._layer_base import ShapeError, get_layer_spec


MHA = {"num_heads": 2, "key_dim": 3}


def _shapes(rank: int, attn: tuple[int, ...]) -> list[tuple[int | None, ...]]:
    """A query and a value of ``rank`` that differ on the attention axes only (and on the features)."""
    query = (None, *(2 + a for a in range(1, rank - 1)), 8)
    value = tuple(None if a == 0 else q + 3 if a in attn else q for a, q in enumerate(query[:-1])) + (5,)
    return [query, value]


# (rank, attention_axes, the axes Keras attends over)
ACCEPTED = [
    (3, -2, (1,)),
    (3, [-2], (1,)),
    (4, -2, (2,)),
    (4, -3, (1,)),
    (4, [-3, -2], (1, 2)),
    (4, [-2, -3], (2, 1)),
    (4, [1, -2], (1, 2)),
    (5, -2, (3,)),
    (5, -4, (1,)),
    (5, [-4, -2], (1, 3)),
    (5, [-3, 1], (2, 1)),
    (5, [-4, -3, -2], (1, 2, 3)),
]


@pytest.mark.parametrize(("rank", "axes", "attn"), ACCEPTED)
def test_negative_axes_give_keras_shape_and_parameters(rank: int, axes: Any, attn: tuple[int, ...]) -> None:
    shapes = _shapes(rank, attn)
    for extra in ({}, {"output_shape": [2, 3], "use_gate": True, "value_dim": 4}):
        spec = get_layer_spec("MultiHeadAttention").model_validate(
            {"type": "MultiHeadAttention", **MHA, "attention_axes": axes, **extra}
        )
        layer = to_keras_layer(spec)
        out = layer(*(keras.Input(batch_shape=s) for s in shapes))
        assert spec.output_shape(shapes) == tuple(out.shape)
        assert spec.counts(shapes) == (layer.count_params(), 0)
        assert layer.attention_axes == attn


# TensorFlow's oneDNN softmax on CPU takes at most 5 axes, and one attention axis of a rank-5 query gives
# scores of 6, which Keras hands it as they are: those cases stay with the static comparison above
RUNS = [case for case in ACCEPTED if case[0] + len(case[2]) <= 5 or len(case[2]) > 1]


@pytest.mark.parametrize(("rank", "axes", "attn"), RUNS)
def test_negative_axes_are_the_axes_keras_attends_over(rank: int, axes: Any, attn: tuple[int, ...]) -> None:
    # the scores Keras returns at its first batch: (batch, other axes, heads, query axes, value axes)
    query, value = ((2, *s[1:]) for s in _shapes(rank, attn))
    layer = keras.layers.MultiHeadAttention(**MHA, attention_axes=axes)
    _, scores = layer(np.ones(query, "float32"), np.ones(value, "float32"), return_attention_scores=True)
    other = [a for a in range(1, rank - 1) if a not in attn]
    assert tuple(scores.shape) == (
        2,
        *(query[a] for a in other),
        2,
        *(query[a] for a in attn),
        *(value[a] for a in attn),
    )
    assert layer.attention_axes == attn


def _keras_first_batch_fails(rank: int, axes: Any) -> bool:
    """Whether Keras builds the layer and then fails at its first batch (query and value of one shape)."""
    middle = tuple(range(3, rank + 1))
    layer = keras.layers.MultiHeadAttention(**MHA, attention_axes=axes)
    layer.build((2, *middle, 8), (2, *middle, 5))
    try:
        layer(np.ones((2, *middle, 8), "float32"), np.ones((2, *middle, 5), "float32"), return_attention_scores=True)
    except Exception as err:  # Keras and its backend raise several types here
        text = str(err)
        return "appearing more than once" in text or "tuple index out of range" in text  # the einsum, the softmax
    return False


# (rank, attention_axes, the message's end); each builds in Keras and fails at its first batch
FAILS_AT_FIRST_BATCH = [
    (3, 3, "3 is not an axis between the batch and the feature axis; give axes in 1..1 (or -2..-2 from the end)"),
    (3, -4, "-4 is not an axis between the batch and the feature axis; give axes in 1..1 (or -2..-2 from the end)"),
    (4, 4, "4 is not an axis between the batch and the feature axis; give axes in 1..2 (or -3..-2 from the end)"),
    (4, -5, "-5 is not an axis between the batch and the feature axis; give axes in 1..2 (or -3..-2 from the end)"),
    (5, [1, 5], "5 is not an axis between the batch and the feature axis; give axes in 1..3 (or -4..-2 from the end)"),
    (4, [1, -3], "name an axis more than once for inputs of rank 4 (axis 1 as 1 and -3)"),
    (4, [-2, 2], "name an axis more than once for inputs of rank 4 (axis 2 as -2 and 2)"),
    (5, [-2, 1, 3], "name an axis more than once for inputs of rank 5 (axis 3 as -2 and 3)"),
]


@pytest.mark.parametrize(("rank", "axes", "end"), FAILS_AT_FIRST_BATCH)
def test_axes_keras_cannot_run_are_refused(rank: int, axes: Any, end: str) -> None:
    assert _keras_first_batch_fails(rank, axes)
    spec = get_layer_spec("MultiHeadAttention").model_validate(
        {"type": "MultiHeadAttention", **MHA, "attention_axes": axes}
    )
    with pytest.raises(ShapeError) as info:
        spec.output_shape(_shapes(rank, ()))
    text = str(info.value)
    assert text.startswith(f"MultiHeadAttention attention_axes {axes if isinstance(axes, int) else list(axes)} ")
    assert end in text


@pytest.mark.parametrize(("axes", "end"), [([], "names no axis"), ([2, 2], "name axis 2 more than once")])
def test_empty_or_repeated_axes_are_refused_at_the_field(axes: list[int], end: str) -> None:
    assert _keras_first_batch_fails(4, axes)
    with pytest.raises(SpecError, match=re.escape(f"nodes.att.attention_axes: attention_axes {axes} {end}")):
        load_spec(_functional(f"attention_axes: {axes}"))


def _functional(axes: str, query: str = "[3, 4, 8]", value: str = "[3, 4, 8]", call: str = "") -> str:
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {query}}}, v: {{shape: {value}}}}}\nnodes:\n"
        f"  att: {{type: MultiHeadAttention, num_heads: 2, key_dim: 3, {axes}, in: [x, v]{call}}}\noutputs: [att]\n"
    )


@pytest.mark.parametrize("axis", [0, -4, -1])
def test_the_batch_or_feature_axis_is_refused(axis: int) -> None:
    # Keras runs these while the sizes allow, but across the samples of a batch (0, -4) or the heads (-1)
    layer = keras.layers.MultiHeadAttention(num_heads=3, key_dim=2, attention_axes=axis)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 8)).astype("float32")
    _, scores = layer(x, x, return_attention_scores=True)
    assert tuple(scores.shape)[-2:] == ((2, 2) if axis in (0, -4) else (3, 3))
    with pytest.raises(SpecError) as info:
        load_spec(_functional(f"attention_axes: {axis}"))
    assert (
        f"nodes.att: MultiHeadAttention attention_axes {axis} do not fit inputs of rank 4: {axis} is not an axis "
        in str(info.value)
    )


@pytest.mark.parametrize(
    ("axes", "mask", "keras_runs"),
    [
        (-2, (3, 4, 4), True),  # scores (batch, 3, heads, 4, 4)
        (-2, (4, 4), True),
        (-2, (5, 4), False),
        (-3, (4, 3, 3), True),  # scores (batch, 4, heads, 3, 3)
        (-3, (4, 4), False),
        ([-3, -2], (3, 4, 3, 4), True),
        ([-3, -2], (3, 4), False),
    ],
)
def test_masks_fit_the_scores_of_negative_axes(axes: Any, mask: tuple[int, ...], keras_runs: bool) -> None:
    x = np.ones((2, 3, 4, 8), "float32")
    layer = keras.layers.MultiHeadAttention(**MHA, attention_axes=axes)
    try:
        layer(x, x, attention_mask=np.ones((2, *mask), bool))
        ran = True
    except Exception:  # Keras and its backend raise several types here
        ran = False
    assert ran == keras_runs
    written = axes if isinstance(axes, int) else list(axes)
    text = _functional(f"attention_axes: {written}", call=", call: {attention_mask: m}")
    text = text.replace("inputs: {", f"inputs: {{m: {{shape: {list(mask)}, dtype: bool}}, ", 1)
    if keras_runs:
        load_spec(text)
    else:
        with pytest.raises(SpecError, match=r"nodes\.att\.call\.attention_mask: MultiHeadAttention's attention_mask"):
            load_spec(text)


def test_summary_of_negative_axes_equals_the_built_model() -> None:
    spec = load_spec(_functional("attention_axes: [-3, -2], output_shape: 6", value="[5, 7, 2]"))
    model = nf.build(spec)
    row = nf.summary(spec).row("att")
    keras_layer = model.get_layer("att")
    assert row.output_shape == tuple(model.outputs[0].shape) == (None, 3, 4, 6)
    assert row.params == keras_layer.count_params() == (8 * 6 + 6) + 2 * (2 * 6 + 6) + (6 * 6 + 6)
    assert keras_layer.attention_axes == (1, 2)
    out = model.predict([np.ones((2, 3, 4, 8), "float32"), np.ones((2, 5, 7, 2), "float32")], verbose=0)
    assert out.shape == (2, 3, 4, 6)
