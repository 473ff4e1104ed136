"""Structured-data examples (keras-io examples/structured_data/)."""

from __future__ import annotations

import keras
from keras import layers

from ._data import floats, ints


def ex_structured_data_classification_with_feature_space():
    """examples/structured_data/structured_data_classification_with_feature_space.py: the model on encoded features."""
    encoded_features = keras.Input(shape=(40,))
    x = keras.layers.Dense(32, activation="relu")(encoded_features)
    x = keras.layers.Dropout(0.5)(x)
    predictions = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs=encoded_features, outputs=predictions), floats(2, 40)


def ex_imbalanced_classification():
    """examples/structured_data/imbalanced_classification.py: the fraud classifier (Sequential)."""
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    return model, floats(2, 30)


def _wide_deep_inputs():
    numeric = {name: layers.Input(name=name, shape=(), dtype="float32") for name in ("age", "hours", "gain")}
    categorical = {name: layers.Input(name=name, shape=(), dtype="int32") for name in ("workclass", "education")}
    return numeric, categorical


def _encode(numeric, categorical, embedding_dims=4, prefix=""):
    encoded = [layers.Reshape((1,))(v) for v in numeric.values()]
    for name, value in categorical.items():
        embedded = layers.Embedding(input_dim=10, output_dim=embedding_dims, name=f"{prefix}{name}_embedding")(value)
        encoded.append(embedded)
    return layers.concatenate(encoded)


def _wide_deep_data():
    data = {name: floats(3, 4)[:, i] for i, name in enumerate(("age", "hours", "gain"))}
    data.update({name: ints(3, 2, high=10)[:, i] for i, name in enumerate(("workclass", "education"))})
    return data


def ex_wide_deep_cross_networks_wide_and_deep():
    """examples/structured_data/wide_deep_cross_networks.py: create_wide_and_deep_model (dict inputs)."""
    numeric, categorical = _wide_deep_inputs()
    inputs = {**numeric, **categorical}
    wide = _encode(numeric, categorical)
    wide = layers.BatchNormalization()(wide)
    deep = _encode(numeric, categorical, prefix="deep_")
    for units in [32, 32]:
        deep = layers.Dense(units)(deep)
        deep = layers.BatchNormalization()(deep)
        deep = layers.ReLU()(deep)
        deep = layers.Dropout(0.1)(deep)
    merged = layers.concatenate([wide, deep])
    outputs = layers.Dense(units=3, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs), _wide_deep_data()


def ex_wide_deep_cross_networks_deep_and_cross():
    """examples/structured_data/wide_deep_cross_networks.py: create_deep_and_cross_model (x0 * x + cross)."""
    numeric, categorical = _wide_deep_inputs()
    inputs = {**numeric, **categorical}
    x0 = _encode(numeric, categorical)
    cross = x0
    for _ in range(2):
        units = cross.shape[-1]
        x = layers.Dense(units)(cross)
        cross = x0 * x + cross
    cross = layers.BatchNormalization()(cross)
    deep = x0
    for units in [32, 32]:
        deep = layers.Dense(units)(deep)
        deep = layers.BatchNormalization()(deep)
        deep = layers.ReLU()(deep)
        deep = layers.Dropout(0.1)(deep)
    merged = layers.concatenate([cross, deep])
    outputs = layers.Dense(units=3, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs), _wide_deep_data()
