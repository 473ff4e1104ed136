"""Model classes: dispatch, subclassing, overridden steps, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform as nf
import netform.engine as nfe
from engine_helpers import make_mlp, max_weight_diff


def test_model_with_inputs_outputs_is_netform_functional():
    model = make_mlp(nfe.Model)
    assert type(model) is nfe.Functional
    assert isinstance(model, nfe.Model) and isinstance(model, keras.Model)
    seq = nfe.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert isinstance(seq, nfe.Model) and isinstance(seq, keras.Sequential)


def test_sequential_runs_its_layers_through_netform_functional():
    # keras.Sequential runs its layers through an inner Functional of Keras's class;
    # netform's uses its own class there (Keras's sequential_test checks this type).
    np.random.seed(0)
    x = np.random.rand(3, 4).astype("float32")
    model = nfe.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    keras_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    assert type(model._functional) is nfe.Functional
    assert type(keras_model._functional) is not nfe.Functional
    keras_model.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-6)
    deferred = nfe.Sequential([keras.layers.Dense(2)])
    deferred(x)
    assert type(deferred._functional) is nfe.Functional


def test_fit_does_not_call_keras_loops(monkeypatch, data):
    x, y = data
    for name in ("fit", "evaluate", "predict"):
        monkeypatch.setattr(keras.Model, name, lambda *a, **k: pytest.fail("keras loop used"))
        monkeypatch.setattr(keras.src.backend.tensorflow.trainer.TensorFlowTrainer, name,
                            lambda *a, **k: pytest.fail("keras loop used"))
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)


class CustomModel(nfe.Model):
    """The Keras guide's CustomModel, unchanged except for its base class."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


class ClippingModel(nfe.Model):
    """Subclassed model with its own tracker exposed via ``metrics``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = keras.losses.mean_squared_error(y, y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        grads = [tf.clip_by_norm(g, 1.0) for g in grads]
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_keras_guide_custom_train_step_runs_unchanged():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.random((64, 32)).astype("float32")
    y = np.random.random((64, 1)).astype("float32")
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert {"loss", "mae"} <= set(hist.history)
    assert hist.history["loss"][1] < hist.history["loss"][0]


def test_clipping_model_with_own_mean_tracker():
    model = ClippingModel()
    model.compile(optimizer="sgd")
    x = np.random.random((40, 4)).astype("float32")
    y = np.random.random((40, 1)).astype("float32")
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and "mae" in hist.history
    # metrics are reset every epoch: the tracker counts one epoch of batches only
    assert float(model.loss_tracker.count) == 40  # reset each epoch: one epoch of samples


def test_keras_file_round_trip_for_functional_and_sequential(tmp_path, data):
    x, y = data
    func = make_mlp(nfe.Model)
    seq = nfe.Sequential([keras.Input((8,)), keras.layers.Dense(3)], name="seq")
    for model in (func, seq):
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = nf.load(path)
        assert type(loaded) is type(model)
        assert max_weight_diff(loaded, model) == 0.0
        loaded.fit(x, y, epochs=1, verbose=0)  # compile state restored too
        # model.save writes the file nf.save writes: Keras's class names, which plain Keras reads as its own
        plain = keras.models.load_model(path)
        assert not isinstance(plain, nfe.Model) and max_weight_diff(plain, model) == 0.0
        plain.fit(x, y, epochs=1, verbose=0)


def test_get_config_from_config():
    func = make_mlp(nfe.Model)
    clone = nfe.Functional.from_config(func.get_config())
    assert type(clone) is nfe.Functional
    assert nfe.Model.from_config(func.get_config()).__class__ is nfe.Functional
    seq = nfe.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    assert type(nfe.Sequential.from_config(seq.get_config())) is nfe.Sequential
    assert keras.saving.get_registered_name(nfe.Functional) == "netform>Functional"


def test_on_batch_methods(data):
    x, y = data
    model = make_mlp(nfe.Model)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    logs = model.train_on_batch(x[:16], y[:16], return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert len(model.test_on_batch(x[:16], y[:16])) == 2
    assert model.predict_on_batch(x[:5]).shape == (5, 3)
