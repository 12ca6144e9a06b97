"""Spec layers -> Keras layers: the core layers, and `LAYERS`, the builder of every spec layer type.

The twin of models_torch/layers.py. A builder takes (spec layer, seed) and returns a stock Keras layer; every
argument that shapes the computation is passed explicitly. Convolution and pooling builders live in conv.py,
recurrent ones in recurrent.py.
"""

import keras

from models_tf.base import activation, initializer, regularizer
from models_tf.conv import conv, global_pool, pool, zero_padding
from models_tf.recurrent import gru, lstm, simple_rnn


def dense(layer, seed: int):
    return keras.layers.Dense(
        units=layer.units, activation=activation(layer.activation), use_bias=layer.use_bias,
        kernel_initializer=initializer(layer.kernel_initializer, seed),
        bias_initializer=initializer(layer.bias_initializer, seed + 1),
        kernel_regularizer=regularizer(layer.kernel_regularizer), bias_regularizer=regularizer(layer.bias_regularizer),
        activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None)


def dropout(layer, seed: int):
    return keras.layers.Dropout(rate=layer.rate, noise_shape=None, seed=seed)


def activation_layer(layer, seed: int):
    return keras.layers.Activation(activation(layer.activation))


def rescaling(layer, seed: int):
    return keras.layers.Rescaling(scale=layer.scale, offset=layer.offset)


def leaky_relu_layer(layer, seed: int):
    return keras.layers.LeakyReLU(negative_slope=layer.negative_slope)


def flatten(layer, seed: int):
    return keras.layers.Flatten(data_format="channels_last")


def reshape(layer, seed: int):
    return keras.layers.Reshape(target_shape=tuple(layer.target_shape))


def batch_normalization(layer, seed: int):
    return keras.layers.BatchNormalization(
        axis=-1, momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
        moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
        gamma_constraint=None, synchronized=False)


def embedding(layer, seed: int):
    return keras.layers.Embedding(input_dim=layer.input_dim, output_dim=layer.output_dim,
                                  embeddings_initializer=initializer(layer.embeddings_initializer, seed),
                                  embeddings_regularizer=regularizer(layer.embeddings_regularizer),
                                  embeddings_constraint=None, mask_zero=False)


# spec layer type -> builder (layer, seed) -> keras.layers.Layer; the keys are harness.core.registry.LAYERS
LAYERS = {
    "dense": dense, "dropout": dropout, "activation": activation_layer, "flatten": flatten, "reshape": reshape,
    "batch_normalization": batch_normalization, "conv1d": conv, "conv2d": conv,
    "max_pool1d": pool, "average_pool1d": pool, "max_pool2d": pool, "average_pool2d": pool,
    "global_average_pool1d": global_pool, "global_max_pool1d": global_pool, "global_average_pool2d": global_pool,
    "global_max_pool2d": global_pool, "simple_rnn": simple_rnn, "lstm": lstm, "gru": gru, "embedding": embedding,
    "zero_padding1d": zero_padding, "zero_padding2d": zero_padding, "rescaling": rescaling,
    "leaky_relu": leaky_relu_layer,
}
