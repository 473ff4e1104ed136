"""from_keras gaps found by the keras.applications and keras-io round trips, each closed and pinned here."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import netform as nf  # noqa: E402
from netform.spec import graph_of  # noqa: E402

from ._roundtrip import round_trip  # noqa: E402


def _x(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")


def test_constant_array_operand_of_an_op_round_trips():
    # keras.applications' preprocess_input adds its mean as a constant array: x + [[[c0, c1, c2]]]
    x = keras.Input((4, 4, 3))
    y = x + np.array([[[[-103.9, -116.8, -123.7]]]], "float32")
    spec, rebuilt = round_trip(keras.Model(x, y), _x(2, 4, 4, 3))
    op = next(iter(spec.nodes.values()))
    assert op.to_dict()["in"][1] == [[[[-103.9000015258789, -116.80000305175781, -123.69999694824219]]]]


def test_bidirectional_return_sequences_keeps_its_schema_and_mask_behaviour():
    # Keras sets zero_output_for_mask on the layers Bidirectional(return_sequences=True) wraps; the key is known to
    # the RNN schemas, so the wrapper keeps its schema (and its static parameter count) and masked steps stay zero.
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(x)
    model = keras.Model(tokens, x)
    ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]], "int32")
    spec, rebuilt = round_trip(model, ids)
    layer = next(n.layer for n in graph_of(spec).nodes.values() if n.layer.type == "Bidirectional")
    assert layer.type == "Bidirectional" and layer.layer.zero_output_for_mask is True
    assert np.all(np.asarray(rebuilt(ids))[0, 3:] == 0)


def test_application_layers_have_static_rules_that_match_keras():
    from netform._compat._applications import application_layer_classes
    from netform.spec._layer_base import get_layer_spec

    classes = application_layer_classes()
    cases = [("LayerScale", {"init_values": 1e-6, "projection_dim": 8}, (None, 5, 5, 8)),
             ("StochasticDepth", {"drop_path_rate": 0.1}, (None, 5, 8)),
             ("CustomScaleLayer", {"scale": 0.17}, [(None, 6, 6, 4), (None, 6, 6, 4)])]
    for name, config, shape in cases:
        spec = get_layer_spec(name).model_validate({"type": name, **config})
        layer = classes[name](**config)
        if isinstance(shape, list):
            out = layer([keras.Input(batch_shape=s) for s in shape])
        else:
            out = layer(keras.Input(batch_shape=shape))
        assert spec.output_shape(shape) == tuple(out.shape)
        assert sum(spec.param_counts(shape)) == layer.count_params()


def test_application_layer_static_rule_names_the_mismatch():
    import pytest

    from netform.spec._layer_base import ShapeError, get_layer_spec

    spec = get_layer_spec("LayerScale").model_validate({"type": "LayerScale", "init_values": 1e-6,
                                                          "projection_dim": 8})
    with pytest.raises(ShapeError, match=r"projection_dim 8 needs an input whose last axis is 8"):
        spec.output_shape((None, 4, 3))


def test_convnext_block_round_trips_with_layer_scale():
    # the LayerScale of keras.applications.convnext, outside keras.layers, exports by its class name and rebuilds
    from netform._compat._applications import application_layer_classes

    x = keras.Input((4, 4, 8))
    y = keras.layers.Dense(8)(x)
    y = application_layer_classes()["LayerScale"](init_values=0.5, projection_dim=8)(y)
    spec, rebuilt = round_trip(keras.Model(x, keras.layers.add([x, y])), _x(2, 4, 4, 8))
    assert "type: LayerScale" in spec.to_yaml()
    assert type(rebuilt.layers[2]).__name__ == "LayerScale"


def _model_with_nested_sequential() -> keras.Model:
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                              keras.Sequential([keras.layers.Dense(4)], name="deeper"),
                              keras.layers.Dense(3)], name="tower")
    x = keras.Input((6,))
    return keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="outer")


def test_nested_sequential_stays_sequential_and_takes_the_original_weights_file(tmp_path):
    model = _model_with_nested_sequential()
    spec, rebuilt = round_trip(model, _x(3, 6))
    assert isinstance(model.get_layer("tower"), keras.Sequential)
    tower = rebuilt.get_layer("tower")
    assert isinstance(tower, keras.Sequential)
    assert isinstance(tower.layers[1], keras.Sequential)
    # Keras's own weights file of the original loads into the rebuilt model (same nesting, same order)
    model.save_weights(tmp_path / "original.weights.h5")
    fresh = nf.build(spec)
    fresh.load_weights(tmp_path / "original.weights.h5")
    np.testing.assert_allclose(np.asarray(fresh(_x(3, 6))), np.asarray(model(_x(3, 6))), atol=1e-6)


_CONV_LSTM_CASES = [
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3}, (None, 5, 9, 2)),
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 2, "strides": 2, "padding": "same", "return_state": True},
     (2, None, 9, 2)),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "return_sequences": True}, (None, 5, 9, 8, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": (3, 1), "strides": (2, 1), "use_bias": False,
                    "return_sequences": True, "return_state": True}, (None, 4, 9, 8, 3)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (None, 3, 9, 9, 1)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, (None, 3, 4, 7, 7)),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "return_sequences": True}, (None, 2, 4, 4, 4, 1)),
]


def test_conv_lstm_static_rules_match_keras():
    from netform.spec._layer_base import get_layer_spec

    for name, config, shape in _CONV_LSTM_CASES:
        spec = get_layer_spec(name).model_validate({"type": name, **config})
        layer = getattr(keras.layers, name)(**config)
        out = layer(keras.Input(batch_shape=shape))
        keras_shapes = [tuple(t.shape) for t in out] if isinstance(out, (list, tuple)) else tuple(out.shape)
        assert spec.output_shape(shape) == keras_shapes, (name, config)
        assert sum(spec.param_counts(shape)) == layer.count_params(), (name, config)


def test_config_keys_keras_writes_keep_the_schema_form():
    # each of these keys, set, used to send the layer to the generic KerasLayer form
    tokens = keras.Input((5,), dtype="int32")
    emb = keras.layers.Embedding(10, 4, activity_regularizer="l2", name="emb")(tokens)
    proj = keras.layers.EinsumDense("abc,cd->abd", output_shape=(5, 3), activity_regularizer="l1", name="proj")(emb)
    att = keras.layers.AdditiveAttention(seed=3, dropout=0.1, name="att")([proj, proj])
    model = keras.Model(tokens, att)
    spec, rebuilt = round_trip(model, np.array([[1, 2, 3, 4, 5], [0, 9, 8, 7, 6]], "int32"))
    types = {n.layer.type for n in graph_of(spec).nodes.values()}
    assert types == {"Embedding", "EinsumDense", "AdditiveAttention"}
    for name in ("emb", "proj", "att"):
        expected = {k: v for k, v in model.get_layer(name).get_config().items() if k != "name"}
        assert {k: v for k, v in rebuilt.get_layer(name).get_config().items() if k != "name"} == expected


def test_a_compiled_model_keeps_its_optimizer_loss_and_metrics_without_keras_defaults():
    from netform.engine._config import resolve_optimizer

    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, activation="softmax")(x))
    optimizer = keras.optimizers.Adam(learning_rate=0.01, clipnorm=1.0)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="roc")])
    spec = nf.from_keras(model)
    text = spec.to_yaml()
    assert "optimizer: {type: Adam, learning_rate: 0.01, clipnorm: 1.0}" in text
    assert "loss: sparse_categorical_crossentropy" in text and "{type: AUC, name: roc}" in text
    assert nf.load_spec(text) == spec
    # the optimizer the spec describes is configured as the original one
    rebuilt = resolve_optimizer({"type": spec.training.optimizer.type, **spec.training.optimizer.arguments})
    expected = {k: v for k, v in optimizer.get_config().items() if k != "name"}
    assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == expected
    # an uncompiled model has no training section
    assert "training" not in nf.from_keras(keras.Model(x, keras.layers.Dense(2)(x))).to_yaml()


def test_training_default_of_a_layer_call_is_left_out():
    # Keras records the default of call()'s training argument (True for the image preprocessing layers) as if
    # it had been passed; the spec leaves it out (a Functional model's own training flag overrides it either
    # way), and keeps a value that differs from the default (Dropout(training=True)).
    i = keras.Input((4, 4, 1))
    x = keras.layers.RandomFlip(seed=1, name="random_flip")(i)  # named: Keras numbers default names per process
    x = keras.layers.Resizing(2, 2, name="resizing")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x, training=True)
    model = keras.Model(i, x)
    spec = nf.from_keras(model)
    calls = {name: node.to_dict().get("call") for name, node in spec.nodes.items()}
    assert calls == {"random_flip": None, "resizing": None, "dropout": {"training": True}}
    data = np.arange(32, dtype="float32").reshape(2, 4, 4, 1)
    rebuilt = nf.build(spec)
    flip = keras.Model(i, model.get_layer("random_flip").output)
    rebuilt_flip = keras.Model(rebuilt.inputs, rebuilt.get_layer("random_flip").output)
    for m in (flip, rebuilt_flip):
        assert np.array_equal(np.asarray(m(data, training=False)), data)


def test_generic_bidirectional_leaves_out_the_backward_layer_keras_makes():
    # A Bidirectional netform has no schema for (an RNN of a GRUCell) is written in the generic form; Keras's
    # config always holds backward_layer, which is the layer run the other way unless one was given.
    i = keras.Input((5, 2))
    # named, so the check holds whatever layers the process made before (Keras numbers unnamed ones: rnn_3)
    model = keras.Model(i, keras.layers.Bidirectional(keras.layers.RNN(keras.layers.GRUCell(3), name="rnn"))(i))
    spec, rebuilt = round_trip(model, _x(2, 5, 2), static_params=False)  # generic form: counted at build
    config = next(iter(spec.nodes.values())).to_dict()["config"]
    assert "backward_layer" not in config and config["layer"]["config"]["name"] == "rnn"
    wrapper = rebuilt.layers[-1]
    assert (wrapper.forward_layer.name, wrapper.backward_layer.name) == ("forward_rnn", "backward_rnn")
    # a backward layer of its own is kept
    own = keras.layers.RNN(keras.layers.GRUCell(3, activation="relu"), go_backwards=True)
    model = keras.Model(i, keras.layers.Bidirectional(keras.layers.RNN(keras.layers.GRUCell(3)), backward_layer=own)(i))
    spec, _ = round_trip(model, _x(2, 5, 2), static_params=False)
    assert "backward_layer" in next(iter(spec.nodes.values())).to_dict()["config"]
