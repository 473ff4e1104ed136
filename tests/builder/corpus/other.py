"""Audio, reinforcement-learning and graph examples (keras-io examples/audio/, rl/, graph/)."""

from __future__ import annotations

import keras
from keras import layers

from ._data import floats, ints


def ex_speaker_recognition():
    """examples/audio/speaker_recognition_using_cnn.py: build_model, residual Conv1D blocks (sizes reduced)."""
    def residual_block(x, filters, conv_num=3, activation="relu"):
        s = keras.layers.Conv1D(filters, 1, padding="same")(x)
        for _ in range(conv_num - 1):
            x = keras.layers.Conv1D(filters, 3, padding="same")(x)
            x = keras.layers.Activation(activation)(x)
        x = keras.layers.Conv1D(filters, 3, padding="same")(x)
        x = keras.layers.Add()([x, s])
        x = keras.layers.Activation(activation)(x)
        return keras.layers.MaxPool1D(pool_size=2, strides=2)(x)

    inputs = keras.layers.Input(shape=(256, 1), name="input")
    x = residual_block(inputs, 8, 2)
    x = residual_block(x, 16, 2)
    x = residual_block(x, 32, 3)
    x = keras.layers.AveragePooling1D(pool_size=3, strides=3)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="output")(x)
    return keras.models.Model(inputs=inputs, outputs=outputs), floats(2, 256, 1)


def ex_ctc_asr():
    """examples/audio/ctc_asr.py: build_model, DeepSpeech2-like (Conv2D, Reshape, bidirectional GRUs; smaller)."""
    input_dim, output_dim, rnn_units = 33, 31, 16
    input_spectrogram = layers.Input((None, input_dim), name="input")
    x = layers.Reshape((-1, input_dim, 1), name="expand_dim")(input_spectrogram)
    x = layers.Conv2D(filters=8, kernel_size=[11, 41], strides=[2, 2], padding="same", use_bias=False,
                      name="conv_1")(x)
    x = layers.BatchNormalization(name="conv_1_bn")(x)
    x = layers.ReLU(name="conv_1_relu")(x)
    x = layers.Conv2D(filters=8, kernel_size=[11, 21], strides=[1, 2], padding="same", use_bias=False,
                      name="conv_2")(x)
    x = layers.BatchNormalization(name="conv_2_bn")(x)
    x = layers.ReLU(name="conv_2_relu")(x)
    x = layers.Reshape((-1, x.shape[-2] * x.shape[-1]))(x)
    for i in range(1, 3):
        recurrent = layers.GRU(units=rnn_units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                               return_sequences=True, reset_after=True, name=f"gru_{i}")
        x = layers.Bidirectional(recurrent, name=f"bidirectional_{i}", merge_mode="concat")(x)
        if i < 2:
            x = layers.Dropout(rate=0.5)(x)
    x = layers.Dense(units=rnn_units * 2, name="dense_rnn")(x)
    x = layers.ReLU(name="dense_rnn_relu")(x)
    x = layers.Dropout(rate=0.5)(x)
    output = layers.Dense(units=output_dim + 1, activation="softmax")(x)
    return keras.Model(input_spectrogram, output, name="DeepSpeech_2"), floats(2, 20, input_dim)


def ex_actor_critic_cartpole():
    """examples/rl/actor_critic_cartpole.py: one body, two heads (action probabilities and value)."""
    inputs = layers.Input(shape=(4,))
    common = layers.Dense(128, activation="relu")(inputs)
    action = layers.Dense(2, activation="softmax")(common)
    critic = layers.Dense(1)(common)
    return keras.Model(inputs=inputs, outputs=[action, critic]), floats(2, 4)


def ex_deep_q_network_breakout():
    """examples/rl/deep_q_network_breakout.py: create_q_model, the Atari DQN convnet (Sequential)."""
    model = keras.Sequential([
        keras.Input(shape=(84, 84, 4)),
        layers.Conv2D(32, 8, strides=4, activation="relu"),
        layers.Conv2D(64, 4, strides=2, activation="relu"),
        layers.Conv2D(64, 3, strides=1, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(4, activation="linear"),
    ])
    return model, floats(2, 84, 84, 4)


def ex_ddpg_pendulum_actor():
    """examples/rl/ddpg_pendulum.py: get_actor (a small uniform initializer; outputs * upper_bound)."""
    last_init = keras.initializers.RandomUniform(minval=-0.003, maxval=0.003)
    inputs = layers.Input(shape=(3,))
    out = layers.Dense(64, activation="relu")(inputs)
    out = layers.Dense(64, activation="relu")(out)
    outputs = layers.Dense(1, activation="tanh", kernel_initializer=last_init)(out)
    outputs = outputs * 2.0
    return keras.Model(inputs, outputs), floats(2, 3, low=-1.0)


def ex_ddpg_pendulum_critic():
    """examples/rl/ddpg_pendulum.py: get_critic, two inputs (state, action) concatenated."""
    state_input = layers.Input(shape=(3,))
    state_out = layers.Dense(16, activation="relu")(state_input)
    state_out = layers.Dense(32, activation="relu")(state_out)
    action_input = layers.Input(shape=(1,))
    action_out = layers.Dense(32, activation="relu")(action_input)
    concat = layers.Concatenate()([state_out, action_out])
    out = layers.Dense(64, activation="relu")(concat)
    out = layers.Dense(64, activation="relu")(out)
    outputs = layers.Dense(1)(out)
    return keras.Model([state_input, action_input], outputs), [floats(2, 3), floats(2, 1)]


def ex_node2vec():
    """examples/graph/node2vec_movielens.py: create_model, one Embedding shared by target and context (dict inputs)."""
    vocabulary_size, embedding_dim = 50, 8
    inputs = {
        "target": layers.Input(name="target", shape=(), dtype="int32"),
        "context": layers.Input(name="context", shape=(), dtype="int32"),
    }
    embed_item = layers.Embedding(input_dim=vocabulary_size, output_dim=embedding_dim,
                                  embeddings_initializer="he_normal",
                                  embeddings_regularizer=keras.regularizers.l2(1e-6), name="item_embeddings")
    target_embeddings = embed_item(inputs["target"])
    context_embeddings = embed_item(inputs["context"])
    logits = layers.Dot(axes=1, normalize=False, name="dot_similarity")([target_embeddings, context_embeddings])
    model = keras.Model(inputs=inputs, outputs=logits)
    return model, {"target": ints(3, high=vocabulary_size), "context": ints(3, high=vocabulary_size)[::-1].copy()}
