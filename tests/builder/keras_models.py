"""Keras models written directly in Keras, for the from_keras round-trip tests.

Each factory returns ``(model, inputs)``: a built Keras model and a tiny batch
of inputs (batch 2) of the right dtype and shape.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

L = keras.layers
B = 2


def _rng(seed=0):
    return np.random.default_rng(seed)


def _f(*shape, seed=0):
    return _rng(seed).normal(size=(B, *shape)).astype("float32")


def _i(*shape, high=10, seed=0):
    return _rng(seed).integers(0, high, size=(B, *shape)).astype("int32")


def mlp_sequential():
    m = keras.Sequential([keras.Input((12,)), L.Dense(16, activation="relu"), L.Dense(8, activation="tanh"),
                          L.Dense(3, activation="softmax")], name="mlp_seq")
    return m, [_f(12)]


def cnn_batchnorm():
    x = keras.Input((12, 12, 3), name="img")
    h = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    h = L.BatchNormalization()(h)
    h = L.ReLU()(h)
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(16, 3, strides=2, activation="relu")(h)
    h = L.GlobalAveragePooling2D()(h)
    y = L.Dense(4, activation="softmax")(h)
    return keras.Model(x, y, name="cnn_bn"), [_f(12, 12, 3)]


def multi_io():
    a = keras.Input((6,), name="a")
    b = keras.Input((4, 5), name="b")
    fa = L.Dense(8, activation="relu", name="fa")(a)
    fb = L.Flatten(name="fb")(b)
    m = L.Concatenate(name="merge")([fa, fb])
    out1 = L.Dense(3, activation="softmax", name="cls")(m)
    out2 = L.Dense(1, name="reg")(m)
    return keras.Model([a, b], [out1, out2], name="multi_io"), [_f(6), _f(4, 5, seed=1)]


def residual_add():
    x = keras.Input((16,))
    h = L.Dense(16, activation="relu")(x)
    for _ in range(3):
        r = L.Dense(16, activation="relu")(h)
        r = L.Dense(16)(r)
        h = L.Add()([h, r])
        h = L.Activation("relu")(h)
    y = L.Dense(2)(h)
    return keras.Model(x, y, name="resnet_mlp"), [_f(16)]


def nested_shared_functional():
    ix = keras.Input((10,), name="enc_in")
    e = L.Dense(8, activation="relu", name="enc_d1")(ix)
    e = L.Dense(4, name="enc_d2")(e)
    encoder = keras.Model(ix, e, name="encoder")
    a = keras.Input((10,), name="left")
    b = keras.Input((10,), name="right")
    ea, eb = encoder(a), encoder(b)
    d = L.Subtract()([ea, eb])
    y = L.Dense(1, activation="sigmoid")(d)
    return keras.Model([a, b], y, name="nested_shared"), [_f(10), _f(10, seed=1)]


def lstm_model():
    m = keras.Sequential([keras.Input((7, 3)), L.LSTM(8, return_sequences=True), L.LSTM(4), L.Dense(1)],
                         name="lstm")
    return m, [_f(7, 3)]


def bigru():
    x = keras.Input((6, 4))
    h = L.Bidirectional(L.GRU(5, return_sequences=True))(x)
    h = L.Bidirectional(L.GRU(3), merge_mode="sum")(h)
    y = L.Dense(2, activation="softmax")(h)
    return keras.Model(x, y, name="bigru"), [_f(6, 4)]


def mha_model():
    q = keras.Input((5, 8), name="q")
    v = keras.Input((7, 8), name="v")
    att = L.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)
    h = L.Add()([q, att])
    h = L.LayerNormalization()(h)
    y = L.GlobalAveragePooling1D()(h)
    return keras.Model([q, v], y, name="mha"), [_f(5, 8), _f(7, 8, seed=1)]


def siamese_shared_dense():
    a = keras.Input((9,), name="a")
    b = keras.Input((9,), name="b")
    shared = L.Dense(6, activation="relu", name="shared")
    ha, hb = shared(a), shared(b)
    d = L.Multiply()([ha, hb])
    y = L.Dense(1, activation="sigmoid")(d)
    return keras.Model([a, b], y, name="siamese_dense"), [_f(9), _f(9, seed=1)]


def text_conv1d():
    x = keras.Input((20,), dtype="int32", name="tokens")
    h = L.Embedding(50, 8)(x)
    h = L.Conv1D(12, 3, activation="relu")(h)
    h = L.GlobalMaxPooling1D()(h)
    y = L.Dense(3, activation="softmax")(h)
    return keras.Model(x, y, name="text_cnn"), [_i(20, high=50)]


def concat_branches():
    x = keras.Input((8, 8, 2))
    b1 = L.Conv2D(4, 1, padding="same")(x)
    b2 = L.Conv2D(4, 3, padding="same")(x)
    b3 = L.AveragePooling2D(3, strides=1, padding="same")(x)
    h = L.Concatenate(axis=-1)([b1, b2, b3])
    h = L.Flatten()(h)
    y = L.Dense(2)(h)
    return keras.Model(x, y, name="inception_ish"), [_f(8, 8, 2)]


def uncatalogued_layers():
    """RMSNormalization (weights) and Masking are Keras built-ins without a netform schema."""
    x = keras.Input((5, 6))
    h = L.Masking(mask_value=0.0)(x)
    h = L.RMSNormalization(epsilon=1e-5)(h)
    h = L.Dense(4)(h)
    y = L.GlobalAveragePooling1D()(h)
    return keras.Model(x, y, name="uncatalogued"), [_f(5, 6)]


def nested_sequential_in_functional():
    block = keras.Sequential([keras.Input((10,)), L.Dense(8, activation="relu"), L.Dense(8)], name="block")
    x = keras.Input((10,), name="x")
    h = block(x)
    y = L.Dense(3)(L.Concatenate()([x, h]))
    return keras.Model(x, y, name="nested_seq"), [_f(10)]


def dropout_layernorm():
    x = keras.Input((4, 10))
    h = L.Dense(10)(x)
    h = L.Dropout(0.3)(h)
    h = L.LayerNormalization(epsilon=1e-5)(h)
    h = L.SpatialDropout1D(0.1)(h)
    y = L.Dense(2)(h)
    return keras.Model(x, y, name="drop_ln"), [_f(4, 10)]


def conv_autoencoder():
    x = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
    y = L.Conv2D(1, 3, padding="same", activation="sigmoid")(h)
    return keras.Model(x, y, name="conv_ae"), [_f(8, 8, 1)]


def upsampling_padding():
    x = keras.Input((6, 6, 2))
    h = L.ZeroPadding2D(1)(x)
    h = L.Conv2D(3, 3)(h)
    h = L.UpSampling2D(2)(h)
    h = L.Cropping2D(1)(h)
    s = keras.Input((5, 2), name="seq")
    g = L.ZeroPadding1D(2)(s)
    g = L.UpSampling1D(2)(g)
    g = L.Conv1D(3, 3)(g)
    g = L.GlobalAveragePooling1D()(g)
    y = L.Concatenate()([L.Flatten()(h), g])
    return keras.Model([x, s], y, name="up_pad"), [_f(6, 6, 2), _f(5, 2, seed=1)]


def sequential_plain_layers():
    """A Sequential with activations given as layers, regularizers and initializers."""
    m = keras.Sequential([
        keras.Input((6,)),
        L.Dense(8, kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.L2(1e-4)),
        L.LeakyReLU(negative_slope=0.2),
        L.Dense(8, use_bias=False),
        L.PReLU(),
        L.Dense(2),
        L.Softmax(),
    ], name="seq_plain")
    return m, [_f(6)]


def time_distributed():
    x = keras.Input((4, 6))
    h = L.TimeDistributed(L.Dense(5))(x)
    h = L.SimpleRNN(4)(h)
    h = L.RepeatVector(3)(h)
    h = L.Permute((2, 1))(h)
    y = L.Reshape((12,))(h)
    return keras.Model(x, y, name="time_dist"), [_f(4, 6)]


MODELS = {f.__name__: f for f in [
    mlp_sequential, cnn_batchnorm, multi_io, residual_add, nested_shared_functional, lstm_model, bigru,
    mha_model, siamese_shared_dense, text_conv1d, concat_branches, uncatalogued_layers,
    nested_sequential_in_functional, dropout_layernorm, conv_autoencoder, upsampling_padding,
    sequential_plain_layers, time_distributed,
]}
