"""evaluate/predict: bigger default batches where results are Keras's, steps_per_execution (and "auto") in predict."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform.engine import _data, _steps

from engine_helpers import make_mlp

rng = np.random.default_rng(11)
X = rng.normal(size=(3000, 8)).astype("float32")
Y = rng.integers(0, 3, size=(3000,)).astype("int64")
SW = rng.uniform(0.5, 2.0, size=(3000,)).astype("float32")


@pytest.fixture
def eager_growth(monkeypatch):
    """Make every call count as fast: under "auto" the steps double after each call, up to the cap."""
    monkeypatch.setattr(_steps, "AUTO_TARGET_S", 1e9)


def _pair(loss="sparse_categorical_crossentropy", spe=1, metrics=("accuracy",)):
    models = []
    for cls, s in ((keras.Model, 1), (nfe.Model, spe)):
        model = make_mlp(cls)
        model.compile(optimizer="adam", loss=loss, metrics=list(metrics), steps_per_execution=s)
        models.append(model)
    return models


class _Calls(keras.callbacks.Callback):
    """Records (begin, end) batch numbers of test/predict calls."""

    def __init__(self, sparse: bool) -> None:
        super().__init__()
        self.sparse_batch_hooks = sparse
        self.calls: list[list[int]] = []

    def on_test_batch_begin(self, batch, logs=None):
        self.calls.append([batch])

    def on_test_batch_end(self, batch, logs=None):
        self.calls[-1].append(batch)

    def on_predict_batch_begin(self, batch, logs=None):
        self.calls.append([batch])

    def on_predict_batch_end(self, batch, logs=None):
        self.calls[-1].append(batch)
        self.calls[-1].append(len(logs["outputs"]))


def test_evaluate_defaults_equal_keras_in_bigger_batches():
    ref, model = _pair(metrics=("accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2)))
    want = ref.evaluate(X, Y, verbose=0, sample_weight=SW)
    calls = _Calls(sparse=True)
    got = model.evaluate(X, Y, verbose=0, sample_weight=SW, callbacks=[calls])
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert len(calls.calls) == 3  # batches of 1024, not Keras's 94 of 32
    np.testing.assert_allclose(
        model.evaluate(X, Y, verbose=0, return_dict=True)["loss"], ref.evaluate(X, Y, verbose=0)[0], atol=1e-6, rtol=0
    )


def test_predict_defaults_equal_keras_and_stream_bounded_batches():
    ref, model = _pair()
    np.testing.assert_allclose(model.predict(X, verbose=0), ref.predict(X, verbose=0), atol=1e-6, rtol=0)
    sizes = [len(batch) for batch in model.predict_iter(X)]
    assert sizes == [1024, 1024, 952]


def test_callbacks_that_see_every_batch_keep_keras_batches_and_numbers():
    ref, model = _pair()
    want, got = _Calls(sparse=False), _Calls(sparse=False)
    np.testing.assert_allclose(
        model.evaluate(X, Y, verbose=0, callbacks=[got]), ref.evaluate(X, Y, verbose=0, callbacks=[want]),
        atol=1e-6, rtol=0,
    )
    assert got.calls == want.calls and len(got.calls) == 94
    want, got = _Calls(sparse=False), _Calls(sparse=False)
    ref.predict(X[:100], verbose=0, callbacks=[want])
    model.predict(X[:100], verbose=0, callbacks=[got])
    assert got.calls == want.calls == [[0, 0, 32], [1, 1, 32], [2, 2, 32], [3, 3, 4]]


def test_a_loss_summed_over_the_batch_keeps_keras_batches():
    ref, model = _pair(loss=keras.losses.SparseCategoricalCrossentropy(reduction="sum"))
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0), ref.evaluate(X, Y, verbose=0), atol=1e-4, rtol=1e-6)
    assert _data.default_eval_batch_size(model, X, Y, mode="test", steps=None, strategy=None, sparse_hooks_only=True) is None
    # predict does not depend on the loss
    assert _data.default_eval_batch_size(model, X, mode="predict", steps=None, strategy=None, sparse_hooks_only=True) == 1024


def test_a_multi_output_model_evaluates_in_keras_batches():
    """Keras logs each output's loss as the plain mean over batches: it depends on the batches, so 32 is kept."""
    def build(cls):
        keras.utils.set_random_seed(3)
        inputs = keras.Input((8,))
        h = keras.layers.Dense(8, activation="relu")(inputs)
        return cls(inputs, {"c": keras.layers.Dense(3, activation="softmax", name="c")(h),
                            "p": keras.layers.Dense(1, activation="sigmoid", name="p")(h)})

    ys = {"c": Y, "p": (X[:, :1] > 0).astype("float32")}
    models = []
    for cls in (keras.Model, nfe.Model):
        model = build(cls)
        model.compile(optimizer="adam", loss={"c": "sparse_categorical_crossentropy", "p": "binary_crossentropy"})
        models.append(model)
    ref, model = models
    want = ref.evaluate(X, ys, verbose=0, return_dict=True)
    got = model.evaluate(X, ys, verbose=0, return_dict=True)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-6, rtol=0, err_msg=key)
    assert _data.default_eval_batch_size(model, X, ys, mode="test", steps=None, strategy=None, sparse_hooks_only=True) is None
    assert _data.default_eval_batch_size(model, X, mode="predict", steps=None, strategy=None, sparse_hooks_only=True) == 1024


def test_default_batch_rule():
    _, model = _pair()
    rule = _data.default_eval_batch_size
    common = {"steps": None, "strategy": None, "sparse_hooks_only": True}
    assert rule(model, X, Y, mode="test", **common) == 1024
    assert rule(model, tf.constant(X), Y, mode="test", **common) == 1024
    assert rule(model, X, Y, mode="test", **{**common, "steps": 5}) is None  # steps count batches of 32
    assert rule(model, X, Y, mode="test", **{**common, "sparse_hooks_only": False}) is None
    assert rule(model, tf.data.Dataset.from_tensor_slices(X).batch(8), mode="predict", **common) is None
    # Memory: 16 MiB of inputs and layer outputs per batch at most.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 4))
    wide = nfe.Model(inputs, keras.layers.Conv2D(8, 3, padding="same")(inputs))
    # 64 KiB per sample: 16 KiB of data, the Input's 16 KiB and the convolution's 32 KiB
    assert rule(wide, np.zeros((4, 32, 32, 4), "float32"), mode="predict", **common) == 256
    inputs = keras.Input((128, 128, 4))
    wider = nfe.Model(inputs, keras.layers.Conv2D(8, 3, padding="same")(inputs))
    assert rule(wider, np.zeros((4, 128, 128, 4), "float32"), mode="predict", **common) is None
    # Layers whose code Keras does not own, or that keep state across batches: Keras's 32.
    inputs = keras.Input((8,))
    lam = nfe.Model(inputs, keras.layers.Lambda(lambda t: t - tf.reduce_mean(t, axis=0))(inputs))
    assert rule(lam, X, mode="predict", **common) is None

    class Custom(nfe.Model):
        def test_step(self, data):
            return super().test_step(data)

    custom = make_mlp(Custom)
    custom.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert rule(custom, X, Y, mode="test", **common) is None
    assert rule(custom, X, mode="predict", **common) == 1024


def test_predict_auto_groups_steps_with_keras_batch_numbers(eager_growth):
    ref, model = _pair(spe="auto")
    want = ref.predict(X[:200], batch_size=8, verbose=0)
    calls = _Calls(sparse=True)
    got = model.predict(X[:200], batch_size=8, verbose=0, callbacks=[calls])
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    # Each call reports Keras's numbers for its steps: begin, begin + n - 1, and n batches of outputs.
    assert calls.calls[0] == [0, 0, 8]
    assert any(end > begin for begin, end, _ in calls.calls)
    expected_begin = 0
    for begin, end, rows in calls.calls:
        assert begin == expected_begin and rows == 8 * (end - begin + 1)
        expected_begin = end + 1
    assert expected_begin == 25
    # One trace of the grouped loop for every number of steps.
    assert model.predict_function.execution._joined_loop.experimental_get_tracing_count() == 1
    # A callback that needs every batch keeps one step per call, as steps_per_execution=1.
    every = _Calls(sparse=False)
    model.predict(X[:40], batch_size=8, verbose=0, callbacks=[every])
    assert every.calls == [[i, i, 8] for i in range(5)]


def test_predict_auto_call_covers_at_most_1024_samples(eager_growth):
    _, model = _pair(spe="auto")
    sizes = [len(batch) for batch in model.predict_iter(X, batch_size=64)]
    assert max(sizes) == 1024 and sum(sizes) == len(X)


def test_predict_fixed_steps_per_execution_matches_keras_numbers():
    ref, model = _pair(spe=4)
    ref.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=4)
    want, got = _Calls(sparse=False), _Calls(sparse=False)
    out_want = ref.predict(X[:100], batch_size=8, verbose=0, callbacks=[want])
    out_got = model.predict(X[:100], batch_size=8, verbose=0, callbacks=[got])
    np.testing.assert_allclose(out_got, out_want, atol=1e-6, rtol=0)
    assert got.calls == want.calls
