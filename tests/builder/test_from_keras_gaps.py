"""from_keras gaps found by the keras.applications and keras-io round trips, each closed and pinned here."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netform as nf  # noqa: E402
from netform.spec import graph_of  # noqa: E402

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


def test_bidirectional_return_sequences_keeps_its_schema_and_mask_behaviour():
    # Keras sets zero_output_for_mask on the layers Bidirectional(return_sequences=True) wraps; the key is known to
    # the RNN schemas, so the wrapper keeps its schema (and its static parameter count) and masked steps stay zero.
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(x)
    model = keras.Model(tokens, x)
    ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]], "int32")
    spec, rebuilt = round_trip(model, ids)
    layer = next(n.layer for n in graph_of(spec).nodes.values() if n.layer.type == "Bidirectional")
    assert layer.type == "Bidirectional" and layer.layer.zero_output_for_mask is True
    assert np.all(np.asarray(rebuilt(ids))[0, 3:] == 0)
