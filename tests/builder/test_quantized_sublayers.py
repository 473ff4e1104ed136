"""``from_keras`` refuses a layer holding quantized layers that its config does not record.

``model.quantize`` quantizes the projections ``MultiHeadAttention`` and ``GroupQueryAttention`` make in
``build``; their configs (float) say nothing of it. The export wrote the attention layer as float, and the
rebuilt model had other variables (168 trainable where the quantized model has 24 trainable and 144 frozen)
and other outputs, with no error. A wrapper's config holds its layer's config, policy included, and is
exported as it is.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import netform as nf


@pytest.mark.parametrize("mode", ["int8", "int4", "float8"])
@pytest.mark.parametrize("kind", ["mha", "gqa"])
def test_quantized_attention_is_refused(kind: str, mode: str) -> None:
    inputs = keras.Input((4, 6))
    if kind == "mha":
        attention = layers.MultiHeadAttention(2, 3, name="att")
    else:
        attention = layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2, name="att")
    model = keras.Model(inputs, attention(inputs, inputs))
    nf.from_keras(model)  # float: exported
    model.quantize(mode)
    with pytest.raises(nf.BuildError, match=r"layer 'att' \(\w+\) holds quantized layers \('\w+' in "
                                            rf"{mode}\S*_from_float32\) that its config does not record"):
        nf.from_keras(model)


def test_a_quantized_layer_a_wrapper_holds_is_exported_with_its_policy() -> None:
    inputs = keras.Input((4, 6))
    hidden = layers.TimeDistributed(layers.Dense(3))(inputs)
    model = keras.Model(inputs, layers.Dense(1)(layers.Bidirectional(layers.LSTM(2))(hidden)))
    model.quantize("int8")
    rebuilt = nf.build(nf.from_keras(model))
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    assert [w.dtype for w in rebuilt.weights] == [w.dtype for w in model.weights]
    rebuilt.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
