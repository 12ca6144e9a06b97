"""Keras 3 on its PyTorch backend: the Keras model, layer and training code of `models_tf`, with torch as the engine.

A third column for `harness bench`: next to Keras-on-TensorFlow it separates the cost of the Keras API from the
cost of the engine. Keras picks its backend once per process, at its first import, so this adapter must be the
first to import Keras in a fresh process (the bench worker is one).
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402

import models_torch  # noqa: E402

if keras.backend.backend() != "torch":
    raise RuntimeError(f"Keras was imported with the {keras.backend.backend()} backend before models_keras_torch; "
                       f"it needs a fresh process")

from models_tf.model import build_model, count_params, get_weights, load_weights, save_weights, set_weights  # noqa: E402
from models_tf.optimizers import optimizer_arguments  # noqa: E402
from models_tf.train import Trainer, make_trainer  # noqa: E402

__all__ = ["Trainer", "build_model", "configure", "count_params", "get_weights", "make_trainer",
           "load_weights", "optimizer_arguments", "save_weights", "set_weights", "versions"]


def configure(threads: int, seed: int) -> dict:
    """torch's thread counts (as `models_torch` sets them, before any work) and Keras' global seeds."""
    reported = models_torch.configure(threads, seed)
    keras.utils.set_random_seed(seed)
    return reported


def versions() -> dict:
    return {"keras": keras.__version__, "torch": torch.__version__}
