"""Logs, callbacks, predict outputs and extension points behave as in ``keras.Model``.

Each test runs the same code on a plain ``keras.Model`` and on netform's
``Model`` and compares what users see.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from engine_helpers import make_mlp


def _strip(history: dict) -> dict:
    return dict(history)  # Keras's keys exactly: telemetry lives in history.telemetry


# ------------------------------------------------------------------ nested logs
def _nested_logs_model(base: type) -> keras.Model:
    class Nested(base):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(y=y, y_pred=y_pred)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            # The Keras guide's idiom: compile_metrics' result() is a dict.
            return {m.name: m.result() for m in self.metrics}

    model = make_mlp(Nested)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_nested_step_logs_reach_callbacks_flattened(data, tmp_path):
    x, y = data
    seen = {}
    histories = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        batch_logs = []
        spy = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs, s=batch_logs: s.append(dict(logs)))
        model = _nested_logs_model(base)
        hist = model.fit(
            x, y, batch_size=30, epochs=2, verbose=0, validation_data=(x, y),
            callbacks=[keras.callbacks.TensorBoard(str(tmp_path / name)), spy],
        )
        histories[name] = _strip(hist.history)
        seen[name] = batch_logs
    assert sorted(histories["netform"]) == sorted(histories["keras"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in histories["keras"].items():
        np.testing.assert_allclose(histories["netform"][key], values, atol=1e-5, err_msg=key)
    assert [sorted(logs) for logs in seen["netform"]] == [sorted(logs) for logs in seen["keras"]]
    assert all(isinstance(v, float) for logs in seen["netform"] for v in logs.values())


def test_flatten_logs_matches_keras():
    from netform.engine._callbacks import pythonify_logs

    logs = {"loss": tf.constant(1.5), "compile_metrics": {"acc": np.float32(0.25), "top": {"k": 3}}, "name": "x",
            "vec": np.array([1.0, 2.0]), "tvec": tf.constant([1.0, 2.0])}
    received = []  # what Keras's CallbackList hands its callbacks
    spy = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: received.append(logs))
    keras.callbacks.CallbackList([spy]).on_epoch_end(0, logs)
    ours, theirs = pythonify_logs(logs), received[0]
    assert list(ours) == list(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key])
        assert type(ours[key]) is type(theirs[key])


# --------------------------------------------------------------- callback order
class _Custom(keras.callbacks.Callback):
    """Adds a metric at epoch end, as users do (e.g. a validation score)."""

    def __init__(self, order: list) -> None:
        super().__init__()
        self.order = order

    def on_epoch_end(self, epoch, logs=None):
        self.order.append("custom")
        logs["score"] = [3.0, 1.0, 2.0][epoch]


class _Checkpoint(keras.callbacks.ModelCheckpoint):
    def __init__(self, order: list, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order = order

    def on_epoch_end(self, epoch, logs=None):
        self.order.append("checkpoint")
        super().on_epoch_end(epoch, logs)


class _History(keras.callbacks.History):
    def __init__(self, order: list) -> None:
        super().__init__()
        self.order = order

    def on_epoch_end(self, epoch, logs=None):
        self.order.append("history")
        super().on_epoch_end(epoch, logs)


def test_epoch_end_order_and_best_checkpoint_match_keras(data, tmp_path):
    x, y = data
    results = {}
    for name, cls in (("keras", keras.Model), ("netform", nfe.Model)):
        order: list = []
        folder = tmp_path / name
        folder.mkdir()
        model = make_mlp(cls)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        ckpt = _Checkpoint(order, str(folder / "w_{epoch}.weights.h5"), monitor="score", mode="min",
                           save_best_only=True, save_weights_only=True)
        model.fit(x, y, epochs=3, verbose=0, callbacks=[_Custom(order), ckpt])
        written = sorted(p.name for p in folder.iterdir())
        order2: list = []
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[_Checkpoint(order2, str(folder / "x.weights.h5"), save_weights_only=True),
                             _History(order2), _Custom(order2)])
        results[name] = (order, written, order2)
    assert results["keras"][1] == ["w_1.weights.h5", "w_2.weights.h5"]
    assert results["netform"] == results["keras"]


# ------------------------------------------------------------- predict outputs
_PREDICT_STEPS = {
    "scalar": lambda self, x: keras.ops.sum(self(x)),
    "sparse": lambda self, x: tf.sparse.from_dense(tf.cast(self(x) > 0.34, tf.float32)),
    "ragged_widths": lambda self, x: tf.repeat(self(x)[:, :1], tf.shape(x)[0] // 10, axis=1),
    "nested": lambda self, x: {"probs": self(x), "pair": (self(x)[:, 0], keras.ops.mean(self(x)))},
}


def _predict_model(base: type, kind: str) -> keras.Model:
    step = _PREDICT_STEPS[kind]

    class Custom(base):
        def predict_step(self, data):
            x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
            return step(self, x)

    return make_mlp(Custom)


def _dense(value):
    if isinstance(value, tf.SparseTensor):
        return tf.sparse.to_dense(value).numpy()
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    return np.asarray(value)


@pytest.mark.parametrize("kind", sorted(_PREDICT_STEPS))
@pytest.mark.parametrize("batch_size", [32, 100])
def test_predict_concatenates_like_keras(data, kind, batch_size):
    x, _ = data
    want = _predict_model(keras.Model, kind).predict(x, batch_size=batch_size, verbose=0)
    got = _predict_model(nfe.Model, kind).predict(x, batch_size=batch_size, verbose=0)
    want_leaves, got_leaves = keras.tree.flatten(want), keras.tree.flatten(got)
    assert keras.tree.map_structure(lambda _: 0, got) == keras.tree.map_structure(lambda _: 0, want)
    for w, g in zip(want_leaves, got_leaves):
        assert type(g) is type(w), (type(g), type(w))
        assert np.shape(_dense(g)) == np.shape(_dense(w)) if not isinstance(w, tf.RaggedTensor) else True
        if isinstance(w, tf.RaggedTensor):
            np.testing.assert_allclose(np.concatenate([np.ravel(r) for r in g.to_list()]),
                                       np.concatenate([np.ravel(r) for r in w.to_list()]), atol=1e-6)
            assert g.shape.as_list()[:1] == w.shape.as_list()[:1]
        else:
            np.testing.assert_allclose(_dense(g), _dense(w), atol=1e-6)


# ----------------------------------------------------------- extension points
def _keras_style_model(base: type, *, wrap_super: bool) -> keras.Model:
    """Overrides the three function makers with Keras's contract, counting calls."""

    class Custom(base):
        calls = {"train": 0, "test": 0, "predict": 0}

        def make_train_function(self, force=False):
            if wrap_super:
                super().make_train_function(force)  # Keras's returns None when it builds
                inner = self.train_function
            else:
                inner = tf.function(lambda iterator: self.train_step(next(iterator)))

            def train_function(iterator):
                self.calls["train"] += 1
                return inner(iterator)

            self.train_function = train_function
            return train_function

        def make_test_function(self, force=False):
            if wrap_super:
                super().make_test_function(force)  # Keras's returns None when it builds
                inner = self.test_function
            else:
                inner = tf.function(lambda iterator: self.test_step(next(iterator)))

            def test_function(iterator):
                self.calls["test"] += 1
                return inner(iterator)

            self.test_function = test_function
            return test_function

        def make_predict_function(self, force=False):
            if wrap_super:
                super().make_predict_function(force)  # Keras's returns None when it builds
                inner = self.predict_function
            else:
                inner = tf.function(lambda data: self.predict_step(data[0]))

            def predict_function(data):
                self.calls["predict"] += 1
                return inner(data)

            self.predict_function = predict_function
            return predict_function

    model = make_mlp(Custom)
    model.calls = {"train": 0, "test": 0, "predict": 0}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("wrap_super", [False, True])
def test_keras_style_function_overrides_work(data, wrap_super):
    x, y = data
    results = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        model = _keras_style_model(base, wrap_super=wrap_super)
        hist = model.fit(x, y, batch_size=30, epochs=2, verbose=0, validation_data=(x[:60], y[:60]))
        evaluated = model.evaluate(x, y, batch_size=45, verbose=0, return_dict=True)
        predicted = model.predict(x, batch_size=40, verbose=0)
        results[name] = (_strip(hist.history), evaluated, predicted, dict(model.calls))
    (k_hist, k_eval, k_pred, k_calls), (n_hist, n_eval, n_pred, n_calls) = results["keras"], results["netform"]
    assert n_calls == k_calls
    if not wrap_super:  # (wrapping super() wraps the cached wrapper again at each evaluate, in Keras too)
        assert k_calls == {"train": 6, "test": 4 + 2, "predict": 3}
    assert sorted(n_hist) == sorted(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(n_hist[key], k_hist[key], atol=1e-5, err_msg=key)
    assert sorted(n_eval) == sorted(k_eval)
    np.testing.assert_allclose([n_eval[k] for k in sorted(k_eval)], [k_eval[k] for k in sorted(k_eval)], atol=1e-5)
    np.testing.assert_allclose(n_pred, k_pred, atol=1e-6)


# ------------------------------------------------------- errors Keras users catch
def test_netform_errors_are_caught_where_keras_errors_are(tmp_path):
    import netform as nf
    from netform.errors import EngineError, FormatError, SaveError, UnsafeFileError

    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    lambda_file = tmp_path / "lambda.keras"
    plain.save(lambda_file)
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a model at all" * 10)
    ours = nfe.Model(inputs, keras.layers.Dense(1)(inputs))
    situations = [  # each raises ValueError in Keras (checked first), a netform error in netform
        (lambda: keras.models.load_model(junk), lambda: nf.load(junk), FormatError),
        (lambda: keras.models.load_model(tmp_path / "missing.keras"), lambda: nf.load(tmp_path / "missing.keras"),
         FormatError),
        (lambda: keras.models.load_model(lambda_file), lambda: nf.load(lambda_file), UnsafeFileError),
        (lambda: plain.save(tmp_path / "m.txt"), lambda: nf.save(ours, tmp_path / "m.txt"), SaveError),
        (lambda: keras.Model(inputs, keras.layers.Dense(1)(inputs)).fit(np.zeros((4, 4)), np.zeros((4, 1))),
         lambda: ours.fit(np.zeros((4, 4)), np.zeros((4, 1)), verbose=0), EngineError),
    ]
    for keras_call, netform_call, error in situations:
        with pytest.raises(ValueError):
            keras_call()
        with pytest.raises(ValueError) as caught:
            netform_call()
        assert isinstance(caught.value, error), caught.value


def test_predict_batch_logs_match_keras(data):
    x, _ = data
    seen = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        logs_seen = []
        spy = keras.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs, s=logs_seen: s.append(logs))
        _predict_model(base, "nested").predict(x, batch_size=40, verbose=0, callbacks=[spy])
        seen[name] = logs_seen
    assert len(seen["netform"]) == len(seen["keras"]) == 3
    for ours, theirs in zip(seen["netform"], seen["keras"]):
        assert list(ours) == list(theirs)  # nested outputs flattened, as Keras does
        for key in theirs:
            assert type(ours[key]) is type(theirs[key]), key
            for mine, want in zip(keras.tree.flatten(ours[key]), keras.tree.flatten(theirs[key]), strict=True):
                assert type(mine) is type(want), key
                np.testing.assert_allclose(np.asarray(mine), np.asarray(want), atol=1e-6)


def test_keras_style_overrides_serve_the_on_batch_methods(data):
    x, y = data
    results = {}
    for name, base in (("keras", keras.Model), ("netform", nfe.Model)):
        model = _keras_style_model(base, wrap_super=True)
        trained = model.train_on_batch(x[:10], y[:10], return_dict=True)
        tested = model.test_on_batch(x[:10], y[:10], return_dict=True)
        predicted = model.predict_on_batch(x[:10])
        results[name] = (trained, tested, predicted, dict(model.calls))
    (k_train, k_test, k_pred, k_calls), (n_train, n_test, n_pred, n_calls) = results["keras"], results["netform"]
    assert n_calls == k_calls == {"train": 1, "test": 1, "predict": 1}
    for ours, theirs in ((n_train, k_train), (n_test, k_test)):
        assert sorted(ours) == sorted(theirs)
        np.testing.assert_allclose([ours[k] for k in sorted(theirs)], [theirs[k] for k in sorted(theirs)], atol=1e-6)
    np.testing.assert_allclose(n_pred, k_pred, atol=1e-6)
