"""The spec compiled into a keras.Sequential; Keras' own `get_weights()` order is the canonical layout."""

import contextlib

import keras
import numpy as np

from harness.core import registry
from models_tf.layers import LAYERS
from models_tf.weights_file import load_weights_file

# training.precision -> Keras' mixed dtype policy: float32 variables, layers computing in bfloat16
MIXED = {"bfloat16": "mixed_bfloat16"}


@contextlib.contextmanager
def precision(dtype: str):
    """Keras' float type while layers, losses and optimizers are made (they keep it), restored afterwards.
    'bfloat16' is the mixed_bfloat16 policy with float32 floatx (losses and optimizers stay float32).

    Both floatx and the global dtype policy: Keras fixes the policy from floatx the first time it is read, so
    floatx alone would leave a float64 model computing in float32 in a process that built a float32 one first."""
    previous, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float32" if dtype in MIXED else dtype)
    keras.config.set_dtype_policy(MIXED.get(dtype, dtype))
    try:
        yield
    finally:
        keras.config.set_floatx(previous)
        keras.config.set_dtype_policy(previous_policy)


def build_model(model_spec, seed: int = 0, dtype: str = "float32") -> keras.Sequential:
    """The spec as a Keras Sequential with Keras initializers seeded from `seed`; `set_weights` loads matched ones.
    dtype: 'float32', 'float64', or 'bfloat16' (mixed precision: float32 weights, bfloat16 layers, and the last
    layer in float32 as Keras' mixed-precision guide advises, so the loss takes float32 logits)."""
    with precision(dtype):
        layers = [registry.get(LAYERS, layer.type, "layer")(layer, seed * 1000 + 4 * index)
                  for index, layer in enumerate(model_spec.layers)]
        if dtype in MIXED:
            layers[-1].dtype_policy = keras.DTypePolicy("float32")
        inputs = keras.Input(shape=tuple(model_spec.input_shape), dtype="float32" if dtype in MIXED else dtype)
        return keras.Sequential([inputs, *layers])


def get_weights(model: keras.Sequential) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def set_weights(model: keras.Sequential, weights: list[np.ndarray]) -> None:
    model.set_weights([np.asarray(w, model.dtype) for w in weights])


def predict(model: keras.Sequential, x: np.ndarray) -> np.ndarray:
    """The model's outputs in inference mode (dropout off, moving statistics), one call."""
    return np.asarray(model(x, training=False))


def count_params(model: keras.Sequential) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def save_weights(model: keras.Sequential, path) -> None:
    """Keras' own weights file; the name must end in .weights.h5."""
    model.save_weights(str(path), overwrite=True)


def load_weights(model: keras.Sequential, path) -> None:
    """A Keras weights file, checked with h5py first (models_tf.weights_file): a damaged or foreign file is one
    SpecError line, not an error from inside Keras."""
    load_weights_file(model, path)
