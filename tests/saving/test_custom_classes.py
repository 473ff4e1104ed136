"""Registered model subclasses (and netform.engine's classes, when present) reload as themselves."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import netform.saving as nfs

FULL = {"keras": "m.keras", "h5": "m.h5", "savedmodel": "m_savedmodel"}


def _registered_subclass():
    import keras

    @keras.saving.register_keras_serializable(package="netform_tests")
    class Scaled(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(Scaled(3.0)(inp)))
    model.compile("adam", "mse")
    return model, Scaled


@pytest.mark.parametrize("fmt", list(FULL))
def test_registered_layer_reloads(tmp_path, fmt):
    model, scaled = _registered_subclass()
    x = np.ones((2, 4), "float32")
    model.fit(x, np.ones((2, 2)), verbose=0)
    nfs.save(model, tmp_path / FULL[fmt])
    loaded = nfs.load(tmp_path / FULL[fmt])
    assert isinstance(loaded.layers[1], scaled) and loaded.layers[1].factor == 3.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("netform.engine") is None, reason="netform.engine not written yet")
@pytest.mark.parametrize("fmt", list(FULL))
def test_engine_classes_reload_as_themselves(tmp_path, fmt):
    import keras

    from netform import engine

    model = engine.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x = np.ones((4, 3), "float32")
    model.fit(x, np.ones((4, 2)), verbose=0)
    nfs.save(model, tmp_path / FULL[fmt])
    loaded = nfs.load(tmp_path / FULL[fmt])
    assert type(loaded) is engine.Sequential
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
