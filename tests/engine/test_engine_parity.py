"""netform's engine reproduces keras.Model.fit/evaluate/predict exactly."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import netform.engine as nfe

from engine_helpers import assert_history_close, make_cnn, make_mlp, max_weight_diff


def _pair(builder):
    ours = builder(nfe.Model)
    theirs = builder(keras.Model)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_fit_evaluate_predict_match_keras(arch, optimizer, data, images):
    builder, (x, y) = (make_mlp, data) if arch == "mlp" else (make_cnn, images)
    ours, theirs = _pair(builder)
    assert isinstance(ours, nfe.Functional)
    for m in (ours, theirs):
        m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    val = (x[:20], y[:20])
    kw = dict(batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=val)
    h_nf = ours.fit(x, y, **kw)
    h_k = theirs.fit(x, y, **kw)
    assert max_weight_diff(ours, theirs) < 1e-5
    assert_history_close(h_nf, h_k)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), atol=1e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def test_multi_output_losses_metrics_and_weights_match_keras(data):
    x, y = data
    y2 = (x[:, :1] > 0).astype("float32")

    def build(cls):
        keras.utils.set_random_seed(3)
        a = keras.Input((4,), name="a")
        b = keras.Input((4,), name="b")
        h = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([a, b]))
        cat = keras.layers.Dense(3, activation="softmax", name="category")(h)
        pri = keras.layers.Dense(1, activation="sigmoid", name="priority")(h)
        return cls({"a": a, "b": b}, {"category": cat, "priority": pri})

    ours, theirs = _pair(build)
    for m in (ours, theirs):
        m.compile(
            optimizer="adam",
            loss={"category": "sparse_categorical_crossentropy", "priority": "binary_crossentropy"},
            metrics={"category": ["accuracy"], "priority": [keras.metrics.AUC(name="auc")]},
            loss_weights={"category": 1.0, "priority": 0.5},
        )
    xs = {"a": x[:, :4], "b": x[:, 4:]}
    ys = {"category": y, "priority": y2}
    sw = np.linspace(0.5, 1.5, len(x)).astype("float32")
    kw = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, sample_weight=sw, validation_split=0.2)
    h_nf, h_k = ours.fit(xs, ys, **kw), theirs.fit(xs, ys, **kw)
    assert_history_close(h_nf, h_k)
    assert max_weight_diff(ours, theirs) < 1e-5
    assert ours.evaluate(xs, ys, verbose=0, return_dict=True) == pytest.approx(
        theirs.evaluate(xs, ys, verbose=0, return_dict=True), abs=1e-5
    )
    p_nf, p_k = ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0)
    for key in ("category", "priority"):
        np.testing.assert_allclose(p_nf[key], p_k[key], atol=1e-6)


def test_sequential_and_class_weight_match_keras(data):
    x, y = data

    def build(cls):
        keras.utils.set_random_seed(4)
        return cls([keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])

    ours = build(nfe.Sequential)
    theirs = build(keras.Sequential)
    theirs.set_weights(ours.get_weights())
    for m in (ours, theirs):
        m.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"])
    kw = dict(batch_size=32, epochs=2, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    assert_history_close(ours.fit(x, y, **kw), theirs.fit(x, y, **kw))
    assert max_weight_diff(ours, theirs) < 1e-5
