"""The names a spec may use, in one place, with what each means.

Both adapters resolve these names through their own tables (`models_tf`, `models_torch`); the spec's
pydantic models take their allowed values from here, so an unknown name is rejected before any framework loads.
"""

# Activations whose definition is the same in Keras 3 and PyTorch once their parameters are set explicitly.
# The parameter values here are passed to both frameworks; neither side's default is relied on.
ACTIVATIONS = {
    "linear": "identity, f(x) = x",
    "relu": "max(0, x)",
    "sigmoid": "1 / (1 + exp(-x))",
    "tanh": "tanh(x)",
    "softmax": "exp(x_i) / sum_j exp(x_j) over the last axis",
    "leaky_relu": "x if x > 0 else 0.2 x (negative_slope 0.2, the Keras value, set on both sides)",
    "elu": "x if x > 0 else 1.0 (exp(x) - 1) (alpha 1.0)",
    "gelu": "x Phi(x), the exact erf form (Keras approximate=False, torch approximate='none')",
    "softplus": "log(1 + exp(x))",
}
LEAKY_RELU_NEGATIVE_SLOPE = 0.2
ELU_ALPHA = 1.0

LAYERS = {
    "dense": "fully connected: y = activation(x @ kernel + bias), kernel (in, units)",
    "dropout": "zeroes a fraction `rate` of its inputs in training and scales the rest by 1 / (1 - rate)",
    "activation": "applies an activation function element-wise",
    "flatten": "reshapes (batch, d1, d2, ...) to (batch, d1 * d2 * ...) in channels-last order",
}

LOSSES = {
    "mse": "mean squared error, regression (or one-hot targets)",
    "mae": "mean absolute error, regression (or one-hot targets)",
    "binary_crossentropy": "binary cross-entropy on a sigmoid output, labels 0/1",
    "categorical_crossentropy": "cross-entropy on a softmax output, integer or one-hot labels",
}
CLASSIFICATION_LOSSES = ("binary_crossentropy", "categorical_crossentropy")

OPTIMIZERS = {
    "sgd": "gradient descent, optional momentum and Nesterov momentum",
    "adam": "Adam (Kingma and Ba)",
    "adamw": "Adam with decoupled weight decay (Loshchilov and Hutter)",
    "rmsprop": "RMSprop, optional momentum and centering",
    "adagrad": "Adagrad",
}

INITIALIZERS = {
    "glorot_uniform": "U(-l, l), l = sqrt(6 / (fan_in + fan_out)); the Keras default for kernels",
    "glorot_normal": "truncated normal, stddev sqrt(2 / (fan_in + fan_out))",
    "he_uniform": "U(-l, l), l = sqrt(6 / fan_in)",
    "he_normal": "truncated normal, stddev sqrt(2 / fan_in)",
    "lecun_uniform": "U(-l, l), l = sqrt(3 / fan_in)",
    "lecun_normal": "truncated normal, stddev sqrt(1 / fan_in)",
    "zeros": "all zeros; the Keras default for biases",
    "ones": "all ones",
}

DATASETS = {
    "mnist1d": "MNIST-1D (Greydanus and Kobak), generated locally, 4000 train / 1000 test, 40 features, 10 classes",
    "digits": "scikit-learn 8x8 digits, 1797 samples, 64 features, 10 classes",
    "iris": "scikit-learn iris, 150 samples, 4 features, 3 classes",
    "wine": "scikit-learn wine, 178 samples, 13 features, 3 classes",
    "breast_cancer": "scikit-learn breast cancer, 569 samples, 30 features, 2 classes (binary)",
    "diabetes": "scikit-learn diabetes, 442 samples, 10 features, regression",
    "moons": "scikit-learn make_moons, n_samples points, 2 features, 2 classes (binary)",
    "blobs": "scikit-learn make_blobs, n_samples points, n_features features, n_classes classes",
    "regression": "scikit-learn make_regression, n_samples points, n_features features, regression",
    "csv": "a CSV file: `path`, and `target` names the label column",
    "npz": "a NumPy .npz file: `path` with arrays x, y and optionally x_test, y_test",
}

FRAMEWORKS = {
    "tensorflow": "Keras 3 Sequential on the TensorFlow backend (package models_tf)",
    "torch": "PyTorch nn.Module (package models_torch)",
}


def get(table: dict, name: str, what: str):
    """Returns `table[name]`; an unknown name raises a ValueError that lists the allowed names."""
    if name not in table:
        allowed = ", ".join(sorted(table))
        raise ValueError(f"Unknown {what} {name!r}. Allowed: {allowed}")
    return table[name]


def all_tables() -> dict[str, dict[str, str]]:
    """The tables `harness list` prints, by section name."""
    return {
        "datasets": DATASETS,
        "layers": LAYERS,
        "activations": ACTIVATIONS,
        "losses": LOSSES,
        "optimizers": OPTIMIZERS,
        "initializers": INITIALIZERS,
        "frameworks": FRAMEWORKS,
    }
