"""Generative examples (keras-io examples/generative/)."""

from __future__ import annotations

import keras
from keras import layers, ops

from ._data import floats


@keras.saving.register_keras_serializable(package="corpus")
class Sampling(layers.Layer):
    """examples/generative/vae.py: samples z from (z_mean, z_log_var)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def ex_vae_encoder():
    """examples/generative/vae.py: the encoder, whose Sampling layer takes [z_mean, z_log_var]."""
    latent_dim = 2
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder"), floats(2, 28, 28, 1)


def ex_vae_decoder():
    """examples/generative/vae.py: the decoder (Dense → Reshape → Conv2DTranspose)."""
    latent_inputs = keras.Input(shape=(2,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder"), floats(2, 2, low=-1.0)


def ex_dcgan_discriminator():
    """examples/generative/dcgan_overriding_train_step.py: the discriminator (Sequential; 32×32 images)."""
    discriminator = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(32, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(32, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ], name="discriminator")
    return discriminator, floats(2, 32, 32, 3)


def ex_dcgan_generator():
    """examples/generative/dcgan_overriding_train_step.py: the generator (Sequential; 32×32 images)."""
    latent_dim = 16
    generator = keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(4 * 4 * 32),
        layers.Reshape((4, 4, 32)),
        layers.Conv2DTranspose(32, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(64, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(64, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
    ], name="generator")
    return generator, floats(2, latent_dim)


def ex_wgan_gp_discriminator():
    """examples/generative/wgan_gp.py: get_discriminator_model (ZeroPadding2D, conv blocks, LeakyReLU, Dropout)."""
    def conv_block(x, filters, use_bn=False, use_dropout=False, drop_value=0.5):
        x = layers.Conv2D(filters, (5, 5), strides=(2, 2), padding="same", use_bias=True)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    img_input = layers.Input(shape=(28, 28, 1))
    x = layers.ZeroPadding2D((2, 2))(img_input)
    x = conv_block(x, 16)
    x = conv_block(x, 32, use_dropout=True, drop_value=0.3)
    x = conv_block(x, 64, use_dropout=True, drop_value=0.3)
    x = conv_block(x, 128)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1)(x)
    return keras.models.Model(img_input, x, name="discriminator"), floats(2, 28, 28, 1)


def ex_wgan_gp_generator():
    """examples/generative/wgan_gp.py: get_generator_model (UpSampling2D blocks, Cropping2D)."""
    def upsample_block(x, filters, activation, use_bn=False, use_dropout=False, drop_value=0.3):
        x = layers.UpSampling2D((2, 2))(x)
        x = layers.Conv2D(filters, (3, 3), strides=(1, 1), padding="same", use_bias=False)(x)
        if use_bn:
            x = layers.BatchNormalization()(x)
        if activation:
            x = activation(x)
        if use_dropout:
            x = layers.Dropout(drop_value)(x)
        return x

    noise = layers.Input(shape=(16,))
    x = layers.Dense(4 * 4 * 32, use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, 32))(x)
    x = upsample_block(x, 16, layers.LeakyReLU(0.2), use_bn=True)
    x = upsample_block(x, 8, layers.LeakyReLU(0.2), use_bn=True)
    x = upsample_block(x, 1, layers.Activation("tanh"), use_bn=True)
    x = layers.Cropping2D((2, 2))(x)
    return keras.models.Model(noise, x, name="generator"), floats(2, 16, low=-1.0)


def ex_conditional_gan_discriminator():
    """examples/generative/conditional_gan.py: the discriminator on image plus one-hot label channels (Sequential)."""
    discriminator = keras.Sequential([
        keras.layers.InputLayer((28, 28, 11)),
        layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ], name="discriminator")
    return discriminator, floats(2, 28, 28, 11)
