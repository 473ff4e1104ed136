"""from_keras gaps found by the keras.applications and keras-io round trips, each closed and pinned here."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netform as nf  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")


def test_constant_array_operand_of_an_op_round_trips():
    # keras.applications' preprocess_input adds its mean as a constant array: x + [[[c0, c1, c2]]]
    x = keras.Input((4, 4, 3))
    y = x + np.array([[[[-103.9, -116.8, -123.7]]]], "float32")
    spec, rebuilt = round_trip(keras.Model(x, y), _x(2, 4, 4, 3))
    op = next(iter(spec.nodes.values()))
    assert op.to_dict()["in"][1] == [[[[-103.9000015258789, -116.80000305175781, -123.69999694824219]]]]
