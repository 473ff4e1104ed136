"""Validate refuses a Constant, Orthogonal or Identity initializer exactly where Keras cannot fill the weight.

Each case builds and calls the layer in Keras on data of the same shape and validates the same spec: the two must agree, for
the transposed, depthwise and separable convolutions and the recurrent layers (whose weights have other
shapes than a Dense kernel), every weight of each, and initializer values of many shapes.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Any

import keras
import numpy as np
import pytest

from netform.errors import SpecError
from netform.spec import load_spec

pytestmark = pytest.mark.tf

#: (layer type, constructor arguments, input shape without the batch, the layer's initializer fields)
LAYERS: list[tuple[str, dict[str, Any], tuple[int, ...], tuple[str, ...]]] = [
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3}, (5, 3), ("kernel_initializer", "bias_initializer")),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 2}, (4, 4, 3), ("kernel_initializer", "bias_initializer")),
    (
        "DepthwiseConv1D",
        {"kernel_size": 2, "depth_multiplier": 2},
        (5, 3),
        ("depthwise_initializer", "bias_initializer"),
    ),
    (
        "SeparableConv1D",
        {"filters": 4, "kernel_size": 2, "depth_multiplier": 2},
        (5, 3),
        ("depthwise_initializer", "pointwise_initializer", "bias_initializer"),
    ),
    ("SimpleRNN", {"units": 2}, (4, 3), ("kernel_initializer", "recurrent_initializer", "bias_initializer")),
    ("LSTM", {"units": 2}, (4, 3), ("kernel_initializer", "recurrent_initializer", "bias_initializer")),
    ("LSTM", {"units": 2, "unit_forget_bias": False}, (4, 3), ("bias_initializer",)),
    ("GRU", {"units": 2}, (4, 3), ("kernel_initializer", "recurrent_initializer", "bias_initializer")),
    ("GRU", {"units": 2, "reset_after": False}, (4, 3), ("bias_initializer",)),
]

#: initializer values: Constants of many shapes (numbers, lists fitting one or another axis), Orthogonal, Identity
VALUES: list[Any] = [
    {"class_name": "Constant", "config": {"value": 0.5}},
    *({"class_name": "Constant", "config": {"value": [0.1] * n}} for n in (1, 2, 3, 4, 6, 8, 12)),
    {"class_name": "Constant", "config": {"value": [[0.1] * 6] * 2}},
    {"class_name": "Constant", "config": {"value": [[0.1] * 8] * 2}},
    {"class_name": "Constant", "config": {"value": [[0.1] * 2] * 2}},
    {"class_name": "Constant", "config": {"value": [[0.1] * 8] * 3}},
    "orthogonal",
    "identity",
]


def _spec_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "{type: Constant, value: %s}" % (value["config"]["value"],)


def _keras_builds(layer: str, args: dict[str, Any], shape: tuple[int, ...], field: str, value: Any) -> bool:
    try:
        out = getattr(keras.layers, layer)(**args, **{field: value})(np.ones((2, *shape), "float32"))
        keras.ops.convert_to_numpy(out)
    except Exception:
        return False
    return True


def _validates(layer: str, args: dict[str, Any], shape: tuple[int, ...], field: str, value: Any) -> bool:
    fields = ", ".join(f"{k}: {v}" for k, v in args.items())
    text = (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: {list(shape)}}}}}\nnodes:\n"
        f"  o: {{type: {layer}, {fields}, {field}: {_spec_value(value)}, in: x}}\noutputs: [o]\n"
    )
    try:
        load_spec(text)
    except SpecError:
        return False
    return True


@pytest.mark.parametrize("layer,args,shape,fields", LAYERS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_weight_fills_as_keras_makes_them(
    layer: str, args: dict[str, Any], shape: tuple[int, ...], fields: tuple[str, ...]
) -> None:
    refused = 0
    for field in fields:
        for value in VALUES:
            keras_ok = _keras_builds(layer, args, shape, field, value)
            assert _validates(layer, args, shape, field, value) == keras_ok, (field, value, keras_ok)
            refused += not keras_ok
    assert refused  # each layer meets values Keras refuses (the test is not vacuous)


def _int_spec(dtype: str, n_in: int, units: int, init: str) -> str:
    return (
        f"netform: 1\nkind: functional\ninputs: {{x: {{shape: [{n_in}], dtype: {dtype}}}}}\nnodes:\n"
        f"  o: {{type: Dense, units: {units}, dtype: {dtype}, use_bias: false, kernel_initializer: {init}, in: x}}\n"
        "outputs: [o]\n"
    )


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_integer_weights_filled_as_keras_fills_them(dtype: str) -> None:
    """A uniform draw's bounds are cut to integers (a limit under 1 fails); Identity writes floats."""
    inits = {
        "glorot_uniform": "glorot_uniform",
        "he_uniform": "he_uniform",
        "lecun_uniform": "lecun_uniform",
        "identity": "identity",
        "{type: VarianceScaling, distribution: uniform, scale: 0.1}": {
            "class_name": "VarianceScaling",
            "config": {"distribution": "uniform", "scale": 0.1},
        },
        "{type: VarianceScaling, distribution: uniform, scale: 9.0, mode: fan_out}": {
            "class_name": "VarianceScaling",
            "config": {"distribution": "uniform", "scale": 9.0, "mode": "fan_out"},
        },
    }
    refused = accepted = 0
    for n_in, units in ((3, 2), (2, 2), (64, 64), (1, 1), (5, 1)):
        for spec_init, keras_init in inits.items():
            try:
                layer = keras.layers.Dense(units, dtype=dtype, kernel_initializer=keras_init, use_bias=False)
                keras.ops.convert_to_numpy(layer(np.ones((2, n_in), dtype)))
                builds = True
            except Exception:
                builds = False
            try:
                load_spec(_int_spec(dtype, n_in, units, spec_init))
                validates = True
            except SpecError:
                validates = False
            assert validates == builds, (dtype, n_in, units, spec_init, builds)
            refused += not builds
            accepted += builds
    assert refused and (accepted or dtype == "bool")
