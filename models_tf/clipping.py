"""Gradient clipping, Keras' own: the optimizer's clipnorm, global_clipnorm or clipvalue argument
(keras/src/optimizers/base_optimizer.py `_clip_gradients`, applied before weight decay and the update).

The twin of models_torch/clipping.py, which writes the same arithmetic out for PyTorch; `clip_gradients` here runs
Keras' own code on arrays, so tests can hold the two against each other.
"""

import numpy as np

from models_tf.optimizers import optimizer_arguments


def clip_gradients(gradients: list, optimizer_spec) -> list[np.ndarray]:
    """The gradients as the spec's Keras optimizer clips them before its update (unchanged without clipping).

    clipnorm: each tensor g * clipnorm / max(||g||, clipnorm) (tf.clip_by_norm); global_clipnorm: every tensor
    times clipnorm * min(1 / norm, 1 / clipnorm), norm over all tensors; clipvalue: elementwise clip."""
    optimizer_class, kwargs = optimizer_arguments(optimizer_spec)
    optimizer = optimizer_class(**kwargs)
    return [np.asarray(g) for g in optimizer._clip_gradients([np.asarray(g) for g in gradients])]


def clipping_convention() -> str:
    return "the Keras optimizer's own clipnorm / global_clipnorm / clipvalue"
