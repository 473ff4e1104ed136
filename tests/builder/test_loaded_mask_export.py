"""A model Keras loaded from a file exports as the live model does, masks included.

Keras writes the mask it propagated from ``Masking`` or ``Embedding(mask_zero=True)`` into the saved config as
explicit op nodes (``any(not_equal(x, 0.0), axis=-1)``) passed as the next layer's ``mask``; the loaded model
then holds both that chain and the mask the rebuilt layer propagates again. ``from_keras`` and ``export-spec``
wrote the chain as op nodes and a ``call: {mask: any}``; the two chains compute the same, so it is left out.
A mask given explicitly that differs from the propagated one is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import keras
import numpy as np
import pytest

import netform as nf
from netform.spec import load_spec


def _embedding_lstm() -> keras.Model:
    tokens = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(tokens)
    x = keras.layers.Dropout(0.1)(x)  # the mask passes through a layer that propagates it
    return keras.Model(tokens, keras.layers.LSTM(3)(x))


def _masking_gru() -> keras.Model:
    x = keras.Input((5, 2))
    m = keras.layers.Masking(mask_value=0.5)(x)
    return keras.Model(x, keras.layers.GRU(3, return_sequences=True)(m))


@pytest.mark.parametrize("make", [_embedding_lstm, _masking_gru], ids=["embedding", "masking"])
def test_loaded_model_exports_as_the_live_one(tmp_path: Path, make) -> None:
    model = make()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    live_yaml = nf.from_keras(model).to_yaml()
    loaded_yaml = nf.from_keras(loaded).to_yaml()
    assert loaded_yaml == live_yaml
    assert "op:" not in loaded_yaml and "mask:" not in loaded_yaml
    rebuilt = nf.build(load_spec(loaded_yaml))
    rebuilt.set_weights(model.get_weights())
    if model.inputs[0].dtype == "int32":
        data = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5]], "int32")
    else:
        data = np.random.default_rng(0).uniform(0, 1, (2, 5, 2)).astype("float32")
        data[0, 3:] = 0.5
    np.testing.assert_allclose(np.asarray(rebuilt(data)), np.asarray(model(data)), atol=1e-6)


def test_an_explicit_mask_other_than_the_propagated_one_is_kept() -> None:
    x = keras.Input((5, 2))
    m = keras.layers.Masking(mask_value=0.0)(x)
    other = keras.ops.any(keras.ops.not_equal(x, 1.0), axis=-1)  # not the Masking layer's mask
    model = keras.Model(x, keras.layers.LSTM(3)(m, mask=other))
    text = nf.from_keras(model).to_yaml()
    assert "mask:" in text and "op: not_equal" in text
