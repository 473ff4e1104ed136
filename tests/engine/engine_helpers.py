"""Helpers for the engine tests: tiny models and comparisons."""

from __future__ import annotations

import keras
import numpy as np


def make_mlp(model_cls, seed: int = 1, n_in: int = 8, n_out: int = 3):
    """A two-layer classifier built with ``model_cls(inputs, outputs)``."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_in,), name="features")
    h = keras.layers.Dense(16, activation="relu")(inputs)
    outputs = keras.layers.Dense(n_out, activation="softmax")(h)
    return model_cls(inputs, outputs)


def make_cnn(model_cls, seed: int = 2):
    """A small CNN with BatchNormalization (no dropout)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, activation="softmax")(h)
    return model_cls(inputs, outputs)


def max_weight_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a.get_weights(), b.get_weights()))


def assert_history_close(nf_hist, k_hist, tol: float = 1e-5) -> None:
    ours = nf_hist.history  # Keras's keys exactly: telemetry lives in nf_hist.telemetry
    assert set(ours) == set(k_hist.history), (sorted(ours), sorted(k_hist.history))
    for key, values in k_hist.history.items():
        np.testing.assert_allclose(ours[key], values, atol=tol, rtol=0, err_msg=key)
