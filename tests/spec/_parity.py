"""The one round-trip helper for layer schemas: static rule vs Keras.

``check_parity(type, config, input_shape)`` validates the config, computes
netform's static output shape and parameter counts, builds the same layer in
Keras on a symbolic input of that shape, and asserts they agree. It also
checks that dumping the schema and validating again is the identity.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from netform.builder._layers import to_keras_layer
from netform.spec._layer_base import get_layer_spec


def _keras_shape(t: Any) -> Any:
    if isinstance(t, (list, tuple)) and not hasattr(t, "shape"):
        return [_keras_shape(x) for x in t]
    return tuple(t.shape)


def _count(weights: list) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def check_parity(layer_type: str, config: dict[str, Any], input_shape: Any) -> None:
    """Assert netform's static rule equals Keras for one config and input shape.

    Args:
        layer_type: The schema's type name, e.g. ``"Conv2D"``.
        config: The fields as written in YAML (without ``type``).
        input_shape: A full shape with batch (``(None, 8, 3)``), or a list of them.
    """
    cls = get_layer_spec(layer_type)
    spec = cls.model_validate({"type": layer_type, **config})
    assert cls.model_validate(spec.model_dump()) == spec, "dump → validate is not the identity"
    assert cls.model_validate(spec.to_dict()) == spec, "to_dict → validate is not the identity"

    static_shape = spec.output_shape(input_shape)
    static_params = spec.counts(input_shape)

    layer = to_keras_layer(spec)
    if isinstance(input_shape, list):
        inputs = [keras.Input(batch_shape=s) for s in input_shape]
    else:
        inputs = keras.Input(batch_shape=input_shape)
    out = layer(inputs)
    keras_shape = _keras_shape(out)
    if isinstance(keras_shape, list):
        keras_shape = [tuple(s) for s in keras_shape]
        static_shape = [tuple(s) for s in static_shape]
    assert static_shape == keras_shape, (
        f"{layer_type} {config} on {input_shape}: netform says {static_shape}, Keras says {keras_shape}"
    )
    keras_params = (_count(layer.trainable_weights), _count(layer.non_trainable_weights))
    assert static_params == keras_params, (
        f"{layer_type} {config} on {input_shape}: netform counts {static_params}, Keras counts {keras_params}"
    )
