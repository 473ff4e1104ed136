"""Predict's steps_per_execution, tracing, optional and ragged inputs, strategies: as keras.Model.

Each test runs the same tiny model with plain ``keras.Model`` and with
netform's ``Model`` on the same data and compares what users see.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform.engine._distribute import reduce_per_replica
from netform.errors import DataError, EngineError

DIST_WORKER = Path(__file__).with_name("fidelity_dist_worker.py")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 4)).astype("float32")
X2 = RNG.normal(size=(100, 2)).astype("float32")
Y = (X.sum(axis=1, keepdims=True) * 3 + 1).astype("float32")


def _dense(base: type, *, seed: int = 1, spe: int = 1, optimizer: str = "sgd") -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    model = base(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer=optimizer, loss="mse", steps_per_execution=spe)
    return model


class _PredictRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []
        self.rows: list[int] = []

    def on_predict_batch_begin(self, batch, logs=None):
        self.events.append(("b", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.events.append(("e", batch))
        self.rows.append(int(keras.tree.flatten(logs["outputs"])[0].shape[0]))


def _predict_data(kind: str):
    ds = tf.data.Dataset.from_tensor_slices(X)
    return {
        "arrays": lambda: {"x": X, "batch_size": 16},  # 7 batches, the last one short
        "ds10": lambda: {"x": ds.batch(10)},
        "unknown": lambda: {"x": ds.batch(16).filter(lambda a: True)},  # 7 batches, length unknown
        "steps": lambda: {"x": ds.batch(16).repeat(), "steps": 5},
    }[kind]()


# ------------------------------------------------ predict, steps_per_execution
@pytest.mark.parametrize("kind, spe", [("arrays", 3), ("ds10", 4), ("unknown", 3), ("steps", 3), ("arrays", 1)])
def test_predict_runs_steps_per_execution_like_keras(kind, spe):
    seen = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        model = _dense(base, spe=spe)
        rec = _PredictRecorder()
        out = model.predict(**_predict_data(kind), callbacks=[rec], verbose=0)
        seen[name] = (rec.events, rec.rows, out)
    (k_events, k_rows, k_out), (n_events, n_rows, n_out) = seen["keras"], seen["netform"]
    assert n_events == k_events  # on_predict_batch_* indices: (0, spe-1), (spe, 2*spe-1), ...
    assert n_rows == k_rows  # each call's outputs: its steps joined
    np.testing.assert_allclose(n_out, k_out, atol=1e-6)


def test_predict_iter_streams_one_execution_at_a_time():
    model = _dense(nfe.Model, spe=3)
    batches = list(model.predict_iter(X, batch_size=16))
    assert [b.shape[0] for b in batches] == [48, 48, 4]  # 3 + 3 + 1 batches of 16 (the last one 4 rows)
    np.testing.assert_allclose(np.concatenate(batches), model.predict(X, batch_size=16, verbose=0), atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(X[:7]), np.concatenate(batches)[:7], atol=1e-6)


def test_keras_style_predict_function_receives_steps_per_execution_batches():
    received = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        model = _dense(base, spe=3)
        sizes: list[int] = []
        model.make_predict_function()
        inner = model.predict_function

        def predict_function(batches, inner=inner, sizes=sizes):
            sizes.append(len(batches))
            return inner(batches)

        model.predict_function = predict_function
        out = model.predict(tf.data.Dataset.from_tensor_slices(X).batch(16).filter(lambda a: True), verbose=0)
        received[name] = (sizes, out)
    assert received["netform"][0] == received["keras"][0] == [3, 3, 1]
    np.testing.assert_allclose(received["netform"][1], received["keras"][1], atol=1e-6)


# ----------------------------------------------------------------- tracing
def _counting(base: type):
    class Counting(base):
        traces = {"train": 0, "test": 0, "predict": 0}

        def train_step(self, data):
            self.traces["train"] += 1  # runs only while tracing
            return super().train_step(data)

        def test_step(self, data):
            self.traces["test"] += 1
            return super().test_step(data)

        def predict_step(self, data):
            self.traces["predict"] += 1
            return super().predict_step(data)

    Counting.traces = {"train": 0, "test": 0, "predict": 0}
    return Counting


@pytest.mark.parametrize("spe", [1, 3])
def test_steps_are_traced_no_more_often_than_by_keras(spe):
    counts = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        cls = _counting(base)
        model = _dense(cls, spe=spe)
        model.fit(X, Y, batch_size=16, epochs=2, validation_data=(X[:40], Y[:40]), verbose=0)  # last batch of 4
        model.train_on_batch(X[:5], Y[:5])
        model.evaluate(X, Y, batch_size=16, verbose=0)
        model.predict(X, batch_size=16, verbose=0)
        counts[name] = dict(cls.traces)
    for step in ("train", "test", "predict"):
        assert 1 <= counts["netform"][step] <= counts["keras"][step], (step, counts)


# ------------------------------------------------------------------ inputs
class _AddIfGiven(keras.layers.Layer):
    def call(self, a, b=None):
        return a if b is None else a + b


def _optional_model(base: type) -> keras.Model:
    keras.utils.set_random_seed(3)
    main = keras.Input((4,), name="main")
    extra = keras.Input((4,), name="extra", optional=True)
    model = base([main, extra], keras.layers.Dense(1)(_AddIfGiven()(main, extra)))
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_optional_input_fed_none_trains_like_keras():
    results = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        model = _optional_model(base)
        hist = model.fit([X, None], Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results[name] = (
            hist.history["loss"],
            model.evaluate([X, None], Y, batch_size=16, verbose=0),
            model.predict([X, None], batch_size=16, verbose=0),
            model.train_on_batch([X[:8], None], Y[:8]),
            model.test_on_batch([X[:8], None], Y[:8]),
            model.predict_on_batch([X[:8], None]),
            model.predict([X, X], batch_size=32, verbose=0),  # and fed, after being absent
        )
    for ours, theirs in zip(results["netform"], results["keras"], strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_required_input_fed_none_is_a_data_error():
    inputs = [keras.Input((4,), name="a"), keras.Input((4,), name="b")]
    for base in (keras.Model, nfe.Model):
        model = base(inputs, keras.layers.Dense(1)(_AddIfGiven()(*inputs)))
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError) as caught:  # Keras fails too, deeper down
            model.fit([X, None], Y, verbose=0)
        if base is nfe.Model:
            assert isinstance(caught.value, DataError)
            assert "received None, but it is not optional" in str(caught.value)
            assert "optional=True" in str(caught.value)


def test_on_batch_methods_take_inputs_of_different_widths_like_keras():
    results = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        keras.utils.set_random_seed(4)
        a, b = keras.Input((4,)), keras.Input((2,))
        model = base([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
        results[name] = (
            model.train_on_batch([X[:10], X2[:10]], Y[:10]),
            model.test_on_batch([X[:10], X2[:10]], Y[:10], sample_weight=np.arange(10.0)),
            model.predict_on_batch([X[:10], X2[:10]]),
            model.predict_on_batch((X[:10], X2[:10])),
        )
    for ours, theirs in zip(results["netform"], results["keras"], strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


# -------------------------------------------------------------- strategies
def test_optimizer_made_outside_the_models_strategy_is_an_engine_error():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    outside = [keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.01)]  # created under the default strategy
    with strategy.scope():
        inputs = keras.Input((4,))
        plain = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        plain.compile(optimizer=outside[0], loss="mse")
        with pytest.raises(RuntimeError, match="Mixing different tf.distribute.Strategy"):
            plain.fit(X, Y, verbose=0)  # what Keras gives: TensorFlow's bare error
        model = nfe.Model(inputs, keras.layers.Dense(1)(inputs))
        with pytest.raises(EngineError, match=r"compile\(\): the optimizer Adam was created under the default "
                                              r"strategy, but the model's variables were created under "
                                              r"MirroredStrategy.*inside `with strategy.scope\(\):`"):
            model.compile(optimizer=outside[1], loss="mse")
        model.compile(optimizer="adam", loss="mse")  # made here, under the scope: fine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, Y, batch_size=50, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_optimizer_made_under_the_models_strategy_is_accepted():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        optimizer = keras.optimizers.Adam(0.01)
        inputs = keras.Input((4,))
        model = nfe.Model(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer=optimizer, loss="mse")
    model.fit(X, Y, batch_size=50, verbose=0)  # Keras allows fit outside the scope once compiled in it
    assert int(optimizer.iterations.numpy()) == 2


@pytest.mark.slow
def test_reduce_per_replica_and_predict_over_two_replicas_like_keras(tmp_path):
    out = tmp_path / "dist.npz"
    subprocess.run([sys.executable, str(DIST_WORKER), str(out)], check=True, timeout=180, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    got = np.load(out)
    for reduction in ("auto", "first", "concat", "mean", "sum"):
        np.testing.assert_allclose(got[f"reduce_{reduction}_netform"], got[f"reduce_{reduction}_keras"],
                                   err_msg=reduction)
    assert "`reduction` must be one of" in str(got["keras_refuses"])
    assert "unknown reduction 'avg'" in str(got["netform_refuses"])
    np.testing.assert_array_equal(got["ends_netform"], got["ends_keras"])
    np.testing.assert_allclose(got["predict_netform"], got["predict_keras"], atol=1e-6)


def test_unknown_reduction_is_refused_even_with_nothing_to_reduce():
    with pytest.raises(EngineError, match=r"unknown reduction 'meen'.*Did you mean 'mean'"):
        reduce_per_replica(tf.constant(1.0), tf.distribute.get_strategy(), "meen")
    np.testing.assert_allclose(reduce_per_replica({"v": tf.constant(2.0)}, tf.distribute.get_strategy(), "first")["v"], 2.0)
