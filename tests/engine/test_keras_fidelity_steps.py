"""Finite data, steps_per_epoch and steps_per_execution: step for step as keras.Model.fit.

Each test trains the same tiny model with plain ``keras.Model`` and with
netform's ``Model`` on identically built data, and compares the batch indices
callbacks receive, ``optimizer.iterations`` at each epoch end, the History and
the final weights.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 4)).astype("float32")
Y = (X.sum(axis=1, keepdims=True) * 3 + 1).astype("float32")


class Recorder(keras.callbacks.Callback):
    """Batch hooks as ("b"|"e"|"tb"|"te", index) and iterations at each epoch end."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []
        self.iterations: list[int] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("b", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("e", batch))

    def on_test_batch_begin(self, batch, logs=None):
        self.events.append(("tb", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.events.append(("te", batch))

    def on_epoch_end(self, epoch, logs=None):
        self.iterations.append(int(self.model.optimizer.iterations.numpy()))


def _data(kind: str) -> dict:
    """Fresh data of one kind (a new dataset object each call: shuffling seeds are per object)."""
    ds = tf.data.Dataset.from_tensor_slices((X, Y))
    return {
        "arrays": lambda: {"x": X, "y": Y, "batch_size": 16, "shuffle": False},
        "arrays_shuffled": lambda: {"x": X, "y": Y, "batch_size": 16, "shuffle": True},
        "ds7": lambda: {"x": ds.batch(16)},  # 7 batches, the last one short
        "ds10": lambda: {"x": ds.batch(10)},  # 10 batches
        "unknown": lambda: {"x": ds.batch(16).filter(lambda a, b: True)},  # 7 batches, length unknown
        "repeated": lambda: {"x": ds.batch(16).repeat()},
        "reshuffled": lambda: {
            "x": ds.shuffle(100, seed=3).batch(16),
            "validation_data": tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(100, seed=4).batch(16),
        },
    }[kind]()


def _train(model_cls, kind: str, spe: int, *, run_eagerly: bool = False, **fit_kwargs):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    model = model_cls(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", metrics=["mae"],
                  steps_per_execution=spe, run_eagerly=run_eagerly)
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ran out of data", "shuffle ignored for a dataset"
        hist = model.fit(**_data(kind), callbacks=[rec], verbose=0, **fit_kwargs)
    return rec, hist, model


def _history(hist) -> dict[str, list[float]]:
    return dict(hist.history)  # Keras's keys exactly: telemetry lives in hist.telemetry


def _assert_like_keras(kind: str, spe: int, *, run_eagerly: bool = False, **fit_kwargs):
    k_rec, k_hist, k_model = _train(keras.Model, kind, spe, **fit_kwargs)
    rec, hist, model = _train(nfe.Model, kind, spe, run_eagerly=run_eagerly, **fit_kwargs)
    assert rec.events == k_rec.events
    assert rec.iterations == k_rec.iterations
    ours, theirs = _history(hist), _history(k_hist)
    assert set(ours) == set(theirs)
    for key, values in theirs.items():
        np.testing.assert_allclose(ours[key], values, atol=1e-5, rtol=0, err_msg=key)
    for a, b in zip(model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    return rec


@pytest.mark.parametrize("spe, iterations", [(3, [9, 10, 19]), (4, [8, 10, 18])])
def test_finite_dataset_with_steps_per_epoch_is_iterated_again_like_keras(spe, iterations):
    # 10 batches, 8 steps an epoch: with calls of 3 Keras runs 9, then the 1 left, then 9 again;
    # with calls of 4, 8 then the 2 left (the counter moves only for steps that ran), then 8.
    rec = _assert_like_keras("ds10", spe, epochs=3, steps_per_epoch=8)
    assert rec.iterations == iterations


def test_finite_arrays_with_steps_per_epoch_carry_over_like_keras():
    _assert_like_keras("arrays", 3, epochs=3, steps_per_epoch=8)


@pytest.mark.parametrize("kind", ["arrays", "ds7", "unknown"])
def test_batch_index_after_a_short_last_execution_is_keras(kind):
    # 100 samples in batches of 16 (7 batches), 3 steps a call: Keras reports 2, 5, 8.
    rec = _assert_like_keras(kind, 3, epochs=2)
    ends = [i for tag, i in rec.events if tag == "e"]
    assert ends == [2, 5, 8] * 2
    assert rec.iterations == [7, 14]


def test_short_last_execution_when_run_eagerly():
    rec = _assert_like_keras("unknown", 3, run_eagerly=True, epochs=1)
    assert rec.iterations == [7]


@pytest.mark.parametrize("spe", [1, 3])
def test_steps_per_epoch_beyond_the_data_left_stops_like_keras(spe):
    # 7 batches for 10 steps an epoch: no batch begins past the end, nothing counts a missing step.
    rec = _assert_like_keras("ds7", spe, epochs=2, steps_per_epoch=10)
    assert rec.iterations == [7, 14]
    assert rec.events.count(("b", 0)) == 2 and ("b", 7) not in rec.events and ("b", 9) not in rec.events


def test_unknown_length_with_steps_per_epoch_logs_the_empty_epoch_like_keras():
    # Epoch 2 continues an iterator with no batch left: an empty epoch, then new data.
    rec = _assert_like_keras("unknown", 3, epochs=3, steps_per_epoch=8)
    assert rec.iterations == [7, 7, 14]


def test_step_counter_moves_only_for_steps_that_ran():
    # Unknown length, one step a call: the call that finds no batch changes nothing.
    # (keras.Model's graph step counts it in optimizer.iterations: 8 per epoch there.)
    rec, hist, model = _train(nfe.Model, "unknown", 1, epochs=2)
    k_rec, k_hist, k_model = _train(keras.Model, "unknown", 1, epochs=2)
    assert rec.iterations == [7, 14]
    assert rec.events == k_rec.events  # including Keras's batch_begin(7) of the call that found nothing
    np.testing.assert_allclose(_history(hist)["loss"], k_hist.history["loss"], atol=1e-5)
    for a, b in zip(model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_repeated_dataset_with_steps_per_execution_carries_over():
    rec = _assert_like_keras("repeated", 3, epochs=2, steps_per_epoch=5)
    assert rec.iterations == [6, 12]


def test_reshuffled_dataset_gives_keras_history():
    _assert_like_keras("reshuffled", 1, epochs=3)
    _assert_like_keras("arrays_shuffled", 3, epochs=3)


@pytest.fixture
def debug_caps():
    """Set keras.config's debugging caps for one test, then clear them."""
    yield
    keras.config.set_max_epochs(None)
    keras.config.set_max_steps_per_epoch(None)


def test_keras_debug_caps_on_epochs_and_steps_are_honoured(debug_caps):
    keras.config.set_max_epochs(2)
    keras.config.set_max_steps_per_epoch(4)
    rec = _assert_like_keras("arrays", 3, epochs=5, validation_data=(X, Y))
    assert rec.iterations == [6, 7]  # 4 steps capped, in calls of 3: 6, then the 1 batch left
    assert [i for tag, i in rec.events if tag == "te"] == [2, 5] * 2
    model = nfe.Model(*(lambda i: (i, keras.layers.Dense(1)(i)))(keras.Input((4,))))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        assert len(model.fit(X, Y, epochs=5, verbose=0).history["loss"]) == 2


@pytest.mark.parametrize("kind, steps", [("ds7", None), ("unknown", None), ("ds7", 5), ("repeated", 4)])
def test_evaluate_counts_steps_like_keras(kind, steps):
    results = []
    for cls in (keras.Model, nfe.Model):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((4,))
        model = cls(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], steps_per_execution=3)
        rec = Recorder()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logs = model.evaluate(_data(kind)["x"], steps=steps, callbacks=[rec], verbose=0, return_dict=True)
        results.append((rec.events, logs))
    (k_events, k_logs), (events, logs) = results
    assert events == k_events
    assert logs == pytest.approx(k_logs, abs=1e-5)


@pytest.mark.parametrize("kind", ["reshuffled"])
def test_reshuffled_data_under_a_strategy_gives_keras_history(kind):
    # Under a strategy Keras reads one batch to build the model: one more order drawn.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    runs = []
    for cls in (keras.Model, nfe.Model):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            inputs = keras.Input((4,))
            model = cls(inputs, keras.layers.Dense(1)(inputs))
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = model.fit(**_data(kind), epochs=3, verbose=0)
        runs.append((_history(hist), model.get_weights()))
    (k_hist, k_weights), (hist, weights) = runs
    for key, values in k_hist.items():
        np.testing.assert_allclose(hist[key], values, atol=1e-5, rtol=0, err_msg=key)
    for a, b in zip(weights, k_weights):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
