"""The spec's loss as a Keras loss object: class and every keyword argument stated.

The cross-entropies take the model's softmax/sigmoid output, from which Keras recovers the logits (the tag its
activations leave, models_tf.base).
"""

import keras

from harness.core import registry

_REDUCTION = "sum_over_batch_size"  # = mean over the batch, torch's "mean"


def _categorical_crossentropy(target):
    if target.label_format == "sparse":
        return keras.losses.SparseCategoricalCrossentropy, dict(from_logits=False, ignore_class=None,
                                                                reduction=_REDUCTION, axis=-1)
    return keras.losses.CategoricalCrossentropy, dict(from_logits=False, label_smoothing=0.0, axis=-1,
                                                      reduction=_REDUCTION)


def _binary_crossentropy(target):
    return keras.losses.BinaryCrossentropy, dict(from_logits=False, label_smoothing=0.0, axis=-1,
                                                 reduction=_REDUCTION)


def _mse(target):
    return keras.losses.MeanSquaredError, dict(reduction=_REDUCTION)


def _mae(target):
    return keras.losses.MeanAbsoluteError, dict(reduction=_REDUCTION)


# spec loss name -> target -> (Keras loss class, keyword arguments)
LOSSES = {"categorical_crossentropy": _categorical_crossentropy, "binary_crossentropy": _binary_crossentropy,
          "mse": _mse, "mae": _mae}


def loss_arguments(loss: str, target):
    """(Keras loss class, keyword arguments) for the spec's loss name; the labels' format (target.label_format)
    picks the sparse or the one-hot categorical cross-entropy."""
    return registry.get(LOSSES, loss, "loss")(target)
