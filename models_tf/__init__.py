"""The TensorFlow/Keras adapter: the same function names as `models_torch`, in Keras 3 on TensorFlow.

Its model, layer and training modules use only `keras.*`, so `models_keras_torch` runs the same code on Keras'
PyTorch backend; TensorFlow itself is imported where it is needed (Keras imports it anyway on this backend).
"""

# ruff: noqa: E402 - the environment must be set before Keras is imported

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras

from models_tf.model import build_model, count_params, get_weights, load_weights, predict, save_weights, set_weights
from models_tf.optimizers import optimizer_arguments
from models_tf.train import Trainer, make_trainer
from models_tf.weights_file import read_weights_file, weights_file_layout

__all__ = ["Trainer", "build_model", "configure", "count_params", "get_weights", "make_trainer",
           "load_weights", "optimizer_arguments", "predict", "read_weights_file", "save_weights", "set_weights",
           "versions", "weights_file_layout"]


def configure(threads: int, seed: int) -> dict:
    """Thread counts (only possible before TensorFlow's first op) and the global seeds."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":  # KERAS_BACKEND was set otherwise before this import
        raise RuntimeError(f"models_tf needs Keras on TensorFlow; this process runs Keras on "
                           f"{keras.backend.backend()}")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started (in-process runs after the first): keep its setting
        pass
    keras.utils.set_random_seed(seed)
    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


def versions() -> dict:
    import tensorflow as tf

    return {"tensorflow": tf.__version__, "keras": keras.__version__}
