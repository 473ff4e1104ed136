"""``from_keras`` under a global mixed policy writes every layer's dtype, a float32 one's included.

A model made under ``keras.config.set_dtype_policy("mixed_bfloat16")`` with a ``Dense(dtype="float32")`` output
(as Keras's mixed-precision guide makes it) was written with no dtype on that layer: the rebuilt model computed
it in the global mixed policy, and its outputs differed by up to 7e-3 (the output's dtype changed too).
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import pytest

import netform as nf


@pytest.fixture
def mixed() -> Iterator[None]:
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy("float32")


def _model() -> keras.Model:
    inputs = keras.Input((8,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(6)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2, dtype="float32")(hidden))


def test_a_float32_layer_under_a_mixed_global_policy_keeps_its_dtype(mixed: None) -> None:
    model = _model()
    spec = nf.from_keras(model)
    rebuilt = nf.build(nf.load_spec(spec.to_yaml()), api="functional")
    rebuilt.set_weights(model.get_weights())
    assert [layer.dtype_policy.name for layer in rebuilt.layers] == [layer.dtype_policy.name for layer in model.layers]
    x = np.random.default_rng(0).random((4, 8), dtype="float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), rebuilt.predict(x, verbose=0))


def test_a_float32_model_still_writes_no_dtype() -> None:
    assert "dtype" not in nf.from_keras(_model()).to_yaml()  # the global policy is floatx: nothing to say
