"""Registered model subclasses (and netform.engine's classes, when present) reload as themselves."""

from __future__ import annotations


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


FRESH_CHILD = """
import sys
import numpy as np
import netform as nf
for path, expected_class, x_path, y_path in zip(*[iter(sys.argv[1:])] * 4):
    m = nf.load(path)
    got = f"{type(m).__module__}.{type(m).__qualname__}"
    assert got == expected_class, f"{path}: loaded {got}, expected {expected_class}"
    np.testing.assert_allclose(m.predict(np.load(x_path), verbose=0), np.load(y_path), atol=1e-6)
    print("ok", path, got)
"""


def test_netform_classes_load_in_a_fresh_process(tmp_path):
    """nf.load works without the caller importing netform.engine or netform.builder first."""
    import os
    import subprocess
    import sys

    import netform as nf

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    models = {  # name: (model, input width)
        "sequential": (nf.build(os.path.join(root, "models", "mlp.yaml")), 64),
        "spec_model": (nf.build(os.path.join(root, "models", "mlp.yaml"), api="subclass"), 64),
        "residual_mlp": (nf.build(os.path.join(root, "models", "residual_mlp.yaml")), 20),
    }
    assert type(models["sequential"][0]).__module__ == "netform.engine._models"
    assert type(models["spec_model"][0]).__qualname__ == "SpecModel"
    assert type(models["residual_mlp"][0]).__qualname__ == "ResidualMLP"
    args = []
    rng = np.random.default_rng(0)
    for name, (model, width) in models.items():
        x = rng.standard_normal((4, width)).astype("float32")
        np.save(tmp_path / f"{name}_x.npy", x)
        np.save(tmp_path / f"{name}_y.npy", model.predict(x, verbose=0))
        cls = f"{type(model).__module__}.{type(model).__qualname__}"
        for ext in ("keras", "h5"):
            path = str(tmp_path / f"{name}.{ext}")
            nfs.save(model, path)
            args += [path, cls, str(tmp_path / f"{name}_x.npy"), str(tmp_path / f"{name}_y.npy")]
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", FRESH_CHILD, *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ok ") == 6, done.stdout
