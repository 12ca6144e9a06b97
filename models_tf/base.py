"""What every Keras layer builder uses: the spec's activation, initializer and regularizer names, resolved.

The twin of models_torch/base.py. Every argument that shapes the computation is passed explicitly.
"""

import keras

from harness.core import registry


# Keras names a layer's activation after its function (`__name__`), in the layer config and the manifest: these
# keep Keras' own names, so a leaky_relu layer reads "leaky_relu" whichever function computes it.
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
    "gelu": gelu, "softplus": keras.activations.softplus, "log_softmax": keras.activations.log_softmax,
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
