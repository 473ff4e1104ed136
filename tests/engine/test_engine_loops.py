"""fit/evaluate/predict loops: data kinds, arguments, steps_per_execution, predict_iter."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from engine_helpers import make_mlp, max_weight_diff


def _compiled(spe: int = 1, **kw):
    model = make_mlp(nfe.Model)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe, **kw)
    return model


def _gen(x, y, batch):
    for i in range(0, len(x), batch):
        yield x[i:i + batch], y[i:i + batch]


class Seq(keras.utils.PyDataset):
    def __init__(self, x, y, batch):
        super().__init__()
        self.x, self.y, self.batch = x, y, batch

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch))

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]


@pytest.mark.parametrize("kind", ["dataset", "generator", "pydataset", "unknown_cardinality"])
def test_every_data_kind_trains_like_arrays(kind, data):
    x, y = data
    ref = _compiled()
    ref.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model = _compiled()
    if kind == "dataset":
        source = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    elif kind == "generator":
        source = _gen(x, y, 16)
    elif kind == "pydataset":
        source = Seq(x, y, 16)
    else:
        source = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(16)
    hist = model.fit(source, epochs=1, verbose=0, shuffle=False)
    assert max_weight_diff(model, ref) < 1e-6
    assert len(hist.history["loss"]) == 1


@pytest.mark.parametrize("spe", [4, 32])
@pytest.mark.parametrize("unknown", [False, True])
def test_steps_per_execution_equals_one_step_at_a_time(spe, unknown, data):
    x, y = data  # 90 samples / 16 = 6 batches: not a multiple of 4, shorter than 32
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if unknown:
        ds = ds.filter(lambda a, b: True)
    ds = ds.batch(16)
    ref, model = _compiled(1), _compiled(spe)
    h_ref = ref.fit(ds, epochs=2, verbose=0, validation_data=ds)
    h = model.fit(ds, epochs=2, verbose=0, validation_data=ds)
    assert max_weight_diff(model, ref) < 1e-6
    for key in ("loss", "accuracy", "val_loss"):
        np.testing.assert_allclose(h.history[key], h_ref.history[key], atol=1e-6)
    assert model.evaluate(ds, verbose=0) == pytest.approx(ref.evaluate(ds, verbose=0), abs=1e-6)


def test_steps_per_epoch_on_infinite_dataset_and_validation_steps(data):
    x, y = data
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(10).repeat()
    model = _compiled(spe=3)
    seen = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    hist = model.fit(ds, epochs=2, steps_per_epoch=7, validation_data=ds, validation_steps=2,
                     verbose=0, callbacks=[cb])
    # As keras.Model.fit: each call runs 3 steps and reports its last index (9 steps an epoch).
    assert seen == [2, 5, 8] * 2
    assert int(model.optimizer.iterations) == 18
    assert len(hist.history["val_loss"]) == 2


def test_validation_freq_initial_epoch_and_history(data):
    x, y = data
    model = _compiled()
    hist = model.fit(x, y, epochs=4, initial_epoch=1, validation_split=0.2, validation_freq=2, verbose=0)
    assert hist.epoch == [1, 2, 3]
    assert len(hist.history["loss"]) == 3 and len(hist.history["val_loss"]) == 2  # 1-based epochs 2 and 4
    assert isinstance(hist, keras.callbacks.History)


def test_shuffle_changes_batches_but_trains(data):
    x, y = data
    a, b = _compiled(), _compiled()
    a.fit(x, y, batch_size=8, epochs=1, shuffle=True, verbose=0)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert max_weight_diff(a, b) > 0


@pytest.mark.parametrize("option", [{"jit_compile": True}, {"run_eagerly": True}])
def test_jit_compile_and_run_eagerly(option, data):
    x, y = data
    ref = _compiled()
    ref.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0)
    model = _compiled(spe=2, **option)
    model.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0)
    assert max_weight_diff(model, ref) < 1e-5
    assert model.predict(x, verbose=0).shape == (90, 3)


def test_predict_iter_streams_numpy_and_predict_is_its_concatenation(data):
    x, _ = data
    model = make_mlp(nfe.Model)
    batches = list(model.predict_iter(x, batch_size=32))
    assert [b.shape[0] for b in batches] == [32, 32, 26]
    assert all(isinstance(b, np.ndarray) for b in batches)
    np.testing.assert_array_equal(model.predict(x, batch_size=32, verbose=0), np.concatenate(batches))
    ds = tf.data.Dataset.range(5000).map(lambda i: tf.fill([8], tf.cast(i, tf.float32) / 5000)).batch(1000)
    it = model.predict_iter(ds)
    first = next(it)
    assert first.shape == (1000, 3)
    assert sum(b.shape[0] for b in it) == 4000


def test_predict_multi_output_dict(data):
    x, _ = data
    inp = keras.Input((8,), name="x")
    model = nfe.Model(inp, {"a": keras.layers.Dense(2)(inp), "b": keras.layers.Dense(1)(inp)})
    out = model.predict(x, batch_size=40, verbose=0)
    assert out["a"].shape == (90, 2) and out["b"].shape == (90, 1)
    assert [o["b"].shape[0] for o in model.predict_iter(x, batch_size=40)] == [40, 40, 10]


def test_list_inputs_and_evaluate_return_dict(data):
    x, y = data
    a, b = keras.Input((4,)), keras.Input((4,))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Concatenate()([a, b]))
    model = nfe.Model([a, b], out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([x[:, :4], x[:, 4:]], y, epochs=1, verbose=0)
    logs = model.evaluate([x[:, :4], x[:, 4:]], y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def test_progress_bar_output_looks_like_keras(data, capsys):
    x, y = data
    model = _compiled()
    model.fit(x, y, batch_size=30, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "3/3" in out and "loss:" in out and "samples_per_sec" not in out


def test_make_functions_are_cached_and_reset_by_compile(data):
    x, y = data
    model = _compiled()
    fn = model.make_train_function()
    assert model.make_train_function() is fn and model.train_function is fn
    assert model.make_test_function() is model.make_test_function()
    assert model.make_predict_function() is model.make_predict_function()
    model.compile("adam", "sparse_categorical_crossentropy")
    assert model.train_function is None
    assert model.make_train_function(force=True) is not fn
