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
    "log_softmax": "x_i - log(sum_j exp(x_j)) over the last axis (PyTorch's LogSoftmax, as in its MNIST example)",
}
LEAKY_RELU_NEGATIVE_SLOPE = 0.2
ELU_ALPHA = 1.0

LAYERS = {
    "dense": "fully connected on the last axis: y = activation(x @ kernel + bias), kernel (in, units)",
    "dropout": "zeroes a fraction `rate` of its inputs in training and scales the rest by 1 / (1 - rate)",
    "activation": "applies an activation function element-wise",
    "flatten": "reshapes (batch, d1, d2, ...) to (batch, d1 * d2 * ...) in channels-last order",
    "reshape": "reshapes one sample to target_shape (channels-last order)",
    "batch_normalization": "normalizes the last axis with batch statistics in training, moving averages after",
    "conv1d": "1-D convolution over (steps, channels), kernel (kernel_size, in, filters)",
    "conv2d": "2-D convolution over (height, width, channels), kernel (kh, kw, in, filters)",
    "max_pool1d": "maximum over windows of pool_size steps",
    "average_pool1d": "mean over windows of pool_size steps",
    "max_pool2d": "maximum over pool_size windows",
    "average_pool2d": "mean over pool_size windows",
    "global_average_pool1d": "(steps, channels) -> (channels,), mean over steps",
    "global_max_pool1d": "(steps, channels) -> (channels,), maximum over steps",
    "global_average_pool2d": "(height, width, channels) -> (channels,), mean",
    "global_max_pool2d": "(height, width, channels) -> (channels,), maximum",
    "simple_rnn": "Elman RNN: h = activation(x K + h R + b), one bias as in Keras",
    "lstm": "LSTM, gates i f c o, one bias (PyTorch's second bias is held at zero)",
    "gru": "GRU with the reset gate applied after the recurrent matmul (Keras reset_after=True, PyTorch's GRU)",
    "embedding": "integer ids (steps,) -> vectors (steps, output_dim); first layer only",
    "zero_padding1d": "pads the steps axis with zeros: (steps, c) -> (before + steps + after, c)",
    "rescaling": "x * scale + offset, element-wise (Keras Rescaling; `x / 255` in PyTorch code)",
    "leaky_relu": "x if x > 0 else negative_slope x, any slope (Keras' LeakyReLU layer: 0.3; PyTorch's: 0.01)",
    "zero_padding2d": "pads height and width with zeros (PyTorch's explicit conv padding = this + padding 'valid')",
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
    "orthogonal": "a random orthogonal matrix (QR of a normal matrix); the Keras default for recurrent kernels",
    "random_uniform": "U(-0.05, 0.05); the Keras default for embeddings",
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
    "sunspots": "yearly sunspot numbers 1700-2008 (statsmodels), 309 values; next-value forecasting, time-order split",
    "co2": "weekly Mauna Loa CO2 1958-2001 (statsmodels), 2284 values; next-value forecasting, time-order split",
    "csv": "a CSV file: `path`, and `target` names the label column",
    "npz": "a NumPy .npz file: `path` with arrays x, y and optionally x_test, y_test",
}

FRAMEWORKS = {
    "tensorflow": "Keras 3 Sequential on the TensorFlow backend (package models_tf)",
    "torch": "PyTorch nn.Module (package models_torch)",
}
WEIGHTS_SUFFIXES = {"tensorflow": ".weights.h5", "torch": ".pt"}  # each framework's own weights file


# The summary figures the statistics compare per task, in report order; `analysis.margins` may name any of them.
COMPARED_FIGURES = {"classification": ("test_accuracy", "test_loss", "final_val_loss"),
                    "regression": ("test_mae", "test_rmse", "test_r2", "test_loss", "final_val_loss")}


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
