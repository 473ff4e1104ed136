"""Files from plain Keras 3 and Keras 2 (tf_keras) load in netform, and back."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import netform.saving as nfs

from .conftest import predict

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def test_plain_keras3_files_load(tmp_path, cases, trained):
    import keras

    model, case = cases["multi_io"].trained(1), cases["multi_io"]
    keras.saving.save_model(model, tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.saving.save_model(model, tmp_path / "k.h5")
    model.save_weights(tmp_path / "k.weights.h5")
    ref = predict(model, case.x)
    for name, fmt in (("k.keras", "keras"), ("k.h5", "h5")):
        assert nfs.detect_format(tmp_path / name) == fmt
        loaded = nfs.load(tmp_path / name)
        for a, b in zip(predict(loaded, case.x), ref):
            np.testing.assert_allclose(a, b, atol=1e-6)
        assert loaded.optimizer is not None and type(loaded.optimizer) is type(model.optimizer)
    fresh = case.fresh()
    assert nfs.detect_format(tmp_path / "k.weights.h5") == "weights_h5"
    nfs.load_weights(fresh, tmp_path / "k.weights.h5")
    for a, b in zip(predict(fresh, case.x), ref):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_keras3_h5_compiled_with_loss_alias_loads(tmp_path, cases, trained):
    """Keras's own reader fails on loss="mse" in .h5; netform does not."""
    import keras

    model = cases["lstm"].trained(1)  # own copy: Keras's .h5 writer mutates the compile config
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras.saving.save_model(model, tmp_path / "alias.h5")  # loss="mae"
        with pytest.raises(ValueError, match="Could not deserialize"):
            keras.saving.load_model(tmp_path / "alias.h5")  # the Keras bug netform avoids
    loaded = nfs.load(tmp_path / "alias.h5")
    assert loaded.compiled
    np.testing.assert_allclose(predict(loaded, cases["lstm"].x)[0], predict(model, cases["lstm"].x)[0],
                               atol=1e-6)


@pytest.mark.parametrize("fmt,name", [("keras", "n.keras"), ("h5", "n.h5")])
def test_netform_files_load_in_plain_keras(tmp_path, cases, trained, fmt, name):
    import keras

    for key in ("cnn", "multi_io"):
        path = tmp_path / f"{key}_{name}"
        nfs.save(trained[key], path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = keras.models.load_model(path)
        assert loaded.compiled
        for a, b in zip(predict(loaded, cases[key].x), predict(trained[key], cases[key].x)):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_keras2_h5_loads():
    x = np.load(os.path.join(FIXTURES, "k2_input.npy"))
    path = os.path.join(FIXTURES, "k2.h5")
    assert nfs.detect_format(path) == "h5"
    model = nfs.load(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(os.path.join(FIXTURES, "k2_pred.npy")),
                               atol=1e-5)
    assert model.compiled


def test_keras2_weights_load(cases):
    import keras

    path = os.path.join(FIXTURES, "k2_weights.h5")
    assert nfs.detect_format(path) == "legacy_h5_weights"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    assert nfs.load_weights(model, path) == []
    x = np.load(os.path.join(FIXTURES, "k2_input.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0), np.load(os.path.join(FIXTURES, "k2_pred.npy")),
                               atol=1e-5)


def test_keras2_savedmodel_loads_inference_only():
    path = os.path.join(FIXTURES, "k2_savedmodel")
    assert nfs.detect_format(path) == "savedmodel"
    with pytest.warns(UserWarning, match=r"written by Keras 2 \(tf_keras\); loaded as an inference-only"):
        model = nfs.load(path)
    assert model.inference_only
    x = np.load(os.path.join(FIXTURES, "k2_input.npy"))
    np.testing.assert_allclose(model.predict(x), np.load(os.path.join(FIXTURES, "k2_pred.npy")), atol=1e-5)


def test_foreign_tf_savedmodel_loads_inference_only(tmp_path):
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": 2 * x}

    mod = Doubler()
    tf.saved_model.save(mod, str(tmp_path / "raw"), signatures={"serving_default": mod.__call__})
    with pytest.warns(UserWarning, match="written by another tool"):
        model = nfs.load(tmp_path / "raw")
    np.testing.assert_allclose(model.predict(np.ones((1, 2), "float32")), [[2.0, 2.0]])
