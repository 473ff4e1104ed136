"""In-memory arrays stay on the device during fit: Keras's batches, in Keras's order, gathered in the compiled loop."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform._compat import _keras_engine as ki
from netform._compat._keras_shuffle import epoch_order, shuffle_seeds
from netform.engine import _device_data

from engine_helpers import assert_history_close, make_mlp, max_weight_diff

N, BATCH = 203, 16  # a partial last batch of 11 samples


def _keras_orders(n: int, batch: int, shuffle, epochs: int) -> list[np.ndarray]:
    """The indices Keras's array pipeline reads, epoch by epoch (the data is the indices)."""
    dataset = ki.get_data_adapter(np.arange(n), batch_size=batch, shuffle=shuffle).get_tf_dataset()
    return [np.concatenate([b.numpy() for b in dataset]) for _ in range(epochs)]


@pytest.mark.parametrize("shuffle", [True, "batch"])
@pytest.mark.parametrize(
    "seed, n, batch",
    [(7, 101, 5), (7, 5, 8), (7, 2, 1), (0, 37, 37), (2**31 - 1, 33, 4)],
)
def test_epoch_order_is_the_order_of_kerass_pipeline(seed, n, batch, shuffle):
    # Seed 0 and 2**31 - 1 (truncated to 0) are TensorFlow's special case of seeds (0, 2**31 - 1).
    keras.utils.set_random_seed(seed)
    expected = _keras_orders(n, batch, shuffle, epochs=2)
    keras.utils.set_random_seed(seed)
    seeds = shuffle_seeds()
    assert seeds is not None
    order = epoch_order(n, batch, shuffle, seeds).numpy()
    for epoch in expected:  # a global seed: every epoch reads the same order, in Keras too
        np.testing.assert_array_equal(order, epoch)


def test_unseeded_epochs_draw_new_orders_and_batch_shuffle_keeps_each_batch(monkeypatch):
    # Without a global seed Keras draws a new order per epoch; so does netform, from random seeds.
    from netform._compat import _keras_shuffle

    monkeypatch.setattr(_keras_shuffle, "shuffle_seeds", lambda: None)  # as with no global seed
    for shuffle in (True, "batch"):
        source = _device_data.device_arrays(np.arange(500, dtype="float32"), batch_size=BATCH, shuffle=shuffle)
        assert source is not None
        orders = [iter(source).order.numpy() for _ in range(3)]
        for order in orders:
            assert sorted(order.tolist()) == list(range(500))
            if shuffle == "batch":
                for k in range(0, 500, BATCH):
                    assert sorted(order[k : k + BATCH].tolist()) == list(range(k, min(k + BATCH, 500)))
        assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    x, y = _data()
    model = make_mlp(nfe.Model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert len(model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0).history["loss"]) == 2


@pytest.fixture
def device_epochs(monkeypatch):
    """Counts the epochs read from arrays kept on the device."""
    calls: list[int] = []
    original = _device_data.DeviceArrays.draw_order

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(_device_data.DeviceArrays, "draw_order", counted)
    return calls


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(N, 8)).astype("float32")
    y = rng.integers(0, 3, size=(N,)).astype("int64")
    return x, y


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((batch, round(float(logs["loss"]), 5)))


def _fit_both(spe, *, seed=11, callbacks=False, **kw):
    runs = []
    for cls in (nfe.Model, keras.Model):
        model = make_mlp(cls)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=spe if cls is nfe.Model else (1 if spe == "auto" else spe),
        )
        cbs = [_Batches()] if callbacks else []
        keras.utils.set_random_seed(seed)
        hist = model.fit(batch_size=BATCH, epochs=2, verbose=0, callbacks=cbs, **kw)
        runs.append((model, hist, cbs))
    (ours, ours_hist, ours_cbs), (theirs, theirs_hist, theirs_cbs) = runs
    assert max_weight_diff(ours, theirs) <= 1e-6
    assert_history_close(ours_hist, theirs_hist, tol=1e-6)
    if callbacks:
        assert ours_cbs[0].seen == theirs_cbs[0].seen
    return ours


@pytest.mark.parametrize("spe", [1, "auto"])
@pytest.mark.parametrize("shuffle", [True, "batch"])
def test_fit_on_device_equals_keras_fit(shuffle, spe, device_epochs):
    x, y = _data()
    _fit_both(spe, x=x, y=y, shuffle=shuffle, validation_split=0.2, callbacks=spe == 1)
    assert device_epochs  # the arrays stayed on the device


@pytest.mark.parametrize("weights", ["sample_weight", "class_weight"])
def test_fit_on_device_with_weights_equals_keras_fit(weights, device_epochs):
    x, y = _data()
    extra = (
        {"sample_weight": np.random.default_rng(4).uniform(0.1, 2.0, size=N).astype("float32")}
        if weights == "sample_weight"
        else {"class_weight": {0: 1.0, 1: 2.5, 2: 0.5}}
    )
    _fit_both("auto", x=x, y=y, shuffle=True, validation_split=0.2, **extra)
    assert device_epochs


def test_fit_on_device_with_steps_per_epoch_and_steps_per_execution_equals_keras_fit(device_epochs):
    # steps_per_epoch=5 of 13 batches: the pass over the data continues across epochs, as in Keras.
    x, y = _data()
    _fit_both(4, x=x, y=y, shuffle="batch", steps_per_epoch=5, callbacks=True)
    assert device_epochs


def test_arrays_over_the_bound_keep_kerass_pipeline(monkeypatch, device_epochs):
    monkeypatch.setattr(_device_data, "DEVICE_DATA_MAX_BYTES", 1024)
    x, y = _data()
    _fit_both(1, x=x, y=y, shuffle=True)
    assert not device_epochs


def test_an_overridden_make_train_function_reads_kerass_pipeline(device_epochs):
    class Custom(nfe.Model):
        def make_train_function(self, force=False):
            return super().make_train_function(force)

    x, y = _data()
    model = make_mlp(Custom)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=True, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert not device_epochs


def test_a_cursor_read_eagerly_gives_kerass_batches():
    keras.utils.set_random_seed(5)
    x = np.arange(40, dtype="float32").reshape(20, 2)
    expected = [b.numpy() for b in ki.get_data_adapter(x, batch_size=6, shuffle=True).get_tf_dataset()]
    keras.utils.set_random_seed(5)
    source = _device_data.device_arrays(x, batch_size=6, shuffle=True)
    assert source is not None
    ours = [tf.convert_to_tensor(b).numpy() for b in iter(source)]
    assert len(ours) == len(expected) == 4
    for a, b in zip(ours, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("samples", "batch"), [(16, 4), (18, 4)])
def test_batches_have_kerass_static_shapes(samples, batch, monkeypatch):
    """Full batches only: Keras's pipeline gives them a static size, so shapes that cannot broadcast are a
    ValueError when the step is traced; with a partial last batch the size is unknown until the step runs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = rng.integers(0, 2, samples)
    spec = ki.get_data_adapter(x, y, batch_size=batch, shuffle=True).get_tf_dataset().element_spec
    source = _device_data.device_arrays((x, y), batch_size=batch, shuffle=True)
    assert source is not None
    assert [s.shape.as_list() for s in source.element_spec] == [s.shape.as_list() for s in spec]
    made = []
    init = _device_data.DeviceArrays.__init__
    monkeypatch.setattr(_device_data.DeviceArrays, "__init__", lambda self, *a, **k: made.append(1) or init(self, *a, **k))
    errors = []
    for cls in (nfe.Model, keras.Model):
        inputs = keras.Input((4,))
        model = cls(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
        model.compile(loss=keras.losses.Huber())  # integer labels of shape (batch,) against (batch, 2)
        with pytest.raises(Exception) as caught:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        errors.append(type(caught.value))
    assert errors[0] is errors[1]
    assert errors[0] is (ValueError if samples % batch == 0 else tf.errors.InvalidArgumentError)
    assert made == [1]  # netform's fit kept the arrays on the device (Keras's never does)
