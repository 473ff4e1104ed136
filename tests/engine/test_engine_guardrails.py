"""Every guardrail raises netform's error with a message that says what, where, expected, how to fix."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import netform.engine as nfe
from netform.errors import DataError, EngineError
from engine_helpers import make_mlp


@pytest.fixture
def model():
    m = make_mlp(nfe.Model)
    m.compile("sgd", "sparse_categorical_crossentropy")
    return m


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_loops_inside_tf_function(model, data, method):
    x, y = data
    args = (x,) if method == "predict" else (x, y)

    @tf.function
    def run():
        getattr(model, method)(*args, verbose=0)
        return 0

    with pytest.raises(EngineError, match=rf"{method}\(\) was called inside a tf.function .*call it outside"):
        run()


def test_fit_before_compile(data):
    x, y = data
    with pytest.raises(EngineError, match=r"fit\(\) was called before compile\(\) on model '.*'\. Call `model.compile"):
        make_mlp(nfe.Model).fit(x, y, verbose=0)
    with pytest.raises(EngineError, match=r"evaluate\(\) was called before compile\(\)"):
        make_mlp(nfe.Model).evaluate(x, y, verbose=0)


def test_variables_under_one_strategy_compiled_under_another():
    model = make_mlp(nfe.Model)  # variables under the default strategy
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        with pytest.raises(EngineError, match=r"compile\(\): model '.*' has variables created under the default "
                                              r"strategy, but compile\(\) is called under MirroredStrategy.*"
                                              r"same strategy"):
            model.compile("sgd", "mse")


def test_fit_under_another_strategy_than_the_model(data):
    x, y = data
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = make_mlp(nfe.Model)
        model.compile("sgd", "sparse_categorical_crossentropy")
    other = tf.distribute.MirroredStrategy(["/cpu:0"])
    with other.scope():
        with pytest.raises(EngineError, match=r"fit\(\): model .* created under MirroredStrategy"):
            model.fit(x, y, verbose=0)
    model.fit(x, y, verbose=0, epochs=1)  # fine outside any scope


def test_wrong_input_shape_names_input_and_shapes(model, data):
    x, y = data
    with pytest.raises(DataError, match=r"fit\(\): input 'features' of model '.*' expects shape \(None, 8\) "
                                        r"\(batch first\), but received data of shape \(None, 5\)\. Reshape"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(DataError, match=r"predict\(\): input 'features' .* expects shape \(None, 8\)"):
        model.predict(np.zeros((4, 2, 8), "float32"), verbose=0)


def test_wrong_number_of_inputs(model, data):
    x, y = data
    with pytest.raises(DataError, match=r"expects 1 input\(s\) \['features'\], but the data provides 2 .*one array per model input"):
        model.fit([x, x], y, verbose=0)


def test_missing_named_input(data):
    x, y = data
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    m = nfe.Model({"a": a, "b": b}, keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))
    m.compile("sgd", "mse")
    with pytest.raises(DataError, match=r"no entry for input 'b' .*received keys \['a', 'c'\]\. Rename"):
        m.fit({"a": x[:, :4], "c": x[:, 4:]}, np.zeros((90, 3)), verbose=0)


def test_empty_data(model):
    with pytest.raises(DataError, match=r"fit\(\): the data is empty \(0 samples in x\)\. Expected at least one sample"):
        model.fit(np.zeros((0, 8), "float32"), np.zeros((0,)), verbose=0)
    empty = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8), "float32"), np.zeros(4))).take(0).batch(2)
    with pytest.raises(DataError, match=r"evaluate\(\): the tf.data.Dataset is empty \(cardinality 0\)"):
        model.evaluate(empty, verbose=0)
    filtered = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8), "float32"), np.zeros(4)))
    filtered = filtered.filter(lambda a, b: False).batch(2)
    with pytest.raises(DataError, match=r"fit\(\): the data yielded no batch\. Expected at least one batch"):
        model.fit(filtered, verbose=0)


def test_validation_split_needs_arrays(model, data):
    x, y = data
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(DataError, match=r"validation_split=0.2 works only with array data.*validation_data="):
        model.fit(ds, validation_split=0.2, verbose=0)


def test_unknown_strategy_name():
    with pytest.raises(EngineError, match=r"Unknown distribution strategy 'mirored'.*Did you mean 'mirrored'"):
        nfe.strategy_from_name("mirored")


def test_errors_are_netform_errors():
    assert issubclass(DataError, EngineError)
    assert EngineError.code == "NF-ENGINE" and DataError.code == "NF-DATA"
