"""Spec layers -> Keras layers. Every argument that shapes the computation is passed explicitly."""

import keras

from harness.core import registry


def leaky_relu(x):
    return keras.activations.leaky_relu(x, negative_slope=registry.LEAKY_RELU_NEGATIVE_SLOPE)


def elu(x):
    return keras.activations.elu(x, alpha=registry.ELU_ALPHA)


def gelu(x):
    return keras.activations.gelu(x, approximate=False)


# softmax and sigmoid are Keras' own functions: they tag their output so that the cross-entropy losses take
# the numerically exact logits path (keras/src/backend/tensorflow/nn.py), as torch's losses on logits do.
ACTIVATIONS = {
    "linear": keras.activations.linear, "relu": keras.activations.relu, "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh, "softmax": keras.activations.softmax, "leaky_relu": leaky_relu, "elu": elu,
    "gelu": gelu, "softplus": keras.activations.softplus,
}

INITIALIZERS = {
    "glorot_uniform": keras.initializers.GlorotUniform, "glorot_normal": keras.initializers.GlorotNormal,
    "he_uniform": keras.initializers.HeUniform, "he_normal": keras.initializers.HeNormal,
    "lecun_uniform": keras.initializers.LecunUniform, "lecun_normal": keras.initializers.LecunNormal,
    "zeros": keras.initializers.Zeros, "ones": keras.initializers.Ones,
    "orthogonal": lambda seed: keras.initializers.Orthogonal(gain=1.0, seed=seed),
    "random_uniform": lambda seed: keras.initializers.RandomUniform(minval=-0.05, maxval=0.05, seed=seed),
}


def activation(name: str):
    return registry.get(ACTIVATIONS, name, "activation")


def initializer(name: str, seed: int):
    make = registry.get(INITIALIZERS, name, "initializer")
    return make() if name in ("zeros", "ones") else make(seed=seed)


def regularizer(spec):
    return None if spec is None else keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)


def dense(layer, seed: int):
    return keras.layers.Dense(
        units=layer.units, activation=activation(layer.activation), use_bias=layer.use_bias,
        kernel_initializer=initializer(layer.kernel_initializer, seed),
        bias_initializer=initializer(layer.bias_initializer, seed + 1),
        kernel_regularizer=regularizer(layer.kernel_regularizer), bias_regularizer=regularizer(layer.bias_regularizer),
        activity_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None)


def conv(layer, seed: int):
    cls = keras.layers.Conv1D if layer.type == "conv1d" else keras.layers.Conv2D
    return cls(filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
               data_format="channels_last", dilation_rate=layer.dilation_rate, groups=1,
               activation=activation(layer.activation), use_bias=layer.use_bias,
               kernel_initializer=initializer(layer.kernel_initializer, seed),
               bias_initializer=initializer(layer.bias_initializer, seed + 1),
               kernel_regularizer=regularizer(layer.kernel_regularizer),
               bias_regularizer=regularizer(layer.bias_regularizer), activity_regularizer=None,
               kernel_constraint=None, bias_constraint=None)


POOLS = {"max_pool1d": keras.layers.MaxPooling1D, "average_pool1d": keras.layers.AveragePooling1D,
         "max_pool2d": keras.layers.MaxPooling2D, "average_pool2d": keras.layers.AveragePooling2D}
GLOBAL_POOLS = {"global_average_pool1d": keras.layers.GlobalAveragePooling1D,
                "global_max_pool1d": keras.layers.GlobalMaxPooling1D,
                "global_average_pool2d": keras.layers.GlobalAveragePooling2D,
                "global_max_pool2d": keras.layers.GlobalMaxPooling2D}


def pool(layer, seed: int):
    return POOLS[layer.type](pool_size=layer.pool_size, strides=layer.strides, padding=layer.padding,
                             data_format="channels_last")


def global_pool(layer, seed: int):
    return GLOBAL_POOLS[layer.type](data_format="channels_last", keepdims=False)


def reshape(layer, seed: int):
    return keras.layers.Reshape(target_shape=tuple(layer.target_shape))


def batch_normalization(layer, seed: int):
    return keras.layers.BatchNormalization(
        axis=-1, momentum=layer.momentum, epsilon=layer.epsilon, center=layer.center, scale=layer.scale,
        beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
        moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
        gamma_constraint=None, synchronized=False)


def _recurrent_arguments(layer, seed: int) -> dict:
    return dict(units=layer.units, use_bias=layer.use_bias,
                kernel_initializer=initializer(layer.kernel_initializer, seed),
                recurrent_initializer=initializer(layer.recurrent_initializer, seed + 1),
                bias_initializer=initializer(layer.bias_initializer, seed + 2),
                kernel_regularizer=regularizer(layer.kernel_regularizer),
                recurrent_regularizer=regularizer(layer.recurrent_regularizer),
                bias_regularizer=regularizer(layer.bias_regularizer), activity_regularizer=None,
                kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                recurrent_dropout=0.0, seed=seed, return_sequences=layer.return_sequences, return_state=False,
                go_backwards=False, stateful=False, unroll=False)


def simple_rnn(layer, seed: int):
    return keras.layers.SimpleRNN(activation=activation(layer.activation), **_recurrent_arguments(layer, seed))


def lstm(layer, seed: int):
    return keras.layers.LSTM(activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=layer.unit_forget_bias,
                             use_cudnn="auto", **_recurrent_arguments(layer, seed))


def gru(layer, seed: int):
    return keras.layers.GRU(activation="tanh", recurrent_activation="sigmoid", reset_after=True, use_cudnn="auto",
                            **_recurrent_arguments(layer, seed))


def embedding(layer, seed: int):
    return keras.layers.Embedding(input_dim=layer.input_dim, output_dim=layer.output_dim,
                                  embeddings_initializer=initializer(layer.embeddings_initializer, seed),
                                  embeddings_regularizer=regularizer(layer.embeddings_regularizer),
                                  embeddings_constraint=None, mask_zero=False)


def dropout(layer, seed: int):
    return keras.layers.Dropout(rate=layer.rate, noise_shape=None, seed=seed)


def activation_layer(layer, seed: int):
    return keras.layers.Activation(activation(layer.activation))


def flatten(layer, seed: int):
    return keras.layers.Flatten(data_format="channels_last")


LAYERS = {"dense": dense, "dropout": dropout, "activation": activation_layer, "flatten": flatten,
          "reshape": reshape, "batch_normalization": batch_normalization, "conv1d": conv, "conv2d": conv,
          **{name: pool for name in POOLS}, **{name: global_pool for name in GLOBAL_POOLS},
          "simple_rnn": simple_rnn, "lstm": lstm, "gru": gru, "embedding": embedding}
