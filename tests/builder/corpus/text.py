"""Natural-language examples (keras-io examples/nlp/ and examples/generative/ text models)."""

from __future__ import annotations

import keras
from keras import layers, ops

from ._data import floats, ints


def ex_text_classification_from_scratch():
    """examples/nlp/text_classification_from_scratch.py: the 1D convnet on token ids (sizes reduced)."""
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(1000, 16)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    return keras.Model(inputs, predictions), ints(2, 80, high=1000).astype("int64")


def ex_bidirectional_lstm_imdb():
    """examples/nlp/bidirectional_lstm_imdb.py: two stacked bidirectional LSTMs (sizes reduced)."""
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(2000, 16)(inputs)
    x = layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(16))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs), ints(2, 12, high=2000)


def ex_pretrained_word_embeddings():
    """examples/nlp/pretrained_word_embeddings.py: a frozen Embedding into a 1D convnet (sizes reduced)."""
    int_sequences_input = keras.Input(shape=(None,), dtype="int32")
    embedded_sequences = layers.Embedding(500, 16, trainable=False)(int_sequences_input)
    x = layers.Conv1D(32, 5, activation="relu")(embedded_sequences)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(32, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(32, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(20, activation="softmax")(x)
    return keras.Model(int_sequences_input, preds), ints(2, 200, high=500)


def ex_lstm_seq2seq():
    """examples/nlp/lstm_seq2seq.py: the character-level encoder–decoder (the decoder starts from the encoder's states)."""
    num_encoder_tokens, num_decoder_tokens, latent_dim = 12, 14, 16
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    return model, [floats(2, 7, num_encoder_tokens), floats(2, 5, num_decoder_tokens)]


def ex_addition_rnn():
    """examples/nlp/addition_rnn.py: sequence-to-sequence addition with RepeatVector (Sequential)."""
    maxlen, chars, digits = 7, 12, 3
    model = keras.Sequential([
        layers.Input((maxlen, chars)),
        layers.LSTM(32),
        layers.RepeatVector(digits + 1),
        layers.LSTM(32, return_sequences=True),
        layers.Dense(chars, activation="softmax"),
    ])
    return model, floats(2, maxlen, chars)


def ex_active_learning_review_classification():
    """examples/nlp/active_learning_review_classification.py: create_model (Sequential, bidirectional LSTM; 40 steps)."""
    model = keras.models.Sequential([
        layers.Input(shape=(40,)),
        layers.Embedding(input_dim=3000, output_dim=16),
        layers.Bidirectional(layers.LSTM(8, return_sequences=True)),
        layers.GlobalMaxPool1D(),
        layers.Dense(20, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])
    return model, ints(2, 40, high=3000)


def ex_multi_label_classification():
    """examples/nlp/multi_label_classification.py: make_model, a shallow MLP on TF-IDF vectors (Sequential)."""
    model = keras.Sequential([
        keras.Input((256,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="sigmoid"),
    ])
    return model, floats(2, 256)


def ex_lstm_character_level_text_generation():
    """examples/generative/lstm_character_level_text_generation.py: the character LSTM (Sequential)."""
    maxlen, chars = 40, 30
    model = keras.Sequential([
        keras.Input(shape=(maxlen, chars)),
        layers.LSTM(32),
        layers.Dense(chars, activation="softmax"),
    ])
    return model, floats(2, maxlen, chars)


@keras.saving.register_keras_serializable(package="corpus")
class TransformerBlock(layers.Layer):
    """examples/nlp/text_classification_with_transformer.py: the transformer block layer."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim, self.rate = embed_dim, num_heads, ff_dim, rate
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs, training=None):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output, training=training)
        return self.layernorm2(out1 + ffn_output)

    def get_config(self):
        return {**super().get_config(), "embed_dim": self.embed_dim, "num_heads": self.num_heads,
                "ff_dim": self.ff_dim, "rate": self.rate}


@keras.saving.register_keras_serializable(package="corpus")
class TokenAndPositionEmbedding(layers.Layer):
    """examples/nlp/text_classification_with_transformer.py: token plus position embeddings."""

    def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim = maxlen, vocab_size, embed_dim
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        return self.token_emb(x) + self.pos_emb(positions)

    def get_config(self):
        return {**super().get_config(), "maxlen": self.maxlen, "vocab_size": self.vocab_size,
                "embed_dim": self.embed_dim}


def ex_text_classification_with_transformer():
    """examples/nlp/text_classification_with_transformer.py: the classifier on its two custom layers."""
    maxlen, vocab_size, embed_dim = 20, 500, 16
    inputs = layers.Input(shape=(maxlen,))
    x = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)(inputs)
    x = TransformerBlock(embed_dim, 2, 16)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs), ints(2, maxlen, high=vocab_size).astype("float32")
