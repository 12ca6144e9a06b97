"""Spec layers -> Keras layers. Every argument that shapes the computation is passed explicitly."""

import keras

from harness import registry


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
}


def activation(name: str):
    return registry.get(ACTIVATIONS, name, "activation")


def initializer(name: str, seed: int):
    cls = registry.get(INITIALIZERS, name, "initializer")
    return cls() if name in ("zeros", "ones") else cls(seed=seed)


def regularizer(spec):
    return None if spec is None else keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)


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


def flatten(layer, seed: int):
    return keras.layers.Flatten(data_format="channels_last")


LAYERS = {"dense": dense, "dropout": dropout, "activation": activation_layer, "flatten": flatten}
