"""Op nodes: every op that takes an axis, at every axis Keras takes (null, the batch axis and each other axis,
negative ones too), gives Keras's static shape or a ShapeError; never a shape Keras does not give.

``cumsum``, ``cumprod``, ``sort`` and ``argsort`` with ``axis: null`` work on the flattened tensor, batch
included, as NumPy's do: their rule gave the input's shape, so a spec validated whose model then had another
shape (a Dense after ``cumsum`` built on 10 features where Keras saw a flat vector).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any

import pytest

from netform.spec._layer_base import ShapeError
from netform.spec.layers.ops import OPS

from .test_op_shapes import CASES, T, _keras_shape, _netform_shape

_AXIS_NAMES = ("axis", "axes")


def _axis_cases() -> list[tuple[str, list[Any], dict[str, Any]]]:
    cases = []
    for op, spec in sorted(OPS.items()):
        name = next((n for n in _AXIS_NAMES if n in spec.names), None)
        if name is None or op not in CASES:
            continue
        args, kwargs = CASES[op][0]
        rank = len(next(a for a in args if isinstance(a, T)).shape)
        for axis in [None, *range(-rank, rank)]:
            if axis is None and name == "axes":
                continue
            cases.append((op, args, {**kwargs, name: axis if name == "axis" else [axis]}))
    return cases


@pytest.mark.parametrize(("op", "args", "kwargs"), _axis_cases(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_axis_gives_keras_shape_or_a_refusal(op: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    try:
        ours = _netform_shape(op, args, kwargs)
    except ShapeError:
        return  # refused: netform refuses some that Keras builds (results not one per sample), never the reverse
    try:
        theirs = _keras_shape(op, args, kwargs)
    except Exception as err:  # any refusal of Keras's: netform must have refused too
        pytest.fail(f"netform gives {ours} where Keras refuses: {err}")
    assert ours == theirs


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "sort", "argsort"])
def test_flattening_ops_without_axis_give_one_flat_axis(op: str) -> None:
    assert _netform_shape(op, [T(None, 3, 4)], {"axis": None}) == (None,)
    assert _netform_shape(op, [T(2, 3, 4)], {"axis": None}) == (24,)
